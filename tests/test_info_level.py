"""``info_level="summary"``: per-env costs and totals, the full info's sums, on every id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym.info import TOTAL_SUFFIX

from .conftest import ENV_IDS

SCENARIOS = ("paper", "shortage", "hospital")  # plain; a supply model; classes and substitution


def _actions(env, steps: int, seed: int) -> list:
    space = env.action_space
    space.seed(seed)
    return [space.sample() for _ in range(steps)]


def _play_pair(env_id: str, scenario: str, num_envs: int, steps: int):
    """The same episodes on a full and a summary vector env: yields their step outputs."""
    kwargs = dict(scenario=scenario, n_drugs=6, horizon=4, num_envs=num_envs)
    full = gym.make_vec(env_id, **kwargs)
    summary = gym.make_vec(env_id, info_level="summary", **kwargs)
    assert summary.unwrapped.info_level == "summary" and full.unwrapped.info_level == "full"
    first = full.reset(seed=11), summary.reset(seed=11)
    yield first
    for action in _actions(full, steps, seed=3):
        yield full.step(action), summary.step(action)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_summary_is_the_full_info_summed(each_backend, env_id, scenario):
    steps = 4 * 6 + 3 if env_id.startswith("DrugRefillSequential") else 4 + 3  # past an autoreset
    keys = None
    for full, summary in _play_pair(env_id, scenario, 3, steps):
        info_full, info_sum = full[-1], summary[-1]
        for a, b in zip(full[:-1], summary[:-1], strict=True):  # obs, rewards, flags
            np.testing.assert_array_equal(a, b)
        totals = sorted(k for k in info_sum if k.endswith(TOTAL_SUFFIX))
        assert totals, "no totals in the summary info"
        for key in totals:
            np.testing.assert_allclose(
                info_sum[key], info_full[key[: -len(TOTAL_SUFFIX)]].sum(axis=-1), rtol=1e-12,
                atol=1e-9, err_msg=key,
            )  # fmt: skip
        np.testing.assert_array_equal(info_sum["spend"], info_full["spend"])
        for key, value in info_full["costs"].items():
            np.testing.assert_array_equal(info_sum["costs"][key], value)
        # no per-drug array; the same keys at reset and at every step
        assert all(np.ndim(v) <= 1 for k, v in info_sum.items() if k != "costs")
        keys = keys or set(info_sum)
        assert set(info_sum) == keys
    per_drug = {k + TOTAL_SUFFIX for k, v in info_full.items() if k != "costs" and np.ndim(v) == 2}
    assert per_drug - {"drug_costs" + TOTAL_SUFFIX} == set(totals)


@pytest.mark.parametrize("scenario", ("paper", "shortage"))
def test_single_env_summary_holds_python_floats(each_backend, scenario):
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=5, horizon=3, info_level="summary")
    full = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=5, horizon=3)
    _, info = env.reset(seed=2)
    _, info_full = full.reset(seed=2)
    assert info["stock_total"] == pytest.approx(float(info_full["stock"].sum()))
    for action in _actions(env, 3, seed=0):
        *_, info = env.step(action)
        *_, info_full = full.step(action)
        assert type(info["unmet_total"]) is float and type(info["t"]) is int
        assert info["unmet_total"] == pytest.approx(float(info_full["unmet"].sum()), abs=1e-9)
        assert info["costs"] == info_full["costs"]
    assert "stock" not in info and "drug_costs" not in info


def test_info_level_switches_between_steps(each_backend):
    env = gym.make_vec("DrugRefill-v0", num_envs=2, n_drugs=4, horizon=5, info_level="summary")
    env.reset(seed=0)
    action = np.full((2, 4), 0.5, dtype=np.float32)
    assert "stock" not in env.step(action)[-1]
    env.unwrapped.info_level = "full"
    assert env.step(action)[-1]["stock"].shape == (2, 4)
    env.unwrapped.set_attr("info_level", "summary")
    assert env.step(action)[-1]["stock_total"].shape == (2,)


@pytest.mark.parametrize("make", (gym.make, gym.make_vec))
def test_a_bad_info_level_is_named(make):
    with pytest.raises(
        ValueError, match=r"info_level = 'none'; expected one of \('full', 'summary'\)"
    ):
        make("DrugRefill-v0", n_drugs=3, horizon=2, info_level="none")
    env = make("DrugRefill-v0", n_drugs=3, horizon=2)
    with pytest.raises(ValueError, match=r"info_level = 3"):
        env.unwrapped.info_level = 3
    assert env.unwrapped.info_level == "full"


def test_readers_of_per_drug_arrays_refuse_the_summary():
    from druginv_gym import evaluate
    from druginv_gym.wrappers import ForecastObservation, OrderUpToAction

    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=2, info_level="summary")
    for build in (
        lambda: evaluate(env, lambda obs: np.zeros(3, np.float32), n_episodes=1),
        lambda: ForecastObservation(env, "moving_average"),
        lambda: OrderUpToAction(env),
    ):
        with pytest.raises(ValueError, match=r"needs info_level='full', not 'summary'"):
            build()
