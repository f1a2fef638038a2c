"""The vector env's background draw of the next episodes' traces changes no number."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading

import gymnasium as gym
import numpy as np
import pytest

from druginv_gym.envs.prefetch import PREFETCH_MIN_DRUG_SLOTS, TracePrefetch
from druginv_gym.exogenous import UniformDemand
from druginv_gym.scenarios import make_scenario

SMALL = {"n_drugs": 5, "horizon": 4}


def _play(prefetch: bool, between=None, env_id: str = "DrugRefill-v0") -> list[np.ndarray]:
    """Observations and rewards of 6 episodes (autoresets included) of 3 envs, with
    ``between(env, episode)`` called after each episode's last step."""
    env = gym.make_vec(env_id, num_envs=3, prefetch=prefetch, **SMALL)
    env.action_space.seed(7)
    obs, _ = env.reset(seed=11)
    seen = [obs]
    horizon = env.unwrapped._core.steps_per_episode
    for episode in range(6):
        for _ in range(horizon + 1):  # the last call autoresets
            obs, reward, terminated, _, info = env.step(env.action_space.sample())
            seen += [obs, reward, info["stock"]]
        if between is not None:
            between(env, episode)
    env.close()
    return seen


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture
def taken(monkeypatch):
    """How many prefetches were used (taken) and dropped, to check a test took that path."""
    counts = {"used": 0, "dropped": 0}
    take = TracePrefetch.take

    def counting(self, generator):
        traces = take(self, generator)
        counts["used" if traces is not None else "dropped"] += 1
        return traces

    monkeypatch.setattr(TracePrefetch, "take", counting)
    return counts


@pytest.mark.parametrize("env_id", ["DrugRefill-v0", "DrugRefillSequential-v0"])
def test_prefetched_episodes_equal_drawn_ones(env_id, taken):
    with_prefetch = _play(True, env_id=env_id)
    assert taken == {"used": 6, "dropped": 0}
    assert _same(with_prefetch, _play(False, env_id=env_id))


def _reset(env, episode):
    if episode == 1:
        env.reset()  # no seed: goes on with the same generator
    if episode == 3:
        env.reset(seed=5)  # a new generator: the prefetched traces are dropped


def _user_draw(env, episode):
    env.np_random.random(3)  # the user draws from the env's generator between episodes


def _new_generator(env, episode):
    if episode == 2:
        env.np_random = np.random.default_rng(123)


def _other_bit_generator(env, episode):
    if episode == 2:
        env.np_random = np.random.Generator(np.random.MT19937(4))


@pytest.mark.parametrize("between", [_reset, _user_draw, _new_generator, _other_bit_generator])
def test_prefetch_gives_way_to_anything_that_touches_the_generator(between, taken):
    assert _same(_play(True, between), _play(False, between))
    assert taken["dropped"] >= 1


@dataclasses.dataclass(frozen=True)
class FailingDemand(UniformDemand):
    """Demand that draws normally for the first episode only."""

    calls: list = dataclasses.field(default_factory=list, compare=False)

    def sample(self, rng, batch, horizon, n_drugs):
        self.calls.append(threading.current_thread().name)
        if len(self.calls) > 1:
            raise RuntimeError("demand feed is down")
        return super().sample(rng, batch, horizon, n_drugs)


@pytest.mark.parametrize("prefetch", [False, True])
def test_an_error_in_a_prefetched_draw_is_raised_by_the_autoreset(prefetch):
    config = dataclasses.replace(make_scenario("paper", **SMALL), demand=FailingDemand())
    env = gym.make_vec("DrugRefill-v0", num_envs=2, config=config, prefetch=prefetch)
    env.reset(seed=0)
    for _ in range(SMALL["horizon"]):
        env.step(env.action_space.sample())
    with pytest.raises(RuntimeError, match="demand feed is down"):
        env.step(env.action_space.sample())  # the autoreset
    env.close()
    if prefetch:  # it was tried in the background first, then again by the env
        assert config.demand.calls[1] == "druginv-trace-prefetch"
        assert config.demand.calls[2] == threading.current_thread().name


def test_default_prefetches_large_batches_only_and_bad_values_are_refused():
    small = gym.make_vec("DrugRefill-v0", num_envs=2, **SMALL)
    per_env = 30 * 70
    large = gym.make_vec("DrugRefill-v0", num_envs=-(-PREFETCH_MIN_DRUG_SLOTS // per_env))
    assert small.unwrapped.prefetch is False and large.unwrapped.prefetch is True
    with pytest.raises(ValueError, match="prefetch = 'yes' must be True, False or None"):
        gym.make_vec("DrugRefill-v0", num_envs=2, prefetch="yes")


def test_close_waits_for_the_draw_and_copies_draw_their_own():
    env = gym.make_vec("DrugRefill-v0", num_envs=2, prefetch=True, **SMALL)
    env.reset(seed=2)
    pending = env.unwrapped._pending
    assert pending is not None
    twin = copy.deepcopy(env.unwrapped)
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert twin._pending is None and clone._pending is None
    action = env.action_space.sample()
    after_reset = []
    for e in (env, twin, clone):
        for _ in range(SMALL["horizon"] + 1):  # the last call autoresets
            obs = e.step(action)[0]
        after_reset.append(obs)
    assert _same(after_reset[:2], after_reset[1:])
    env.close()
    assert env.unwrapped._pending is None and not pending._thread.is_alive()


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("scenario", ["paper", "shortage"])
def test_traces_are_stored_slot_by_slot(prefetch, scenario, taken):
    """Each slot of every trace array the step reads is one contiguous (B, N) block, whether
    the reset drew the traces or took a prefetched draw, and the env reports the draw's values
    (the env's trace of env b is the same as a single env's view of it)."""
    env = gym.make_vec("DrugRefill-v0", num_envs=3, prefetch=prefetch, scenario=scenario, **SMALL)
    env.reset(seed=3)
    for _ in range(3):  # the reset's draw, then two autoresets' (prefetched with prefetch=True)
        core = env.unwrapped._core
        arrays = {**core.exo, "price": core.price}
        if core.emergency is not None:
            arrays["emergency"] = core.emergency
        if core.supply is not None:
            arrays["alt_price"] = core.alt_price
        for name, arr in arrays.items():
            assert arr.shape == (3, SMALL["horizon"], SMALL["n_drugs"]), name
            assert all(arr[:, t].flags.c_contiguous for t in range(arr.shape[1])), name
        trace = env.unwrapped.exogenous
        for k, arr in core.exo.items():
            np.testing.assert_array_equal(getattr(trace[1], k), arr[1])
            assert getattr(trace[1], k).flags.c_contiguous, k
        for _ in range(core.steps_per_episode + 1):
            env.step(env.action_space.sample())
    assert taken["used"] == (3 if prefetch else 0)  # every autoreset took the prefetch
    env.close()
