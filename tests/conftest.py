"""Shared fixtures: small scenarios that keep the suite fast."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym.config import ScenarioConfig
from druginv_gym.scenarios import make_scenario

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ENV_IDS = ("DrugRefill-v0", "DrugRefillDiscrete-v0", "DrugRefillSequential-v0")


@pytest.fixture
def small_config() -> ScenarioConfig:
    """Paper scenario with 5 drugs over 8 slots."""
    return make_scenario("paper", n_drugs=5, horizon=8)
