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
