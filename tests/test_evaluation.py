"""evaluate/compare: metrics checked by hand on a deterministic one-drug scenario."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym
from druginv_gym.baselines import MaxMin, OverProvisioning
from druginv_gym.evaluation import METRICS

from .helpers import deterministic_config


class Fixed:
    """Always the same Box action."""

    def __init__(self, fraction):
        self.a = np.array([fraction], dtype=np.float32)

    def reset(self):
        pass

    def act(self, obs):
        return self.a


def test_metrics_by_hand():
    # Stock 4, demand 3/slot, order 0.1 * 10 = 1 unit/slot at price 10, storage rate 2.
    # End stock: 2, 0, 0, 0 (t=2: 1 arrives + 0 stock < 3 demand: 2 unmet). Shelf life 2:
    # the initial 4 units serve slots 0-1 only, all used up; nothing expires.
    cfg = deterministic_config(horizon=4)
    env = gym.make("DrugRefill-v0", config=cfg)
    episodes, slots = druginv_gym.evaluate(env, Fixed(0.1), n_episodes=2, seed=0, return_slots=True)
    row = episodes.iloc[0]
    assert list(episodes.columns[2:14]) == list(METRICS)
    assert row.purchase_cost == pytest.approx(4 * 10.0)
    assert row.storage_cost == pytest.approx(2 * 0.01 * 2)
    # Band [2, 6], k_lo 1: slot ends 2, 0, 0, 0 -> penalty 0 + 4 + 4 + 4.
    assert row.penalty_cost == pytest.approx(12.0)
    assert row.shortage_cost == pytest.approx(20.0 * (0 + 0 + 2 + 2))
    assert row.total_cost == pytest.approx(40 + 0.04 + 12 + 80)
    assert row.shortage_rate == pytest.approx(3 / 4)
    assert row.stockout_rate == pytest.approx(2 / 4)
    assert row.unexpected_rate == 0.0
    assert row.fill_rate == pytest.approx(8 / 12)
    assert row.expired_units == 0 and row.waste_rate == 0
    assert row.budget_used == pytest.approx(40 / cfg.total_budget)
    assert row["return"] == pytest.approx(-row.total_cost / cfg.reward_scale)
    assert len(slots) == 8 and slots.total_cost.sum() == pytest.approx(episodes.total_cost.sum())


def test_same_seed_same_traces_for_every_policy():
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=5)
    demands = []
    for policy in (MaxMin(env), OverProvisioning(env)):
        df, slots = druginv_gym.evaluate(env, policy, 3, seed=10, return_slots=True)
        assert df.seed.tolist() == [10, 11, 12]
        env.reset(seed=12)
        demands.append(env.unwrapped.exogenous.demand.copy())
    assert np.array_equal(demands[0], demands[1])


def test_episode_k_does_not_depend_on_n_episodes():
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=5)
    a = druginv_gym.evaluate(env, MaxMin(env), 3, seed=0).total_cost.to_numpy()
    b = druginv_gym.evaluate(env, MaxMin(env), 1, seed=2).total_cost.to_numpy()
    assert a[2] == b[0]


def test_compare_gives_mean_and_interval():
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=5)
    seq = gym.make("DrugRefillSequential-v0", n_drugs=4, horizon=5)
    summary, episodes = druginv_gym.compare(
        env,
        {"maxmin": MaxMin(env), "over": OverProvisioning, "maxmin-seq": (seq, MaxMin(seq))},
        n_episodes=4,
        seed=0,
    )
    assert list(summary.index) == ["maxmin", "over", "maxmin-seq"]
    assert (summary.episodes == 4).all() and len(episodes) == 12
    for m in METRICS:
        assert (summary[f"{m}_ci95"] >= 0).all()
    mm = episodes[episodes.policy == "maxmin"].total_cost
    assert summary.loc["maxmin", "total_cost"] == pytest.approx(mm.mean())
    half = 3.182446305284263 * mm.std(ddof=1) / 2  # t(0.975, 3) * sd / sqrt(4)
    assert summary.loc["maxmin", "total_cost_ci95"] == pytest.approx(half)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_bad_episode_count(n):
    env = gym.make("DrugRefill-v0", n_drugs=2, horizon=2)
    with pytest.raises(ValueError, match=f"n_episodes = {n!r}"):
        druginv_gym.evaluate(env, MaxMin(env), n_episodes=n)


def test_compare_needs_policies():
    env = gym.make("DrugRefill-v0", n_drugs=2, horizon=2)
    with pytest.raises(ValueError, match="policies is empty"):
        druginv_gym.compare(env, {})
