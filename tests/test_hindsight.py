"""The Ipopt hindsight solver: hand-solved instances, lower bound, replay, failure statuses."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym
from druginv_gym.baselines import SS, BaseStock, MaxMin, OverProvisioning, RandomPolicy, SkiRental
from druginv_gym.solvers import HindsightOracle, HindsightPolicy, solve_hindsight

from .helpers import one_drug_config


def two_slot(**overrides):
    """One drug, two slots, demand 3 + 3, prices 10 then 20, storage free, band [0, 100]."""
    kw = dict(
        horizon=2,
        unit_volume=[1.0],
        shelf_life=[5],
        band_lo=[0.0],
        band_hi=[100.0],
        penalty_lo=[0.0],
        penalty_hi=[0.0],
        initial_stock=[0.0],
        shortage_cost=[100.0],
        storage_capacity=100.0,
        refill_hi=[100.0],
    )
    kw.update(overrides)
    cfg = one_drug_config(**kw)
    trace = {
        "demand": np.array([[3.0], [3.0]]),
        "base_price": np.array([[10.0], [20.0]]),
        "premium": np.zeros((2, 1)),
        "storage_rate": np.zeros((2, 1)),
    }
    return cfg, trace


def replay_cost(cfg, trace, solution):
    env = gym.make("DrugRefill-v0", config=cfg)
    policy = HindsightPolicy(env, solution)
    obs, _ = env.reset(options={"exogenous": trace})
    total, done = 0.0, False
    terms = dict.fromkeys(("purchase", "storage", "penalty", "shortage"), 0.0)
    while not done:
        obs, _, done, _, info = env.step(policy.act(obs))
        total += info["costs"]["total"]
        for k in terms:
            terms[k] += info["costs"][k]
    return total, terms


@pytest.mark.parametrize(
    ("overrides", "orders", "objective"),
    [
        ({}, [6.0, 0.0], 60.0),  # buy both slots' demand while it is cheap
        ({"total_budget": 50.0}, [5.0, 0.0], 150.0),  # budget buys 5; 1 unit lost at 100
        ({"storage_capacity": 4.0}, [4.0, 2.0], 80.0),  # only 4 fit: 1 left + 2 at 20
        ({"shelf_life": [1]}, [3.0, 3.0], 90.0),  # cheap units would expire: buy each slot
    ],
    ids=["one-drug-two-slots", "binding-budget", "binding-capacity", "would-expire"],
)
@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_hand_solved_instances(overrides, orders, objective, formulation):
    cfg, trace = two_slot(**overrides)
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.status == "optimal" and sol.success
    assert sol.orders[:, 0] == pytest.approx(orders, abs=1e-5)
    assert sol.objective == pytest.approx(objective, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(objective, rel=1e-6)


@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_band_penalty_trade_off_by_hand(formulation):
    # Band [5, 100], k_lo = 2. With no purchase at 20 in slot 1, a unit bought at 10 in slot 0
    # lowers slot 1's penalty 2 (5 - v1)^2 by 4 (5 - v1) = 4 (8 - v0): the optimum is where
    # that equals 10, v0 = 5.5, v1 = 2.5; buying in slot 1 pays only while 4 v1 > 20: never.
    # Orders [8.5, 0], cost 10 * 8.5 + 2 * 2.5^2 = 97.5.
    cfg, trace = two_slot(band_lo=[5.0], penalty_lo=[2.0])
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.orders[:, 0] == pytest.approx([8.5, 0.0], abs=1e-5)
    assert sol.stock[:, 0] == pytest.approx([5.5, 2.5], abs=1e-5)
    assert sol.objective == pytest.approx(97.5, rel=1e-7)
    assert sol.costs["penalty"] == pytest.approx(12.5, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(97.5, rel=1e-6)


def paper_small(seed):
    env = gym.make("DrugRefill-v0", n_drugs=8, horizon=10)
    env.reset(seed=seed)
    return env


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objective_lower_bounds_every_baseline(seed):
    env = paper_small(seed)
    sol = solve_hindsight(env.unwrapped.config, env.unwrapped.exogenous)
    assert sol.success
    policies = [OverProvisioning(env), SkiRental(env), MaxMin(env), BaseStock(env), SS(env)]
    policies += [RandomPolicy(env, seed=k) for k in range(3)]
    policies += [HindsightPolicy(env, sol)]
    for policy in policies:
        cost = druginv_gym.evaluate(env, policy, n_episodes=1, seed=seed).total_cost[0]
        assert sol.objective <= cost * (1 + 1e-7), type(policy).__name__


@pytest.mark.parametrize("n_drugs", [30, 50, 70])
def test_replay_matches_objective_on_paper_scenarios(n_drugs):
    env = gym.make("DrugRefill-v0", n_drugs=n_drugs)
    env.reset(seed=0)
    u = env.unwrapped
    sol = solve_hindsight(u.config, u.exogenous)
    assert sol.status == "optimal"
    total, _ = replay_cost(u.config, u.exogenous, sol)
    assert abs(total - sol.objective) <= 0.005 * sol.objective


def test_replay_term_by_term_when_expiry_and_capacity_do_not_bind():
    cfg = druginv_gym.make_scenario("paper", n_drugs=10, horizon=12).replace(
        shelf_life=np.full(10, 52), storage_capacity=1e3
    )
    env = gym.make("DrugRefill-v0", config=cfg)
    env.reset(seed=4)
    trace = env.unwrapped.exogenous
    sol = solve_hindsight(cfg, trace)
    total, terms = replay_cost(cfg, trace, sol)
    for k, v in sol.costs.items():
        assert terms[k] == pytest.approx(v, rel=1e-6, abs=1e-6 * sol.objective), k
    assert total == pytest.approx(sol.objective, rel=1e-6)


def test_oracle_in_evaluate():
    env = paper_small(0)
    oracle = HindsightOracle(env)
    df = druginv_gym.evaluate(env, oracle, n_episodes=2, seed=0)
    assert len(oracle.solutions) == 2
    for cost, sol in zip(df.total_cost, oracle.solutions, strict=True):
        assert cost == pytest.approx(sol.objective, rel=1e-5)


def test_infeasible_instance_reports_status():
    cfg, trace = two_slot(refill_lo=[50.0], total_budget=100.0)  # must buy 100 units at >= 10
    sol = solve_hindsight(cfg, trace)
    assert sol.status == "infeasible" and not sol.success and "nfeasib" in sol.message


def test_iteration_limit_reports_not_converged():
    env = paper_small(0)
    sol = solve_hindsight(env.unwrapped.config, env.unwrapped.exogenous, max_iter=2)
    assert sol.status == "not_converged" and not sol.success and sol.iterations == 2


def test_bad_ipopt_option_is_an_error_status_not_an_exception():
    cfg, trace = two_slot()
    sol = solve_hindsight(cfg, trace, options={"linear_solver": "no-such-solver"})
    assert sol.status == "error" and np.isnan(sol.objective)


def test_trace_of_the_wrong_shape():
    cfg, trace = two_slot()
    with pytest.raises(ValueError, match=r"has shape \(2, 1\); this scenario needs .* \(3, 1\)"):
        solve_hindsight(cfg.replace(horizon=3, drug_budget=[1000.0]), trace)


def test_policy_checks_solution_shape():
    cfg, trace = two_slot()
    sol = solve_hindsight(cfg, trace)
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=2)
    with pytest.raises(ValueError, match=r"solution.orders has shape \(2, 1\)"):
        HindsightPolicy(env, sol)


def test_warm_start_does_not_change_the_optimum():
    env = paper_small(1)
    u = env.unwrapped
    a = solve_hindsight(u.config, u.exogenous, warm_start=True)
    b = solve_hindsight(u.config, u.exogenous, warm_start=False)
    assert a.objective == pytest.approx(b.objective, rel=1e-7)


@pytest.mark.parametrize(
    ("scenario", "n_drugs", "horizon", "seed"),
    [("paper", 8, 10, 0), ("paper", 20, 30, 1), ("paper", 12, 52, 2), ("pharma", 8, 26, 3)],
)
def test_balance_and_cumulative_forms_have_the_same_optimum(scenario, n_drugs, horizon, seed):
    # The stock-balance form (default) is a reformulation of the cumulative one: same feasible
    # plans, same cost. Short shelf lives (expiry binding) and 52 slots included.
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=n_drugs, horizon=horizon)
    env.reset(seed=seed)
    u = env.unwrapped
    a = solve_hindsight(u.config, u.exogenous, formulation="balance")
    b = solve_hindsight(u.config, u.exogenous, formulation="cumulative")
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-7)
    for k in a.costs:
        assert a.costs[k] == pytest.approx(b.costs[k], rel=1e-4, abs=1e-6 * a.objective), k
    assert a.n_variables + a.n_constraints < b.n_variables + b.n_constraints
    total, _ = replay_cost(u.config, u.exogenous, a)
    assert a.objective <= total * (1 + 1e-7)


def test_balance_form_on_edge_configs():
    # Shelf life 1 (everything expires at the end of its slot), an empty band, initial stock
    # above the band (the no-younger-expiry rows matter), and C_lo = 0.
    cfg, trace = two_slot(shelf_life=[1], band_lo=[2.0], band_hi=[2.0], penalty_hi=[1.0])
    for overrides in ({}, {"initial_stock": [50.0], "band_hi": [10.0], "penalty_hi": [1.0]}):
        c = cfg.replace(**overrides) if overrides else cfg
        a = solve_hindsight(c, trace, formulation="balance")
        b = solve_hindsight(c, trace, formulation="cumulative")
        assert a.status == b.status == "optimal", overrides
        assert a.objective == pytest.approx(b.objective, rel=1e-7, abs=1e-6), overrides
        total, _ = replay_cost(c, trace, a)
        assert total == pytest.approx(a.objective, rel=1e-6, abs=1e-6), overrides


def test_unknown_formulation_names_the_value():
    cfg, trace = two_slot()
    with pytest.raises(ValueError, match=r"formulation = 'dense' is not one of"):
        solve_hindsight(cfg, trace, formulation="dense")
