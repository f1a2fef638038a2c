"""Each baseline does what its docstring says, on every id, from the observation alone."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym
from druginv_gym import dynamics
from druginv_gym.baselines import (
    MPC,
    SS,
    TRAIN_SEED_BASE,
    BaseStock,
    MaxMin,
    OverProvisioning,
    RandomPolicy,
    SkiRental,
    StochasticMPC,
    tune_base_stock,
    tune_ss,
)
from druginv_gym.dynamics import band_penalty
from druginv_gym.forecasting import ExponentialSmoothing
from druginv_gym.policies import ObservationReader, orders_to_action

from .conftest import ENV_IDS
from .helpers import deterministic_config

BASELINES = {
    "over": OverProvisioning,
    "ski": SkiRental,
    "maxmin": MaxMin,
    "base": BaseStock,
    "ss": SS,
    "mpc": MPC,
    "saa": functools.partial(StochasticMPC, n_scenarios=3),
    "saa-forecast": functools.partial(
        StochasticMPC, n_scenarios=3, sampler="forecast", min_residuals=1
    ),
    "base-forecast": functools.partial(BaseStock, forecaster="moving_average", level=2.5),
    # a forecaster fitted beforehand (on other data), used as fitted
    "mpc-fitted": functools.partial(
        MPC,
        forecaster=ExponentialSmoothing().fit(
            np.random.default_rng(0).poisson(12.5, size=(4, 40)).astype(float)
        ),
        window=4,
    ),
}


def play(env, policy, seed=0):
    """Orders accepted per slot (T, N) and the stock seen before each decision (T, N)."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    accepted, before = [], []
    done = False
    stock = info["stock"]
    while not done:
        obs, _, term, trunc, info = env.step(policy.act(obs))
        done = term or trunc
        if info.get("slot_done", True):
            before.append(stock)
            accepted.append(info["accepted"])
            stock = info["stock"]
    return np.array(accepted), np.array(before)


def test_observation_reader_round_trips_units():
    env = gym.make("DrugRefill-v0", n_drugs=6, horizon=5)
    obs, info = env.reset(seed=0)
    view = ObservationReader(env).read(obs)
    u = env.unwrapped
    assert view.t == 0
    assert np.allclose(view.stock, info["stock"], rtol=1e-6)
    # the price an order pays: the base price when the premium is paid on emergency purchases
    shown = dynamics.order_price(u.config, u.exogenous.base_price, u.exogenous.premium)
    assert np.allclose(view.price, shown[0], rtol=1e-6)
    assert np.allclose(view.last_demand, u.config.demand_mean, rtol=1e-6)
    obs, *_ = env.step(env.action_space.sample())
    view = ObservationReader(env).read(obs)
    assert view.t == 1 and np.allclose(view.last_demand, u.exogenous.demand[0], rtol=1e-6)


def test_maxmin_up_to_refills_exactly_to_max_after_crossing_min():
    # The rule before 0.2. Band [2, 6]: min level 0.45 * 6 = 2.7, max 6. Stock 4, demand 3.
    env = gym.make("DrugRefill-v0", config=deterministic_config())
    accepted, before = play(env, MaxMin(env, rule="up-to"))
    for x, s in zip(accepted[:, 0], before[:, 0], strict=True):
        if s < 2.7:
            assert x == pytest.approx(6.0 - s, abs=1e-5)
        else:
            assert x == 0.0
    assert before[1, 0] == pytest.approx(1.0) and accepted[1, 0] == pytest.approx(5.0, abs=1e-5)


def test_over_provisioning_cover_covers_margin_times_cover_slots():
    env = gym.make("DrugRefill-v0", config=deterministic_config(shelf_life=[10]))
    accepted, before = play(env, OverProvisioning(env, rule="cover", cover=2, margin=0.5))
    # D = 3 always (mean_demand prior is 3 too), nothing expires: order 9 - stock.
    for x, s in zip(accepted[:, 0], before[:, 0], strict=True):
        assert x == pytest.approx(max(1.5 * 2 * 3 - s, 0.0), abs=1e-5)


def test_over_provisioning_does_not_count_stock_that_will_expire():
    # Shelf life 2: slot 0 orders 9 - 4 = 5; all 9 units arrived fresh at slot 0, 6 remain at
    # slot 1 and all expire at its end; demand takes 3, so 3 are counted as waste: U = 3.
    env = gym.make("DrugRefill-v0", config=deterministic_config())
    accepted, before = play(env, OverProvisioning(env, rule="cover", cover=2, margin=0.5))
    assert accepted[0, 0] == pytest.approx(5.0, abs=1e-5)
    assert before[1, 0] == pytest.approx(6.0) and accepted[1, 0] == pytest.approx(6.0, abs=1e-5)


def test_base_stock_and_ss_rules():
    cfg = deterministic_config(shelf_life=[10])  # band_lo 2, no expiry within 6 slots
    env = gym.make("DrugRefill-v0", config=cfg)
    accepted, before = play(env, BaseStock(env, level=1.0))  # S = 2 + 3 = 5
    assert np.allclose(accepted[:, 0], np.maximum(5.0 - before[:, 0], 0), atol=1e-5)
    accepted, before = play(env, SS(env, s_level=0.5, S_level=2.0))  # s = 3.5, S = 8
    want = np.where(before[:, 0] < 3.5, 8.0 - before[:, 0], 0.0)
    assert np.allclose(accepted[:, 0], want, atol=1e-5)


@pytest.mark.parametrize("rule", SkiRental.RULES)
def test_ski_rental_follows_break_even_rule(rule):
    # a penalty zone of 1 unit above C_lo = 2 with k_lo = 20: each lean slot costs 20
    cfg = deterministic_config(horizon=8, penalty_zone_lo=1.0, penalty_lo=[20.0], shelf_life=[10])
    env = gym.make("DrugRefill-v0", config=cfg)
    accepted, before = play(env, SkiRental(env, rule=rule))
    bought = 0
    # Independent replay of the rule with D = 3 exactly (constant demand, no expiry waste).
    ratio = 2 - 1 / cfg.horizon
    paid = 0.0
    lo, hi = cfg.band_lo[0], cfg.band_hi[0]
    for x, u in zip(accepted[:, 0], before[:, 0], strict=True):
        # constant demand: the largest demand seen (paper) and the mean (band) are both 3
        q_rent = max(lo + 3 - u, 0)
        q_buy = max(hi - u, 0) if rule == "paper" else max(hi + 3 - u, 0)
        lean = u + q_rent - 3
        rent = cfg.shortage_cost[0] * max(-lean, 0) + band_penalty(
            max(lean, 0), cfg.knee_lo[0], cfg.knee_hi[0], cfg.penalty_lo[0], cfg.penalty_hi[0]
        )
        buy = paid + rent >= (ratio - 1) * 10.0 * (q_buy - q_rent) and q_buy > q_rent
        paid = 0.0 if buy else paid + rent
        bought += buy
        assert x == pytest.approx(q_buy if buy else q_rent, abs=1e-5)
    assert bought > 0  # the case exercises both branches


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_on_every_id(name):
    costs = {}
    for env_id in ENV_IDS:
        env = gym.make(env_id, n_drugs=5, horizon=6)
        df = druginv_gym.evaluate(env, BASELINES[name](env), n_episodes=2, seed=3)
        assert np.isfinite(df.total_cost).all() and (df.slots == 6).all()
        costs[env_id] = df.total_cost.to_numpy()
    # The discrete and sequential ids round the same orders to the same levels.
    assert np.allclose(costs["DrugRefillDiscrete-v0"], costs["DrugRefillSequential-v0"])


@pytest.mark.parametrize("scenario", ["paper", "hospital"])
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_never_read_the_future(name, scenario):
    """Changing the trace after slot t leaves every action up to t unchanged (also with
    classes, service levels, substitution and a supply model: scenario hospital)."""
    env = gym.make("DrugRefill-v0", scenario=scenario, n_drugs=4, horizon=8)
    env.reset(seed=5)
    trace = env.unwrapped.exogenous.as_dict()
    altered = {k: v.copy() for k, v in trace.items()}
    altered["demand"][4:] *= 3
    altered["premium"][4:] += 50
    actions = []
    for tr in (trace, altered):
        policy = BASELINES[name](env)
        obs, _ = env.reset(options={"exogenous": tr})
        policy.reset()
        acts = []
        for _ in range(5):
            a = policy.act(obs)
            acts.append(a)
            obs, *_ = env.step(a)
        actions.append(np.array(acts))
    assert np.array_equal(actions[0], actions[1])


def test_orders_to_action_mappings():
    cfg = deterministic_config()  # refill [0, 10], 11 levels
    assert orders_to_action(np.array([2.5]), cfg, "box").tolist() == [0.25]
    assert orders_to_action(np.array([2.6]), cfg, "discrete").tolist() == [3]
    assert orders_to_action(np.array([99.0]), cfg, "sequential", current=0) == 10
    with pytest.raises(ValueError, match="current drug"):
        orders_to_action(np.array([1.0]), cfg, "sequential")


def test_tuning_uses_training_seeds_and_picks_the_cheapest():
    env = gym.make("DrugRefill-v0", n_drugs=5, horizon=6)
    policy, table = tune_base_stock(env, levels=(0.5, 1.5, 3.0), n_episodes=2, progress=False)
    assert policy.level == table.iloc[0]["level"]
    assert table.mean_cost.is_monotonic_increasing
    best = druginv_gym.evaluate(env, policy, 2, TRAIN_SEED_BASE).total_cost.mean()
    assert best == pytest.approx(table.iloc[0]["mean_cost"])
    ss, table = tune_ss(
        env, s_levels=(0.5, 1.0), S_levels=(1.0, 2.0), n_episodes=2, progress=False, extend=False
    )
    assert len(table) == 4 and ss.s_level <= ss.S_level  # pairs with s <= S


def test_tuning_extends_a_grid_whose_best_is_its_largest():
    """Outages need more stock than the default grid holds: the grid grows at its last step
    until the best level is inside it; without ``extend`` it stays the edge."""
    env = gym.make("DrugRefill-v0", scenario="shortage", n_drugs=5, horizon=16)
    kw = {"n_episodes": 2, "progress": False}
    edge, table = tune_base_stock(env, levels=(0.5, 1.0), extend=False, **kw)
    assert edge.level == 1.0 and len(table) == 2
    policy, table = tune_base_stock(env, levels=(0.5, 1.0), **kw)
    assert policy.level > 1.0 and policy.level < table.level.max()  # interior now
    steps = np.diff(np.sort(table.level.to_numpy()))
    np.testing.assert_allclose(steps, 0.5)  # the grid's own step
    assert table.level.is_unique  # no point played twice
    ss, table = tune_ss(env, s_levels=(0.0, 0.5), S_levels=(0.5, 1.0), **kw)
    assert ss.S_level > 1.0 and (table.s_level <= table.S_level).all()


def test_random_policy_is_seeded():
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    a = druginv_gym.evaluate(env, RandomPolicy(env, seed=1), 2, 0).total_cost
    b = druginv_gym.evaluate(env, RandomPolicy(env, seed=1), 2, 0).total_cost
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda e: MaxMin(e, min_fraction=-1), "min_fraction = -1.0 must be finite and >= 0"),
        (lambda e: MaxMin(e, min_fraction=0.9, max_fraction=0.5), "min_fraction = 0.9 is above"),
        (lambda e: OverProvisioning(e, cover=0), "cover = 0.0 must be > 0"),
        (lambda e: OverProvisioning(e, window=0), "window = 0 must be >= 1"),
        (lambda e: SS(e, s_level=3, S_level=1), "s_level = 3 is above S_level = 1"),
        (lambda e: BaseStock(e, level=float("nan")), "level = nan"),
    ],
)
def test_bad_baseline_parameters(make, message):
    env = gym.make("DrugRefill-v0", n_drugs=2, horizon=3)
    with pytest.raises(ValueError, match=message):
        make(env)


def test_policy_refuses_foreign_env():
    with pytest.raises(ValueError, match="not a DR2O env"):
        MaxMin(gym.make("CartPole-v1"))


def test_mpc_plans_on_forecasts_and_falls_back_when_a_solve_fails():
    """MPC orders the first slot of the QP's plan; with a budget its refill floor cannot meet
    the solve is infeasible and the slot falls back to the base-stock rule, counted."""
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=5)
    policy = MPC(env, window=3)
    df = druginv_gym.evaluate(env, policy, n_episodes=1, seed=0)
    assert np.isfinite(df.total_cost).all() and policy.failures == 0
    assert policy.last_status == "optimal"
    cfg = env.unwrapped.config
    tight = cfg.replace(refill_lo=cfg.refill_hi, total_budget=1.0)  # a floor no budget pays
    env2 = gym.make("DrugRefill-v0", config=tight)
    policy2 = MPC(env2)
    druginv_gym.evaluate(env2, policy2, n_episodes=1, seed=0)
    assert policy2.failures > 0 and policy2.last_status != "optimal"
    # Ipopt from the previous plan reaches the same orders as from its usual start
    a, _ = play(env, MPC(env, window=3, solver="ipopt"))
    b, _ = play(env, MPC(env, window=3, solver="ipopt", reuse_plan=True))
    assert np.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="reuse_plan = 1"):
        MPC(env, reuse_plan=1)
    with pytest.raises(ValueError, match="window = 0"):
        MPC(env, window=0)
    with pytest.raises(ValueError, match="solver = 'cplex'"):
        MPC(env, solver="cplex")


def test_stochastic_mpc_on_a_known_future_is_mpc_and_replays_by_seed():
    """With every future the same (constant demand and prices), the K-scenario program is the
    one-scenario QP MPC solves: the same orders. The futures are seeded per episode, so an
    episode's orders do not depend on the episodes played before."""
    env = gym.make("DrugRefill-v0", config=deterministic_config(horizon=6))
    mpc, _ = play(env, MPC(env))
    saa, _ = play(env, StochasticMPC(env, n_scenarios=4))
    assert np.allclose(saa, mpc, atol=1e-4)
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=6)
    policy = StochasticMPC(env, n_scenarios=3, seed=7)
    first, _ = play(env, policy, seed=1)
    play(env, policy, seed=2)
    again, _ = play(env, policy, seed=1)
    assert np.array_equal(first, again) and policy.failures == 0
    other, _ = play(env, StochasticMPC(env, n_scenarios=3, seed=8), seed=1)
    assert not np.allclose(first, other)  # the seed draws other futures


def test_stochastic_mpc_falls_back_and_checks_its_arguments():
    env = gym.make("DrugRefill-v0", n_drugs=4, horizon=5)
    cfg = env.unwrapped.config
    tight = cfg.replace(refill_lo=cfg.refill_hi, total_budget=1.0)  # a floor no budget pays
    env2 = gym.make("DrugRefill-v0", config=tight)
    policy = StochasticMPC(env2, n_scenarios=2)
    druginv_gym.evaluate(env2, policy, n_episodes=1, seed=0)
    assert policy.failures == 5 and policy.last_status == "infeasible"
    for kwargs, match in (
        ({"n_scenarios": 0}, "n_scenarios = 0"),
        ({"min_residuals": True}, "min_residuals = True"),
        ({"sampler": "oracle"}, "sampler = 'oracle'"),
        ({"seed": -1}, "seed = -1"),
        ({"window": 0}, "window = 0"),
    ):
        with pytest.raises(ValueError, match=match):
            StochasticMPC(env, **kwargs)
