"""Environment throughput: single env, native vector env and SyncVectorEnv, side by side.

Measures, in one process and one run, random-action steps per second of

* ``gym.make("DrugRefill-v0")`` (default wrappers) and its raw ``.unwrapped`` env,
* the native vector env ``gym.make_vec("DrugRefill-v0", num_envs=k)`` for several ``k``,
* a ``SyncVectorEnv`` of single envs at the same ``k`` (the generic alternative),

and reports drug-steps per second (env steps x drugs) and the native/Sync ratio, with
min/median/max over repeats. Actions are pre-sampled so the policy costs nothing.

Usage::

    python benchmarks/perf.py                      # default (about a minute on 2 cores)
    python benchmarks/perf.py --quick              # seconds: checks that it runs
    python benchmarks/perf.py --n-drugs 70 --num-envs 1 64 1024 --repeats 5 --out results/perf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import druginv_gym  # noqa: F401  (registers the ids)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomic


def _time_steps(env, actions, vector: bool) -> float:
    """Seconds to play ``actions`` (resetting at episode ends for single envs)."""
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        out = env.step(a)
        if not vector and (out[2] or out[3]):
            env.reset()
    return time.perf_counter() - start


def measure(kind: str, n_drugs: int, num_envs: int, steps: int, repeats: int) -> dict:
    horizon = 30
    if kind == "single":
        env = gym.make("DrugRefill-v0", n_drugs=n_drugs, horizon=horizon)
    elif kind == "single-unwrapped":
        env = gym.make("DrugRefill-v0", n_drugs=n_drugs, horizon=horizon).unwrapped
    elif kind == "native-vector":
        env = gym.make_vec("DrugRefill-v0", num_envs=num_envs, n_drugs=n_drugs, horizon=horizon)
    elif kind == "sync-vector":
        env = gym.make_vec(
            "DrugRefill-v0",
            num_envs=num_envs,
            vectorization_mode="sync",
            n_drugs=n_drugs,
            horizon=horizon,
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    vector = kind.endswith("vector")
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    _time_steps(env, actions[: max(1, steps // 10)], vector)  # warm-up
    times = [_time_steps(env, actions, vector) for _ in range(repeats)]
    env.close()
    batch = num_envs if vector else 1
    rates = np.array([steps * batch / t for t in times])
    return {
        "kind": kind,
        "n_drugs": n_drugs,
        "num_envs": batch,
        "steps_per_s_min": rates.min(),
        "steps_per_s_median": float(np.median(rates)),
        "steps_per_s_max": rates.max(),
        "drug_steps_per_s_median": float(np.median(rates)) * n_drugs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-drugs", type=int, default=70)
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 16, 256, 1024])
    p.add_argument("--steps", type=int, default=300, help="env steps per timing")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sync-max-envs", type=int, default=64, help="largest k for SyncVectorEnv")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=Path("results/perf"))
    args = p.parse_args(argv)
    if args.n_drugs < 1 or args.steps < 1 or args.repeats < 1 or min(args.num_envs) < 1:
        p.error("--n-drugs, --steps, --repeats and --num-envs must be >= 1")
    if args.quick:
        args.num_envs, args.steps, args.repeats, args.sync_max_envs = [1, 8], 30, 1, 8

    rows = []
    plan = [("single", 1), ("single-unwrapped", 1)]
    for k in args.num_envs:
        plan.append(("native-vector", k))
        if k <= args.sync_max_envs:
            plan.append(("sync-vector", k))
    for i, (kind, k) in enumerate(plan, 1):
        # Fewer steps for large batches keep every cell near the same wall time.
        steps = max(10, args.steps // max(1, k // 64)) if kind.endswith("vector") else args.steps
        row = measure(kind, args.n_drugs, k, steps, args.repeats)
        rows.append(row)
        print(
            f"[{i}/{len(plan)}] {kind:>16} num_envs={k:<5} "
            f"{row['steps_per_s_median']:>12,.0f} env-steps/s "
            f"{row['drug_steps_per_s_median']:>14,.0f} drug-steps/s",
            flush=True,
        )
    df = pd.DataFrame(rows)
    native = df[df.kind == "native-vector"].set_index("num_envs")
    sync = df[df.kind == "sync-vector"].set_index("num_envs")
    common = native.index.intersection(sync.index)
    if len(common):
        print("\nnative / SyncVectorEnv speed-up (same num_envs, same total work):")
        for k in common:
            lo = native.loc[k, "steps_per_s_min"] / sync.loc[k, "steps_per_s_max"]
            med = native.loc[k, "steps_per_s_median"] / sync.loc[k, "steps_per_s_median"]
            hi = native.loc[k, "steps_per_s_max"] / sync.loc[k, "steps_per_s_min"]
            print(f"  num_envs={k:<5} median x{med:.1f}  (worst x{lo:.1f}, best x{hi:.1f})")
    path = args.out / "perf.csv"
    write_csv_atomic(df, path)
    print(f"\nwrote {path}  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
