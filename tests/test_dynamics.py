"""The dynamics on hand-made cases, each checked against a hand computation.

``run_slots`` plays the library's :func:`~druginv_gym.dynamics.flow_step` (both backends where
a test takes ``backend``); the by-age tests check the test suite's own oracle (``oracle.py``),
which other tests hold the library to.
"""

from __future__ import annotations

import numpy as np
import pytest

from druginv_gym import dynamics as dyn

from . import oracle
from .helpers import BACKENDS, one_drug_config


def run_slots(cfg, orders, demand, price=10.0, rate=2.0, backend="numpy"):
    """Play ``orders`` (T, N) on a constant-price trace; returns the list of SlotOutcome."""
    state = dyn.FlowState(cfg, 1)
    out = []
    for t, x in enumerate(orders):
        o = dyn.flow_step(
            state,
            np.atleast_2d(np.asarray(x, dtype=float)),
            np.atleast_2d(np.asarray(demand[t], dtype=float)),
            np.full((1, cfg.n_drugs), price),
            np.full((1, cfg.n_drugs), rate),
            cfg.drug_budget[t],
            cfg,
            backend=backend,
        )
        out.append(o)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_slots_by_hand(backend):
    cfg = one_drug_config()  # stock 4 fresh, shelf life 2, band [2, 6], k_lo 1, k_hi 0.5
    o0, o1, o2 = run_slots(cfg, [[3.0], [0.0], [10.0]], [[5.0], [1.0], [12.0]], backend=backend)
    # Slot 0: 4 + 3 = 7 fresh units, 5 served, 2 left (1 slot of life left), nothing expires.
    assert o0.served[0, 0] == 5 and o0.unmet[0, 0] == 0 and o0.expired[0, 0] == 0
    assert o0.level[0, 0] == 2
    assert o0.purchase[0, 0] == pytest.approx(30.0)
    assert o0.storage[0, 0] == pytest.approx(2.0 * 0.01 * 2)
    assert o0.penalty[0, 0] == 0.0  # exactly at band_lo
    # Slot 1: 1 served from the 2 old units; the other one expires at the end of the slot.
    assert o1.served[0, 0] == 1 and o1.expired[0, 0] == 1 and o1.level[0, 0] == 0
    assert o1.penalty[0, 0] == pytest.approx(1.0 * (2 - 0) ** 2)
    # Slot 2: 10 arrive, demand 12: 2 lost.
    assert o2.served[0, 0] == 10 and o2.unmet[0, 0] == 2
    assert o2.shortage[0, 0] == pytest.approx(40.0)
    assert o2.purchase[0, 0] == pytest.approx(100.0)
    assert o2.spent[0] == pytest.approx(130.0)
    assert o2.total[0, 0] == pytest.approx(100.0 + 0.0 + 4.0 + 40.0)


def test_oracle_fifo_takes_oldest_first():
    stock = np.array([[[2.0, 0.0, 5.0, 3.0]]])  # 2 units expiring now, 5 with 3 slots, 3 fresh
    after, served, unmet = oracle.serve_fifo(stock, np.array([[4.0]]))
    assert served[0, 0] == 4 and unmet[0, 0] == 0
    assert after.tolist() == [[[0.0, 0.0, 3.0, 3.0]]]
    after, served, unmet = oracle.serve_fifo(stock, np.array([[20.0]]))
    assert served[0, 0] == 10 and unmet[0, 0] == 10 and after.sum() == 0


def test_oracle_expire_shifts_ages():
    after, expired = oracle.expire(np.array([[[2.0, 1.0, 5.0]]]))
    assert expired.tolist() == [[2.0]] and after.tolist() == [[[1.0, 5.0, 0.0]]]


def test_oracle_arrival_enters_at_full_shelf_life_per_drug():
    cfg = one_drug_config(
        unit_volume=[0.01, 0.01],
        shelf_life=[2, 4],
        alpha=[1, 1],
        band_lo=[0, 0],
        band_hi=[6, 6],
        refill_lo=[0, 0],
        refill_hi=[10, 10],
        drug_budget=[1e3, 1e3],
        penalty_lo=[1, 1],
        penalty_hi=[1, 1],
        shortage_cost=[1, 1],
        initial_stock=[0, 0],
        price_level=[1, 1],
        demand_mean=[1, 1],
    )
    stock = oracle.receive(oracle.initial_stock(cfg, 1), np.array([[3.0, 7.0]]), cfg.shelf_life)
    assert stock[0, 0].tolist() == [0, 3, 0, 0] and stock[0, 1].tolist() == [0, 0, 0, 7]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_expires_before_its_shelf_life(backend):
    cfg = one_drug_config(shelf_life=[3], initial_stock=[0.0], band_lo=[0.0], horizon=5)
    outs = run_slots(cfg, [[5.0], [0.0], [0.0], [0.0], [0.0]], [[0.0]] * 5, backend=backend)
    # Arrives in slot 0, usable in slots 0, 1, 2, expires at the end of slot 2.
    assert [o.expired[0, 0] for o in outs] == [0.0, 0.0, 5.0, 0.0, 0.0]


def test_refill_bounds_clip():
    cfg = one_drug_config(refill_lo=[1.0], refill_hi=[4.0])
    o = run_slots(cfg, [[0.0]], [[0.0]])[0]
    assert o.ordered[0, 0] == 0.0 and o.accepted[0, 0] == 1.0
    o = run_slots(cfg, [[9.0]], [[0.0]])[0]
    assert o.accepted[0, 0] == 4.0


def test_per_drug_budget_binds():
    cfg = one_drug_config(drug_budget=[25.0])  # price 10: at most 2.5 units
    o = run_slots(cfg, [[8.0]], [[0.0]])[0]
    assert o.accepted[0, 0] == pytest.approx(2.5) and o.spend[0, 0] <= 25.0


def _two_drugs(**kw):
    base = dict(
        unit_volume=[0.1, 0.1],
        shelf_life=[5, 5],
        alpha=[1, 1],
        band_lo=[0, 0],
        band_hi=[10, 10],
        refill_lo=[0, 0],
        refill_hi=[10, 10],
        drug_budget=[1e3, 1e3],
        penalty_lo=[0, 0],
        penalty_hi=[0, 0],
        shortage_cost=[1, 1],
        initial_stock=[0, 0],
        price_level=[10, 10],
        demand_mean=[1, 1],
        storage_capacity=100.0,
    )
    base.update(kw)
    return one_drug_config(**base)


def test_total_budget_rations_proportionally():
    cfg = _two_drugs(total_budget=60.0)
    o = run_slots(cfg, [[6.0, 2.0]], [[0.0, 0.0]])[0]  # wants 80 USD, has 60
    assert o.accepted[0].tolist() == pytest.approx([4.5, 1.5], rel=1e-9)
    assert o.spent[0] <= 60.0
    o2 = run_slots(cfg, [[6.0, 2.0], [5.0, 5.0]], [[0.0, 0.0]] * 2)[1]
    assert o2.accepted[0].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_capacity_rations_proportionally():
    cfg = _two_drugs(storage_capacity=0.8, initial_stock=[2.0, 2.0])  # 0.4 ft^3 free
    o = run_slots(cfg, [[3.0, 1.0]], [[0.0, 0.0]])[0]  # wants 0.4 ft^3... exactly fits
    assert o.accepted[0].tolist() == pytest.approx([3.0, 1.0])
    o = run_slots(cfg, [[6.0, 2.0]], [[0.0, 0.0]])[0]  # wants 0.8 ft^3, half fits
    assert o.accepted[0].tolist() == pytest.approx([3.0, 1.0], rel=1e-9)
    assert (o.level[0] @ cfg.unit_volume) <= cfg.storage_capacity


def test_hard_limits_win_over_refill_lo():
    cfg = one_drug_config(refill_lo=[5.0], total_budget=20.0)
    o = run_slots(cfg, [[5.0]], [[0.0]])[0]
    assert o.accepted[0, 0] == pytest.approx(2.0) and o.accepted[0, 0] < cfg.refill_lo[0]


def test_zero_price_means_no_budget_limit():
    cfg = one_drug_config(drug_budget=[0.0])
    o = run_slots(cfg, [[7.0]], [[0.0]], price=0.0)[0]
    assert o.accepted[0, 0] == 7.0 and np.isfinite(o.total).all()


def test_band_penalty_is_quadratic_on_both_sides():
    v = np.array([0.0, 2.0, 4.0, 6.0, 10.0])
    phi = dyn.band_penalty(v, 2.0, 6.0, 1.0, 0.5)
    assert phi.tolist() == [4.0, 0.0, 0.0, 0.0, 0.5 * 16.0]


def test_batched_equals_one_by_one():
    cfg = one_drug_config(
        unit_volume=[0.01, 0.02],
        shelf_life=[2, 3],
        alpha=[1, 2],
        band_lo=[2, 1],
        band_hi=[6, 5],
        refill_lo=[0, 0],
        refill_hi=[10, 8],
        drug_budget=[80, 60],
        penalty_lo=[1, 2],
        penalty_hi=[0.5, 1],
        shortage_cost=[20, 30],
        initial_stock=[4, 3],
        price_level=[10, 12],
        demand_mean=[3, 2],
    )
    rng = np.random.default_rng(0)
    b = 6
    batch = dyn.FlowState(cfg, b)
    singles = [dyn.FlowState(cfg, 1) for _ in range(b)]
    for t in range(cfg.horizon):
        req, dem = rng.uniform(0, 12, (b, 2)), rng.integers(0, 8, (b, 2)).astype(float)
        price, rate = rng.uniform(5, 15, (b, 2)), rng.uniform(2, 5, (b, 2))
        o = dyn.flow_step(batch, req, dem, price, rate, cfg.drug_budget[t], cfg, backend="numpy")
        for k in range(b):
            s1 = dyn.flow_step(
                singles[k],
                req[k : k + 1],
                dem[k : k + 1],
                price[k : k + 1],
                rate[k : k + 1],
                cfg.drug_budget[t],
                cfg,
                backend="numpy",
            )
            assert np.array_equal(s1.total, o.total[k : k + 1])


def test_denormal_price_means_no_budget_cap_and_no_warning():
    """Found by hypothesis: budget / 2.2e-313 overflowed (a RuntimeWarning, an error here)."""
    cfg = one_drug_config(drug_budget=[1.0])
    o = run_slots(cfg, [[7.0]], [[0.0]], price=2.2e-313)[0]
    assert o.accepted[0, 0] == 7.0 and np.isfinite(o.total).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_price_process_draws_the_documented_formula(batch):
    """Eq. 1 as PriceProcess documents it, from the same draws (``draws="compact"``): base =
    level (1 + vol (2u - 1)) with u ~ U(0, 1), then w ~ U(0, 1) and a premium base * (low +
    (high - low) w / prob) where w < premium_prob. Pins the seeded traces (and every published
    number) to the formula, whatever the implementation."""
    from druginv_gym.exogenous import PriceProcess

    process = PriceProcess(volatility=0.1, premium_prob=0.3, premium_low=0.2, premium_high=0.5)
    level = np.array([5.0, 17.5, 100.0, 0.0])
    base, premium = process.sample(np.random.default_rng(11), level, batch, 40)
    rng = np.random.default_rng(11)
    shape = (batch, 40, 4)
    want_base = level * (1.0 + 0.1 * (2.0 * rng.random(shape) - 1.0))
    w = rng.random(shape)
    hit = w < 0.3
    want_premium = np.where(hit, want_base * (0.2 + 0.3 * w / 0.3), 0.0)
    np.testing.assert_allclose(base, want_base, rtol=1e-14)
    np.testing.assert_allclose(premium, want_premium, rtol=1e-14)
    assert 0 < hit.mean() < 1 and (premium[~hit] == 0).all()
    assert (premium[hit & (level > 0)] > 0).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_legacy_price_draws_are_the_earlier_formula(batch):
    """``draws="legacy"``: the draws of every result before 0.2, exactly: base = level (1 +
    vol u) with u ~ U(-1, 1), then a premium base * U(low, high) where U(0, 1) <
    premium_prob."""
    from druginv_gym.exogenous import PriceProcess

    process = PriceProcess(0.1, 0.3, 0.2, 0.5, draws="legacy")
    level = np.array([5.0, 17.5, 100.0, 0.0])
    base, premium = process.sample(np.random.default_rng(11), level, batch, 40)
    rng = np.random.default_rng(11)
    shape = (batch, 40, 4)
    want_base = level * (1.0 + 0.1 * rng.uniform(-1.0, 1.0, size=shape))
    hit = rng.random(shape) < 0.3
    want_premium = np.where(hit, want_base * rng.uniform(0.2, 0.5, size=shape), 0.0)
    np.testing.assert_array_equal(base, want_base)
    np.testing.assert_array_equal(premium, want_premium)
    assert 0 < hit.mean() < 1 and (premium[~hit] == 0).all()
    assert (premium[hit & (level > 0)] > 0).all()


def test_slot_outcome_fields_follow_the_compiled_kernel_rows():
    """The compiled flow step builds its SlotOutcome positionally from the kernel's rows (the
    supply model's arrays, last, come from the numpy path only)."""
    from druginv_gym import _kernels

    rows = tuple("drug_total" if f == "total" else f for f in _kernels.FLOW_OUTPUTS)
    assert dyn.SlotOutcome._fields == (
        "spent",
        "ordered",
        *rows,
        "env_sums",
        "supply",
        "substitution",
    )
    assert rows == dyn._OUTCOME_ROWS
