"""Forecast accuracy: MAE, RMSE and SMAPE over arrays of any (matching) shape."""

from __future__ import annotations

import numpy as np

__all__ = ["mae", "rmse", "smape"]


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise ValueError(f"actual has shape {a.shape} but forecast has shape {f.shape}")
    if a.size == 0:
        raise ValueError("actual and forecast are empty")
    for name, arr in (("actual", a), ("forecast", f)):
        if not np.isfinite(arr).all():
            idx = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"{name}{list(idx)} = {arr[idx].item()!r} is not finite")
    return a, f


def mae(actual, forecast) -> float:
    """Mean absolute error, in the units of the series."""
    a, f = _pair(actual, forecast)
    return float(np.abs(a - f).mean())


def rmse(actual, forecast) -> float:
    """Root mean squared error, in the units of the series."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(((a - f) ** 2).mean()))


def smape(actual, forecast) -> float:
    """Symmetric mean absolute percentage error, in percent (0..200).

    ``100 * mean(2 |a - f| / (|a| + |f|))``, where a term with ``a = f = 0`` counts as 0 (a
    perfect forecast of no demand), so the metric is defined for intermittent series.
    """
    a, f = _pair(actual, forecast)
    den = np.abs(a) + np.abs(f)
    terms = np.divide(2.0 * np.abs(a - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * terms.mean())
