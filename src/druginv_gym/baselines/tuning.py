"""Tuning rule parameters by simulation on training seeds (never on evaluation seeds).

Training episodes use seeds ``TRAIN_SEED_BASE + k``; evaluation in this project uses small
seeds (0, 1, ...) and the benchmarks' held-out seeds, so the two never meet.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from druginv_gym.baselines.rules import SS, BaseStock
from druginv_gym.evaluation import evaluate
from druginv_gym.policies import OrderPolicy
from druginv_gym.progress import progress_bar
from druginv_gym.seeds import TRAIN_SEED_BASE

__all__ = ["TRAIN_SEED_BASE", "grid_search", "tune_base_stock", "tune_ss"]


def grid_search(
    env: gym.Env,
    make_policy: Callable[..., OrderPolicy],
    grid: Iterable[dict[str, Any]],
    n_episodes: int = 8,
    seed: int = TRAIN_SEED_BASE,
    progress: bool | None = None,
) -> tuple[OrderPolicy, pd.DataFrame]:
    """Evaluate ``make_policy(env, **params)`` for each ``params`` in ``grid`` on training
    episodes and return the one with the lowest mean total cost, plus the table of all.

    Every candidate meets the same ``n_episodes`` traces (seeds ``seed .. seed + n - 1``).
    """
    grid = list(grid)
    if not grid:
        raise ValueError("grid is empty: nothing to tune")
    rows = []
    for params in progress_bar(grid, desc="tuning", unit="candidates", enabled=progress):
        df = evaluate(env, make_policy(env, **params), n_episodes, seed)
        rows.append(
            {**params, "mean_cost": df.total_cost.mean(), "shortage_rate": df.shortage_rate.mean()}
        )
    table = pd.DataFrame(rows).sort_values("mean_cost", kind="stable").reset_index(drop=True)
    best = {k: table.iloc[0][k] for k in grid[0]}
    return make_policy(env, **{k: float(v) for k, v in best.items()}), table


#: A grid whose best value is its largest is extended by this many values at its last step,
#: at most :data:`MAX_EXTENSIONS` times: a scenario that needs more stock than the default grid
#: holds (``shortage``'s outages) is not tuned to the grid's edge.
EXTEND_BY = 4
MAX_EXTENSIONS = 10


def _beyond(values: Sequence[float]) -> list[float]:
    """The :data:`EXTEND_BY` values after the largest of ``values``, at its last step."""
    v = sorted(float(x) for x in values)
    step = v[-1] - v[-2] if len(v) > 1 else max(abs(v[-1]), 1.0)
    return [round(v[-1] + k * step, 10) for k in range(1, EXTEND_BY + 1)]


def _search_extending(
    env: gym.Env,
    make: Callable[..., OrderPolicy],
    axes: dict[str, list[float]],
    allowed: Callable[[dict[str, float]], bool],
    n_episodes: int,
    seed: int,
    progress: bool | None,
    extend: bool,
) -> tuple[OrderPolicy, pd.DataFrame]:
    """:func:`grid_search` over the product of ``axes`` (the points ``allowed`` keeps); with
    ``extend``, each axis whose best value is its largest grows by :func:`_beyond` and only the
    new points are played, until the best is inside every axis (or after
    :data:`MAX_EXTENSIONS` rounds). Returns the best policy and the table of every point."""
    names = list(axes)
    done: set[tuple[float, ...]] = set()
    tables = []
    for _ in range(MAX_EXTENSIONS + 1):
        points = [
            p
            for p in (
                dict(zip(names, map(float, combo), strict=True))
                for combo in itertools.product(*(axes[k] for k in names))
            )
            if allowed(p) and tuple(p.values()) not in done
        ]
        if not points:
            break
        done.update(tuple(p.values()) for p in points)
        tables.append(grid_search(env, make, points, n_episodes, seed, progress)[1])
        table = pd.concat(tables).sort_values("mean_cost", kind="stable").reset_index(drop=True)
        best = {k: float(table.iloc[0][k]) for k in names}
        edges = [k for k in names if best[k] >= max(axes[k])]
        if not extend or not edges:
            break
        for k in edges:
            axes[k] = axes[k] + _beyond(axes[k])
    return make(env, **best), table


def tune_base_stock(
    env: gym.Env,
    levels: Sequence[float] = tuple(np.round(np.arange(0.5, 4.01, 0.25), 2)),
    n_episodes: int = 8,
    seed: int = TRAIN_SEED_BASE,
    progress: bool | None = None,
    extend: bool = True,
    **fixed: Any,
) -> tuple[BaseStock, pd.DataFrame]:
    """Best :class:`BaseStock` ``level`` on training seeds; ``fixed`` are the other
    arguments of every candidate (e.g. ``forecaster``). ``extend``: when the best level is
    the largest, try :data:`EXTEND_BY` more at the same step (at most :data:`MAX_EXTENSIONS`
    times)."""

    def make(env: gym.Env, level: float) -> BaseStock:
        return BaseStock(env, level, **fixed)

    axes = {"level": [float(v) for v in levels]}
    return _search_extending(env, make, axes, lambda p: True, n_episodes, seed, progress, extend)  # type: ignore[return-value]


def tune_ss(
    env: gym.Env,
    s_levels: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
    S_levels: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
    n_episodes: int = 8,
    seed: int = TRAIN_SEED_BASE,
    progress: bool | None = None,
    extend: bool = True,
) -> tuple[SS, pd.DataFrame]:
    """Best :class:`SS` ``(s_level, S_level)`` with ``s_level <= S_level`` on training seeds;
    ``extend`` as :func:`tune_base_stock`, for each of the two."""
    axes = {"s_level": [float(v) for v in s_levels], "S_level": [float(v) for v in S_levels]}
    return _search_extending(
        env, SS, axes, lambda p: p["s_level"] <= p["S_level"], n_episodes, seed, progress, extend
    )  # type: ignore[return-value]
