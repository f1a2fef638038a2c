"""Hand-sized scenarios and traces for tests, and the suite's rule for missing tools."""

from __future__ import annotations

import os

import numpy as np
import pytest

from druginv_gym import dynamics
from druginv_gym.config import ScenarioConfig


def missing(fail: str, skip: str | None = None) -> None:
    """A test's tool is missing: skip (``skip``, else ``fail``'s words), except in CI, whose
    install has every tool, so there it fails (``fail``) rather than skip in silence."""
    if os.environ.get("CI"):
        pytest.fail(fail)
    pytest.skip(skip or fail)


#: Every backend of the dynamics, as a test parameter; numba's is skipped where numba is not
#: installed.
BACKENDS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            name == "numba" and not dynamics.numba_available(), reason="numba not installed"
        ),
    )
    for name in dynamics.BACKENDS
]


def one_drug_config(**overrides) -> ScenarioConfig:
    """A hand-sized single-drug scenario (all costs easy to compute by hand)."""
    kw = dict(
        horizon=3,
        unit_volume=[0.01],
        shelf_life=[2],
        alpha=[1.0],
        band_lo=[2.0],
        band_hi=[6.0],
        refill_lo=[0.0],
        refill_hi=[10.0],
        drug_budget=[1000.0],
        penalty_lo=[1.0],
        penalty_hi=[0.5],
        shortage_cost=[20.0],
        initial_stock=[4.0],
        price_level=[10.0],
        demand_mean=[3.0],
        storage_capacity=1.0,
        total_budget=10_000.0,
        reward_scale=100.0,
        n_levels=11,
    )
    kw.update(overrides)
    return ScenarioConfig(**kw)


def constant_trace(config: ScenarioConfig, demand, price=10.0, rate=2.0, premium=0.0) -> dict:
    shape = (config.horizon, config.n_drugs)
    return {
        "demand": np.broadcast_to(np.asarray(demand, dtype=float), shape).copy(),
        "base_price": np.full(shape, float(price)),
        "premium": np.full(shape, float(premium)),
        "storage_rate": np.full(shape, float(rate)),
    }


def deterministic_config(**overrides) -> ScenarioConfig:
    """One drug, constant demand 3 and price 10, storage rate 2: every trace is the same."""
    from druginv_gym.exogenous import PriceProcess, StorageRateProcess, UniformDemand

    kw = dict(
        demand=UniformDemand(3.0, 3.0),
        price=PriceProcess(volatility=0.0, premium_prob=0.0),
        storage=StorageRateProcess(2.0, 2.0),
        horizon=6,
    )
    kw.update(overrides)
    return one_drug_config(**kw)
