"""Stateful fuzzing of every env id and the native vector env (hypothesis state machines).

Random scenarios; resets with and without seeds and with replayed (and freshly drawn) traces;
actions inside the spaces, at their bounds, and beyond them (NaN, inf, out of range, wrong
shape or dtype). After every step the invariants of the model are checked; a refused action
must raise ``ValueError`` and leave the episode exactly as it was.

``FUZZ_EXAMPLES`` sets the number of examples (state-machine runs) of the slow test; the fast
one runs a few hundred on every ``make test``.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from druginv_gym.envs.drug_refill import (
    DrugRefillDiscreteVectorEnv,
    DrugRefillSequentialVectorEnv,
    DrugRefillVectorEnv,
)

from .conftest import ENV_IDS
from .test_properties import scenarios

VECTOR = {
    "DrugRefill-v0": DrugRefillVectorEnv,
    "DrugRefillDiscrete-v0": DrugRefillDiscreteVectorEnv,
    "DrugRefillSequential-v0": DrugRefillSequentialVectorEnv,
}
TOL = 1e-9
STEPS = 0  # steps checked, summed over all runs (reported by the slow test)


def _bad_actions(space: gym.Space, vector: bool, n_envs: int) -> st.SearchStrategy:
    """Actions the env must refuse with ValueError."""
    shape = space.shape
    base = np.zeros(shape, dtype=np.float64)

    def at(value: float) -> st.SearchStrategy:
        def build(idx: int):
            a = base.copy().reshape(-1)
            a[idx % max(a.size, 1)] = value
            return a.reshape(shape)

        return st.integers(0, 10_000).map(build) if base.size else st.just(np.float64(value))

    wrong_shape = np.zeros((*shape, 2)) if shape else np.zeros(3)
    return st.one_of(
        at(np.nan),
        at(np.inf),
        at(-np.inf),
        at(-0.5),
        at(1e6),
        st.just(wrong_shape),
        st.just(np.array(["a"] * max(int(np.prod(shape)), 1)).reshape(shape or (1,))),
    )


class EnvMachine(RuleBasedStateMachine):
    """One env (single or vector) of a random scenario, driven by random rules."""

    def __init__(self) -> None:
        super().__init__()
        self.env = None

    @initialize(
        cfg=scenarios(),
        env_id=st.sampled_from(ENV_IDS),
        vector=st.booleans(),
        seed=st.integers(0, 2**31 - 1),
    )
    def setup(self, cfg, env_id, vector, seed):
        self.cfg, self.vector = cfg, vector
        self.env = (
            VECTOR[env_id](num_envs=2, config=cfg) if vector else gym.make(env_id, config=cfg)
        )
        self.space = self.env.action_space
        self.obs_space = self.env.observation_space
        self._reset(seed=seed)

    def _reset(self, **kw):
        obs, info = self.env.reset(**kw)
        assert self.obs_space.contains(obs)
        self.level = np.asarray(info["stock"], dtype=float).copy()
        self.done = False

    @property
    def core(self):
        return self.env._core if self.vector else self.env.unwrapped._core

    def _state(self):
        f = self.core.flow
        return (self.core.t, self.core.cursor, f.arrived.copy(), f.left.copy(), f.spent.copy())

    @rule(seed=st.none() | st.integers(0, 2**31 - 1))
    def reset(self, seed):
        self._reset(seed=seed)

    @rule(data=st.data())
    def replay_trace(self, data):
        """Replay the current trace, or a freshly drawn one with edge values."""
        u = self.env if self.vector else self.env.unwrapped
        if data.draw(st.booleans(), label="fresh"):
            t, n = self.cfg.horizon, self.cfg.n_drugs
            level = data.draw(st.sampled_from([0.0, 1e-12, 3.0, 1e6]), label="value")
            one = {
                "demand": np.full((t, n), level),
                "base_price": np.full((t, n), level),
                "premium": np.zeros((t, n)),
                "storage_rate": np.full((t, n), level),
            }
            trace = [one, one] if self.vector else one
        else:
            trace = u.exogenous
        self._reset(options={"exogenous": trace})

    @precondition(lambda self: self.env is not None and not self.done)
    @rule(data=st.data())
    def step(self, data):
        global STEPS
        edge = st.sampled_from([0.0, 1.0, 1.0 + 5e-7, -5e-7])
        if isinstance(self.space, gym.spaces.Box) and self.space.dtype.kind == "f":
            values = st.one_of(edge, st.floats(0.0, 1.0))
            size = int(np.prod(self.space.shape))
            flat = data.draw(st.lists(values, min_size=size, max_size=size), label="action")
            action = np.array(flat, dtype=np.float32).reshape(self.space.shape)
        else:
            self.space.seed(data.draw(st.integers(0, 2**31 - 1), label="seed"))
            action = self.space.sample()
        obs, reward, terminated, truncated, info = self.env.step(action)
        STEPS += 1
        cfg = self.cfg
        assert self.obs_space.contains(obs)
        assert np.isfinite(reward).all()
        assert all(np.isfinite(v).all() for v in info["costs"].values())
        level = np.asarray(info["stock"], dtype=float)
        assert (level >= 0).all()
        assert (level @ cfg.unit_volume <= cfg.storage_capacity * (1 + TOL) + TOL).all()
        assert (self.core.spent <= cfg.total_budget * (1 + TOL) + TOL).all()
        slot_done = np.all(info.get("slot_done", True))
        if slot_done:
            donated = info.get("donated", 0.0)  # with substitution: given to other drugs
            balance = self.level + info["accepted"] - info["served"] - donated - info["expired"]
            np.testing.assert_allclose(level, balance, rtol=0, atol=1e-9 * (1 + level.max()))
            filled = info["served"] + info.get("substituted", 0.0) + info["unmet"]
            np.testing.assert_allclose(filled, info["demand"], rtol=1e-12, atol=1e-9)
            self.level = level.copy()
        self.done = bool(np.all(terminated) or np.all(truncated))

    @precondition(lambda self: self.env is not None and not self.done)
    @rule(data=st.data())
    def refused_step(self, data):
        action = data.draw(_bad_actions(self.space, self.vector, 2), label="bad action")
        before = self._state()
        with pytest.raises(ValueError):
            self.env.step(action)
        after = self._state()
        assert before[:2] == after[:2]
        for a, b in zip(before[2:], after[2:], strict=True):
            np.testing.assert_array_equal(a, b)

    @invariant()
    def stock_matches_the_by_age_view(self):
        if self.env is None:
            return
        by_age = self.core.stock
        assert (by_age >= -1e-12).all()
        np.testing.assert_allclose(by_age.sum(-1), self.core.flow.level, atol=1e-9)

    def teardown(self):
        if self.env is not None:
            self.env.close()


def _run(examples: int, steps: int) -> None:
    EnvMachine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    EnvMachine.TestCase().runTest()


def test_fuzz_every_env_id_and_the_vector_env():
    start = STEPS
    _run(300, 20)
    assert STEPS - start >= 150, "the state machines hardly stepped: the invariants went unchecked"


@pytest.mark.slow
def test_fuzz_ten_thousand_runs():
    """10,000 state-machine runs (1,000 when CI is set, to keep CI short; FUZZ_EXAMPLES
    overrides)."""
    default = 1_000 if os.environ.get("CI") else 10_000
    examples = int(os.environ.get("FUZZ_EXAMPLES", default))
    start = STEPS
    _run(examples, 30)
    print(f"fuzz: {examples} runs, {STEPS - start} steps checked")
    assert STEPS - start >= examples // 2, "the state machines hardly stepped"
