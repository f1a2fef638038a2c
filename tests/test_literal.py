"""The paper read literally: hard per-drug capacity, penalty zones near both bounds, the two
readings of the emergency premium, the binding-share metrics and the literal baselines, each on
a hand-made case checked against a hand computation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym
from druginv_gym import dynamics as dyn
from druginv_gym.baselines import MaxMin, OverProvisioning, SkiRental
from druginv_gym.evaluation import binding_table, compare, evaluate
from druginv_gym.scenarios import make_scenario

from . import oracle
from .helpers import BACKENDS, constant_trace, one_drug_config

assert druginv_gym  # registers the ids


def play(cfg, orders, demand, base=10.0, premium=0.0, rate=2.0, backend="numpy"):
    """Play ``orders`` on a constant trace through ``flow_step``, the order and emergency
    prices taken from the config's premium reading, as the env takes them."""
    state = dyn.FlowState(cfg, 1)
    shape = (1, cfg.n_drugs)
    b, p = np.full(shape, float(base)), np.full(shape, float(premium))
    out = []
    for t, x in enumerate(orders):
        out.append(
            dyn.flow_step(
                state,
                np.atleast_2d(np.asarray(x, dtype=float)),
                np.atleast_2d(np.asarray(demand[t], dtype=float)),
                dyn.order_price(cfg, b, p),
                np.full(shape, rate),
                cfg.drug_budget[t],
                cfg,
                backend=backend,
                emergency=dyn.unmet_price(cfg, b, p),
            )
        )
    return out


# --------------------------------------------------------------------- hard capacity
@pytest.mark.parametrize("backend", BACKENDS)
def test_hard_capacity_clips_the_order_to_the_free_room_of_the_drug(backend):
    cfg = one_drug_config(hard_capacity=True)  # stock 4, capacity C_hi = 6, refill_hi 10
    o0, o1, o2 = play(cfg, [[9.0], [1.0], [10.0]], [[3.0], [0.0], [6.0]], backend=backend)
    # Slot 0: room for 6 - 4 = 2 of the 9 asked; 6 in stock, 3 served, 3 left.
    assert o0.ordered[0, 0] == 9.0 and o0.accepted[0, 0] == pytest.approx(2.0)
    assert o0.level[0, 0] == pytest.approx(3.0)
    assert o0.purchase[0, 0] == pytest.approx(20.0)
    # Slot 1: 1 asked, room for 3: accepted whole; nothing served, and the 3 units of slot 0
    # (shelf life 2) expire at its end: 1 left.
    assert o1.accepted[0, 0] == pytest.approx(1.0) and o1.expired[0, 0] == pytest.approx(3.0)
    assert o1.level[0, 0] == pytest.approx(1.0)
    # Slot 2: room for 5 of the 10 asked; demand 6 takes all 6.
    assert o2.accepted[0, 0] == pytest.approx(5.0)
    assert o2.served[0, 0] == pytest.approx(6.0) and o2.level[0, 0] == pytest.approx(0.0)
    # stock after arrival never passes the capacity: level + served + expired <= 6
    assert all(
        o.level[0, 0] + o.served[0, 0] + o.expired[0, 0] <= 6.0 + 1e-12 for o in (o0, o1, o2)
    )


def test_without_hard_capacity_the_same_orders_are_accepted_whole():
    o0 = play(one_drug_config(), [[9.0]], [[3.0]])[0]
    assert o0.accepted[0, 0] == 9.0 and o0.level[0, 0] == 10.0


def test_hard_capacity_needs_the_initial_stock_within_it():
    with pytest.raises(ValueError, match=r"initial_stock\[0\] = 7.0 is above band_hi\[0\]"):
        one_drug_config(hard_capacity=True, initial_stock=[7.0])


def test_oracle_and_flows_agree_with_hard_capacity_and_zones():
    cfg = one_drug_config(
        hard_capacity=True, penalty_zone_lo=1.0, penalty_zone_hi=1.5, premium_mode="emergency"
    )
    stock = oracle.initial_stock(cfg, 1)
    state = dyn.FlowState(cfg, 1)
    spent = np.zeros(1)
    for x, d in [(9.0, 3.0), (1.0, 7.0), (5.0, 1.0)]:
        args = (np.array([[x]]), np.array([[d]]), np.array([[10.0]]), np.array([[2.0]]))
        emergency = np.array([[13.0]])
        ref = oracle.step_slot(stock, spent, *args, cfg.drug_budget[0], cfg, emergency)
        got = dyn.flow_step(state, *args, cfg.drug_budget[0], cfg, emergency=emergency)
        for name in ("accepted", "served", "unmet", "expired", "level", "penalty", "shortage"):
            assert getattr(got, name) == pytest.approx(getattr(ref.outcome, name)), name
        stock, spent = ref.stock, ref.outcome.spent


# --------------------------------------------------------------------- penalty zones (Fig. 1)
@pytest.mark.parametrize("backend", BACKENDS)
def test_penalty_rises_inside_the_bounds_near_each_one(backend):
    # bounds [2, 6], zones 1 and 1.5: knees at 3 and 4.5; k_lo 1, k_hi 0.5
    cfg = one_drug_config(penalty_zone_lo=1.0, penalty_zone_hi=1.5, horizon=4)
    outs = play(cfg, [[0.0], [0.0], [0.0], [0.0]], [[1.5], [0.0], [0.0], [0.0]], backend=backend)
    assert outs[0].level[0, 0] == pytest.approx(2.5)  # inside the bounds, in the low zone
    assert outs[0].penalty[0, 0] == pytest.approx(1.0 * 0.5**2)
    outs = play(cfg, [[1.0]], [[0.0]], backend=backend)  # 5 units: in the high zone
    assert outs[0].penalty[0, 0] == pytest.approx(0.5 * 0.5**2)
    outs = play(cfg, [[0.0]], [[0.5]], backend=backend)  # 3.5 units: between the knees
    assert outs[0].penalty[0, 0] == 0.0
    assert cfg.knee_lo[0] == 3.0 and cfg.knee_hi[0] == 4.5


def test_overlapping_penalty_zones_are_refused():
    with pytest.raises(ValueError, match="penalty zones overlap for drug 0"):
        one_drug_config(penalty_zone_lo=2.5, penalty_zone_hi=2.0)
    with pytest.raises(ValueError, match="penalty_zone_hi"):
        one_drug_config(penalty_zone_hi=-1.0)


# --------------------------------------------------------------------- the premium, two readings
@pytest.mark.parametrize("backend", BACKENDS)
def test_exogenous_premium_is_paid_on_every_order_of_its_slot(backend):
    cfg = one_drug_config()  # shortage cost 20
    (o,) = play(cfg, [[3.0]], [[9.0]], base=10.0, premium=4.0, backend=backend)
    assert o.spend[0, 0] == pytest.approx(3 * 14.0) and o.purchase[0, 0] == pytest.approx(42.0)
    # 4 + 3 = 7 served of 9: 2 unmet at the shortage cost alone
    assert o.unmet[0, 0] == pytest.approx(2.0) and o.shortage[0, 0] == pytest.approx(40.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_emergency_premium_is_paid_only_on_the_units_bought_for_unmet_demand(backend):
    cfg = one_drug_config(premium_mode="emergency")
    (o,) = play(cfg, [[3.0]], [[9.0]], base=10.0, premium=4.0, backend=backend)
    assert o.spend[0, 0] == pytest.approx(30.0) and o.purchase[0, 0] == pytest.approx(30.0)
    # 2 unmet units: shortage cost 20 plus the premium price 10 + 4 each
    assert o.shortage[0, 0] == pytest.approx(2 * (20.0 + 14.0))
    assert o.total[0, 0] == pytest.approx(30.0 + 0.0 + 2.0**2 * 1.0 + 68.0)


def test_env_observes_the_price_an_order_pays_under_each_reading():
    for mode, shown in (("exogenous", 14.0), ("emergency", 10.0)):
        cfg = one_drug_config(premium_mode=mode)
        env = gym.make("DrugRefill-v0", config=cfg)
        env.reset(seed=0, options={"exogenous": constant_trace(cfg, 1.0, premium=4.0)})
        core = env.unwrapped._core
        assert core.price[0, 0, 0] == shown
        _, _, _, _, info = env.step(np.array([0.3], dtype=np.float32))
        assert info["spend"] == pytest.approx(3 * shown)


def test_unknown_premium_mode_is_refused():
    with pytest.raises(ValueError, match="premium_mode = 'sometimes'"):
        one_drug_config(premium_mode="sometimes")


# --------------------------------------------------------------------- binding shares
def _binding_case(**overrides):
    """Two drugs and four slots where each limit binds once, by construction (orders below).

    Slot 0: drug 1 asks 5 with room for 2 (its capacity binds); slot 1: drug 0 asks 8 units,
    80 USD of its 50 USD budget (5 accepted: the budget binds), and 3 of its first units expire
    at the end (shelf life 2); slot 2: 10 + 2 units = 1.2 ft^3 for 0.9 free (scaled by 0.75:
    the storage binds); slot 3: 20 USD asked with 10 left (the total budget binds).
    """
    kw = dict(
        horizon=4,
        unit_volume=[0.1, 0.1],
        shelf_life=[2, 5],
        alpha=[1.0, 1.0],
        band_lo=[1.0, 1.0],
        band_hi=[20.0, 6.0],
        hard_capacity=True,
        refill_lo=[0.0, 0.0],
        refill_hi=[10.0, 10.0],
        drug_budget=[[1000.0, 1000.0], [50.0, 1000.0], [1000.0, 1000.0], [1000.0, 1000.0]],
        penalty_lo=[1.0, 1.0],
        penalty_hi=[0.5, 0.5],
        shortage_cost=[20.0, 20.0],
        initial_stock=[4.0, 4.0],
        price_level=[10.0, 10.0],
        demand_mean=[1.0, 1.0],
        storage_capacity=1.8,
        total_budget=220.0,
        reward_scale=100.0,
    )
    kw.update(overrides)
    from druginv_gym.config import ScenarioConfig

    return ScenarioConfig(**kw)


_BINDING_ORDERS = [[5.0, 5.0], [8.0, 0.0], [10.0, 2.0], [2.0, 0.0]]
_BINDING_DEMAND = [[3.0, 1.0], [3.0, 1.0], [5.0, 1.0], [7.5, 1.0]]


def test_binding_limits_names_each_active_limit_on_a_hand_made_slot():
    cfg = _binding_case(storage_capacity=10.0)
    price = np.full((1, 2), 10.0)
    level = np.array([[4.0, 4.0]])

    def active(request):
        return dyn.binding_limits(
            np.array([request]), price, cfg.drug_budget[0], level, np.zeros(1), cfg
        )

    cut = active([12.0, 5.0])  # drug 0 clipped to rho_hi = 10, drug 1 to its room of 2
    assert cut["refill"].tolist() == [[True, False]]
    assert cut["capacity"].tolist() == [[False, True]]
    assert not cut["drug_budget"].any() and not cut["total_budget"][0] and not cut["storage"][0]
    # asking exactly what a limit allows binds it; asking less binds nothing
    assert active([10.0, 2.0])["capacity"].tolist() == [[False, True]]
    assert not any(flags.any() for flags in active([5.0, 1.0]).values())
    # a budget that runs out binds, whatever is asked
    out = dyn.binding_limits(
        np.array([[1.0, 0.0]]), price, cfg.drug_budget[0], level, np.array([220.0]), cfg
    )
    assert out["total_budget"][0]


class _Scripted:
    """Plays fixed requested units per slot (box actions of the refill range)."""

    def __init__(self, env, orders):
        self.config = env.unwrapped.config
        self.orders = orders
        self.t = 0

    def reset(self):
        self.t = 0

    def act(self, obs):
        x = np.asarray(self.orders[self.t], dtype=float)
        self.t += 1
        return (x / self.config.refill_hi).astype(np.float32)


class _Replayed(gym.Wrapper):
    def __init__(self, env, trace):
        super().__init__(env)
        self.trace = trace

    def reset(self, **kw):
        return self.env.reset(options={"exogenous": self.trace})


def test_binding_shares_of_an_episode_built_to_bind_each_limit():
    cfg = _binding_case()
    trace = constant_trace(cfg, 0.0)
    trace["demand"][:] = _BINDING_DEMAND
    env = _Replayed(gym.make("DrugRefill-v0", config=cfg), trace)
    df, slots = evaluate(env, _Scripted(env, _BINDING_ORDERS), n_episodes=1, return_slots=True)
    row = df.iloc[0]
    assert row.binding_capacity == pytest.approx(1 / 8)  # one of eight drug-slots
    assert row.binding_drug_budget == pytest.approx(1 / 8)
    assert row.binding_refill == 0.0
    assert row.binding_storage == pytest.approx(1 / 4)  # one of four slots
    assert row.binding_total_budget == pytest.approx(1 / 4)
    assert row.binding_expiry == pytest.approx(1 / 8)
    summary = compare(env, {"scripted": lambda e: _Scripted(e, _BINDING_ORDERS)}, 1)[0]
    table = binding_table(summary)
    assert table.loc["scripted", "drug capacity"] == pytest.approx(1 / 8)
    assert list(table.columns) == [
        "total budget", "total storage", "drug capacity", "drug budget", "refill bound", "expiry",
    ]  # fmt: skip


# --------------------------------------------------------------------- literal baselines
def _literal_env(**kw):
    cfg = one_drug_config(hard_capacity=True, horizon=4, shelf_life=[4], **kw)
    return gym.make("DrugRefill-v0", config=cfg), cfg


def _trace(cfg, demand):
    return constant_trace(cfg, np.asarray(demand, dtype=float)[:, None])


def _orders_played(env, policy, trace):
    obs, info = env.reset(options={"exogenous": trace})
    policy.reset()
    asked = []
    for _ in range(env.unwrapped.config.horizon):
        obs, _, _, _, info = env.step(policy.act(obs))
        asked.append(float(info["ordered"][0]))
    return asked


def test_over_provisioning_refills_with_the_remaining_and_the_upper_bound_volumes():
    # "refills drugs using the remaining volumes and the upper bound volumes": C_hi - stock
    env, cfg = _literal_env()  # stock 4, C_hi 6
    asked = _orders_played(env, OverProvisioning(env), _trace(cfg, [1.0, 2.0, 3.0, 0.0]))
    # stock before each slot: 4, then 6 - 1, 6 - 2, 6 - 3
    assert asked == pytest.approx([2.0, 1.0, 2.0, 3.0])
    cover = OverProvisioning(env, rule="cover")  # before 0.2: 1.3 x 2 slots of mean demand
    assert _orders_played(env, cover, _trace(cfg, [0.0] * 4))[0] == pytest.approx(2.6 * 3 - 4)


def test_max_min_reorders_the_surplus_between_max_and_min():
    # "the surplus between max and min": below min, order max - min
    env, cfg = _literal_env(refill_hi=[10.0])
    policy = MaxMin(env, min_fraction=0.5, max_fraction=1.0)  # min 3, max 6
    asked = _orders_played(env, policy, _trace(cfg, [2.0, 0.0, 2.0, 0.0]))
    # stock 4 (no order), 2 (< 3: order 3 -> 5), 5 (no), 3 after demand 2 (not < 3: no)
    assert asked == pytest.approx([0.0, 3.0, 0.0, 0.0])
    upto = MaxMin(env, min_fraction=0.5, max_fraction=1.0, rule="up-to")
    assert _orders_played(env, upto, _trace(cfg, [2.0, 0.0, 2.0, 0.0]))[1] == pytest.approx(4.0)


def test_ski_rental_rents_the_largest_demand_seen_above_the_lowest_requirement():
    env, cfg = _literal_env(penalty_lo=[0.0], penalty_hi=[0.0], shortage_cost=[0.0])
    # no rent is ever paid (no penalty, no shortage cost): the rule always rents
    asked = _orders_played(env, SkiRental(env), _trace(cfg, [3.0, 1.0, 2.0, 0.0]))
    # rent = C_lo + d_max - usable stock; d_max: the nominal mean 3 before any demand is seen
    # slot 0: 2 + 3 - 4 = 1 (stock 5 -> 2); slot 1: 2 + 3 - 2 = 3 (5 -> 4);
    # slot 2: 2 + 3 - 4 = 1 (5 -> 3); slot 3: 2 + 3 - 3 = 2
    assert asked == pytest.approx([1.0, 3.0, 1.0, 2.0])


def test_ski_rental_does_not_end_half_its_slots_below_the_lowest_requirement():
    env = gym.make("DrugRefill-v0", scenario="paper-30")
    paper = evaluate(env, SkiRental(env), n_episodes=2, seed=7).shortage_rate.mean()
    band = evaluate(env, SkiRental(env, rule="band"), n_episodes=2, seed=7).shortage_rate.mean()
    assert band > 0.3  # the rule before 0.2 rents up to C_lo + mean demand
    assert paper < 0.15


def test_unknown_rule_is_refused():
    env = gym.make("DrugRefill-v0", scenario="paper-30")
    with pytest.raises(ValueError, match="OverProvisioning rule = 'more'"):
        OverProvisioning(env, rule="more")


# --------------------------------------------------------------------- the scenarios
def test_paper_reads_eq_4_literally_and_paper_band_keeps_the_earlier_reading():
    paper, band = make_scenario("paper"), make_scenario("paper-band")
    assert paper.hard_capacity and not band.hard_capacity
    assert (paper.knee_lo > paper.band_lo).all() and (paper.knee_hi < paper.band_hi).all()
    assert band.price.draws == "legacy" and paper.price.draws == "compact"
    assert make_scenario("paper-band-30").n_drugs == 30


def test_paper_band_is_the_band_calibration_of_the_same_hospital():
    from druginv_gym.scenarios import PAPER_BAND_CALIBRATION, paper_scenario

    band = make_scenario("paper-band", n_drugs=12)
    same = paper_scenario(12, calibration=PAPER_BAND_CALIBRATION, name="paper-band-12")
    assert band.to_json() == same.to_json()
    assert not band.hard_capacity and (band.penalty_zone_lo == 0).all()
    assert (band.band_hi == 3.0 * band.demand_mean).all()
