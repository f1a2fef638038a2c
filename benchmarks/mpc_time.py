"""MPC's decision time per slot on a large formulary.

    python benchmarks/mpc_time.py --n-drugs 2000 --horizon 52 --window 8 --slots 8
    python benchmarks/mpc_time.py --quick --out /tmp/mpc_time    # seconds: checks that it runs

Plays the first ``--slots`` slots of ``DrugRefill-v0`` (seed 0) with
``druginv_gym.baselines.MPC(env, window=--window, solver=--solver)`` and times each
``act`` call (forecast, building the QP, solving it, decoding the order), one BLAS thread.
Slot 0 is reported apart (its first call builds what later calls reuse); min/median/max are
over the others. Writes ``mpc_time.csv`` (one row per slot) to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym.baselines import MPC

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomic


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-drugs", type=int, default=2000)
    p.add_argument("--horizon", type=int, default=52)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--solver", choices=["clarabel", "ipopt"], default="clarabel")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if min(args.n_drugs, args.horizon, args.window, args.slots) < 1:
        p.error("--n-drugs, --horizon, --window and --slots must be >= 1")
    if args.quick:
        args.n_drugs, args.horizon, args.window, args.slots = 5, 6, 3, 3
    args.slots = min(args.slots, args.horizon)
    print(machine(), flush=True)
    env = gym.make("DrugRefill-v0", n_drugs=args.n_drugs, horizon=args.horizon)
    policy = MPC(env, window=args.window, solver=args.solver)
    obs, _ = env.reset(seed=0)
    policy.reset()
    rows = []
    with threadpool_limits(1):
        for t in range(args.slots):
            start = time.perf_counter()
            action = policy.act(obs)
            seconds = time.perf_counter() - start
            obs, *_ = env.step(action)
            rows.append({"slot": t, "seconds": seconds, "status": policy.last_status})
            print(f"slot {t}: {seconds:.3f} s ({policy.last_status})", flush=True)
    env.close()
    df = pd.DataFrame(rows)
    later = df.seconds.iloc[1:] if len(df) > 1 else df.seconds
    print(
        f"MPC {args.n_drugs} drugs x {args.horizon} slots, window {args.window}, {args.solver}: "
        f"{later.min():.3f} / {np.median(later):.3f} / {later.max():.3f} s per slot "
        f"(min / median / max of slots 1..{args.slots - 1}; slot 0 {df.seconds.iloc[0]:.3f} s), "
        f"{policy.failures} failed solves"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(df, args.out / "mpc_time.csv")
        print(f"wrote mpc_time.csv to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
