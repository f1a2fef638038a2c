"""Helpers shared by the benchmark scripts: atomic writes and environment facts."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

from druginv_gym.io import atomic_write_text


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename (never half-written)."""
    atomic_write_text(path, text)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    write_atomic(path, df.to_csv(index=False))


def machine() -> str:
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"gymnasium {gym.__version__}, {os.cpu_count()} cpus"
    )


def pyplot():
    """matplotlib's pyplot on the headless Agg backend, or ``None`` (with a note) without it."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib not installed (pip install 'druginv-gym[bench]'): no plot")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def paired_change(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Mean relative change ``b / a - 1`` over paired episodes and its 95 % half-width (``nan``
    for a policy of one run only, and for the half-width of one episode)."""
    from scipy import stats

    if len(a) != len(b) or not len(a):
        return float("nan"), float("nan")
    change = (b.to_numpy() / a.to_numpy()) - 1.0
    if len(change) < 2:
        return float(change.mean()), float("nan")
    half = stats.t.ppf(0.975, len(change) - 1) * change.std(ddof=1) / np.sqrt(len(change))
    return float(change.mean()), float(half)


def finish_comparison(out: Path, lines: list[str], runs: dict) -> None:
    """Add each run's notes to the ``comparison.md`` lines, write it atomically, print it."""
    for label, run in runs.items():
        for note in run.notes:
            lines += ["", f"Note ({label}): {note}"]
    write_atomic(out / "comparison.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
