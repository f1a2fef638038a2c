"""Property tests: invariants of the model over random scenarios, traces and action sequences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from druginv_gym.config import ScenarioConfig
from druginv_gym.envs.drug_refill import DrugRefillVectorEnv
from druginv_gym.substitution import Substitution

finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw, substitution: bool = True):
    """A random scenario; with ``substitution`` (default) some have substitution groups and
    criticality classes (the by-age oracle of ``test_flow`` does not model them)."""
    n = draw(st.integers(1, 4))
    horizon = draw(st.integers(1, 7))

    def vec(lo, hi):
        return np.array(draw(st.lists(st.floats(lo, hi, **finite), min_size=n, max_size=n)))

    unit_volume = vec(1e-4, 0.05)
    band_lo = vec(0.0, 20.0)
    band_hi = band_lo + vec(0.0, 30.0)
    refill_lo = vec(0.0, 5.0)
    refill_hi = refill_lo + vec(0.0, 40.0)
    initial = vec(0.0, 40.0)
    need = max(float(band_lo @ unit_volume), float(initial @ unit_volume), 1e-6)
    capacity = need * draw(st.floats(1.0, 20.0, **finite))
    total_budget = draw(st.sampled_from([0.0, 50.0, 1e3, 1e5]))
    # therapeutic substitution in some scenarios: groups among the drugs, classes or none
    model = criticality = None
    if substitution and n > 1 and draw(st.booleans()):
        model = Substitution(
            draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n)),
            ratio=vec(0.5, 2.0),
            cost=vec(0.0, 10.0),
        )
        if draw(st.booleans()):
            criticality = draw(st.lists(st.sampled_from("VEN"), min_size=n, max_size=n))
    return ScenarioConfig(
        substitution=model,
        criticality=criticality,
        horizon=horizon,
        unit_volume=unit_volume,
        shelf_life=draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)),
        alpha=vec(0.0, 2.0),
        band_lo=band_lo,
        band_hi=band_hi,
        refill_lo=refill_lo,
        refill_hi=refill_hi,
        drug_budget=vec(0.0, 500.0),
        penalty_lo=vec(0.0, 5.0),
        penalty_hi=vec(0.0, 5.0),
        shortage_cost=vec(0.0, 50.0),
        initial_stock=initial,
        price_level=vec(0.5, 100.0),
        demand_mean=vec(0.0, 20.0),
        storage_capacity=capacity,
        total_budget=total_budget,
        reward_scale=100.0,
    )


@st.composite
def episodes(draw, substitution: bool = True):
    cfg = draw(scenarios(substitution))
    t, n = cfg.horizon, cfg.n_drugs
    b = 2
    shape = (b, t, n)
    size = b * t * n

    def arr(lo, hi):
        values = draw(st.lists(st.floats(lo, hi, **finite), min_size=size, max_size=size))
        return np.array(values).reshape(shape)

    trace = [
        {
            "demand": d,
            "base_price": p,
            "premium": q,
            "storage_rate": r,
        }
        for d, p, q, r in zip(
            arr(0.0, 60.0), arr(0.0, 1e4), arr(0.0, 50.0), arr(0.0, 10.0), strict=True
        )
    ]
    edge = st.sampled_from([0.0, 1.0])
    actions = np.array(
        draw(
            st.lists(st.one_of(edge, st.floats(0.0, 1.0, **finite)), min_size=size, max_size=size)
        ),
        dtype=np.float32,
    ).reshape(t, b, n)
    return cfg, trace, actions


@given(episodes())
def test_invariants_hold_every_step(case):
    cfg, traces, actions = case
    env = DrugRefillVectorEnv(num_envs=2, config=cfg)
    _, info = env.reset(options={"exogenous": traces})
    core = env._core
    prev = info["stock"].copy()
    accepted_hist = []
    for t in range(cfg.horizon):
        obs, reward, term, trunc, info = env.step(actions[t])
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward).all()
        assert all(np.isfinite(v).all() for v in info["costs"].values())
        assert (core.stock >= 0).all(), "stock never negative"
        volume = core.stock.sum(-1) @ cfg.unit_volume
        assert (volume <= cfg.storage_capacity * (1 + 1e-9)).all(), "storage within capacity"
        assert (core.spent <= cfg.total_budget * (1 + 1e-9) + 1e-9).all(), "total budget"
        price = np.stack([tr["base_price"][t] + tr["premium"][t] for tr in traces])
        spend = price * info["accepted"]
        assert (spend <= cfg.drug_budget[t] * (1 + 1e-9) + 1e-9).all(), "per-drug budget"
        assert (info["accepted"] <= np.maximum(info["ordered"], cfg.refill_lo) + 1e-9).all()
        # Conservation (eq. 2): stock(t) = stock(t-1) + accepted - served - donated - expired
        # (donated: units given to substitute for other drugs, with substitution).
        donated = info.get("donated", 0.0)
        substituted = info.get("substituted", 0.0)
        balance = prev + info["accepted"] - info["served"] - donated - info["expired"]
        assert np.allclose(info["stock"], balance, rtol=0, atol=1e-9)
        filled = info["served"] + substituted + info["unmet"]
        assert np.allclose(filled, info["demand"], rtol=0, atol=1e-9)
        if cfg.substitution is not None:
            model = cfg.substitution
            assert (info["donated"] >= 0).all() and (info["substituted"] >= 0).all()
            # only drugs with a substitute take part; a drug that receives gives nothing
            assert not info["substituted"][:, ~model.substitutable].any()
            assert not info["donated"][:, ~model.substitutable].any()
            assert not (info["donated"] * info["substituted"]).any()
            # per group: what the donors gave is what the recipients needed
            need = (model.ratio * info["substituted"]) @ model.members.T
            assert np.allclose(info["donated"] @ model.members.T, need, rtol=1e-9, atol=1e-9)
            # a substitute serves only a drug whose own stock is gone
            served_out = info["substituted"] > 1e-12
            assert (info["stock"][served_out] <= 1e-9).all()
            assert np.allclose(
                info["substitution_cost"], model.cost * info["substituted"], rtol=1e-12
            )
        # Nothing expires before its shelf life: what expires at the end of slot t arrived in
        # slot t - L + 1 (the initial stock counts as arriving in slot 0).
        accepted_hist.append(info["accepted"].copy())
        arrived = t - cfg.shelf_life + 1
        for i in range(cfg.n_drugs):
            if arrived[i] < 0:
                assert (info["expired"][:, i] == 0).all()
            else:
                cohort = accepted_hist[arrived[i]][:, i]
                if arrived[i] == 0:
                    cohort = cohort + cfg.initial_stock[i]
                assert (info["expired"][:, i] <= cohort + 1e-9).all()
        prev = info["stock"].copy()
        assert bool(term[0]) == (t == cfg.horizon - 1)


@given(scenarios(), st.integers(0, 2**31 - 1))
def test_all_ids_stay_in_their_spaces(cfg, seed):
    for env_id in ("DrugRefill-v0", "DrugRefillDiscrete-v0", "DrugRefillSequential-v0"):
        env = gym.make(env_id, config=cfg)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            obs, reward, term, trunc, info = env.step(env.action_space.sample())
            assert np.isfinite(reward)
            done = term or trunc
