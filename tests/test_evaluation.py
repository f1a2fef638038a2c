"""evaluate/compare: metrics checked by hand on a deterministic one-drug scenario."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
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
    assert list(episodes.columns[2 : 2 + len(METRICS)]) == list(METRICS)
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
    for m in METRICS:  # the class metrics are nan without classes
        assert ((summary[f"{m}_ci95"] >= 0) | summary[m].isna()).all()
    assert summary.fill_rate_V.isna().all()
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


#: The binding-share metrics, in table order.
BINDING = (
    "binding_total_budget",
    "binding_storage",
    "binding_capacity",
    "binding_drug_budget",
    "binding_refill",
    "binding_expiry",
)
#: What a supply model did, in table order (zeros without one but the longest stockout).
SUPPLY = ("outage_lost_units", "recalled_units", "alt_units", "alt_spend", "longest_stockout")
#: Per criticality class (nan without classes), then substitution's units and cost.
CLASSES = (
    *(f"{m}_{c}" for c in "VEN" for m in ("fill_rate", "shortage_rate", "service_met")),
    "substituted_units",
    "substitution_cost",
)


def test_the_metric_table_gives_the_columns_every_table_had():
    from druginv_gym.evaluation import episode_metrics, summary_metrics, table_metrics

    assert (
        episode_metrics()
        == METRICS
        == (
            "total_cost",
            "purchase_cost",
            "storage_cost",
            "penalty_cost",
            "shortage_cost",
            "shortage_rate",
            "stockout_rate",
            "unexpected_rate",
            "fill_rate",
            "expired_units",
            "waste_rate",
            "budget_used",
            *BINDING,
            *SUPPLY,
            *CLASSES,
        )
    )
    assert summary_metrics() == (
        "total_cost",
        "gap_to_optimum",
        "shortage_rate",
        "stockout_rate",
        "unexpected_rate",
        "fill_rate",
        "waste_rate",
        "expired_units",
        *BINDING,
        *SUPPLY,
        *CLASSES,
    )
    assert [m.name for m in table_metrics("binding")] == list(BINDING)
    assert [m.name for m in table_metrics("supply")] == list(SUPPLY)
    assert [m.name for m in table_metrics("classes")] == list(CLASSES)
    shown = table_metrics()
    assert [m.short_header for m in shown] == [
        "cost (USD)",
        "vs optimum",
        "shortage",
        "stockout",
        "unexpected",
        "fill",
        "waste",
    ]
    assert [m.header for m in shown] == [
        "refilling cost (USD)",
        "vs optimum",
        "shortage rate",
        "stockout rate",
        "unexpected rate",
        "fill rate",
        "waste",
    ]


@pytest.fixture
def metric_table():
    """The metric table, restored after the test."""
    from druginv_gym import evaluation

    saved = evaluation._TABLE.snapshot()
    yield evaluation
    evaluation._TABLE.restore(saved)


def test_a_registered_metric_reaches_evaluate_summaries_and_tables(metric_table, tmp_path, capsys):
    from druginv_gym import benchmark
    from druginv_gym.benchmark import BenchmarkSpec, run_benchmark
    from druginv_gym.evaluation import Metric, register_metric
    from druginv_gym.reporting import print_table

    register_metric(
        Metric(
            "cost_per_slot",
            "cost per slot",
            "USD",
            "refilling cost over the slots played",
            compute=lambda t: t.costs["total"] / t.slots,
            summarised=True,
            shown=True,
            short_label="cost/slot",
        )
    )
    assert metric_table.METRICS[-1] == "cost_per_slot"
    # computed on access: shown metrics first, then expired_units (summarised, not shown),
    # then the binding, supply and class tables'
    assert benchmark.SUMMARY_METRICS[-25:] == (
        "waste_rate", "cost_per_slot", "expired_units", *BINDING, *SUPPLY, *CLASSES,
    )  # fmt: skip
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    episodes = druginv_gym.evaluate(env, MaxMin(env), 2, seed=0)
    k = 2 + len(METRICS)
    assert list(episodes.columns[2 : k + 1]) == [*METRICS, "cost_per_slot"]
    assert list(episodes.columns[k + 1 :]) == ["return", "slots", "wall_s"]
    np.testing.assert_allclose(episodes.cost_per_slot, episodes.total_cost / 4)
    summary = druginv_gym.summarize(episodes.assign(policy="max-min"))
    assert "cost_per_slot_ci95" in summary.columns
    print_table("t", summary)
    assert "cost/slot (USD)" in capsys.readouterr().out
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=2, policies=("max-min",))
    result = run_benchmark(spec, tmp_path, progress=False, plots=False, log=lambda m: None)
    assert "| waste | cost per slot (USD) |" in (tmp_path / "summary.md").read_text()
    assert "cost_per_slot" in result.summary.columns


def test_metric_registration_checks_its_fields(metric_table):
    from druginv_gym.evaluation import Metric, register_metric

    with pytest.raises(ValueError, match="metric name = 'two words' must be an identifier"):
        Metric("two words", "x", "%", "x")
    with pytest.raises(ValueError, match="metric 'x': shown=True needs summarised=True"):
        Metric("x", "x", "%", "x", shown=True)
    with pytest.raises(ValueError, match="metric 'x': compute = 3 is not callable"):
        Metric("x", "x", "%", "x", compute=3)
    with pytest.raises(ValueError, match="metric 'fill_rate' is built in and cannot be replaced"):
        register_metric(Metric("fill_rate", "x", "%", "x", compute=lambda t: 0.0))
    with pytest.raises(ValueError, match="metric name 'slots' is a column evaluate"):
        register_metric(Metric("slots", "x", "", "x", compute=lambda t: 0.0))
    with pytest.raises(ValueError, match=r"is not a druginv_gym\.evaluation\.Metric"):
        register_metric("fill_rate")
    with pytest.raises(TypeError, match="colour"):
        Metric("x", "x", "%", "x", colour="red")
    from druginv_gym.evaluation import unregister_metric

    with pytest.raises(ValueError, match="metric 'total_cost' is built in"):
        unregister_metric("total_cost")
    with pytest.raises(ValueError, match=r"unknown metric 'nope'; registered: \['total_cost'"):
        unregister_metric("nope")
    mine = Metric("mine", "mine", "", "x", compute=lambda t: 1.0)
    register_metric(mine)
    assert unregister_metric("mine") is mine and "mine" not in metric_table.METRICS
    env = gym.make("DrugRefill-v0", n_drugs=2, horizon=2)
    with pytest.raises(ValueError, match=r"metrics \['nope'\] are not columns"):
        druginv_gym.summarize(
            druginv_gym.evaluate(env, MaxMin(env)).assign(policy="m"), metrics=["nope"]
        )


def test_identical_policies_are_drawn_once_and_tables_sort_by_cost():
    from druginv_gym.benchmark import same_lines
    from druginv_gym.reporting import by_cost

    idx = pd.MultiIndex.from_product([["a", "b", "c"], [0, 1]], names=["policy", "t"])
    per_slot = pd.DataFrame({"total_cost": [1.0, 2.0, 1.0, 2.0, 1.0, 3.0]}, index=idx)
    assert same_lines(per_slot, ["a", "b", "c"]) == [["a", "b"], ["c"]]
    summary = pd.DataFrame({"total_cost": [3.0, 1.0, 2.0]}, index=["x", "y", "z"])
    assert list(by_cost(summary).index) == ["y", "z", "x"]
