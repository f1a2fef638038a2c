"""Training throughput and the result it buys: one agent's configurations side by side.

    python benchmarks/training_speed.py --algo dqn --variants num_envs=8 num_envs=64,eval_every=1
    python benchmarks/training_speed.py --quick        # seconds: checks that it runs

Each ``--variants`` entry is a set of ``key=value`` overrides of the agent's config (on top of
``--base``, by default the recipe of the shipped ``<algo>-paper-70`` agent with ``--total-steps``
of training). For every training seed in ``--seeds``, every variant is trained in turn
(interleaved, so machine noise falls on all of them alike), with learning and validation in the
timing, and its returned policy (best on the validation seeds) is scored greedily on held-out
seeds ``0..episodes-1`` with ``druginv_gym.evaluate``. Prints and writes (``--out``):

* ``training_speed.csv``: one row per variant and seed (wall time, decisions or slots per
  second, held-out cost and shortage rate);
* a summary per variant: min / median / max throughput over seeds, the speed-up over the first
  variant (per seed, then min / median / max), and the held-out cost's mean and seed-to-seed
  standard deviation, so "faster at the same result" can be read off one table.

NumPy's BLAS runs one thread (threadpoolctl); torch keeps its own default threads, as a user
gets them.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomic

# The shipped paper-70 agents' recipes (their checkpoints' configs), the steps aside.
BASES = {
    "dqn": {
        "env_kwargs": {"scenario": "paper", "n_drugs": 70},
        "learning_rate": 1e-3,
        "hidden": 128,
        "num_envs": 8,
    },
    "ppo": {"env_kwargs": {"scenario": "paper", "n_drugs": 70}},
}
UNITS = {"dqn": "drug decisions", "ppo": "slots"}


def parse_variant(text: str) -> dict:
    """``"num_envs=64,eval_every=1"`` -> ``{"num_envs": 64, "eval_every": 1}``."""
    out = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"variant part {part!r} is not key=value")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def run_one(algo: str, overrides: dict, episodes: int) -> dict:
    """Train one configuration; its wall time, throughput and held-out scores."""
    import gymnasium as gym
    from druginv_agents import dqn, ppo

    import druginv_gym

    module = {"dqn": dqn, "ppo": ppo}[algo]
    make = module.DQNConfig if algo == "dqn" else module.PPOConfig
    cfg = make(**overrides)
    steps = cfg.step_plan().steps  # whole episodes / rollouts actually played
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        policy = module.train(cfg, logdir=tmp, progress=False)
        wall = time.perf_counter() - start
    env = gym.make(module.ENV_ID, **cfg.env_kwargs)
    scores = druginv_gym.evaluate(env, policy, episodes, 0)
    env.close()
    return {
        "steps": steps,
        "wall_s": wall,
        "per_s": steps / wall,
        "held_out_cost": float(scores.total_cost.mean()),
        "shortage_rate": float(scores.shortage_rate.mean()),
    }


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    first = df.variant.iloc[0]
    base = df[df.variant == first].set_index("seed").per_s
    rows = []
    for variant, d in df.groupby("variant", sort=False):
        speedup = d.set_index("seed").per_s / base
        rows.append(
            {
                "variant": variant,
                "per_s_min": d.per_s.min(),
                "per_s_median": d.per_s.median(),
                "per_s_max": d.per_s.max(),
                "speedup_min": speedup.min(),
                "speedup_median": speedup.median(),
                "speedup_max": speedup.max(),
                "held_out_cost_mean": d.held_out_cost.mean(),
                "held_out_cost_std": d.held_out_cost.std(ddof=1) if len(d) > 1 else np.nan,
                "shortage_rate_mean": d.shortage_rate.mean(),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from threadpoolctl import threadpool_limits

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algo", choices=sorted(BASES), default="dqn")
    p.add_argument("--variants", nargs="+", default=["num_envs=8", "num_envs=64,eval_every=1"])
    p.add_argument("--base", default=None, help="overrides replacing the recipe (key=value,...)")
    p.add_argument("--total-steps", type=int, default=1_000_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=10, help="held-out seeds 0..episodes-1")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.total_steps < 1 or args.episodes < 1:
        p.error("--total-steps and --episodes must be >= 1")
    try:
        variants = [parse_variant(v) for v in args.variants]
        base = parse_variant(args.base) if args.base else dict(BASES[args.algo])
    except ValueError as exc:
        p.error(str(exc))
    base["total_steps"] = args.total_steps
    if args.quick:
        base["env_kwargs"] = {"scenario": "paper", "n_drugs": 4, "horizon": 5}
        base["total_steps"] = {"dqn": 2 * 8 * 4 * 5, "ppo": 2 * 32 * 5}[args.algo]
        base.update({"eval_every": 1, "eval_episodes": 1})
        if args.algo == "dqn":
            base["learning_starts"] = 20
        args.seeds, args.episodes = args.seeds[:1], 2
    print(machine())
    rows = []
    with threadpool_limits(1):
        # untimed: imports, compiled kernels and torch's first calls
        tiny = {"env_kwargs": {"scenario": "paper", "n_drugs": 4, "horizon": 5}, "eval_every": 1}
        tiny["total_steps"] = {"dqn": 8 * 4 * 5, "ppo": 32 * 5}[args.algo]
        run_one(args.algo, {**base, **variants[0], **tiny}, 1)
        for seed in args.seeds:
            for text, over in zip(args.variants, variants, strict=True):
                cfg = {**base, **over, "seed": seed}
                row = {"algo": args.algo, "variant": text, "seed": seed}
                row.update(run_one(args.algo, cfg, args.episodes))
                rows.append(row)
                print(
                    f"[{args.algo} seed {seed}] {text:<28} {row['per_s']:>9,.0f} "
                    f"{UNITS[args.algo]}/s ({row['wall_s']:.1f} s)  held-out cost "
                    f"{row['held_out_cost']:,.0f}, shortage {row['shortage_rate']:.2%}",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    summary = summarise(df)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(df, args.out / "training_speed.csv")
        write_csv_atomic(summary, args.out / "training_speed_summary.csv")
        print(f"wrote training_speed.csv and training_speed_summary.csv to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
