"""Scenario validation: every bad value is named in the error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from druginv_gym.config import PER_DRUG_FIELDS, ScenarioConfig
from druginv_gym.exogenous import ExogenousTrace, SeasonalDemand, UniformDemand, as_trace
from druginv_gym.scenarios import SCENARIOS, make_scenario, register_scenario

from .helpers import one_drug_config


@pytest.mark.parametrize("n", [30, 50, 70])
def test_paper_defaults_follow_table_2(n):
    cfg = make_scenario("paper", n_drugs=n)
    assert cfg.n_drugs == n and cfg.horizon == 30
    assert np.all((cfg.unit_volume >= 0.001) & (cfg.unit_volume <= 0.005))
    assert np.all((cfg.price_level >= 5) & (cfg.price_level <= 100))
    assert cfg.storage_capacity == 40.0
    assert isinstance(cfg.demand, UniformDemand) and (cfg.demand.low, cfg.demand.high) == (5, 20)
    assert (cfg.storage.low, cfg.storage.high) == (2.0, 5.0)
    assert cfg.name == f"paper-{n}"


def test_scenario_names_and_suffix():
    assert make_scenario().n_drugs == 70
    assert make_scenario("paper-30").n_drugs == 30
    assert isinstance(make_scenario("seasonal").demand, SeasonalDemand)
    with pytest.raises(ValueError, match="unknown scenario = 'nope'"):
        make_scenario("nope")
    with pytest.raises(ValueError, match="fixes 30 drugs"):
        make_scenario("paper-30", n_drugs=50)
    with pytest.raises(ValueError, match="n_drugs = 0"):
        make_scenario("paper", n_drugs=0)


def test_static_draws_depend_only_on_scenario_seed():
    a, b = make_scenario(scenario_seed=3), make_scenario(scenario_seed=3)
    assert np.array_equal(a.unit_volume, b.unit_volume)
    assert not np.array_equal(a.unit_volume, make_scenario(scenario_seed=4).unit_volume)


def test_register_scenario_refuses_silent_overwrite():
    register_scenario("tiny-test", lambda **kw: one_drug_config())
    try:
        assert make_scenario("tiny-test").n_drugs == 1
        with pytest.raises(ValueError, match="already registered"):
            register_scenario("tiny-test", lambda **kw: one_drug_config())
    finally:
        SCENARIOS.pop("tiny-test")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"unit_volume": [-0.01]}, r"unit_volume\[0\] = -0.01 must be > 0"),
        ({"unit_volume": [0.0]}, r"unit_volume\[0\] = 0.0 must be > 0"),
        ({"alpha": [math.nan]}, r"alpha\[0\] = nan is not finite"),
        ({"band_lo": [-1.0], "band_hi": [6.0]}, r"band_lo\[0\] = -1.0 is negative"),
        ({"penalty_hi": [math.inf]}, r"penalty_hi\[0\] = inf is not finite"),
        ({"band_lo": [7.0], "band_hi": [6.0]}, r"band_lo\[0\] = 7.0 is greater than band_hi"),
        ({"refill_lo": [11.0]}, r"refill_lo\[0\] = 11.0 is greater than refill_hi\[0\] = 10.0"),
        ({"shelf_life": [0]}, r"shelf_life\[0\] = 0 must be an integer >= 1"),
        ({"shelf_life": [1.5]}, r"shelf_life\[0\] = 1.5 must be an integer >= 1"),
        ({"alpha": [1.0, 1.0]}, r"alpha has length 2 but unit_volume has length 1"),
        ({"storage_capacity": 0.01}, r"storage_capacity = 0.01 ft\^3 cannot hold the minimum"),
        ({"storage_capacity": -1.0}, r"storage_capacity = -1.0 must be finite and >= 0"),
        ({"total_budget": math.nan}, r"total_budget = nan must be finite"),
        ({"reward_scale": 0.0}, r"reward_scale = 0.0 must be > 0"),
        ({"horizon": 0}, r"horizon = 0 must be >= 1"),
        ({"horizon": 2.5}, r"horizon = 2.5 must be an integer"),
        ({"n_levels": 1}, r"n_levels = 1 must be >= 2"),
        ({"priority": [3]}, r"priority = \[3\] must be a permutation"),
        ({"drug_budget": [[1.0]] * 2}, r"drug_budget has shape \(2, 1\)"),
        ({"drug_budget": [-5.0]}, r"drug_budget\[0, 0\] = -5.0 is negative"),
        ({"unit_volume": []}, r"at least one drug"),
        ({"initial_stock": [500.0]}, r"initial_stock needs 5 ft\^3"),
        ({"demand": "uniform"}, r"demand = 'uniform' has no sample"),
    ],
)
def test_bad_config_names_field_and_value(override, message):
    if override.get("unit_volume") == []:
        override = {k: [] for k in PER_DRUG_FIELDS}
        override["shelf_life"] = np.zeros(0, dtype=int)
        override["drug_budget"] = np.zeros(0)
    with pytest.raises(ValueError, match=message):
        one_drug_config(**override)


def test_config_is_frozen_and_read_only():
    cfg = one_drug_config()
    with pytest.raises(AttributeError):
        cfg.horizon = 5
    with pytest.raises(ValueError):
        cfg.band_lo[0] = 1.0
    assert cfg.drug_budget.shape == (3, 1)


def test_replace_revalidates():
    cfg = one_drug_config()
    assert cfg.replace(n_levels=5).n_levels == 5
    with pytest.raises(ValueError, match=r"drug_budget has shape \(3, 1\)"):
        cfg.replace(horizon=5)  # a (T, N) budget no longer fits the new horizon
    with pytest.raises(ValueError, match="band_lo"):
        cfg.replace(band_lo=[9.0])


@pytest.mark.parametrize("name", ["paper", "seasonal"])
def test_json_round_trip(name):
    cfg = make_scenario(name, n_drugs=4, horizon=6)
    back = ScenarioConfig.from_json(cfg.to_json())
    for f in ("unit_volume", "shelf_life", "drug_budget", "priority", "band_hi"):
        assert np.array_equal(getattr(back, f), getattr(cfg, f))
    assert back.demand == cfg.demand and back.price == cfg.price and back.name == cfg.name


def test_from_dict_rejects_unknown_fields():
    data = one_drug_config().to_dict()
    data["bogus"] = 1
    with pytest.raises(ValueError, match=r"unknown scenario config fields: \['bogus'\]"):
        ScenarioConfig.from_dict(data)


def test_time_varying_drug_budget():
    cfg = one_drug_config(drug_budget=[[10.0], [20.0], [30.0]])
    assert cfg.drug_budget[:, 0].tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("demand", np.zeros((3, 2)), r"'demand' has shape \(3, 2\)"),
        ("premium", np.full((3, 1), np.nan), r"'premium'\[0, 0\] = nan is not finite"),
        ("demand", -np.ones((3, 1)), r"'demand'\[0, 0\] = -1.0 is negative"),
        ("base_price", np.ones(3), r"'base_price' has shape \(3,\); expected \(T, N\)"),
    ],
)
def test_bad_trace_is_rejected(field, value, message):
    trace = {k: np.ones((3, 1)) for k in ("demand", "base_price", "premium", "storage_rate")}
    trace[field] = value
    with pytest.raises(ValueError, match=message):
        as_trace(trace)


def test_trace_missing_field():
    with pytest.raises(ValueError, match=r"missing fields \['storage_rate'\]"):
        as_trace(
            {"demand": np.ones((2, 1)), "base_price": np.ones((2, 1)), "premium": np.zeros((2, 1))}
        )


def test_trace_price_is_base_plus_premium():
    tr = ExogenousTrace(
        np.ones((2, 1)), np.full((2, 1), 3.0), np.full((2, 1), 0.5), np.ones((2, 1))
    )
    assert np.all(tr.price == 3.5)


def test_process_validation():
    with pytest.raises(ValueError, match=r"UniformDemand\.high = 1"):
        UniformDemand(low=5, high=1)
    with pytest.raises(ValueError, match=r"SeasonalDemand\.amplitude = 2"):
        SeasonalDemand(amplitude=2)


def test_seasonal_demand_statistics():
    rng = np.random.default_rng(0)
    proc = SeasonalDemand(mean=20.0, amplitude=0.5, period=52, shock_prob=0.0, noise_cv=0.0)
    d = proc.sample(rng, 200, 52, 3)
    assert d.shape == (200, 52, 3) and np.all(d >= 0) and np.all(d == np.floor(d))
    assert abs(d.mean() - 20.0) < 0.5  # a full season averages to the mean
    assert d.max() > 25  # the seasonal swing is there
