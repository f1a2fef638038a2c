"""What a supply model costs per step, and that the paper's step did not slow down.

Times, in interleaved rounds of one run, random-action steps per second of ``DrugRefill-v0``
(a single env, and the native vector env at ``--num-envs``) on

* ``paper``: scenario ``paper`` (no supply model), the code of this checkout;
* ``paper@REV``: the same with the code of git revision ``--before`` (default: the commit
  before the supply model), from a temporary worktree: the "no slower than before" check;
* ``paper/numpy``: ``paper`` on the numpy backend (``DRUGINV_BACKEND=numpy``);
* ``off``: ``paper`` with ``SupplyModel()`` (every mechanism off: the same episodes, played by
  the supply model's code);
* ``shortage``: scenario ``shortage`` (lead times, outages, recalls, the alternative source),
  on the compiled backend (its flow kernel and observation kernel);
* ``shortage/numpy``: ``shortage`` on the numpy backend, the speed-up of the compiled path.

Every case runs in its own process (``python -c``), one round after another, so each round
sees the same machine load; a round's ratio to ``paper`` is taken inside the round. BLAS is
held to one thread (threadpoolctl). Prints and writes ``supply_step.csv`` (every round) and
``supply_step.md`` (min/median/max of steps/s and of the ratio) to ``--out``.

Usage::

    python benchmarks/supply_step.py                  # 70 drugs, 5 rounds (about 2 minutes)
    python benchmarks/supply_step.py --quick          # seconds: checks that it runs
    python benchmarks/supply_step.py --before 0195989 --rounds 7 --out results/supply_step
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
from _common import machine, write_atomic, write_csv_atomic

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the supply model.
BEFORE = "a0647b0"

#: The timing each case runs in its own interpreter (only public API, so older code runs it).
WORKER = r"""
import json, sys, time
import numpy as np, gymnasium as gym
from threadpoolctl import threadpool_limits
import druginv_gym
case, n, horizon, steps, num_envs = sys.argv[1], *map(int, sys.argv[2:6])
kw = {"scenario": "shortage" if case == "shortage" else "paper", "n_drugs": n, "horizon": horizon}
if case == "off":
    from druginv_gym.scenarios import make_scenario
    from druginv_gym.supply import SupplyModel
    kw = {"config": make_scenario("paper", n_drugs=n, horizon=horizon, supply=SupplyModel())}
out = {}
with threadpool_limits(1, user_api="blas"):
    for label, env in (("single", gym.make("DrugRefill-v0", **kw)),
                       ("vector", gym.make_vec("DrugRefill-v0", num_envs=num_envs,
                                               vectorization_mode="vector_entry_point", **kw))):
        rng = np.random.default_rng(0)
        shape = env.action_space.shape
        actions = rng.random((steps, *shape)).astype(np.float32)
        for warm in (True, False):
            env.reset(seed=0)
            start = time.perf_counter()
            for a in actions[: steps // 10 if warm else steps]:
                o = env.step(a)
                if label == "single" and (o[2] or o[3]):
                    env.reset()
            seconds = time.perf_counter() - start
        out[label] = steps * (num_envs if label == "vector" else 1) / seconds
print(json.dumps(out))
"""


def _run(case: str, src: Path, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    case, _, backend = case.partition("/")
    if backend:
        env["DRUGINV_BACKEND"] = backend
    cmd = [sys.executable, "-c", WORKER, case, str(args.n_drugs), str(args.horizon),
           str(args.steps), str(args.num_envs)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{case} ({src}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/supply_step", help="output folder")
    ap.add_argument("--n-drugs", type=int, default=70)
    ap.add_argument("--horizon", type=int, default=30)
    ap.add_argument("--steps", type=int, default=3000, help="timed steps per case and round")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", default=BEFORE, help="git revision of the 'before' code")
    ap.add_argument("--quick", action="store_true", help="5 drugs, 200 steps, 2 rounds")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_drugs, args.steps, args.rounds, args.num_envs = 5, 200, 2, 4
    out = Path(args.out)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                        args.before], check=True, capture_output=True)  # fmt: skip
        try:
            cases = {
                "paper": ROOT / "src",
                f"paper@{args.before}": tree / "src",
                "paper/numpy": ROOT / "src",
                "off": ROOT / "src",
                "shortage": ROOT / "src",
                "shortage/numpy": ROOT / "src",
            }
            for case, src in cases.items():  # warm-up: numba's compile caches
                _run(case.split("@")[0], src, argparse.Namespace(**{**vars(args), "steps": 50}))
            for k in range(args.rounds):
                for case, src in cases.items():
                    speed = _run(case.split("@")[0], src, args)
                    rows += [{"round": k, "case": case, "env": e, "steps_per_s": v}
                             for e, v in speed.items()]  # fmt: skip
                print(f"round {k + 1}/{args.rounds} done", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)  # fmt: skip
    df = pd.DataFrame(rows)
    base = df[df.case == "paper"].set_index(["round", "env"]).steps_per_s
    df["ratio_to_paper"] = (
        df.steps_per_s.to_numpy() / base.loc[list(zip(df["round"], df.env, strict=True))].to_numpy()
    )
    write_csv_atomic(df, out / "supply_step.csv")
    lines = [
        f"# Step speed with and without a supply model ({args.n_drugs} drugs, "
        f"{args.horizon} slots)",
        "",
        f"Machine: {machine()}. {args.rounds} interleaved rounds of {args.steps} steps per case "
        f"(vector env: {args.num_envs} envs). Command: `python benchmarks/supply_step.py "
        f"--rounds {args.rounds} --steps {args.steps} --before {args.before}`.",
        "",
        "| case | env | steps/s min | median | max | ratio to paper min | median | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (case, env), g in df.groupby(["case", "env"], sort=False):
        s, r = g.steps_per_s.to_numpy(), g.ratio_to_paper.to_numpy()
        lines.append(
            f"| {case} | {env} | {s.min():,.0f} | {np.median(s):,.0f} | {s.max():,.0f} | "
            f"{r.min():.3f} | {np.median(r):.3f} | {r.max():.3f} |"
        )
    write_atomic(out / "supply_step.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
