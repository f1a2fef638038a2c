"""Progress of long runs: a tqdm bar on a terminal, plain log lines anywhere else.

A tqdm bar made with ``disable=None`` prints nothing when its stream (stderr) is not a
terminal, so a benchmark or a training run in a batch job, under ``nohup`` or piped into
``tee`` said nothing for hours. :func:`progress_bar` gives the same bar on a terminal (and in
Jupyter), and elsewhere a :class:`LogProgress` that writes one plain line at most every
``every`` seconds, and one when it is closed::

    benchmark: 12/110 cells (11 %), 34 s elapsed, ~4 min 37 s left
    benchmark: 110/110 cells (100 %), 5 min 12 s elapsed

The interval defaults to 30 s; the environment variable ``DRUGINV_PROGRESS_EVERY`` (seconds,
``0``: a line at every step) changes it, and so does the ``every`` argument.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

__all__ = ["DEFAULT_EVERY", "ENV_EVERY", "LogProgress", "progress_bar", "progress_every"]

#: Seconds between two progress lines when stderr is not a terminal.
DEFAULT_EVERY = 30.0
#: The environment variable that changes :data:`DEFAULT_EVERY`.
ENV_EVERY = "DRUGINV_PROGRESS_EVERY"


def progress_every() -> float:
    """The interval between progress lines: ``$DRUGINV_PROGRESS_EVERY`` seconds, else
    :data:`DEFAULT_EVERY`. ``ValueError`` naming the value when it is not a number >= 0."""
    text = os.environ.get(ENV_EVERY, "").strip()
    if not text:
        return DEFAULT_EVERY
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{ENV_EVERY} = {text!r} must be a number of seconds >= 0")
    return value


def duration(seconds: float) -> str:
    """``34 s``, ``4 min 37 s``, ``12 min``, ``2 h 05 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 600:
        return f"{s // 60} min {s % 60} s"
    if s < 3600:
        return f"{round(seconds / 60)} min"
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60:02d} min"


class LogProgress:
    """A progress report as plain lines, with the parts of tqdm's interface the runs use
    (iterating, ``update``, ``set_postfix``, ``set_postfix_str``, ``close``, ``with``).

    A line is written when an update comes ``every`` seconds or more after the previous line
    (or the start), and by :meth:`close` unless the last line already showed the same count,
    so the last line always shows where the run ended (a run of nothing, ``total=0``, writes
    none).
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "progress",
        unit: str = "steps",
        every: float | None = None,
        file: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        every = progress_every() if every is None else float(every)
        if not (math.isfinite(every) and every >= 0):
            raise ValueError(f"every = {every!r} must be a number of seconds >= 0")
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.every = every
        self.file = file
        self.n = 0
        self.postfix = ""
        self.closed = False
        self.lines = 0  # written so far
        self._shown: int | None = None  # the count the last line showed
        self._clock = clock
        self._start = self._last = clock()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this LogProgress wraps no iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self.every:
            self._write(self.line(now, final=self.total is not None and self.n >= self.total))
            self._last = now

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._shown == self.n or (self.n == 0 and self.total == 0):
            return
        self._write(self.line(self._clock(), final=True))

    def line(self, now: float, final: bool = False) -> str:
        """``<desc>: <n>/<total> <unit> (<pct> %), <elapsed> elapsed, ~<left> left[; postfix]``
        (no estimate at the end, nor before the first step)."""
        elapsed = now - self._start
        if self.total:
            pct = 100 * self.n / self.total
            pct_text = f"{min(round(pct), 99) if self.n < self.total else round(pct)} %"
            text = f"{self.desc}: {self.n:,}/{self.total:,} {self.unit} ({pct_text})"
        else:
            text = f"{self.desc}: {self.n:,} {self.unit}"
        text += f", {duration(elapsed)} elapsed"
        if not final and self.total and 0 < self.n < self.total:
            text += f", ~{duration(elapsed / self.n * (self.total - self.n))} left"
        if self.postfix:
            text += f"; {self.postfix}"
        return text

    def _write(self, line: str) -> None:
        self.lines += 1
        self._shown = self.n
        stream = self.file if self.file is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()


def _in_notebook(bar_class: type) -> bool:
    """Whether ``tqdm.auto`` chose Jupyter's widget bar (which shows with ``disable=None``)."""
    return any(c.__module__ == "tqdm.notebook" for c in bar_class.__mro__)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "steps",
    enabled: bool | None = None,
    every: float | None = None,
    file: IO[str] | None = None,
    leave: bool = True,
) -> Any:
    """The progress report of a long loop.

    ``enabled``: ``None`` (the default) shows tqdm's bar on a terminal or in Jupyter and
    :class:`LogProgress` lines elsewhere; ``True`` always tqdm's bar; ``False`` nothing (a
    disabled tqdm bar). ``file``: the stream (default ``sys.stderr``, as tqdm). ``every``:
    seconds between lines off a terminal (default :func:`progress_every`). ``leave``: whether
    tqdm's bar stays on the terminal when closed (an inner loop's bar does not; the log lines
    always stay).
    """
    from tqdm.auto import tqdm

    stream = file if file is not None else sys.stderr
    bar_kw: dict[str, Any] = {
        "total": total, "desc": desc, "unit": unit, "file": file, "leave": leave,
    }  # fmt: skip
    if enabled is not None:
        return tqdm(iterable, disable=not enabled, **bar_kw)
    if _is_terminal(stream) or _in_notebook(tqdm):
        return tqdm(iterable, disable=None, **bar_kw)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, every=every, file=file)
