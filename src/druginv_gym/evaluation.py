"""Scoring policies: ``evaluate`` (one row per episode) and ``compare`` (mean and 95 % interval).

Metric definitions (docs/model.md and DESIGN): over the drug-slots of an episode,

* ``total_cost``: the refilling cost, eq. 3 summed over drugs and slots plus the shortage cost
  (USD); its terms ``purchase_cost``, ``storage_cost``, ``penalty_cost``, ``shortage_cost``;
* ``shortage_rate``: share of drug-slots whose end-of-slot stock is below ``C_lo`` (the
  paper's "shortage level");
* ``stockout_rate``: share of drug-slots with unmet demand;
* ``unexpected_rate``: share of drug-slots whose end-of-slot stock is above ``C_hi``;
* ``fill_rate``: served / demand (1 when there was no demand);
* ``expired_units`` and ``waste_rate`` (expired / accepted units, 0 when nothing was accepted);
* ``budget_used``: spend / total budget (0 for a zero budget).

Episode ``k`` of ``evaluate(env, policy, n_episodes, seed)`` is played on the trace of
``env.reset(seed=seed + k)``, so every policy given the same seed meets the same weeks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from druginv_gym.policies import Policy

__all__ = ["METRICS", "compare", "evaluate", "summarize"]

#: Per-episode metric columns of :func:`evaluate`, in table order.
METRICS = (
    "total_cost",
    "purchase_cost",
    "storage_cost",
    "penalty_cost",
    "shortage_cost",
    "shortage_rate",
    "stockout_rate",
    "unexpected_rate",
    "fill_rate",
    "expired_units",
    "waste_rate",
    "budget_used",
)

# Stock within this many units of a band edge counts as on the edge (float noise).
_EDGE = 1e-9


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} = {value!r} must be an integer >= 1")
    return int(value)


def _progress(total: int, desc: str, enabled: bool | None) -> tqdm:
    """A progress bar; ``enabled=None`` shows it only on a terminal."""
    return tqdm(
        total=total, desc=desc, disable=None if enabled is None else not enabled, leave=False
    )


def evaluate(
    env: gym.Env,
    policy: Policy,
    n_episodes: int = 10,
    seed: int = 0,
    *,
    return_slots: bool = False,
    progress: bool | None = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Play ``n_episodes`` of ``policy`` in ``env`` and score each.

    Args:
        env: a single DR2O env of any id (wrappers allowed).
        policy: follows the protocol (``reset()`` after ``env.reset()``, ``act(obs)``).
        n_episodes: episodes to play (>= 1).
        seed: episode ``k`` uses ``env.reset(seed=seed + k)``.
        return_slots: also return a per-slot table (episode, t, cost terms, rates).
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        One row per episode: ``episode``, ``seed``, the :data:`METRICS`, ``return`` (sum of
        rewards), ``slots``, ``wall_s``. With ``return_slots``, ``(episodes, slots)``.
    """
    n_episodes = _check_count("n_episodes", n_episodes)
    if not hasattr(policy, "act") or not hasattr(policy, "reset"):
        raise ValueError(f"policy {policy!r} lacks reset() and act(obs)")
    cfg = env.unwrapped.config
    rows, slot_rows = [], []
    bar = _progress(n_episodes, type(policy).__name__, progress)
    for k in range(n_episodes):
        start = time.perf_counter()
        obs, info = env.reset(seed=int(seed) + k)
        policy.reset()
        acc = {key: 0.0 for key in ("purchase", "storage", "penalty", "shortage", "total")}
        n_short = n_out = n_over = 0
        served = demand = expired = accepted = spend = ret = 0.0
        slots = 0
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            ret += reward
            done = terminated or truncated
            if not info.get("slot_done", True):
                continue
            stock = info["stock"]
            below = stock < cfg.band_lo - _EDGE
            above = stock > cfg.band_hi + _EDGE
            out = info["unmet"] > _EDGE
            n_short += int(below.sum())
            n_over += int(above.sum())
            n_out += int(out.sum())
            served += float(info["served"].sum())
            demand += float(info["demand"].sum())
            expired += float(info["expired"].sum())
            accepted += float(info["accepted"].sum())
            spend += float(info["spend"])
            for key in acc:
                acc[key] += info["costs"][key]
            if return_slots:
                slot_rows.append(
                    {
                        "episode": k,
                        "t": slots,
                        **{f"{key}_cost": info["costs"][key] for key in acc},
                        "shortage_rate": below.mean(),
                        "stockout_rate": out.mean(),
                        "unexpected_rate": above.mean(),
                        "stock": float(stock.sum()),
                    }
                )
            slots += 1
        drug_slots = max(slots * cfg.n_drugs, 1)
        rows.append(
            {
                "episode": k,
                "seed": int(seed) + k,
                "total_cost": acc["total"],
                "purchase_cost": acc["purchase"],
                "storage_cost": acc["storage"],
                "penalty_cost": acc["penalty"],
                "shortage_cost": acc["shortage"],
                "shortage_rate": n_short / drug_slots,
                "stockout_rate": n_out / drug_slots,
                "unexpected_rate": n_over / drug_slots,
                "fill_rate": served / demand if demand > 0 else 1.0,
                "expired_units": expired,
                "waste_rate": expired / accepted if accepted > 0 else 0.0,
                "budget_used": spend / cfg.total_budget if cfg.total_budget > 0 else 0.0,
                "return": ret,
                "slots": slots,
                "wall_s": time.perf_counter() - start,
            }
        )
        bar.update(1)
    bar.close()
    episodes = pd.DataFrame(rows)
    if return_slots:
        return episodes, pd.DataFrame(slot_rows)
    return episodes


def summarize(
    episodes: pd.DataFrame, by: str = "policy", metrics: tuple[str, ...] = METRICS
) -> pd.DataFrame:
    """Mean and 95 % t-interval half-width per metric, one row per ``by`` group.

    Columns: ``<metric>`` (mean) and ``<metric>_ci95`` (half-width; 0 for one episode), plus
    ``episodes``.
    """
    out = {}
    for name, group in episodes.groupby(by, sort=False):
        n = len(group)
        row: dict[str, float] = {"episodes": n}
        for m in metrics:
            values = group[m].to_numpy(dtype=np.float64)
            row[m] = float(values.mean())
            if n > 1:
                sem = values.std(ddof=1) / np.sqrt(n)
                row[f"{m}_ci95"] = float(stats.t.ppf(0.975, n - 1) * sem)
            else:
                row[f"{m}_ci95"] = 0.0
        out[name] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = by
    return table


def compare(
    env: gym.Env,
    policies: Mapping[str, Policy | tuple[gym.Env, Policy] | Callable[[gym.Env], Policy]],
    n_episodes: int = 10,
    seed: int = 0,
    *,
    progress: bool | None = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate several policies on the same traces.

    ``policies`` maps a name to a policy for ``env``, a ``(env, policy)`` pair (for a policy
    built on another id of the same scenario), or a factory ``env -> policy``.

    Returns ``(summary, episodes)``: :func:`summarize` of the per-episode table, and that table
    with a ``policy`` column.
    """
    if not policies:
        raise ValueError("policies is empty: nothing to compare")
    frames = []
    for name, item in policies.items():
        run_env = env
        if isinstance(item, tuple):
            run_env, policy = item
        elif isinstance(item, type) or (callable(item) and not hasattr(item, "act")):
            policy = item(env)
        else:
            policy = item
        df = evaluate(run_env, policy, n_episodes, seed, progress=progress)
        df.insert(0, "policy", name)
        frames.append(df)
    episodes = pd.concat(frames, ignore_index=True)
    return summarize(episodes), episodes
