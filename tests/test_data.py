"""The shipped pharmacy data, its loader, and the pharma scenario's replayed demand."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from druginv_gym.config import ScenarioConfig
from druginv_gym.data import ATC_GROUPS, load_pharma_sales, read_sales_csv
from druginv_gym.exogenous import ReplayDemand
from druginv_gym.scenarios import make_scenario


def test_weekly_loader():
    w = load_pharma_sales("weekly")
    assert isinstance(w.index, pd.DatetimeIndex) and w.index.is_monotonic_increasing
    assert list(w.columns) == list(ATC_GROUPS) and w.shape == (299, 8)
    assert w.index[0] == pd.Timestamp("2014-01-12")  # the 4-day first week is dropped
    assert (w.index.day_of_week == 6).all()  # weeks end on Sunday
    assert w["N02BE"].mean() == pytest.approx(208.95, abs=0.05)


def test_weekly_equals_daily_summed_by_week():
    w = load_pharma_sales("weekly")
    d = load_pharma_sales("daily")
    summed = d.resample("W-SUN").sum().loc[w.index]
    assert np.allclose(summed.to_numpy(), w.to_numpy(), atol=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("datum,M01AB\n1/5/2014,3\n", r"missing columns \['M01AE'"),
        ("", "the file is empty"),
        ("datum," + ",".join(ATC_GROUPS) + "\n", "no rows"),
        (
            "datum," + ",".join(ATC_GROUPS) + "\n1/12/2014" + ",1" * 8 + "\n1/5/2014" + ",1" * 8,
            r"dates are not strictly increasing at row 1 \(1/12/2014 then 1/5/2014\)",
        ),
        ("datum," + ",".join(ATC_GROUPS) + "\n2014-13-01" + ",1" * 8, "not M/D/YYYY"),
        ("datum," + ",".join(ATC_GROUPS) + "\n1/5/2014,x" + ",1" * 7, "M01AB at row 0 = 'x'"),
        ("datum," + ",".join(ATC_GROUPS) + "\n1/5/2014,-1" + ",1" * 7, "is negative"),
    ],
)
def test_bad_sales_files(tmp_path, text, message):
    path = tmp_path / "sales.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_sales_csv(path)


def test_bad_freq():
    with pytest.raises(ValueError, match="freq = 'hourly'"):
        load_pharma_sales("hourly")


def test_pharma_scenario_replays_contiguous_real_weeks():
    cfg = make_scenario("pharma", horizon=10)
    assert cfg.drug_names == ATC_GROUPS and cfg.n_drugs == 8
    series = cfg.demand.series
    assert np.allclose(series.mean(axis=0), 12.5)  # paper units over the train weeks
    env = gym.make("DrugRefill-v0", scenario="pharma", horizon=10)
    env.reset(seed=3)
    demand = env.unwrapped.exogenous.demand
    starts = [s for s in range(len(series) - 9) if np.allclose(series[s : s + 10], demand)]
    assert len(starts) == 1


def test_train_and_test_splits_are_disjoint_in_time():
    w = load_pharma_sales()
    train = ReplayDemand(split="train").series
    test = ReplayDemand(split="test").series
    assert len(train) + len(test) == len(w)
    cut = (w.index < pd.Timestamp("2018-06-01")).sum()
    assert np.array_equal(train, w.to_numpy()[:cut]) and np.array_equal(test, w.to_numpy()[cut:])
    env = gym.make("DrugRefill-v0", scenario="pharma", split="test", units="raw", horizon=30)
    for seed in range(5):
        env.reset(seed=seed)
        d = env.unwrapped.exogenous.demand
        assert any(np.allclose(test[s : s + 30], d) for s in range(len(test) - 29))


def test_raw_units_and_errors():
    raw = make_scenario("pharma", units="raw")
    assert raw.demand_mean[3] > 200  # N02BE sells about 209 units a week
    with pytest.raises(ValueError, match="units = 'boxes'"):
        make_scenario("pharma", units="boxes")
    with pytest.raises(ValueError, match="at most 8 drugs"):
        make_scenario("pharma", n_drugs=9)
    with pytest.raises(ValueError, match=r"longer than the 'test' split \(70 weeks\)"):
        gym.make("DrugRefill-v0", scenario="pharma", split="test", horizon=71).reset(seed=0)
    with pytest.raises(ValueError, match="split = 'later'"):
        ReplayDemand(split="later")


def test_pharma_config_json_round_trip():
    cfg = make_scenario("pharma", n_drugs=3, split="test")
    back = ScenarioConfig.from_json(cfg.to_json())
    assert back.demand == cfg.demand and np.array_equal(back.demand.series, cfg.demand.series)
