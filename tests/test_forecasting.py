"""Forecasters: known signals, learning, save/load, bad input; metrics."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym  # noqa: F401 - registers the env ids
from druginv_gym.forecasting import (
    FORECASTERS,
    CNNLSTMForecaster,
    ExponentialSmoothing,
    LSTMForecaster,
    MLPForecaster,
    MovingAverage,
    Naive,
    SeasonalNaive,
    load_forecaster,
    make_forecaster,
    register_forecaster,
    unregister_forecaster,
)
from druginv_gym.forecasting.metrics import mae, rmse, smape
from druginv_gym.wrappers import ForecastObservation

NEURAL = (MLPForecaster, LSTMForecaster, CNNLSTMForecaster)
FAST = dict(hidden=32, epochs=300, patience=30, lr=3e-3, progress=False)


def test_metrics_by_hand():
    a, f = np.array([1.0, 2.0, 0.0, 4.0]), np.array([2.0, 2.0, 0.0, 0.0])
    assert mae(a, f) == pytest.approx(5 / 4)
    assert rmse(a, f) == pytest.approx(np.sqrt(17 / 4))
    # terms: 2*1/3, 0, 0 (both zero), 2*4/4 -> mean (2/3 + 2)/4
    assert smape(a, f) == pytest.approx(100 * (2 / 3 + 2) / 4)
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match=r"shape \(2,\) but forecast has shape \(3,\)"):
        mae([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match=r"forecast\[1\] = nan"):
        rmse([1, 2], [1, np.nan])


def signals(length=120):
    t = np.arange(length, dtype=float)
    return {
        "constant": np.full((2, length), [[7.0], [40.0]]),
        "trend": np.stack([20 + 0.5 * t, 50 + 1.0 * t]),
        "season": np.stack(
            [20 + 8 * np.sin(2 * np.pi * t / 12), 60 + 20 * np.cos(2 * np.pi * t / 12)]
        ),
    }


def check_recovers(forecaster, kind, rel):
    data = signals()[kind]
    forecaster.fit(data[:, :100])
    pred = forecaster.predict(data[:, :100], 3)
    truth = data[:, 100:103]
    assert np.abs(pred - truth).max() <= rel * np.abs(truth).max(), (pred, truth)


@pytest.mark.parametrize(
    "make", [Naive, MovingAverage, lambda: SeasonalNaive(12), ExponentialSmoothing]
)
def test_statistical_recover_constant(make):
    check_recovers(make(), "constant", 1e-9)


def test_seasonal_models_recover_pure_seasonality():
    check_recovers(SeasonalNaive(12), "season", 1e-9)
    check_recovers(ExponentialSmoothing(season_length=12), "season", 1e-3)


def test_holt_recovers_linear_trend():
    check_recovers(ExponentialSmoothing(damped=False), "trend", 1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL)
@pytest.mark.parametrize("kind", ["constant", "trend", "season"])
def test_neural_recover_known_signals(cls, kind):
    check_recovers(cls(**FAST), kind, 0.05)


def noisy_seasonal(rng, n=4, length=160):
    t = np.arange(length)
    base = rng.uniform(20, 60, size=(n, 1))
    season = 1 + 0.5 * np.sin(2 * np.pi * (t[None, :] + rng.uniform(0, 12, (n, 1))) / 12)
    return rng.poisson(base * season).astype(float)


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEURAL)
def test_learned_models_beat_naive_on_noisy_seasonal_series(cls):
    data = noisy_seasonal(np.random.default_rng(0))
    model = cls(**FAST).fit(data[:, :120])
    errs = {"model": [], "naive": []}
    for t in range(120, 157):
        truth = data[:, t : t + 3]
        errs["model"].append(mae(truth, model.predict(data[:, :t], 3)))
        errs["naive"].append(mae(truth, Naive().predict(data[:, :t], 3)))
    assert np.mean(errs["model"]) < 0.9 * np.mean(errs["naive"])


@pytest.mark.parametrize("cls", NEURAL)
def test_save_load_round_trip_and_determinism(cls, tmp_path):
    data = noisy_seasonal(np.random.default_rng(1), n=2, length=60)
    a = cls(hidden=8, epochs=5, progress=False).fit(data)
    b = cls(hidden=8, epochs=5, progress=False).fit(data)
    assert np.array_equal(a.predict(data, 5), b.predict(data, 5))  # seeded, deterministic
    path = a.save(tmp_path / "model.pt")
    loaded = cls.load(path)
    assert np.array_equal(loaded.predict(data, 5), a.predict(data, 5))
    assert np.array_equal(load_forecaster(path).predict(data, 2), a.predict(data, 2))


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    data = noisy_seasonal(np.random.default_rng(2), n=2, length=60)
    lstm = LSTMForecaster(hidden=8, epochs=2, progress=False).fit(data)
    good = lstm.save(tmp_path / "lstm.pt")
    with pytest.raises(ValueError, match="holds a 'lstm' forecaster, not 'mlp'"):
        MLPForecaster.load(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable forecaster checkpoint"):
        load_forecaster(truncated)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable forecaster checkpoint"):
        load_forecaster(junk)
    with pytest.raises(ValueError, match="no such checkpoint file"):
        load_forecaster(tmp_path / "missing.pt")

    import torch

    payload = torch.load(good, weights_only=True)
    payload["config"] = payload["config"].replace('"hidden": 8', '"hidden": 16')
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="weights do not match the 'lstm' architecture"):
        load_forecaster(tmp_path / "mismatch.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a druginv_gym forecaster checkpoint"):
        load_forecaster(tmp_path / "other.pt")


class _Exploit:
    def __reduce__(self):
        return (print, ("code ran from a checkpoint",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    path.write_bytes(
        pickle.dumps({"format": "druginv_gym.forecaster", "x": _Exploit()}, protocol=2)
    )
    with pytest.raises(ValueError, match="not a readable forecaster checkpoint"):
        load_forecaster(path)
    assert "code ran" not in capsys.readouterr().out


def test_transfer_learning_freezes_lower_layers():
    rng = np.random.default_rng(3)
    source, target = noisy_seasonal(rng, n=3, length=80), noisy_seasonal(rng, n=1, length=60)
    mlp = MLPForecaster(hidden=16, epochs=20, progress=False).pretrain(source)
    before = [layer.weight.detach().clone() for layer in mlp.model.layers]
    mlp.fine_tune(target, freeze=2, epochs=10)
    after = [layer.weight.detach() for layer in mlp.model.layers]
    assert all(
        np.array_equal(b.numpy(), a.numpy()) for b, a in zip(before[:2], after[:2], strict=True)
    )
    assert not np.array_equal(before[2].numpy(), after[2].numpy())
    assert all(p.requires_grad for p in mlp.model.parameters())
    with pytest.raises(ValueError, match=r"freeze = 3 must be in \[0, 2\]"):
        mlp.fine_tune(target, freeze=3)
    with pytest.raises(RuntimeError, match="needs a pretrained model"):
        MLPForecaster().fine_tune(target)


@pytest.mark.parametrize(
    "forecaster",
    [Naive(), SeasonalNaive(4), MovingAverage(3), ExponentialSmoothing()],
    ids=lambda f: type(f).__name__,
)
def test_bad_input_named(forecaster):
    with pytest.raises(ValueError, match=r"history\[0, 1\] = nan is not finite"):
        forecaster.predict(np.array([[1.0, np.nan, 3.0, 4.0, 5.0]]), 2)
    with pytest.raises(ValueError, match="horizon = 0 must be an integer >= 1"):
        forecaster.predict(np.ones((1, 10)), 0)
    with pytest.raises(ValueError, match=r"history\[0, 0\] = -1.0 is negative"):
        forecaster.predict(-np.ones((1, 10)), 1)
    if forecaster.min_history > 1:
        with pytest.raises(ValueError, match="history has length 1; this forecaster needs"):
            forecaster.predict(np.ones((1, 1)), 1)


def test_neural_bad_input_and_untrained():
    with pytest.raises(RuntimeError, match="not trained"):
        LSTMForecaster().predict(np.ones((1, 20)), 1)
    with pytest.raises(ValueError, match="series has length 10; this forecaster needs >= 16"):
        LSTMForecaster().fit(np.ones((1, 10)))
    with pytest.raises(ValueError, match="window = 0"):
        MLPForecaster(window=0)


def test_make_forecaster():
    assert isinstance(make_forecaster("moving_average", window=2), MovingAverage)
    with pytest.raises(ValueError, match="must be trained first"):
        make_forecaster("lstm")
    with pytest.raises(ValueError, match="unknown forecaster = 'oracle'"):
        make_forecaster("oracle")


def test_holt_winters_matches_statsmodels_recursion():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing as HW

    rng = np.random.default_rng(0)
    t = np.arange(60)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, 60) + 0.3 * t
    for m in (None, 12):
        es = ExponentialSmoothing(season_length=m, alpha=0.4, beta=0.2, gamma=0.3, phi=0.9)
        ours = es.predict(y[None], 5)[0]
        if m:
            level = y[:m].mean()
            trend = (y[m : 2 * m].mean() - level) / m
            season, rest = y[:m] - level, y[m:]
        else:
            slope, intercept = np.polyfit(np.arange(10), y[:10], 1)  # the least-squares start
            level, trend, season, rest = intercept, slope, None, y[1:]
        ref = HW(
            rest,
            trend="add",
            damped_trend=True,
            seasonal="add" if m else None,
            seasonal_periods=m,
            initialization_method="known",
            initial_level=level,
            initial_trend=trend,
            initial_seasonal=season,
        ).fit(
            smoothing_level=0.4,
            smoothing_trend=0.2,
            smoothing_seasonal=0.3 if m else None,
            damping_trend=0.9,
            optimized=False,
        )
        assert np.allclose(ours, ref.forecast(5), rtol=1e-9)


def test_saved_files_are_not_owner_only(tmp_path):
    import os
    import stat

    data = noisy_seasonal(np.random.default_rng(4), n=1, length=40)
    path = MLPForecaster(hidden=4, epochs=1, progress=False).fit(data).save(tmp_path / "m.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


class Constant:
    """Forecasts ``value`` units/slot whatever the history (a user-defined forecaster)."""

    min_history = 1

    def __init__(self, value: float = 9.0) -> None:
        self.value = value

    def fit(self, series):
        return self

    def predict(self, history, horizon):
        return np.full((np.asarray(history).shape[0], horizon), self.value)


@pytest.fixture
def constant_registered():
    register_forecaster("test-constant", Constant)
    try:
        yield
    finally:
        unregister_forecaster("test-constant")


def test_builtin_forecasters_registry_is_read_only():
    assert list(FORECASTERS) == [
        "naive",
        "seasonal_naive",
        "moving_average",
        "exponential_smoothing",
        "mlp",
        "lstm",
        "cnn_lstm",
    ]
    assert FORECASTERS["naive"] is Naive and FORECASTERS["cnn_lstm"] is CNNLSTMForecaster
    with pytest.raises(TypeError):
        FORECASTERS["mine"] = Constant  # type: ignore[index]
    with pytest.raises(ValueError, match="'naive' is built in and cannot be replaced"):
        register_forecaster("naive", Constant, overwrite=True)
    with pytest.raises(ValueError, match="'mlp' is built in and cannot be unregistered"):
        unregister_forecaster("mlp")


def test_registered_forecaster_in_make_forecaster_and_the_env(constant_registered):
    assert FORECASTERS["test-constant"] is Constant
    assert make_forecaster("test-constant", value=2.5).value == 2.5
    with pytest.raises(TypeError, match="unexpected keyword argument 'window'"):
        make_forecaster("test-constant", window=3)
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=5, forecaster="test-constant")
    assert isinstance(env.get_wrapper_attr("forecaster"), Constant)
    twin = ForecastObservation(gym.make("DrugRefill-v0", n_drugs=3, horizon=5), Constant())
    obs, _ = env.reset(seed=1)
    want, _ = twin.reset(seed=1)
    scale = env.unwrapped._core.scales.units
    names = env.get_wrapper_attr("drug_feature_names")
    cols = [k for k, f in enumerate(names) if f.startswith("forecast_")]
    assert len(cols) == 3
    for _ in range(5):
        np.testing.assert_array_equal(obs, want)  # by name == by instance
        block = obs[: 3 * len(names)].reshape(3, len(names))[:, cols]
        np.testing.assert_allclose(block * scale, 9.0, rtol=1e-6)
        action = env.action_space.sample()
        obs, *_ = env.step(action)
        want, *_ = twin.step(action)
    vec = gym.make_vec(
        "DrugRefill-v0", num_envs=2, n_drugs=3, horizon=5, forecaster="test-constant"
    )
    vobs, _ = vec.reset(seed=1)
    assert vobs.shape == (2, env.observation_space.shape[0])
    vec.close()


def test_register_forecaster_refuses_duplicates_and_non_forecasters(constant_registered):
    class Other(Constant):
        pass

    class NoPredict:
        min_history = 1

        def fit(self, series):
            return self

    class BadPredict(Constant):
        def predict(self, history):
            return history

    class NoMinHistory:
        def fit(self, series):
            return self

        def predict(self, history, horizon):
            return np.zeros((len(history), horizon))

    with pytest.raises(ValueError, match=r"'test-constant' is already registered \(Constant\)"):
        register_forecaster("test-constant", Other)
    register_forecaster("test-constant", Constant)  # the same pair again: a no-op
    with pytest.raises(TypeError, match=r"NoPredict has no predict\(\)"):
        register_forecaster("test-bad", NoPredict)
    with pytest.raises(
        TypeError, match=r"BadPredict\.predict\(self, history\) must take \(history, horizon\)"
    ):
        register_forecaster("test-bad", BadPredict)
    with pytest.raises(TypeError, match="is not a class"):
        register_forecaster("test-bad", Constant())
    with pytest.raises(ValueError, match="would be read as a checkpoint path"):
        register_forecaster("model.pt", Constant)
    with pytest.raises(ValueError, match="must be a non-empty string"):
        register_forecaster("", Constant)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        register_forecaster("test-bad", Constant, replace=True)  # type: ignore[call-overload]
    assert "test-bad" not in FORECASTERS and "model.pt" not in FORECASTERS
    register_forecaster("test-no-min", NoMinHistory)
    try:
        with pytest.raises(TypeError, match=r"NoMinHistory\(\) has no min_history"):
            make_forecaster("test-no-min")
    finally:
        unregister_forecaster("test-no-min")


def test_register_forecaster_as_decorator_and_overwrite():
    try:

        @register_forecaster("test-deco")
        class Deco(Constant):
            pass

        assert FORECASTERS["test-deco"] is Deco
        assert isinstance(make_forecaster("test-deco"), Deco)
        register_forecaster("test-deco", Constant, overwrite=True)
        assert FORECASTERS["test-deco"] is Constant
    finally:
        unregister_forecaster("test-deco")
    with pytest.raises(ValueError, match=r"unknown forecaster = 'test-deco'; known: .* or a path"):
        make_forecaster("test-deco")
    with pytest.raises(ValueError, match="unknown forecaster 'test-deco'; registered"):
        unregister_forecaster("test-deco")
