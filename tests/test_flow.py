"""The cumulative-flow dynamics the envs step with equal the by-age oracle, slot by slot."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given

from druginv_gym import dynamics as dyn

from . import oracle
from .helpers import BACKENDS
from .test_properties import episodes


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=episodes(substitution=False))
def test_flow_step_equals_the_by_age_oracle(backend, case):
    cfg, traces, actions = case
    b = len(traces)
    stock, spent = oracle.initial_stock(cfg, b), np.zeros(b)
    flow = dyn.FlowState(cfg, b)
    np.testing.assert_allclose(flow.by_age(cfg.shelf_life), stock, atol=1e-9)
    for t in range(cfg.horizon):
        requested = cfg.refill_lo + actions[t] * (cfg.refill_hi - cfg.refill_lo)
        demand = np.stack([tr["demand"][t] for tr in traces])
        price = np.stack([tr["base_price"][t] + tr["premium"][t] for tr in traces])
        rate = np.stack([tr["storage_rate"][t] for tr in traces])
        ref_stock, ref = oracle.step_slot(
            stock, spent, requested, demand, price, rate, cfg.drug_budget[t], cfg
        )
        got = dyn.flow_step(
            flow, requested, demand, price, rate, cfg.drug_budget[t], cfg, backend=backend
        )
        for name in ("accepted", "served", "unmet", "expired", "level", "spend", "spent"):
            np.testing.assert_allclose(
                getattr(got, name), getattr(ref, name), rtol=1e-9, atol=1e-9, err_msg=name
            )
        np.testing.assert_allclose(got.total, ref.total, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(got.sums(), ref.sums(), rtol=1e-9, atol=1e-6)
        by_age = flow.by_age(cfg.shelf_life)
        np.testing.assert_allclose(by_age, ref_stock, atol=1e-9)
        np.testing.assert_allclose(flow.expiring(cfg.shelf_life), ref_stock[..., 0], atol=1e-9)
        stock, spent = ref_stock, ref.spent
    clone = pickle.loads(pickle.dumps(flow))
    np.testing.assert_array_equal(clone.ring, flow.ring)
    assert clone.t == flow.t == cfg.horizon
