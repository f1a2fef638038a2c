"""Every baseline against the hindsight optimum on the same held-out traces.

Plays the paper scenario (70 drugs, 30 weekly slots by default) on evaluation seeds
``--seed .. --seed + episodes - 1`` with: the Ipopt hindsight optimum (the lower bound),
over-provisioning, ski-rental, max-min, base-stock and (s, S) (both tuned on training seeds
``TRAIN_SEED_BASE + k``, never on the evaluation seeds) and a random policy. Reports each
policy's refilling cost, its gap to the optimum (per episode, then mean and 95 % interval) and
its shortage rate. Writes ``episodes.csv`` and ``summary.csv`` to ``--out``.

Usage::

    python benchmarks/baselines.py                       # 70 drugs, 10 episodes (~2 min)
    python benchmarks/baselines.py --n-drugs 30 --episodes 20
    python benchmarks/baselines.py --quick               # seconds: checks that it runs
    python benchmarks/baselines.py --agents ppo-paper-70 runs/dqn-70/best.pt   # + agents

``--agents`` takes checkpoint paths or names of shipped agents; each plays the env id it was
trained on (same scenario, same held-out traces). The cost of every agent is then compared
with each baseline (per episode, mean and 95 % interval) next to the paper's reported margins.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
from scipy import stats

import druginv_gym
from druginv_gym.baselines import (
    MaxMin,
    OverProvisioning,
    RandomPolicy,
    SkiRental,
    tune_base_stock,
    tune_ss,
)
from druginv_gym.benchmark import SUMMARY_METRICS
from druginv_gym.solvers import HindsightOracle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomic


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="paper")
    p.add_argument("--n-drugs", type=int, default=70)
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="first evaluation seed")
    p.add_argument("--tune-episodes", type=int, default=8)
    p.add_argument("--agents", nargs="*", default=[], help="checkpoint paths or pretrained names")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/baselines"))
    args = p.parse_args(argv)
    if args.quick:
        args.n_drugs, args.horizon, args.episodes, args.tune_episodes = 6, 8, 2, 2
    if args.episodes < 1 or args.tune_episodes < 1:
        p.error("--episodes and --tune-episodes must be >= 1")
    env = gym.make(
        "DrugRefill-v0", scenario=args.scenario, n_drugs=args.n_drugs, horizon=args.horizon
    )
    print(f"tuning base-stock and (s, S) on {args.tune_episodes} training episodes ...", flush=True)
    base, _ = tune_base_stock(env, n_episodes=args.tune_episodes)
    ss, _ = tune_ss(env, n_episodes=args.tune_episodes)
    print(f"  base-stock level {base.level}, (s, S) levels ({ss.s_level}, {ss.S_level})")
    policies = {
        "hindsight-optimal": HindsightOracle(env),
        "over-provisioning": OverProvisioning(env),
        "ski-rental": SkiRental(env),
        "max-min": MaxMin(env),
        "base-stock (tuned)": base,
        "(s,S) (tuned)": ss,
        "random": RandomPolicy(env, seed=0),
    }
    for spec in args.agents:
        import druginv_agents

        path = Path(spec)
        agent = (
            druginv_agents.load(path)
            if path.suffix == ".pt"
            else druginv_agents.load_pretrained(spec)
        )
        agent_env = gym.make(
            agent.env_id, scenario=args.scenario, n_drugs=args.n_drugs, horizon=args.horizon
        )
        policies[f"{agent.algo} ({path.stem if path.suffix == '.pt' else spec})"] = (
            agent_env,
            agent,
        )
    _, episodes = druginv_gym.compare(env, policies, args.episodes, args.seed, progress=None)
    opt = episodes[episodes.policy == "hindsight-optimal"].set_index("episode").total_cost
    episodes["gap_to_optimum"] = episodes.total_cost / episodes.episode.map(opt) - 1.0
    summary = druginv_gym.summarize(episodes, metrics=SUMMARY_METRICS)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(episodes, args.out / "episodes.csv")
    write_csv_atomic(summary.reset_index(), args.out / "summary.csv")
    cfg = env.unwrapped.config
    print(
        f"\n{cfg.name}: {cfg.n_drugs} drugs x {cfg.horizon} slots, {args.episodes} "
        f"held-out episodes (seeds {args.seed}..{args.seed + args.episodes - 1})"
    )
    print(f"{'policy':<20} {'cost (USD)':>16} {'vs optimum':>18} {'shortage':>16} {'stockout':>9}")
    for name, r in summary.iterrows():
        print(
            f"{name:<20} {r.total_cost:>10,.0f} ±{r.total_cost_ci95:>6,.0f} "
            f"{100 * r.gap_to_optimum:>+9.2f}% ±{100 * r.gap_to_optimum_ci95:5.2f} "
            f"{100 * r.shortage_rate:>8.2f}% ±{100 * r.shortage_rate_ci95:4.2f} "
            f"{100 * r.stockout_rate:>8.2f}%"
        )
    agents = [name for name in summary.index if name.startswith(("ppo", "dqn"))]
    paper = {
        "over-provisioning": (12.31, 4.09),
        "ski-rental": (10.4, 4.37),
        "max-min": (11.8, 3.41),
    }
    for agent in agents:
        mine = episodes[episodes.policy == agent].set_index("episode")
        print(f"\n{agent}: cost reduction against each baseline (per episode), and the paper's")
        for base in (
            "over-provisioning",
            "ski-rental",
            "max-min",
            "base-stock (tuned)",
            "(s,S) (tuned)",
        ):
            other = episodes[episodes.policy == base].set_index("episode")
            red = 1.0 - mine.total_cost / other.total_cost
            n_ep = len(red)
            half = (
                stats.t.ppf(0.975, n_ep - 1) * red.std(ddof=1) / np.sqrt(n_ep) if n_ep > 1 else 0.0
            )
            ref = paper.get(base)
            tail = f"   paper: {ref[0]:.2f} % (shortage {ref[1]:.2f} %)" if ref else ""
            print(
                f"  vs {base:<20} {100 * red.mean():+6.2f} % ± {100 * half:.2f}"
                f"   shortage {100 * mine.shortage_rate.mean():.2f} % vs "
                f"{100 * other.shortage_rate.mean():.2f} %{tail}"
            )
    assert np.isfinite(summary.total_cost).all()
    print(f"\nwrote {args.out}/episodes.csv, summary.csv  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
