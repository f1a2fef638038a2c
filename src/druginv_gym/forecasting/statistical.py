"""Statistical forecasters: naive, seasonal naive, moving average, Holt(-Winters) smoothing."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from druginv_gym.forecasting.base import (
    check_history,
    check_horizon,
    check_series,
    register_forecaster,
)
from druginv_gym.io import atomic_write_text

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


#: Holt's initial level and trend come from a least-squares line through this many first
#: values (the number statsmodels' heuristic start uses): the slope of the first two values,
#: the earlier start, is mostly noise on weekly demand and, with a fitted ``beta`` near 0,
#: never corrects (on the pharmacy data it forecast 64 units for a series of mean 12.5).
_TREND_START = 10


def _linear_start(head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(level, trend)`` at slot 0 of a least-squares line through ``head`` (n, k >= 2)."""
    t = np.arange(head.shape[1], dtype=np.float64)
    tc = t - t.mean()
    slope = (head - head.mean(axis=1, keepdims=True)) @ tc / (tc @ tc)
    return head.mean(axis=1) - slope * t.mean(), slope


#: The ``format`` field of a saved :class:`ExponentialSmoothing`.
_ES_FORMAT = "druginv_gym.exponential_smoothing"


@register_forecaster("exponential_smoothing")
@dataclass
class ExponentialSmoothing:
    """Holt's damped additive trend, optionally with additive seasonality (Holt-Winters).

    ``fit`` estimates the smoothing parameters of each training series by maximum likelihood
    with statsmodels (``statsmodels.tsa.holtwinters.ExponentialSmoothing``); ``predict``
    filters the given history with them (vectorised over series, the same recursions as
    statsmodels, checked in the tests) and extrapolates. When ``predict`` gets a multiple of
    the number of series ``fit`` saw (``k`` envs x the same ``N`` drugs, env-major, as the
    forecasting wrappers pass them), each series keeps its own fitted parameters (tiled);
    for any other count, the median of the fitted parameters is used for every series; before
    any ``fit``, the defaults below.

    ``save(path)`` writes the settings and fitted parameters as JSON (``.json``);
    ``ExponentialSmoothing.load(path)`` and ``make_forecaster(path)`` read them back.

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
        if p is not None and n % p.alpha.shape[0] == 0:
            reps = n // p.alpha.shape[0]
            return tuple(np.tile(getattr(p, k), reps) for k in ("alpha", "beta", "gamma", "phi"))
        if p is not None:
            vals = [np.median(getattr(p, k)) for k in ("alpha", "beta", "gamma", "phi")]
        else:
            vals = [self.alpha, self.beta, self.gamma, self.phi if self.damped else 1.0]
        return tuple(np.full(n, v) for v in vals)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the settings and the fitted parameters to ``path`` (JSON) atomically."""
        settings = {
            k: getattr(self, k)
            for k in ("season_length", "damped", "alpha", "beta", "gamma", "phi")
        }
        fitted = None
        if self.params is not None:
            fitted = {
                k: getattr(self.params, k).tolist() for k in ("alpha", "beta", "gamma", "phi")
            }
        doc = {"format": _ES_FORMAT, "settings": settings, "params": fitted}
        return atomic_write_text(path, json.dumps(doc, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExponentialSmoothing:
        """Read a forecaster written by :meth:`save`; ``ValueError`` naming the file
        otherwise."""
        try:
            doc = json.loads(Path(path).read_text())
            if doc.get("format") != _ES_FORMAT:
                raise ValueError(f"format {doc.get('format')!r} is not {_ES_FORMAT!r}")
            out = cls(**doc["settings"])
            if doc["params"] is not None:
                arrays = {k: np.asarray(v, dtype=np.float64) for k, v in doc["params"].items()}
                sizes = {a.shape for a in arrays.values()}
                if len(sizes) != 1 or len(next(iter(sizes))) != 1:
                    raise ValueError("fitted parameters must be equal-length lists")
                out.params = _HWParams(**arrays)
        except (OSError, KeyError, TypeError, AttributeError, ValueError) as exc:  # JSON too
            raise ValueError(f"{path}: not a saved ExponentialSmoothing ({exc})") from None
        return out

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
            level, trend = _linear_start(hist[:, : min(length, _TREND_START)])
            season, start = None, 1
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
