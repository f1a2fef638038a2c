"""A/B throughput of two versions of the library, side by side in one run.

Checks out ``--base`` (any git revision) into a temporary worktree and times the same workloads
with it and with the working tree, in interleaved rounds (A, B, B, A, ...: each round is one
fresh process per version, so neither version always runs first or on a warmer machine). Each
process plays whole episodes with pre-sampled random actions after a warm-up episode (which
also compiles the numba kernels, from their disk cache after the first round), with numpy's
BLAS limited to one thread, in ``--blocks`` blocks of whole episodes lasting at least
``--min-seconds`` each; a process reports its least disturbed block. The ratio new / base is
taken per round, and every figure is min/median/max over rounds.

Workloads: ``gym.make`` of each id (the default wrapper stack), the native vector env of each
id at ``--num-envs``, at ``--n-drugs`` drugs and 30 slots, on the default backend.

Usage::

    python benchmarks/ab.py --base HEAD~3                   # against three commits back
    python benchmarks/ab.py --base main --rounds 7 --out results/ab
    python benchmarks/ab.py --quick                         # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomic

ROOT = Path(__file__).resolve().parents[1]
IDS = ("DrugRefill-v0", "DrugRefillDiscrete-v0", "DrugRefillSequential-v0")

# Runs in a fresh interpreter with the version under test first on sys.path; prints one JSON
# object {workload: drug-steps per second}.
_WORKER = r"""
import json, sys, time
from threadpoolctl import threadpool_limits
import gymnasium as gym, numpy as np
import druginv_gym

n_drugs, num_envs, blocks = (int(v) for v in sys.argv[1:4])
min_seconds = float(sys.argv[4])
ids = sys.argv[5:]

def episodes(env, actions, count, vector):
    for _ in range(count):
        for a in actions:
            env.step(a)
        if vector:
            env.step(actions[0])  # the autoreset step
        else:
            env.reset()

def play(env, vector):
    env.reset(seed=0)
    env.action_space.seed(0)
    steps = env.unwrapped._core.steps_per_episode
    actions = [env.action_space.sample() for _ in range(steps)]
    episodes(env, actions, 1, vector)  # warm-up (compiles the kernels)
    count, seconds = 1, 0.0
    while True:  # episodes per block: enough for min_seconds
        start = time.perf_counter()
        episodes(env, actions, count, vector)
        seconds = time.perf_counter() - start
        if seconds >= min_seconds:
            break
        count *= 2
    best = seconds
    for _ in range(blocks - 1):  # the least disturbed block
        start = time.perf_counter()
        episodes(env, actions, count, vector)
        best = min(best, time.perf_counter() - start)
    slots = count * env.unwrapped.config.horizon * (num_envs if vector else 1)
    return slots * n_drugs / best

out = {}
with threadpool_limits(1):
    for env_id in ids:
        out[f"single {env_id}"] = play(gym.make(env_id, n_drugs=n_drugs), False)
        vec = gym.make_vec(env_id, num_envs=num_envs, n_drugs=n_drugs)
        out[f"vector-{num_envs} {env_id}"] = play(vec, True)
        vec.close()
print(json.dumps(out))
"""


def _run(src: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{src / 'src'}{os.pathsep}{src / 'agents'}"}
    cmd = [sys.executable, "-c", _WORKER, str(args.n_drugs), str(args.num_envs)]
    cmd += [str(args.blocks), str(args.min_seconds), *args.ids]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{src}: the worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=None, help="git revision to compare against")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--blocks", type=int, default=15, help="timed blocks per workload and round")
    p.add_argument(
        "--min-seconds", type=float, default=0.05, help="a block plays whole episodes this long"
    )
    p.add_argument("--n-drugs", type=int, default=70)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--ids", nargs="+", default=list(IDS))
    p.add_argument("--out", type=Path, default=Path("results/ab"))
    p.add_argument(
        "--quick", action="store_true", help="1 round at 5 drugs, 4 envs, box id (base: HEAD)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.base = args.base or "HEAD"
        args.rounds, args.blocks, args.min_seconds = 1, 1, 0.02
        args.n_drugs, args.num_envs, args.ids = 5, 4, ["DrugRefill-v0"]
    if args.base is None:
        p.error("--base is required (a git revision), unless --quick")
    if args.rounds < 1 or args.blocks < 1 or not args.min_seconds > 0:
        p.error("--rounds and --blocks must be >= 1, --min-seconds > 0")
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
        capture_output=True,
        text=True,
        check=False,
    )
    if rev.returncode != 0:
        p.error(f"--base {args.base!r}: not a git revision ({rev.stderr.strip()})")
    base_rev = rev.stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="druginv-ab-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), base_rev],
            check=True,
        )
        try:
            for r in range(args.rounds):
                order = [("base", base), ("new", ROOT)]
                if r % 2:
                    order.reverse()
                got = {name: _run(src, args) for name, src in order}
                for workload, new in got["new"].items():
                    old = got["base"][workload]
                    rows.append(
                        {
                            "round": r,
                            "workload": workload,
                            "base": old,
                            "new": new,
                            "ratio": new / old,
                        }
                    )
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )
    table = pd.DataFrame(rows)
    write_csv_atomic(table, args.out / "ab.csv")
    stats = table.groupby("workload", sort=False).agg(
        base_median=("base", "median"),
        new_median=("new", "median"),
        ratio_min=("ratio", "min"),
        ratio_median=("ratio", "median"),
        ratio_max=("ratio", "max"),
    )
    print(f"\n{machine()}; base {base_rev}, {args.rounds} rounds, drug-steps/s (median):")
    for workload, s in stats.iterrows():
        print(
            f"  {workload:<40} base {s.base_median:>12,.0f}  new {s.new_median:>12,.0f}  "
            f"new/base {s.ratio_median:.3f} ({s.ratio_min:.3f}-{s.ratio_max:.3f})"
        )
    overall = np.median(table.ratio)
    print(f"  median ratio over every workload and round: {overall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
