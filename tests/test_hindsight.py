"""The Ipopt hindsight solver: hand-solved instances, lower bound, replay, failure statuses."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym
from druginv_gym.baselines import SS, BaseStock, MaxMin, OverProvisioning, RandomPolicy, SkiRental
from druginv_gym.exogenous import ExogenousTrace, sample_exogenous
from druginv_gym.solvers import HindsightOracle, HindsightPolicy, solve_hindsight, solve_two_stage

from .helpers import one_drug_config


def tiny(demand, base, premium=None, **overrides):
    """One drug, ``len(demand)`` slots, storage free, no penalty, band [0, 100], shortage 100."""
    T = len(demand)
    kw = dict(
        horizon=T,
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
        "demand": np.array(demand, dtype=float)[:, None],
        "base_price": np.array(base, dtype=float)[:, None],
        "premium": np.zeros((T, 1)) if premium is None else np.array(premium, float)[:, None],
        "storage_rate": np.zeros((T, 1)),
    }
    return cfg, trace


def two_slot(**overrides):
    """One drug, two slots, demand 3 + 3, prices 10 then 20, storage free, band [0, 100]."""
    return tiny([3.0, 3.0], [10.0, 20.0], **overrides)


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


@pytest.mark.parametrize(
    ("scenario", "seed"),
    [("paper", 0), ("paper", 1), ("paper", 2), ("paper-band", 0), ("seasonal", 0), ("pharma", 0)],
)
def test_objective_lower_bounds_every_baseline(scenario, seed):
    """On every registered scenario (the literal default with its hard capacity, zones and
    emergency premium; the band reading; seasonal and real demand), the optimum's objective
    is at most the cost of every baseline, the earlier rules and random play included."""
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=8, horizon=10)
    env.reset(seed=seed)
    sol = solve_hindsight(env.unwrapped.config, env.unwrapped.exogenous)
    assert sol.success
    policies = [OverProvisioning(env), SkiRental(env), MaxMin(env), BaseStock(env), SS(env)]
    policies += [OverProvisioning(env, rule="cover"), SkiRental(env, rule="band")]
    policies += [MaxMin(env, rule="up-to")]
    policies += [RandomPolicy(env, seed=k) for k in range(3)]
    policies += [HindsightPolicy(env, sol)]
    for policy in policies:
        cost = druginv_gym.evaluate(env, policy, n_episodes=1, seed=seed).total_cost[0]
        assert sol.objective <= cost * (1 + 1e-7), type(policy).__name__


@pytest.mark.parametrize(
    ("scenario", "n_drugs"), [("paper", 30), ("paper", 70), ("paper-band", 30), ("paper-band", 70)]
)
def test_replay_matches_objective_on_paper_scenarios(scenario, n_drugs):
    # On the calibrated literal default the relaxation's hold-back of stock does not pay
    # (docs/hindsight.md): its plans replay to their objective, as on the band reading.
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=n_drugs)
    env.reset(seed=0)
    u = env.unwrapped
    sol = solve_hindsight(u.config, u.exogenous)
    assert sol.status == "optimal"
    total, _ = replay_cost(u.config, u.exogenous, sol)
    assert abs(total - sol.objective) <= 0.005 * sol.objective


def test_replay_term_by_term_when_expiry_and_capacity_do_not_bind():
    cfg = druginv_gym.make_scenario("paper-band", n_drugs=10, horizon=12).replace(
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
    # a plan as the start (MPC passes its previous one): the env's simulation of it
    c = solve_hindsight(u.config, u.exogenous, warm_start=a.orders * 0.5)
    assert c.objective == pytest.approx(a.objective, rel=1e-7)
    with pytest.raises(ValueError, match=r"warm_start plan of shape \(3,\)"):
        solve_hindsight(u.config, u.exogenous, warm_start=np.zeros(3))


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


# ------------------------------------------------------------------ hard capacity, knees, premium
@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_hard_capacity_by_hand(formulation):
    # Demand 3 a slot, prices 10, 30, 20, capacity C_hi = 5 on stock just after arrival.
    # Slot 0 fills up (5, stock 2 left); slot 1 buys only the 1 unit it lacks (buying more at 30
    # would only replace units at 20); slot 2 buys its 3. Cost 50 + 30 + 60 = 140 (soft band:
    # 9 units at 10 = 90).
    cfg, trace = tiny([3, 3, 3], [10, 30, 20], band_hi=[5.0], hard_capacity=True)
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.status == "optimal"
    assert sol.orders[:, 0] == pytest.approx([5.0, 1.0, 3.0], abs=1e-6)
    assert sol.objective == pytest.approx(140.0, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(140.0, rel=1e-6)
    soft = solve_hindsight(cfg.replace(hard_capacity=False), trace, formulation=formulation)
    assert soft.orders[:, 0] == pytest.approx([9.0, 0.0, 0.0], abs=1e-6)
    assert soft.objective == pytest.approx(90.0, rel=1e-6)


@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_hard_capacity_with_a_refill_minimum_stays_a_lower_bound(formulation):
    # rho_lo = 5, C_hi = 10, demand 3, prices 10, 100, 100. The env cuts an order below rho_lo
    # when the capacity leaves less room: orders [10, 3, 3] (stock 7 each slot) cost 700, the
    # env's best. Requiring x >= 5 everywhere would give 1060, above it; the solver keeps only
    # the convex hull x_t >= 5 (1 - v_{t-1} / 10): x = [10, 1.5, 2.25] (v = 7, 5.5, 4.75) costs
    # 100 + 150 + 225 = 475 <= 700.
    cfg, trace = tiny(
        [3, 3, 3], [10, 100, 100], band_hi=[10.0], refill_lo=[5.0], hard_capacity=True,
        shortage_cost=[1000.0],
    )  # fmt: skip
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.status == "optimal"
    assert sol.orders[:, 0] == pytest.approx([10.0, 1.5, 2.25], abs=1e-6)
    assert sol.objective == pytest.approx(475.0, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)  # the env raises 1.5 and 2.25 to min(5, room) = 3
    assert total == pytest.approx(700.0, rel=1e-9)
    assert sol.objective <= total


@pytest.mark.parametrize(
    ("band_lo", "zone_lo"), [(5.0, 0.0), (4.0, 1.0), (0.0, 5.0)], ids=["band", "zone", "all-zone"]
)
@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_penalty_knee_by_hand(band_lo, zone_lo, formulation):
    # test_band_penalty_trade_off_by_hand with the lower knee at 5 made of band + zone: the
    # penalty 2 max(5 - v, 0)^2 is the same, so is the optimum (v0 = 5.5, v1 = 2.5, 97.5). With
    # C_lo = 0 the balance form needs lo up to the knee, not C_lo, for v1 < 5.
    cfg, trace = two_slot(band_lo=[band_lo], penalty_zone_lo=[zone_lo], penalty_lo=[2.0])
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.orders[:, 0] == pytest.approx([8.5, 0.0], abs=1e-5)
    assert sol.objective == pytest.approx(97.5, rel=1e-7)
    assert sol.costs["penalty"] == pytest.approx(12.5, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(97.5, rel=1e-6)


@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_upper_knee_by_hand(formulation):
    # Stock 10 to start, demand 3 + 3, nothing bought; k_hi = 1 above the knee 100 - 95 = 5:
    # penalty (7 - 5)^2 + 0 = 4.
    cfg, trace = two_slot(initial_stock=[10.0], penalty_hi=[1.0], penalty_zone_hi=[95.0])
    for c, penalty in ((cfg, 4.0), (cfg.replace(penalty_zone_hi=[0.0]), 0.0)):
        sol = solve_hindsight(c, trace, formulation=formulation)
        assert sol.orders[:, 0] == pytest.approx([0.0, 0.0], abs=1e-6)
        assert sol.objective == pytest.approx(penalty, abs=2e-5)


@pytest.mark.parametrize(
    ("mode", "overrides", "premium", "orders", "objective", "terms"),
    [
        # Base prices 10, 20, premiums 30, 0, shortage cost 15; nothing can be bought in slot 1
        # (its budget is 0). Exogenous: slot 0's order costs 40 > 15, buy none: 6 x 15.
        ("exogenous", {}, [30, 0], [0, 0], 90.0, {"purchase": 0.0, "shortage": 90.0}),
        # Emergency: orders pay 10, an unmet unit 15 + 10 + 30 = 55 (slot 0), 15 + 20 = 35
        # (slot 1): buy both slots' demand ahead.
        ("emergency", {}, [30, 0], [6, 0], 60.0, {"purchase": 60.0, "shortage": 0.0}),
        # ... with 40 to spend: 4 units, 2 unmet in slot 1 at 35.
        ("emergency", {"total_budget": 40.0}, [30, 0], [4, 0], 110.0, {"shortage": 70.0}),
        # ... with a per-drug budget of 30 in slot 0, at the order price 10: 3 units.
        (
            "emergency",
            {"drug_budget": [[30.0], [0.0]]},
            [30, 0],
            [3, 0],
            135.0,
            {"shortage": 105.0},
        ),
        # Exogenous, premium 2 on slot 0's order: 12 < 15, the budget 36 buys 3; 3 unmet at 15.
        ("exogenous", {"total_budget": 36.0}, [2, 30], [3, 0], 81.0, {"purchase": 36.0}),
    ],
    ids=["exogenous", "emergency", "emergency-budget", "emergency-drug-budget", "exogenous-budget"],
)
@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_premium_modes_by_hand(mode, overrides, premium, orders, objective, terms, formulation):
    kw = dict(shortage_cost=[15.0], drug_budget=[[1000.0], [0.0]], premium_mode=mode)
    kw.update(overrides)
    cfg, trace = tiny([3, 3], [10, 20], premium, **kw)
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.status == "optimal"
    assert sol.orders[:, 0] == pytest.approx(orders, abs=1e-6)
    assert sol.objective == pytest.approx(objective, rel=1e-6)
    for k, v in terms.items():
        assert sol.costs[k] == pytest.approx(v, abs=1e-5), k
    total, replayed = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(objective, rel=1e-6)
    for k, v in sol.costs.items():
        assert replayed[k] == pytest.approx(v, abs=1e-5), k


@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_emergency_premium_hold_back_is_a_relaxation(formulation):
    # Emergency mode, premiums 10, 30: an unmet unit costs 15 + 10 + 10 = 35 in slot 0 and
    # 15 + 20 + 30 = 65 in slot 1. The budget 40 buys 4 units at 10. The solver serves 1 in
    # slot 0 and keeps 3 for slot 1 (40 + 2 x 35 = 110); the env serves what it has (3 in
    # slot 0), so the same orders cost 40 + 2 x 65 = 170 there: still a lower bound.
    cfg, trace = tiny(
        [3, 3], [10, 20], [10, 30], shortage_cost=[15.0], drug_budget=[[1000.0], [0.0]],
        premium_mode="emergency", total_budget=40.0,
    )  # fmt: skip
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.orders[:, 0] == pytest.approx([4.0, 0.0], abs=1e-6)
    assert sol.objective == pytest.approx(110.0, rel=1e-6)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(170.0, rel=1e-6)


def capacity_scenario(premium_mode, shortage=3.0):
    """paper 5 x 8 with the hard capacity at 2 x mean demand (it binds: the optimum fills up
    ahead of dear slots), initial stock 1.5 x, penalty zones of 0.25 x mean demand inside both
    bounds. Shortage cost ``shortage`` x price level: at 3 x the optimum runs out of nothing,
    so it has no use for the relaxation's hold-back of stock (at the paper's 1.5 x it leaves
    demand unmet in slots dearer than the shortage cost, and holds stock back to stay above
    the raised lower knee, which the env cannot). Built on ``paper-band`` (shelf lives of 4-26
    weeks, the exogenous premium on 10 % of drug-slots) so that it does not move with the
    calibration of ``paper``."""
    cfg = druginv_gym.scenarios.paper_band_scenario(n_drugs=5, horizon=8)
    m = cfg.demand_mean
    return cfg.replace(
        hard_capacity=True,
        band_hi=2.0 * m,
        initial_stock=1.5 * m,
        penalty_zone_lo=0.25 * m,
        penalty_zone_hi=0.25 * m,
        premium_mode=premium_mode,
        shortage_cost=shortage * cfg.price_level,
    )


def capacity_trace(cfg, seed):
    env = gym.make("DrugRefill-v0", config=cfg)
    env.reset(seed=seed)
    return env, env.unwrapped.exogenous


@pytest.mark.parametrize("shortage", [1.5, 3.0])
@pytest.mark.parametrize("mode", ["exogenous", "emergency"])
def test_forms_agree_with_hard_capacity_and_knees(mode, shortage):
    cfg = capacity_scenario(mode, shortage)
    _, trace = capacity_trace(cfg, 0)
    a = solve_hindsight(cfg, trace, formulation="balance")
    b = solve_hindsight(cfg, trace, formulation="cumulative")
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-6)
    # the capacity binds: some drug-slots fill up to C_hi on arrival
    after = np.vstack([cfg.initial_stock, a.stock[:-1]]) + a.orders
    assert (after <= cfg.band_hi + 1e-6).all()
    assert np.isclose(after, cfg.band_hi, atol=1e-5).mean() > 0.2


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mode", ["exogenous", "emergency"])
def test_lower_bound_and_replay_with_hard_capacity_and_knees(mode, seed):
    cfg = capacity_scenario(mode)
    env, trace = capacity_trace(cfg, seed)
    sol = solve_hindsight(cfg, trace)
    assert sol.status == "optimal"
    for policy in (BaseStock(env), OverProvisioning(env)):
        cost = druginv_gym.evaluate(env, policy, n_episodes=1, seed=seed).total_cost[0]
        assert sol.objective <= cost * (1 + 1e-7), type(policy).__name__
    total, terms = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(sol.objective, rel=1e-6)
    for k, v in sol.costs.items():
        assert terms[k] == pytest.approx(v, rel=1e-6, abs=1e-6 * sol.objective), k


def test_hard_capacity_rows_only_with_the_flag():
    # (T - 1) N capacity rows (slot 0's is a bound on x), none without the flag; same variables.
    cfg = druginv_gym.scenarios.paper_scenario(n_drugs=5, horizon=8).replace(hard_capacity=False)
    _, trace = capacity_trace(cfg, 0)
    for form in ("balance", "cumulative"):
        soft = solve_hindsight(cfg, trace, formulation=form)
        hard = solve_hindsight(cfg.replace(hard_capacity=True), trace, formulation=form)
        assert hard.n_variables == soft.n_variables
        assert hard.n_constraints == soft.n_constraints + 7 * 5


@pytest.mark.parametrize("formulation", ["balance", "cumulative"])
def test_no_early_disposal_of_units_younger_than_their_shelf_life(formulation):
    """One drug, shelf life 2, a forced order of 10 a slot (rho_lo = rho_hi = 10), demand 10,
    0, 0, and a steep penalty above 2 units. The only plan: slot 0's units serve slot 0; slot
    1's 10 units stay until they expire at the end of slot 2, so stock ends slots 1 and 2 at 10
    (penalty 50 x 8^2 each): 300 + 0.4 + 6,400 = 6,700.4. Without the row ``E[t] <= X[a] -
    S[a]`` the relaxation threw slot 1's young units away at the end of slot 1 (``E[1] <=
    X[0]`` holds, slot 0's units having been sold) and reported 300."""
    cfg = one_drug_config(
        horizon=3,
        shelf_life=[2],
        refill_lo=[10.0],
        refill_hi=[10.0],
        initial_stock=[0.0],
        band_lo=[0.0],
        band_hi=[2.0],
        penalty_lo=[1.0],
        penalty_hi=[50.0],
        storage_capacity=100.0,
    )
    trace = {
        "demand": np.array([[10.0], [0.0], [0.0]]),
        "base_price": np.full((3, 1), 10.0),
        "premium": np.zeros((3, 1)),
        "storage_rate": np.full((3, 1), 2.0),
    }
    sol = solve_hindsight(cfg, trace, formulation=formulation)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(6700.4, rel=1e-7)
    total, _ = replay_cost(cfg, trace, sol)
    assert total == pytest.approx(6700.4, rel=1e-9)


@pytest.mark.parametrize(
    ("scenario", "n_drugs", "horizon"),
    [("paper", 30, 30), ("paper-band", 30, 30), ("seasonal", 12, 20), ("pharma", 8, 20)],
)
def test_clarabel_and_ipopt_agree_and_bound_the_replayed_plan(scenario, n_drugs, horizon):
    """The two backends solve the same QP: objectives to 1e-6 (relative); Clarabel's dual
    bound lies below both objectives and below every replayed plan; each plan replays through
    the env's dynamics to its objective (to the solver's tolerance)."""
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=n_drugs, horizon=horizon)
    env.reset(seed=3)
    u = env.unwrapped
    ip = solve_hindsight(u.config, u.exogenous, solver="ipopt")
    cl = solve_hindsight(u.config, u.exogenous, solver="clarabel")
    assert ip.success and cl.success and cl.solver == "clarabel" and ip.solver == "ipopt"
    assert cl.objective == pytest.approx(ip.objective, rel=1e-6)
    assert cl.dual_bound <= min(cl.objective, ip.objective) * (1 + 1e-12)
    assert cl.dual_bound <= min(cl.replayed_cost, ip.replayed_cost) * (1 + 1e-12)
    assert np.isnan(ip.dual_bound)
    for sol in (ip, cl):
        assert sol.replayed_cost == pytest.approx(sol.objective, rel=1e-6)
        total, _ = replay_cost(u.config, u.exogenous, sol)
        assert sol.replayed_cost == pytest.approx(total, rel=1e-9)


def test_unknown_solver_and_clarabel_settings_are_reported():
    env = paper_small(0)
    u = env.unwrapped
    with pytest.raises(ValueError, match="solver = 'gurobi' is not one of"):
        solve_hindsight(u.config, u.exogenous, solver="gurobi")
    bad = solve_hindsight(u.config, u.exogenous, solver="clarabel", options={"nope": 1})
    assert bad.status == "error" and "Clarabel has no setting 'nope'" in bad.message


def sampled_futures(config, k, seed=0):
    """``k`` traces of ``config`` drawn from its processes, slot 0's price shared (as it is
    observed when the first orders are decided)."""
    draws = sample_exogenous(config, np.random.default_rng(seed), k)
    for name in ("base_price", "premium", "storage_rate"):
        draws[name][:, 0] = draws[name][0, 0]
    return [ExogenousTrace(**{n: v[j] for n, v in draws.items()}) for j in range(k)]


@pytest.mark.parametrize("solver", ["ipopt", "clarabel"])
def test_two_stage_with_one_scenario_is_the_hindsight_problem(solver):
    env = gym.make("DrugRefill-v0", n_drugs=6, horizon=8)
    cfg = env.unwrapped.config
    (trace,) = sampled_futures(cfg, 1)
    two = solve_two_stage(cfg, [trace], solver=solver)
    one = solve_hindsight(cfg, trace, solver=solver)
    assert two.success and two.n_scenarios == 1 and two.solver == solver
    assert two.objective == pytest.approx(one.objective, rel=1e-7)
    assert np.allclose(two.orders, one.orders[0], atol=1e-4)
    assert np.allclose(two.plans[0], one.orders, atol=1e-4)


@pytest.mark.parametrize(("scenario", "seed"), [("paper", 0), ("paper-band", 1), ("seasonal", 2)])
def test_two_stage_shares_the_first_orders_and_lies_above_wait_and_see(scenario, seed):
    """Every scenario's plan starts with the same orders; the SAA value is at least the mean
    of the scenarios' own hindsight optima (each free to pick its first orders), and at most
    the mean cost of ordering nothing in the first slot (a feasible first stage: its per-drug
    budget set to 0); both backends agree."""
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=8, horizon=10)
    cfg = env.unwrapped.config
    futures = sampled_futures(cfg, 4, seed)
    ip = solve_two_stage(cfg, futures, solver="ipopt")
    cl = solve_two_stage(cfg, futures, solver="clarabel")
    assert ip.success and cl.success
    assert cl.objective == pytest.approx(ip.objective, rel=1e-6)
    assert ip.plans.shape == (4, 10, 8) and ip.scenario_costs.shape == (4,)
    assert np.allclose(ip.plans[:, 0], ip.orders[None, :], atol=1e-5)
    assert ip.objective == pytest.approx(ip.scenario_costs.mean(), rel=1e-12)
    own = [solve_hindsight(cfg, f) for f in futures]
    wait_and_see = np.mean([s.objective for s in own])
    assert ip.objective >= wait_and_see * (1 - 1e-7)
    budget = cfg.drug_budget.copy()
    budget[0] = 0.0
    nothing = cfg.replace(drug_budget=budget)
    imposed = np.mean([solve_hindsight(nothing, f).objective for f in futures])
    assert ip.objective <= imposed * (1 + 1e-7)


def test_two_stage_rejects_bad_scenarios():
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    cfg = env.unwrapped.config
    with pytest.raises(ValueError, match="non-empty sequence"):
        solve_two_stage(cfg, [])
    (good,) = sampled_futures(cfg, 1)
    other = cfg.replace(horizon=5, drug_budget=np.vstack([cfg.drug_budget, cfg.drug_budget[:1]]))
    (bad,) = sampled_futures(other, 1)
    with pytest.raises(ValueError, match="scenario 1:"):
        solve_two_stage(cfg, [good, bad])
    with pytest.raises(ValueError, match="solver = 'cplex'"):
        solve_two_stage(cfg, [good], solver="cplex")


@pytest.mark.parametrize(
    "scenario, pivtol",
    [("paper", 1e-10), ("seasonal", 1e-10), ("shortage", 1e-6), ("pharma-atc", 1e-6)],
)
def test_mumps_pivot_tolerance_follows_the_scenario(monkeypatch, scenario, pivtol):
    """Ipopt runs with MUMPS's pivot tolerance 1e-10 unless the scenario has a supply model or
    substitution (``_mumps_pivtol``: there a small one stalls Ipopt), in the hindsight problem
    and the two-stage program alike; a caller's option overrides it."""
    from druginv_gym.solvers import hindsight, stochastic

    seen: list[float] = []
    real = hindsight._run_solver

    def spy(*args, **kwargs):
        seen.append(kwargs["pivtol"])
        return real(*args, **kwargs)

    monkeypatch.setattr(hindsight, "_run_solver", spy)
    monkeypatch.setattr(stochastic, "_run_solver", spy)
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=3, horizon=5).unwrapped
    env.reset(seed=0)
    sol = solve_hindsight(env.config, env.exogenous, max_iter=3)
    two = solve_two_stage(env.config, [env.exogenous, env.exogenous], max_iter=3)
    assert seen == [pivtol, pivtol]
    assert sol.iterations <= 3 and two.iterations <= 3
    # a caller's option reaches Ipopt over it (a tolerance out of Ipopt's [0, 1] is refused)
    bad = solve_hindsight(env.config, env.exogenous, options={"mumps_pivtol": 2.0})
    assert bad.status == "error"
