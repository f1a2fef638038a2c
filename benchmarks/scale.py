"""Formulary scale and the summary info: single envs against CartPole, the vector env with and
without the per-drug info, 2,000 drugs.

Measures in one process and one run, each pair of a ratio timed in interleaved rounds (so that a
change of load on the shared machine hits both sides alike), min/median/max over the rounds:

* **Single envs against ``CartPole-v1``** (``gym.make`` of each, default wrappers, random
  actions pre-sampled, resets at episode ends inside the timing): ``DrugRefill-v0`` with the
  full and the summary info, its ``.unwrapped`` env (what the default wrappers cost),
  ``DrugRefillDiscrete-v0`` and ``DrugRefillSequential-v0``; steps/s and the ratio to CartPole
  per round.
* **The native vector env at ``--vector-envs``** (70 drugs by default): full against summary
  info, whole episodes with their autoreset, drug-steps/s, next to the memory floor of the same
  run (a compiled loop that only moves the memory such a step must move, with the full info's
  eight per-drug arrays and with none; ``benchmarks/perf.py``).
* **A formulary of ``--big-drugs`` drugs x ``--big-horizon`` weekly slots**: the single env and
  the native vector env of ``--big-envs`` envs, full and summary, and the memory per env
  (``tracemalloc`` peak of creating, resetting and stepping the vector env).

Writes ``scale.csv`` and ``scale.md`` (the tables) to ``--out``.

Usage::

    python benchmarks/scale.py --out results/scale          # ~10 minutes on 2 cores
    python benchmarks/scale.py --quick --out /tmp/scale      # seconds: checks that it runs
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
from druginv_gym import dynamics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_atomic, write_csv_atomic
from perf import _time_steps, memory_floor, memory_per_env

PEER = "CartPole-v1"


def _stats(rates: list[float]) -> dict[str, float]:
    r = np.asarray(rates)
    return {"min": float(r.min()), "median": float(np.median(r)), "max": float(r.max())}


def interleaved(
    envs: dict[str, tuple], steps: int, repeats: int, vector: bool
) -> dict[str, list[float]]:
    """Steps/s of each env (``name -> (env, drugs per step)``) over ``repeats`` rounds, one
    timing of each per round (round 0 warms up and compiles). Vector timings run whole
    episodes with their autoreset call and count the slots played times the envs."""
    actions, counted = {}, {}
    for name, (env, _) in envs.items():
        env.action_space.seed(0)
        if vector:
            horizon = env.unwrapped.config.horizon
            episodes = max(1, -(-steps // horizon))
            calls = episodes * (horizon + 1)  # NEXT_STEP: one autoreset call per episode
            counted[name] = episodes * horizon * env.num_envs
        else:
            calls = counted[name] = steps
        actions[name] = [env.action_space.sample() for _ in range(calls)]
    rates: dict[str, list[float]] = {name: [] for name in envs}
    for r in range(repeats + 1):
        for name, (env, _) in envs.items():
            seconds = _time_steps(env, actions[name], vector)
            if r:
                rates[name].append(counted[name] / seconds)
    for env, _ in envs.values():
        env.close()
    return rates


def _row(section: str, name: str, rates: list[float], drugs: int, num_envs: int, **more) -> dict:
    s = _stats(rates)
    unit = "env-steps/s" if num_envs == 1 else "slots/s x envs"
    return {
        "section": section,
        "env": name,
        "n_drugs": drugs,
        "num_envs": num_envs,
        "unit": unit,
        "steps_per_s_min": s["min"],
        "steps_per_s_median": s["median"],
        "steps_per_s_max": s["max"],
        "drug_steps_per_s_median": s["median"] * drugs,
        **more,
    }


def single_section(n_drugs: int, horizon: int, steps: int, repeats: int) -> list[dict]:
    kw = dict(n_drugs=n_drugs, horizon=horizon)
    envs = {
        PEER: (gym.make(PEER), 1),
        "DrugRefill-v0": (gym.make("DrugRefill-v0", **kw), n_drugs),
        "DrugRefill-v0 summary": (gym.make("DrugRefill-v0", info_level="summary", **kw), n_drugs),
        "DrugRefill-v0 .unwrapped": (gym.make("DrugRefill-v0", **kw).unwrapped, n_drugs),
        "DrugRefillDiscrete-v0": (gym.make("DrugRefillDiscrete-v0", **kw), n_drugs),
        "DrugRefillSequential-v0": (gym.make("DrugRefillSequential-v0", **kw), 1),
    }
    rates = interleaved(envs, steps, repeats, vector=False)
    peer = np.asarray(rates[PEER])
    rows = []
    for name, (_, drugs) in envs.items():
        ratio = np.asarray(rates[name]) / peer
        spread = {"min": ratio.min(), "median": float(np.median(ratio)), "max": ratio.max()}
        more = {f"vs_cartpole_{k}": v for k, v in spread.items()}
        rows.append(_row("single", name, rates[name], drugs, 1, **more))
    return rows


def _by_level(label: str, make, n_drugs: int) -> dict[str, tuple]:
    """``"<label>, <level> info" -> (make(level), n_drugs)`` for the full and summary info."""
    return {f"{label}, {level} info": (make(level), n_drugs) for level in ("full", "summary")}


def vector_section(
    section: str, n_drugs: int, horizon: int, num_envs: int, steps: int, repeats: int
) -> list[dict]:
    """The native vector env, full and summary info, in interleaved rounds."""
    kw = dict(num_envs=num_envs, n_drugs=n_drugs, horizon=horizon)
    envs = _by_level(
        "native vector",
        lambda level: gym.make_vec("DrugRefill-v0", **kw, info_level=level),
        n_drugs,
    )
    rates = interleaved(envs, steps, repeats, vector=True)
    rows = []
    for name, (_, drugs) in envs.items():
        level = name.rsplit(", ", 1)[1].split()[0]
        per_env = memory_per_env(n_drugs, min(num_envs, 256), horizon=horizon, info_level=level)
        rows.append(_row(section, name, rates[name], drugs, num_envs, bytes_per_env=per_env))
    return rows


def floor_rows(section: str, n_drugs: int, horizon: int, num_envs: int, repeats: int) -> list:
    rows = []
    for info_rows, level in ((8, "full"), (0, "summary")):
        for row in memory_floor(n_drugs, num_envs, repeats, horizon, info_rows=info_rows):
            rates = row["steps_per_s_median"]  # env-steps/s x envs, as the vector rows
            rows.append(
                {
                    "section": section,
                    "env": f"bound: {row['kind']} ({level} info)",
                    "n_drugs": n_drugs,
                    "num_envs": num_envs,
                    "unit": "slots/s x envs",
                    "steps_per_s_min": row["steps_per_s_min"],
                    "steps_per_s_median": rates,
                    "steps_per_s_max": row["steps_per_s_max"],
                    "drug_steps_per_s_median": rates * n_drugs,
                }
            )
    return rows


def single_big(n_drugs: int, horizon: int, steps: int, repeats: int) -> list[dict]:
    kw = dict(n_drugs=n_drugs, horizon=horizon)
    envs = _by_level(
        "DrugRefill-v0", lambda level: gym.make("DrugRefill-v0", **kw, info_level=level), n_drugs
    )
    rates = interleaved(envs, steps, repeats, vector=False)
    return [_row("formulary", name, rates[name], n, 1) for name, (_, n) in envs.items()]


def markdown(df: pd.DataFrame) -> str:
    lines = [
        "| section | env | drugs | envs | steps/s (min / median / max) | drug-steps/s (median) "
        "| vs CartPole (min / median / max) | memory per env |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        vs = ""
        if not pd.isna(getattr(r, "vs_cartpole_median", np.nan)):
            spread = (r.vs_cartpole_min, r.vs_cartpole_median, r.vs_cartpole_max)
            vs = " / ".join(f"x{v:.2f}" for v in spread)
        mem = getattr(r, "bytes_per_env", np.nan)
        mem = "" if pd.isna(mem) else f"{mem / 1024:,.0f} KiB"
        lines.append(
            f"| {r.section} | {r.env} | {r.n_drugs:,} | {r.num_envs:,} | "
            f"{r.steps_per_s_min:,.0f} / {r.steps_per_s_median:,.0f} / {r.steps_per_s_max:,.0f} | "
            f"{r.drug_steps_per_s_median:,.0f} | {vs} | {mem} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--n-drugs", type=int, default=70, help="drugs of the single and vector rows")
    p.add_argument("--horizon", type=int, default=30, help="slots per episode at --n-drugs")
    p.add_argument("--steps", type=int, default=3000, help="single-env steps per timing")
    p.add_argument("--vector-envs", type=int, default=1024)
    p.add_argument("--vector-steps", type=int, default=90, help="vector slots per timing")
    p.add_argument("--big-drugs", type=int, default=2000)
    p.add_argument("--big-horizon", type=int, default=52)
    p.add_argument("--big-envs", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=Path("results/scale"))
    args = p.parse_args(argv)
    for name in ("n_drugs", "horizon", "steps", "vector_envs", "vector_steps", "big_drugs",
                 "big_horizon", "big_envs", "repeats"):  # fmt: skip
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} = {getattr(args, name)} must be >= 1")
    if args.quick:
        args.steps, args.vector_envs, args.vector_steps, args.repeats = 60, 8, 8, 1
        args.big_drugs, args.big_horizon, args.big_envs = 40, 6, 4
    args.out.mkdir(parents=True, exist_ok=True)  # checked before the work starts
    print(f"backend {dynamics.get_backend()}  ({machine()})", flush=True)
    rows: list[dict] = []
    start = time.perf_counter()
    with threadpool_limits(1):  # no BLAS threads competing with the prefetch thread
        steps = [
            ("single envs against CartPole", lambda: single_section(
                args.n_drugs, args.horizon, args.steps, args.repeats)),
            (f"vector env, {args.vector_envs} envs", lambda: vector_section(
                "vector", args.n_drugs, args.horizon, args.vector_envs, args.vector_steps,
                args.repeats)),
            ("memory floor", lambda: floor_rows(
                "vector", args.n_drugs, args.horizon, args.vector_envs, args.repeats)),
            (f"formulary, single env of {args.big_drugs} drugs", lambda: single_big(
                args.big_drugs, args.big_horizon, max(10, args.steps // 10), args.repeats)),
            (f"formulary, {args.big_envs} envs", lambda: vector_section(
                "formulary", args.big_drugs, args.big_horizon, args.big_envs,
                args.big_horizon * 2, args.repeats)),
        ]  # fmt: skip
        for k, (what, run) in enumerate(steps, 1):
            new = run()
            rows += new
            print(f"[{k}/{len(steps)}] {what}: {time.perf_counter() - start:.0f} s", flush=True)
            for r in new:
                print(f"    {r['env']:<36} {r['drug_steps_per_s_median']:>14,.0f} drug-steps/s")
    df = pd.DataFrame(rows)
    write_csv_atomic(df, args.out / "scale.csv")
    table = markdown(df)
    header = f"Backend {dynamics.get_backend()}, {machine()}\n\n"
    write_atomic(args.out / "scale.md", header + table)
    print("\n" + table)
    print(f"wrote {args.out / 'scale.csv'} and scale.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
