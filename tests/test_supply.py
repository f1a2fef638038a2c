"""The supply model: lead times, supplier outages, recalls, the alternative source."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym.exogenous import ExogenousTrace, sample_exogenous
from druginv_gym.scenarios import make_scenario
from druginv_gym.supply import SupplyModel
from tests.helpers import constant_trace, one_drug_config

FULL = SupplyModel(
    lead_time=[1, 2, 0],
    delay_prob=0.2,
    max_delay=2,
    supplier=[0, 0, 1],
    mean_time_between=6.0,
    mean_duration=3.0,
    outage_fill=0.4,
    announce=2,
    recall_rate=0.1,
    alt_fill=0.5,
    alt_markup=7.5,
)


def _trace(config, demand, fill=1.0, lead=0, recall=0.0, **kw) -> ExogenousTrace:
    base = constant_trace(config, demand, **kw)
    shape = base["demand"].shape
    return ExogenousTrace(
        **base,
        fill=np.broadcast_to(np.asarray(fill, dtype=float), shape).copy(),
        lead_time=np.broadcast_to(np.asarray(lead, dtype=float), shape).copy(),
        recall=np.broadcast_to(np.asarray(recall, dtype=float), shape).copy(),
    )


def _play(config, trace, orders):
    """Play ``orders`` (units per slot, one drug) on ``trace``; the infos of every step."""
    env = gym.make("DrugRefill-v0", config=config)
    _, info = env.reset(options={"exogenous": trace})
    infos = [info]
    for x in orders:
        frac = np.array([x / config.refill_hi[0]], dtype=np.float32)
        infos.append(env.step(frac)[4])
    return infos


@pytest.mark.usefixtures("each_backend")
def test_lead_time_two_arrives_two_slots_later_and_is_paid_on_order():
    c = one_drug_config(horizon=5, shelf_life=[6], supply=SupplyModel(lead_time=2))
    tr = _trace(c, demand=0.0, lead=2)
    infos = _play(c, tr, [5.0, 0.0, 0.0, 0.0, 0.0])
    spend = [i["spend"] for i in infos[1:]]
    received = [float(i["received"][0]) for i in infos[1:]]
    assert spend == pytest.approx([50.0, 0.0, 0.0, 0.0, 0.0])  # paid in the slot it is placed
    assert received == pytest.approx([0.0, 0.0, 5.0, 0.0, 0.0])  # arrives at the start of slot 2
    pipeline = [float(i["pipeline"][0]) for i in infos[1:]]
    assert pipeline == pytest.approx([5.0, 5.0, 0.0, 0.0, 0.0])
    stock = [float(i["stock"][0]) for i in infos[1:]]
    assert stock == pytest.approx([4.0, 4.0, 9.0, 9.0, 9.0])
    # the observation shows the order by arrival slot
    env = gym.make("DrugRefill-v0", config=c)
    env.reset(options={"exogenous": tr})
    obs = env.step(np.array([0.5], dtype=np.float32))[0]
    names = env.unwrapped.drug_feature_names
    units = max(c.band_hi.max(), c.refill_hi.max(), c.demand_mean.max())
    assert obs[names.index("arriving_0")] == 0.0
    assert obs[names.index("arriving_1")] * units == pytest.approx(5.0)


@pytest.mark.usefixtures("each_backend")
def test_shelf_life_counts_from_arrival():
    c = one_drug_config(
        horizon=6, shelf_life=[2], initial_stock=[0.0], supply=SupplyModel(lead_time=3)
    )
    tr = _trace(c, demand=0.0, lead=3)
    infos = _play(c, tr, [4.0, 0, 0, 0, 0, 0])
    expired = [float(i["expired"][0]) for i in infos[1:]]
    # arrives at slot 3, usable in slots 3 and 4, expires at the end of slot 4
    assert expired == pytest.approx([0, 0, 0, 0, 4.0, 0])


@pytest.mark.usefixtures("each_backend")
def test_outage_fill_half_delivers_half():
    c = one_drug_config(horizon=2, supply=SupplyModel(outage_fill=0.5, mean_time_between=10.0))
    tr = _trace(c, demand=0.0, fill=[[0.5], [1.0]])
    infos = _play(c, tr, [4.0, 4.0])
    assert float(infos[1]["accepted"][0]) == pytest.approx(2.0)
    assert float(infos[1]["outage_lost"][0]) == pytest.approx(2.0)
    assert infos[1]["spend"] == pytest.approx(20.0)  # only the filled units are paid
    assert float(infos[2]["accepted"][0]) == pytest.approx(4.0)  # the supplier is back


@pytest.mark.usefixtures("each_backend")
def test_recall_removes_exactly_the_oldest_lot():
    c = one_drug_config(
        horizon=4, shelf_life=[4], band_hi=[20.0], initial_stock=[3.0],
        supply=SupplyModel(recall_rate=0.1),
    )  # fmt: skip
    # slot 0: the initial 3 units and 2 ordered form one lot; slot 1: 5 more; recall at slot 2
    tr = _trace(c, demand=[[1.0], [0.0], [0.0], [0.0]], recall=[[0], [0], [1], [0]])
    infos = _play(c, tr, [2.0, 5.0, 0.0, 0.0])
    recalled = [float(i["recalled"][0]) for i in infos[1:]]
    assert recalled == pytest.approx([0.0, 0.0, 4.0, 0.0])  # the first lot less the unit served
    assert float(infos[3]["stock"][0]) == pytest.approx(5.0)  # the second lot stays
    # a lot served to its last unit is not in stock: the recall takes the next one
    tr = _trace(c, demand=[[5.5], [0.0], [0.0], [0.0]], recall=[[0], [0], [1], [0]])
    infos = _play(c, tr, [2.5, 5.0, 0.0, 0.0])  # exact in float32 actions
    recalled = [float(i["recalled"][0]) for i in infos[1:]]
    assert recalled == pytest.approx([0.0, 0.0, 5.0, 0.0])
    assert float(infos[3]["stock"][0]) == pytest.approx(0.0)
    # nothing to recall in an empty stock
    c0 = c.replace(initial_stock=[0.0])
    infos = _play(c0, _trace(c0, demand=0.0, recall=1.0), [0.0] * 4)
    assert all(float(i["recalled"][0]) == 0.0 for i in infos)


@pytest.mark.usefixtures("each_backend")
def test_alternative_source_covers_unmet_demand_at_its_premium():
    supply = SupplyModel(alt_fill=0.5, alt_markup=7.5)
    c = one_drug_config(horizon=1, initial_stock=[1.0], supply=supply)
    tr = _trace(c, demand=5.0, price=10.0)
    info = _play(c, tr, [0.0])[1]
    assert float(info["unmet"][0]) == pytest.approx(4.0)
    assert float(info["alt_bought"][0]) == pytest.approx(2.0)
    assert float(info["alt_spend"][0]) == pytest.approx(2.0 * 7.5 * 10.0)
    # two units lost at the shortage cost (20), two bought at 75 each
    assert info["costs"]["shortage"] == pytest.approx(2 * 20.0 + 2 * 75.0)
    assert info["spend"] == 0.0  # the alternative does not use the budget


@pytest.mark.usefixtures("each_backend")
def test_storage_is_checked_on_the_inventory_position():
    c = one_drug_config(
        horizon=3, band_hi=[100.0], refill_hi=[100.0], storage_capacity=0.5, initial_stock=[10.0],
        shelf_life=[5], supply=SupplyModel(lead_time=2),
    )  # fmt: skip
    tr = _trace(c, demand=0.0, lead=2)
    infos = _play(c, tr, [30.0, 30.0, 0.0])
    # 50 units fit (0.5 ft^3 / 0.01): 10 in stock, 30 ordered, then only 10 more
    assert float(infos[1]["accepted"][0]) == pytest.approx(30.0)
    assert float(infos[2]["accepted"][0]) == pytest.approx(10.0, rel=1e-6)  # float32 action


def test_a_supply_model_with_everything_off_plays_the_paper_model():
    base = make_scenario("paper", n_drugs=5, horizon=8)
    off = base.replace(supply=SupplyModel())
    rng = np.random.default_rng(3)
    actions = rng.random((8, 5)).astype(np.float32)
    runs = []
    for cfg in (base, off):
        env = gym.make("DrugRefill-v0", config=cfg)
        obs, _ = env.reset(seed=11)
        f = len(env.unwrapped.drug_feature_names)
        seen, rewards = [], []
        for a in actions:
            obs, r, *_, info = env.step(a)
            # the paper's features (the supply model adds fill_last after them)
            seen.append(obs[: 5 * f].reshape(5, f)[:, :11])
            rewards.append(r)
        runs.append((rewards, np.stack(seen), info["stock"].copy()))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-12)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-12)


def test_supply_events_do_not_change_the_rest_of_the_trace():
    base = make_scenario("paper", n_drugs=3, horizon=6)
    with_supply = base.replace(supply=FULL)
    a = sample_exogenous(base, np.random.default_rng(0), 2)
    b = sample_exogenous(with_supply, np.random.default_rng(0), 2)
    for k, v in a.items():
        np.testing.assert_array_equal(v, b[k])
    assert set(b) - set(a) == {"fill", "lead_time", "recall"}


def test_outage_chain_has_its_stationary_share_and_mean_duration():
    m = SupplyModel(mean_time_between=8.0, mean_duration=4.0)
    down = m.outages(np.random.default_rng(0), 400, 200, 3)
    assert down.mean() == pytest.approx(4.0 / 12.0, abs=0.01)
    # mean run length of outages
    runs = []
    for series in down.reshape(-1, 200, 3).transpose(0, 2, 1).reshape(-1, 200)[:300]:
        edges = np.flatnonzero(np.diff(np.r_[0, series.astype(int), 0]))
        runs += list(edges[1::2] - edges[::2])
    assert np.mean(runs) == pytest.approx(4.0, rel=0.1)  # runs cut by the horizon aside


def _episode(config, seed, actions):
    env = gym.make("DrugRefill-v0", config=config)
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, info))
    return env, out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.0, 1.0))
def test_conservation_with_every_mechanism_on(seed, scale):
    c = make_scenario("paper", n_drugs=3, horizon=12, supply=FULL)
    rng = np.random.default_rng(seed)
    actions = (scale * rng.random((12, 3))).astype(np.float32)
    env, steps = _episode(c, seed, actions)
    accepted = sum(i["accepted"] for _, i in steps[1:])
    gone = sum(i["served"] + i["expired"] + i["recalled"] for _, i in steps[1:])
    last = steps[-1][1]
    np.testing.assert_allclose(
        c.initial_stock + accepted, last["stock"] + last["pipeline"] + gone, rtol=0, atol=1e-9
    )
    for obs, info in steps:
        assert env.observation_space.contains(obs)
        assert np.all(info["stock"] >= -1e-12)
    for _, i in steps[1:]:
        np.testing.assert_allclose(i["alt_bought"], c.supply.alt_fill * i["unmet"])


def test_replaying_a_trace_gives_the_same_episode():
    c = make_scenario("paper", n_drugs=3, horizon=10, supply=FULL)
    actions = np.random.default_rng(1).random((10, 3)).astype(np.float32)
    env, first = _episode(c, 5, actions)
    trace = env.unwrapped.exogenous
    env.reset(options={"exogenous": trace})
    for k, a in enumerate(actions):
        obs, _, _, _, info = env.step(a)
        np.testing.assert_array_equal(obs, first[k + 1][0])
        for key in ("stock", "pipeline", "recalled", "alt_spend"):
            np.testing.assert_array_equal(info[key], first[k + 1][1][key])


def test_nothing_looks_ahead_but_the_announced_outages():
    c = make_scenario("paper", n_drugs=3, horizon=10, supply=FULL)
    env = gym.make("DrugRefill-v0", config=c)
    env.reset(seed=2)
    trace = env.unwrapped.exogenous.as_dict()
    actions = np.random.default_rng(2).random((10, 3)).astype(np.float32)
    names = env.unwrapped.drug_feature_names
    announced = [names.index(f"fill_ahead_{k}") for k in range(c.supply.announce)]
    for cut in (3, 6):
        changed = {k: np.array(v, copy=True) for k, v in trace.items()}
        for k in ("demand", "base_price", "storage_rate"):
            changed[k][cut:] *= 1.5
        changed["fill"][cut:] = 0.25
        changed["lead_time"][cut:] = 3.0
        changed["recall"][cut:] = 1.0
        obs = []
        for tr in (trace, changed):
            e = gym.make("DrugRefill-v0", config=c)
            o, _ = e.reset(options={"exogenous": tr})
            seen = [o]
            for a in actions[:cut]:
                seen.append(e.step(a)[0])
            obs.append(np.stack(seen))
        a, b = (x.reshape(cut + 1, -1)[:, : 3 * len(names)].reshape(cut + 1, 3, -1) for x in obs)
        # slots t <= cut: only an announced fill may differ, and only for slots >= cut
        for t in range(cut + 1):
            differs = np.flatnonzero((a[t] != b[t]).any(axis=0))
            allowed = [col for k, col in enumerate(announced) if t + k >= cut]
            # at t = cut the observation shows slot cut's prices (decided at cut): allowed
            if t == cut:
                allowed += [names.index("price"), names.index("storage_rate"),
                            names.index("drug_budget")]  # fmt: skip
            assert set(differs) <= set(allowed), (cut, t, [names[i] for i in differs])


def test_bad_supply_parameters_are_named():
    with pytest.raises(ValueError, match=r"supply.lead_time = -1 must be an integer >= 0"):
        SupplyModel(lead_time=-1)
    with pytest.raises(ValueError, match=r"supply.outage_fill = 1.5 must be in \[0, 1\]"):
        SupplyModel(outage_fill=1.5)
    with pytest.raises(ValueError, match=r"supply.mean_duration = 0.5 must be >= 1"):
        SupplyModel(mean_duration=0.5)
    with pytest.raises(ValueError, match=r"supply.max_delay = 0 must be >= 1 when delay_prob"):
        SupplyModel(delay_prob=0.1)
    with pytest.raises(ValueError, match=r"supply.alt_markup = 0.5 must be finite and >= 1"):
        SupplyModel(alt_markup=0.5)
    with pytest.raises(ValueError, match=r"supply.supplier = \[0, 1\] must have 3 entries"):
        make_scenario("paper", n_drugs=3, supply=SupplyModel(supplier=[0, 1]))
    per_drug = SupplyModel(supplier=[0, 1, 1], mean_time_between=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"one per supplier \(2\)"):
        make_scenario("paper", n_drugs=3, supply=per_drug)
    with pytest.raises(TypeError):
        SupplyModel(lead=1)  # unknown keyword


def test_a_trace_must_match_the_supply_model():
    c = one_drug_config(supply=SupplyModel(lead_time=1))
    env = gym.make("DrugRefill-v0", config=c)
    with pytest.raises(ValueError, match="has a supply model and needs"):
        env.reset(options={"exogenous": constant_trace(c, 1.0)})
    bad = dict(constant_trace(c, 1.0), fill=np.full((3, 1), 1.2), lead_time=np.zeros((3, 1)),
               recall=np.zeros((3, 1)))  # fmt: skip
    with pytest.raises(ValueError, match=r"'fill'\[0, 0\] = .*1.2 must be a fraction"):
        env.reset(options={"exogenous": bad})
    with pytest.raises(ValueError, match="only some of the supply fields"):
        ExogenousTrace(**constant_trace(c, 1.0), fill=np.ones((3, 1)))


def test_config_with_supply_round_trips_through_json():
    c = make_scenario("paper", n_drugs=3, horizon=5, supply=FULL)
    back = type(c).from_json(c.to_json())
    assert back.supply.to_dict() == FULL.to_dict()
    a = sample_exogenous(c, np.random.default_rng(4), 1)
    b = sample_exogenous(back, np.random.default_rng(4), 1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("env_id", ["DrugRefillDiscrete-v0", "DrugRefillSequential-v0"])
def test_every_id_and_the_vector_env_play_the_supply_model(env_id):
    c = make_scenario("paper", n_drugs=3, horizon=6, supply=FULL)
    env = gym.make(env_id, config=c)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        done = term or trunc
    assert "recalled" in info
    vec = gym.make_vec("DrugRefill-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       config=c)  # fmt: skip
    obs, info = vec.reset(seed=[0, 1, 2])
    single = gym.make("DrugRefill-v0", config=c)
    one, _ = single.reset(seed=1)
    np.testing.assert_array_equal(obs[1], one)
    a = np.full((3, 3), 0.5, dtype=np.float32)
    obs, *_, info = vec.step(a)
    np.testing.assert_array_equal(obs[1], single.step(a[1])[0])
    assert info["pipeline"].shape == (3, 3)


# ------------------------------------------------------------------ the hindsight bound


def test_hindsight_orders_a_lead_time_ahead_and_replays_to_its_objective():
    from druginv_gym.solvers.hindsight import solve_hindsight

    c = one_drug_config(
        horizon=4, shelf_life=[4], initial_stock=[0.0], band_lo=[0.0], penalty_lo=[0.0],
        penalty_hi=[0.0], shortage_cost=[100.0], supply=SupplyModel(lead_time=2),
    )  # fmt: skip
    tr = _trace(c, demand=[[0.0], [0.0], [5.0], [0.0]], lead=2)
    sol = solve_hindsight(c, tr)
    assert sol.success
    # five units ordered at slot 0 arrive at slot 2, in time; nothing else is needed
    np.testing.assert_allclose(sol.orders[:, 0], [5.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert sol.objective == pytest.approx(50.0, abs=1e-4)  # served at once: nothing held
    assert sol.replayed_cost == pytest.approx(sol.objective, rel=1e-6)
    # demand at slot 1 cannot be met: the first order arrives at slot 2
    tr1 = _trace(c, demand=[[0.0], [5.0], [0.0], [0.0]], lead=2)
    sol1 = solve_hindsight(c, tr1)
    assert sol1.objective == pytest.approx(500.0, rel=1e-6)
    np.testing.assert_allclose(sol1.orders, 0.0, atol=1e-6)


def test_hindsight_fills_and_alternative_source_are_exact():
    from druginv_gym.solvers.hindsight import solve_hindsight

    m = SupplyModel(supplier=[0, 0, 1], mean_time_between=6.0, mean_duration=3.0,
                    outage_fill=0.4, alt_fill=0.5, alt_markup=7.5)  # fmt: skip
    c = make_scenario("paper", n_drugs=3, horizon=12, supply=m)
    env = gym.make("DrugRefill-v0", config=c)
    for seed in range(3):
        env.reset(seed=seed)
        sol = solve_hindsight(c, env.unwrapped.exogenous)
        assert sol.success
        # without lead times or recalls the relaxation's freedoms do not pay here
        assert sol.replayed_cost == pytest.approx(sol.objective, rel=1e-6)


def _policies(env):
    from druginv_gym.baselines import SS, BaseStock, MaxMin, OverProvisioning, SkiRental
    from druginv_gym.policies import RandomPolicy

    return [
        BaseStock(env, level=1.5), BaseStock(env, level=3.0), SS(env), MaxMin(env),
        OverProvisioning(env), SkiRental(env), RandomPolicy(env, seed=0),
    ]  # fmt: skip


@pytest.mark.parametrize("announce", [0, 3])
def test_the_optimum_lower_bounds_every_policy_in_shortage(announce):
    from druginv_gym.evaluation import evaluate
    from druginv_gym.solvers.hindsight import solve_hindsight

    # outages and recalls often enough that a short episode meets them
    c = make_scenario("shortage", n_drugs=6, horizon=16, announce=announce)
    c = c.replace(supply=dataclasses.replace(c.supply, mean_time_between=8.0, recall_rate=0.05))
    env = gym.make("DrugRefill-v0", config=c)
    for seed in range(3):
        env.reset(seed=seed)
        trace = env.unwrapped.exogenous
        assert (trace.fill < 1).any() and trace.recall.any()
        bound = solve_hindsight(c, trace)
        assert bound.success
        clarabel = solve_hindsight(c, trace, solver="clarabel")
        assert clarabel.objective == pytest.approx(bound.objective, rel=1e-6)
        assert bound.objective <= bound.replayed_cost * (1 + 1e-7)
        for policy in _policies(env):
            cost = evaluate(env, policy, 1, seed=seed)["total_cost"].iloc[0]
            assert bound.objective <= cost * (1 + 1e-7), type(policy).__name__


# ------------------------------------------------------------------ policies


def test_hindsight_takes_a_pipeline_ordered_before_slot_0():
    from druginv_gym.solvers.hindsight import solve_hindsight

    c = one_drug_config(
        horizon=3, shelf_life=[4], initial_stock=[0.0], band_lo=[0.0], penalty_lo=[0.0],
        penalty_hi=[0.0], shortage_cost=[100.0], supply=SupplyModel(lead_time=2),
    )  # fmt: skip
    tr = _trace(c, demand=[[0.0], [5.0], [0.0]], lead=2)
    # five units due at slot 1: nothing to order, nothing unmet, only the storage of nothing
    sol = solve_hindsight(c, tr, in_transit=[[0.0], [5.0]])
    assert sol.objective == pytest.approx(0.0, abs=1e-4)
    np.testing.assert_allclose(sol.stock[:, 0], [0.0, 0.0, 0.0], atol=1e-6)  # in, then served
    # two units still on the way: they arrive at slot 1, one is served, one stays
    tr2 = _trace(c, demand=[[0.0], [1.0], [0.0]], lead=2)
    sol2 = solve_hindsight(c, tr2, in_transit=[[0.0], [2.0]])
    np.testing.assert_allclose(sol2.stock[:, 0], [0.0, 1.0, 1.0], atol=1e-6)
    assert sum(sol2.costs.values()) == pytest.approx(sol2.objective, rel=1e-6)
    assert sol.replayed_cost == pytest.approx(0.0, abs=1e-4)
    np.testing.assert_allclose(sol.orders, 0.0, atol=1e-6)
    late = solve_hindsight(c, tr, in_transit=[[0.0], [0.0]])
    assert late.objective == pytest.approx(500.0, rel=1e-6)
    with pytest.raises(ValueError, match=r"in_transit has shape \(3, 1\); expected \(K, 1\)"):
        solve_hindsight(c, tr, in_transit=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="needs a scenario with a supply model"):
        solve_hindsight(c.replace(supply=None), constant_trace(c, 0.0), in_transit=[[1.0]])


def _baselines():
    from tests.test_baselines import BASELINES

    return BASELINES


@pytest.mark.parametrize("name", sorted(_baselines()))
@pytest.mark.parametrize("announce", [0, 2])
def test_baselines_never_read_the_future_supply(name, announce):
    """With a supply model, changing the trace after slot ``cut`` leaves every action up to
    ``cut`` unchanged, and the outages up to ``cut - announce``."""
    c = make_scenario("shortage", n_drugs=4, horizon=10, announce=announce)
    env = gym.make("DrugRefill-v0", config=c)
    env.reset(seed=5)
    trace = env.unwrapped.exogenous.as_dict()
    cut = 6
    for fields, seen in ((("demand", "premium"), cut), (("fill", "lead_time", "recall"),
                                                        cut - announce)):  # fmt: skip
        altered = {k: np.array(v, copy=True) for k, v in trace.items()}
        for k in fields:
            altered[k][cut:] = {"fill": 0.25, "lead_time": 3.0, "recall": 1.0}.get(k, 0)
            if k in ("demand", "premium"):
                altered[k][cut:] = trace[k][cut:] * 3 + 50
        actions = []
        for tr in (trace, altered):
            policy = _baselines()[name](env)
            obs, _ = env.reset(options={"exogenous": tr})
            policy.reset()
            acts = []
            for _ in range(seen + 1):
                a = policy.act(obs)
                acts.append(a)
                obs, *_ = env.step(a)
            actions.append(np.array(acts))
        np.testing.assert_array_equal(actions[0], actions[1])


def test_mpc_and_the_stochastic_program_solve_every_slot_with_a_supply_model():
    from druginv_gym.baselines import MPC, StochasticMPC
    from druginv_gym.evaluation import evaluate

    c = make_scenario("shortage", n_drugs=5, horizon=12, announce=2)
    env = gym.make("DrugRefill-v0", config=c)
    for policy in (MPC(env, window=6), StochasticMPC(env, window=6, n_scenarios=3)):
        df = evaluate(env, policy, 2, seed=0)
        assert np.isfinite(df.total_cost).all()
        assert policy.failures == 0, policy.last_status


def test_expected_and_sampled_fills_follow_the_chain():
    m = SupplyModel(mean_time_between=8.0, mean_duration=4.0, outage_fill=0.2)
    pi = 4.0 / 12.0
    up = m.expected_fill(1, 40, last_fill=np.array([1.0]))
    out = m.expected_fill(1, 40, last_fill=np.array([0.2]))
    assert up[0, 0] == pytest.approx(1 - 0.8 * pi * (1 - 0.625))  # lam = 1 - 1/8 - 1/4
    assert out[0, 0] == pytest.approx(1 - 0.8 * (pi + (1 - pi) * 0.625))
    assert up[-1, 0] == pytest.approx(1 - 0.8 * pi, rel=1e-6)  # the stationary law, far ahead
    known = m.expected_fill(1, 5, announced=np.array([[0.2], [1.0]]))
    assert known[:2, 0].tolist() == [0.2, 1.0]
    draws = m.sample_fill(np.random.default_rng(0), 20_000, 1, 3, last_fill=np.array([0.2]))
    np.testing.assert_allclose(draws.mean(axis=0), out[:3], atol=0.01)


def test_the_ansi_render_shows_the_pipeline_and_outages():
    c = one_drug_config(horizon=3, supply=SupplyModel(lead_time=1, outage_fill=0.5,
                                                      mean_time_between=5.0))  # fmt: skip
    env = gym.make("DrugRefill-v0", config=c, render_mode="ansi")
    env.reset(options={"exogenous": _trace(c, demand=1.0, fill=[[0.5], [1.0], [1.0]], lead=1)})
    env.step(np.array([0.4], dtype=np.float32))  # 4 units asked, 2 filled, due next slot
    text = env.render()
    assert "transit" in text and "OUT" in text
    row = text.splitlines()[2].split()
    assert float(row[-3]) == pytest.approx(2.0) and float(row[-2]) == 0.5


def test_shortage_scenarios_are_registered_with_their_supply_model():
    from druginv_gym.benchmark import BenchmarkSpec
    from druginv_gym.scenarios import SHORTAGE_COST, held_out_options

    c = make_scenario("shortage")
    assert (c.n_drugs, c.horizon, c.name) == (70, 52, "shortage-70")
    assert c.supply.n_suppliers(70) == 5 and c.supply.announce == 0
    np.testing.assert_allclose(c.shortage_cost, SHORTAGE_COST * c.price_level)
    assert make_scenario("shortage-30", announce=8).supply.announce == 8
    p = make_scenario("pharma-shortage", split="test")
    assert p.supply is not None and p.n_drugs == 8 and p.demand.split == "test"
    assert held_out_options("pharma-shortage") == {"split": "test"}
    spec = BenchmarkSpec(scenario="pharma-shortage", episodes=1)
    env = spec.make_env("DrugRefill-v0")
    assert env.unwrapped.config.demand.split == "test"
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
