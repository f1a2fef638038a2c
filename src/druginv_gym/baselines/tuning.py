"""Tuning rule parameters by simulation on training seeds (never on evaluation seeds).

Training episodes use seeds ``TRAIN_SEED_BASE + k``; evaluation in this project uses small
seeds (0, 1, ...) and the benchmarks' held-out seeds, so the two never meet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from druginv_gym.baselines.rules import SS, BaseStock
from druginv_gym.evaluation import evaluate
from druginv_gym.policies import OrderPolicy
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
    for params in tqdm(grid, desc="tuning", disable=None if progress is None else not progress):
        df = evaluate(env, make_policy(env, **params), n_episodes, seed)
        rows.append(
            {**params, "mean_cost": df.total_cost.mean(), "shortage_rate": df.shortage_rate.mean()}
        )
    table = pd.DataFrame(rows).sort_values("mean_cost", kind="stable").reset_index(drop=True)
    best = {k: table.iloc[0][k] for k in grid[0]}
    return make_policy(env, **{k: float(v) for k, v in best.items()}), table


def tune_base_stock(
    env: gym.Env,
    levels: Sequence[float] = tuple(np.round(np.arange(0.5, 4.01, 0.25), 2)),
    n_episodes: int = 8,
    seed: int = TRAIN_SEED_BASE,
    progress: bool | None = None,
    **fixed: Any,
) -> tuple[BaseStock, pd.DataFrame]:
    """Best :class:`BaseStock` ``level`` on training seeds; ``fixed`` are the other
    arguments of every candidate (e.g. ``forecaster``)."""

    def make(env: gym.Env, level: float) -> BaseStock:
        return BaseStock(env, level, **fixed)

    return grid_search(env, make, ({"level": float(v)} for v in levels), n_episodes, seed, progress)


def tune_ss(
    env: gym.Env,
    s_levels: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
    S_levels: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
    n_episodes: int = 8,
    seed: int = TRAIN_SEED_BASE,
    progress: bool | None = None,
) -> tuple[SS, pd.DataFrame]:
    """Best :class:`SS` ``(s_level, S_level)`` with ``s_level <= S_level`` on training seeds."""
    grid = [
        {"s_level": float(s), "S_level": float(S)} for s in s_levels for S in S_levels if s <= S
    ]
    return grid_search(env, SS, grid, n_episodes, seed, progress)
