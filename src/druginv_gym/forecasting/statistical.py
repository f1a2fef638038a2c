"""Statistical forecasters: naive, seasonal naive, moving average, Holt(-Winters) smoothing."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from druginv_gym.forecasting.base import (
    check_history,
    check_horizon,
    check_series,
    register_forecaster,
)

__all__ = ["ExponentialSmoothing", "MovingAverage", "Naive", "SeasonalNaive"]


@register_forecaster("naive")
class Naive:
    """The last observed value, repeated over the horizon."""

    min_history = 1

    def fit(self, series: np.ndarray) -> Naive:
        check_series(series, "series")
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        hist, h = check_history(history, 1), check_horizon(horizon)
        return np.repeat(hist[:, -1:], h, axis=1)


@register_forecaster("seasonal_naive")
class SeasonalNaive:
    """The value one season earlier: ``f(t + k) = y(t + k - m)`` for ``k = 1..horizon``.

    Beyond one season ahead the last season repeats.
    """

    def __init__(self, season_length: int = 52) -> None:
        if isinstance(season_length, bool) or not isinstance(season_length, (int, np.integer)):
            raise ValueError(f"season_length = {season_length!r} must be an integer >= 1")
        if season_length < 1:
            raise ValueError(f"season_length = {season_length!r} must be >= 1")
        self.season_length = int(season_length)
        self.min_history = self.season_length

    def fit(self, series: np.ndarray) -> SeasonalNaive:
        check_series(series, "series", self.season_length)
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        hist, h = check_history(history, self.min_history), check_horizon(horizon)
        m = self.season_length
        last = hist[:, -m:]
        return last[:, np.arange(h) % m]


@register_forecaster("moving_average")
class MovingAverage:
    """The mean of the last ``window`` values, repeated over the horizon."""

    def __init__(self, window: int = 4) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"window = {window!r} must be an integer >= 1")
        self.window = int(window)
        self.min_history = 1

    def fit(self, series: np.ndarray) -> MovingAverage:
        check_series(series, "series")
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        hist, h = check_history(history, 1), check_horizon(horizon)
        return np.repeat(hist[:, -self.window :].mean(axis=1, keepdims=True), h, axis=1)


@dataclass
class _HWParams:
    alpha: np.ndarray  # level smoothing, (n_series,)
    beta: np.ndarray  # trend smoothing
    gamma: np.ndarray  # seasonal smoothing
    phi: np.ndarray  # trend damping


@register_forecaster("exponential_smoothing")
@dataclass
class ExponentialSmoothing:
    """Holt's damped additive trend, optionally with additive seasonality (Holt-Winters).

    ``fit`` estimates the smoothing parameters of each training series by maximum likelihood
    with statsmodels (``statsmodels.tsa.holtwinters.ExponentialSmoothing``); ``predict``
    filters the given history with them (vectorised over series, the same recursions as
    statsmodels, checked in the tests) and extrapolates. Before any ``fit``, or when
    ``predict`` gets a different number of series than ``fit`` saw, the median of the fitted
    parameters (or the defaults below) is used for every series.

    Args:
        season_length: season in slots (``None``: no seasonal component).
        damped: damp the trend (recommended for demand).
        alpha, beta, gamma, phi: defaults before fitting.
    """

    season_length: int | None = None
    damped: bool = True
    alpha: float = 0.3
    beta: float = 0.05
    gamma: float = 0.1
    phi: float = 0.95
    params: _HWParams | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.season_length is not None and (
            not isinstance(self.season_length, (int, np.integer)) or self.season_length < 2
        ):
            raise ValueError(f"season_length = {self.season_length!r} must be >= 2 or None")
        for name in ("alpha", "beta", "gamma", "phi"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} = {v!r} must be in [0, 1]")

    @property
    def min_history(self) -> int:
        return 2 * self.season_length if self.season_length else 2

    def fit(self, series: np.ndarray) -> ExponentialSmoothing:
        try:
            from statsmodels.tsa.holtwinters import ExponentialSmoothing as HW
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "ExponentialSmoothing.fit needs statsmodels: pip install 'druginv-gym[forecast]'"
            ) from exc
        data = check_series(series, "series", max(self.min_history, 4))
        est = {k: [] for k in ("alpha", "beta", "gamma", "phi")}
        for y in data:
            model = HW(
                y,
                trend="add",
                damped_trend=self.damped,
                seasonal="add" if self.season_length else None,
                seasonal_periods=self.season_length,
                initialization_method="estimated",
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter on flat series
                res = model.fit()
            p = res.params
            est["alpha"].append(p["smoothing_level"])
            est["beta"].append(p.get("smoothing_trend", 0.0) or 0.0)
            est["gamma"].append(p.get("smoothing_seasonal", 0.0) or 0.0)
            est["phi"].append(p.get("damping_trend", 1.0) if self.damped else 1.0)
        self.params = _HWParams(**{k: np.nan_to_num(np.asarray(v, float)) for k, v in est.items()})
        return self

    def _params_for(self, n: int) -> tuple[np.ndarray, ...]:
        p = self.params
        if p is not None and p.alpha.shape[0] == n:
            return p.alpha, p.beta, p.gamma, p.phi
        if p is not None:
            vals = [np.median(getattr(p, k)) for k in ("alpha", "beta", "gamma", "phi")]
        else:
            vals = [self.alpha, self.beta, self.gamma, self.phi if self.damped else 1.0]
        return tuple(np.full(n, v) for v in vals)

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        hist, h = check_history(history, self.min_history), check_horizon(horizon)
        n, length = hist.shape
        alpha, beta, gamma, phi = self._params_for(n)
        m = self.season_length
        if m:
            # Initial states (heuristic, as statsmodels' "heuristic" initialisation).
            level = hist[:, :m].mean(axis=1)
            trend = (hist[:, m : 2 * m].mean(axis=1) - level) / m
            season = hist[:, :m] - level[:, None]
            start = m
        else:
            level, trend, season, start = hist[:, 0].copy(), hist[:, 1] - hist[:, 0], None, 1
        for t in range(start, length):
            y = hist[:, t]
            s = season[:, t % m] if m else 0.0
            prev_level, prev_trend = level, trend
            level = alpha * (y - s) + (1 - alpha) * (prev_level + phi * prev_trend)
            trend = beta * (level - prev_level) + (1 - beta) * phi * prev_trend
            if m:
                season[:, t % m] = gamma * (y - prev_level - phi * prev_trend) + (1 - gamma) * s
        damp = np.cumsum(phi[:, None] ** np.arange(1, h + 1)[None, :], axis=1)
        out = level[:, None] + damp * trend[:, None]
        if m:
            out = out + season[:, (length + np.arange(h)) % m]
        return np.maximum(out, 0.0)
