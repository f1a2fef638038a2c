"""The forecaster protocol and the input checks every forecaster shares.

A forecaster predicts demand (units/slot, >= 0) of several series at once::

    forecaster.fit(series)                  # (n_series, length) training data; returns self
    forecaster.predict(history, horizon)    # (n_series, length) -> (n_series, horizon)

``predict`` uses only the ``history`` it is given (the past), never anything else, so a
wrapper that feeds it the demand observed so far cannot leak the future. Forecasts are clipped
at 0: demand cannot be negative.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from druginv_gym._checks import check_method_takes
from druginv_gym._table import NameTable

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "FORECASTERS",
    "Forecaster",
    "check_history",
    "check_horizon",
    "check_series",
    "register_forecaster",
    "unregister_forecaster",
]

_TABLE: NameTable[type] = NameTable("forecaster")

#: Name -> forecaster class, read-only: the names :func:`~druginv_gym.forecasting.make_forecaster`,
#: ``gym.make(..., forecaster=name)`` and ``druginv forecast`` accept. Change it with
#: :func:`register_forecaster` and :func:`unregister_forecaster`.
FORECASTERS: Mapping[str, type] = _TABLE.view

#: Checkpoint suffixes: a name ending so would be read as a path by ``make_forecaster``.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".json")

_C = TypeVar("_C", bound=type)


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


def _check_forecaster_class(name: str, cls: Any) -> None:
    """``TypeError`` naming what ``cls`` lacks of the :class:`Forecaster` protocol."""
    if not isinstance(cls, type):
        raise TypeError(f"register_forecaster({name!r}, {cls!r}): {cls!r} is not a class")
    missing = [m for m in ("fit", "predict") if not callable(getattr(cls, m, None))]
    if missing:
        raise TypeError(
            f"{cls.__name__} has no {' or '.join(f'{m}()' for m in missing)}: a forecaster "
            "needs fit(series), predict(history, horizon) and min_history"
        )
    check_method_takes(cls, "fit", 1, "(series)")
    check_method_takes(cls, "predict", 2, "(history, horizon)")


def register_forecaster(
    name: str, cls: _C | None = None, *, overwrite: bool = False
) -> _C | Callable[[_C], _C]:
    """Make the forecaster class ``cls`` available by ``name``.

    ``register_forecaster("drift", Drift)`` or, as a class decorator,
    ``@register_forecaster("drift")``; returns the class. After it,
    ``make_forecaster("drift", **kwargs)`` builds ``Drift(**kwargs)``, and
    ``gym.make("DrugRefill-v0", forecaster="drift")`` and ``druginv forecast drift`` use it.
    ``make_forecaster`` checks that the instance has ``min_history`` (an instance attribute
    is fine, so it is not required of the class).

    Raises:
        TypeError: ``cls`` is not a class with ``fit(series)`` and ``predict(history,
            horizon)``.
        ValueError: ``name`` is not a non-empty string, looks like a checkpoint path, is
            taken (unless ``overwrite``) or is built in.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"forecaster name = {name!r} must be a non-empty string")
    if Path(name).suffix in CHECKPOINT_SUFFIXES or "/" in name or "\\" in name:
        raise ValueError(f"forecaster name = {name!r} would be read as a checkpoint path")

    def add(klass: _C) -> _C:
        _check_forecaster_class(name, klass)
        return _TABLE.add(name, klass, overwrite=overwrite)

    return add if cls is None else add(cls)


def unregister_forecaster(name: str) -> type:
    """Remove ``name`` from :data:`FORECASTERS` and return its class (built-ins stay)."""
    return _TABLE.remove(name)


def _seal_built_ins() -> None:
    """Mark every name registered so far as built in (``druginv_gym.forecasting`` calls it
    once its own forecasters are registered: their names must keep their meaning)."""
    _TABLE.seal()
