"""Value checks shared by the scenario config and the exogenous traces.

They live here, below both :mod:`druginv_gym.config` and :mod:`druginv_gym.exogenous`, so that
the config can import the processes and a trace can name a bad value with the config's own
message without either module importing the other (no import cycle, not even a lazy one).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, NoReturn

import numpy as np

__all__ = ["check_array", "check_fields", "check_method_takes", "fail", "plain"]


def plain(value: Any) -> Any:
    """Numpy scalars as Python scalars, so messages read ``-0.5``, not ``np.float64(-0.5)``."""
    return value.item() if isinstance(value, np.generic) else value


def fail(name: str, index: Any, value: Any, why: str) -> NoReturn:
    """Raise ``ValueError("name[index] = value why")``; ``index`` may be ``None`` or a tuple."""
    if isinstance(index, tuple):
        index = ", ".join(str(i) for i in index)
    where = name if index is None else f"{name}[{index}]"
    raise ValueError(f"{where} = {plain(value)!r} {why}")


def check_array(name: str, arr: np.ndarray, *, positive: bool = False) -> None:
    """Raise ``ValueError`` naming the first non-finite or negative entry of ``arr``.

    With ``positive=True`` zero is refused too. The entry is named by its index (``name[3]``,
    or ``name[2, 0]`` for a 2-D array) and its value.
    """
    bad = ~np.isfinite(arr)
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        fail(name, i[0] if len(i) == 1 else i, arr[i], "is not finite")
    neg = arr <= 0 if positive else arr < 0
    if neg.any():
        i = tuple(int(k) for k in np.argwhere(neg)[0])
        fail(name, i[0] if len(i) == 1 else i, arr[i], "must be > 0" if positive else "is negative")


def check_method_takes(cls: type, method: str, n_args: int, want: str) -> None:
    """``TypeError("Cls.method(sig) must take want")`` unless ``cls.method`` can be called with
    ``n_args`` arguments after ``self``; nothing to check for a method without a readable
    signature (a builtin). What the registries of processes and forecasters check."""
    fn = getattr(cls, method)
    try:
        sig = inspect.signature(fn)
    except ValueError:
        return
    try:
        sig.bind(*[None] * (1 + n_args))
    except TypeError:
        raise TypeError(f"{cls.__name__}.{method}{sig} must take {want}") from None


def check_fields(cls: type, data: Any, what: str) -> None:
    """``ValueError`` unless ``data`` is a dict whose keys are fields of the dataclass ``cls``
    (the JSON form of ``what``, named in the messages)."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a dict, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what} fields: {unknown}")
