"""The forecaster protocol and the input checks every forecaster shares.

A forecaster predicts demand (units/slot, >= 0) of several series at once::

    forecaster.fit(series)                  # (n_series, length) training data; returns self
    forecaster.predict(history, horizon)    # (n_series, length) -> (n_series, horizon)

``predict`` uses only the ``history`` it is given (the past), never anything else, so a
wrapper that feeds it the demand observed so far cannot leak the future. Forecasts are clipped
at 0: demand cannot be negative.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Forecaster", "check_history", "check_horizon", "check_series"]


@runtime_checkable
class Forecaster(Protocol):
    """Anything with ``fit``, ``predict`` and ``min_history``."""

    min_history: int

    def fit(self, series: np.ndarray) -> Any:  # pragma: no cover - protocol
        ...

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:  # pragma: no cover
        ...


def check_series(values: Any, name: str, min_length: int = 1) -> np.ndarray:
    """``values`` as a finite, non-negative ``(n_series, length)`` float64 array.

    A 1-D array is one series. Raises ``ValueError`` naming ``name`` and the problem.
    """
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a numeric array") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} has shape {arr.shape}; expected (n_series, length)")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} has no series")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, t = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{name}[{i}, {t}] = {arr[i, t].item()!r} is not finite")
    neg = arr < 0
    if neg.any():
        i, t = (int(k) for k in np.argwhere(neg)[0])
        raise ValueError(f"{name}[{i}, {t}] = {arr[i, t].item()!r} is negative (demand)")
    if arr.shape[1] < min_length:
        raise ValueError(f"{name} has length {arr.shape[1]}; this forecaster needs >= {min_length}")
    return arr


def check_history(history: Any, min_history: int) -> np.ndarray:
    return check_series(history, "history", min_history)


def check_horizon(horizon: Any) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon = {horizon!r} must be an integer >= 1")
    return int(horizon)
