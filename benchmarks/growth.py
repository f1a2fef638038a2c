"""How the native vector env's cost grows: time per slot and memory against drugs and envs.

    python benchmarks/growth.py --out results/growth        # ~5 minutes on 2 cores
    python benchmarks/growth.py --quick --out /tmp/growth    # seconds: checks that it runs

Two curves of ``gym.make_vec("DrugRefill-v0", ...)`` (default backend, ``--info-level``):

* over ``--drugs`` (10..2,000 by default) at ``--envs-at`` envs,
* over ``--envs`` (1..4,096 by default) at ``--drugs-at`` drugs.

At each cell: the wall time of one slot of every env (one ``step`` call; whole episodes of
``--horizon`` slots with their autoreset call, the next traces' draw included, divided by the
slots played; min/median/max over ``--repeats`` timings, random actions drawn beforehand, one
BLAS thread), and the memory per env (``tracemalloc`` peak of creating, resetting and stepping
the vector env, over ``num_envs``).

The slope of each curve is the exponent ``b`` of a least-squares fit ``time ~ x^b`` on log-log
axes, over the cells at or above ``--fit-from`` (below it the fixed cost of a Python call
dominates, so the slope there says little about growth) and over all cells: ``b = 1`` is linear
growth, ``b < 1`` means the fixed costs are still being spread. Writes ``growth.csv`` (the
cells), ``growth_slopes.csv`` and ``growth.png`` (log-log, the fits drawn) to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym.info import INFO_LEVELS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pyplot, write_csv_atomic
from perf import _time_steps, memory_per_env


def cell(n_drugs: int, num_envs: int, args: argparse.Namespace, budget: int) -> dict:
    """One cell of a curve: seconds per slot (min/median/max) and bytes per env."""
    kw = {"n_drugs": n_drugs, "horizon": args.horizon, "info_level": args.info_level}
    env = gym.make_vec("DrugRefill-v0", num_envs=num_envs, **kw)
    env.action_space.seed(0)
    episode = [env.action_space.sample() for _ in range(args.horizon + 1)]  # + the autoreset
    episodes = int(np.clip(budget // (n_drugs * num_envs * args.horizon), 1, 100))
    _time_steps(env, episode, vector=True)  # warm-up (compiles on the first cell)
    times = [_time_steps(env, episode * episodes, vector=True) for _ in range(args.repeats)]
    env.close()
    per_slot = np.array(times) / (episodes * args.horizon)
    return {
        "n_drugs": n_drugs,
        "num_envs": num_envs,
        "info_level": args.info_level,
        "slots_timed": episodes * args.horizon,
        "s_per_slot_min": per_slot.min(),
        "s_per_slot_median": float(np.median(per_slot)),
        "s_per_slot_max": per_slot.max(),
        "drug_steps_per_s_median": n_drugs * num_envs / float(np.median(per_slot)),
        "bytes_per_env": memory_per_env(
            n_drugs, num_envs, horizon=args.horizon, info_level=args.info_level
        ),
    }


def power_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(b, a)`` of the least-squares fit ``log y = log a + b log x`` (nan with fewer than 2
    cells)."""
    if len(x) < 2:
        return float("nan"), float("nan")
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(b), float(np.exp(log_a))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Exponent ``b`` of the least-squares fit ``y ~ a * x^b``."""
    return power_fit(x, y)[0]


def slopes(df: pd.DataFrame, fit_from: dict[str, int]) -> pd.DataFrame:
    rows = []
    for curve, x in (("drugs", "n_drugs"), ("envs", "num_envs")):
        d = df[df.curve == curve].sort_values(x)
        upper = d[d[x] >= fit_from[curve]]
        # memory is per env: over drugs it should grow linearly, over envs stay flat
        for quantity, col in (("time per slot", "s_per_slot_median"), ("memory", "bytes_per_env")):
            rows.append(
                {
                    "curve": f"over {x}",
                    "quantity": quantity,
                    "fit_from": fit_from[curve],
                    "slope_from": slope(upper[x].to_numpy(), upper[col].to_numpy()),
                    "slope_all": slope(d[x].to_numpy(), d[col].to_numpy()),
                }
            )
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, fits: pd.DataFrame, args: argparse.Namespace, path: Path) -> None:
    plt = pyplot()
    if plt is None or df.empty:
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    specs = (
        ("drugs", "n_drugs", f"drugs ({args.envs_at} envs)"),
        ("envs", "num_envs", f"envs ({args.drugs_at} drugs)"),
    )
    for j, (curve, x, label) in enumerate(specs):
        d = df[df.curve == curve].sort_values(x)
        panels = (
            ("s_per_slot", "ms per slot (all envs)", 1e3),
            ("bytes_per_env", "MiB per env", 2**-20),
        )
        for i, (col, ylabel, scale) in enumerate(panels):
            ax = axes[i, j]
            if col == "s_per_slot":
                y = d[f"{col}_median"] * scale
                ax.fill_between(d[x], d[f"{col}_min"] * scale, d[f"{col}_max"] * scale, alpha=0.3)
                quantity = "time per slot"
            else:
                y = d[col] * scale
                quantity = "memory"
            ax.plot(d[x], y, marker="o", label="measured (median)")
            fit = fits[(fits.curve == f"over {x}") & (fits.quantity == quantity)].iloc[0]
            upper = d[d[x] >= fit.fit_from]
            if len(upper) >= 2:
                xs = upper[x].to_numpy(float)
                b, a = power_fit(xs, y[d[x] >= fit.fit_from].to_numpy(float))
                ax.plot(xs, a * xs**b, "--", label=f"fit from {fit.fit_from}: slope {b:.2f}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    fig.suptitle(
        f"DrugRefill-v0 native vector env: cost growth ({args.info_level} info, "
        f"{args.horizon}-slot episodes with resets; min-max band)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--drugs", type=int, nargs="+", default=[10, 30, 70, 200, 500, 1000, 2000])
    p.add_argument("--envs-at", type=int, default=64, help="envs of the drugs curve")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    p.add_argument("--drugs-at", type=int, default=70, help="drugs of the envs curve")
    p.add_argument("--horizon", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--info-level", choices=INFO_LEVELS, default="full")
    p.add_argument("--fit-from-drugs", type=int, default=70)
    p.add_argument("--fit-from-envs", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=Path("results/growth"))
    args = p.parse_args(argv)
    sizes = [*args.drugs, *args.envs, args.envs_at, args.drugs_at, args.horizon, args.repeats]
    if min(sizes) < 1:
        p.error("every size, --horizon and --repeats must be >= 1")
    budget = 20_000_000
    if args.quick:
        args.drugs, args.envs, args.envs_at, args.drugs_at = [5, 20], [1, 8], 4, 5
        args.horizon, args.repeats, budget = 5, 1, 2_000
        args.fit_from_drugs = args.fit_from_envs = 1
    print(machine(), flush=True)
    cells = [("drugs", n, args.envs_at) for n in args.drugs]
    cells += [("envs", args.drugs_at, k) for k in args.envs]
    rows = []
    with threadpool_limits(1):
        for i, (curve, n, k) in enumerate(cells, 1):
            row = {"curve": curve, **cell(n, k, args, budget)}
            rows.append(row)
            print(
                f"[growth {i}/{len(cells)}] {n:>5} drugs x {k:>5} envs: "
                f"{row['s_per_slot_median'] * 1e3:9.3f} ms/slot "
                f"({row['s_per_slot_min'] * 1e3:.3f}-{row['s_per_slot_max'] * 1e3:.3f}), "
                f"{row['drug_steps_per_s_median'] / 1e6:6.2f} M drug-steps/s, "
                f"{row['bytes_per_env'] / 2**10:,.1f} KiB/env",
                flush=True,
            )
    df = pd.DataFrame(rows)
    fits = slopes(df, {"drugs": args.fit_from_drugs, "envs": args.fit_from_envs})
    print(fits.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(df, args.out / "growth.csv")
    write_csv_atomic(fits, args.out / "growth_slopes.csv")
    plot(df, fits, args, args.out / "growth.png")
    print(f"wrote growth.csv, growth_slopes.csv and growth.png to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
