"""Scenario ``hospital``: classes, service levels and substitution, each switched off in turn.

Runs ``druginv benchmark`` three times on the same held-out traces of ``hospital``: as it is
(``full``), without its class fill-rate targets (``no-targets``) and without therapeutic
substitution (``no-substitution``), then writes ``comparison.csv`` and ``comparison.md``:

* per policy, the cost, the gap to the optimum and the fill and shortage rates of each
  criticality class, in the full run;
* what the targets cost: each policy's cost with them over its cost without (only the
  planners, MPC and the stochastic program, and the optimum read them), and whether they were
  met;
* what substitution saves: each policy's cost with it over its cost without;
* what the targets cost the hindsight optimum when lost units are cheaper
  (:func:`target_price`).

Every change is the mean over the paired episodes with its 95 % t-interval. Resumable: each
run resumes from its folder.

Usage::

    python benchmarks/classes.py                     # 100 drugs x 52 weeks, 5 episodes
    python benchmarks/classes.py --quick             # seconds: checks that it runs
    python benchmarks/classes.py --out results/classes --episodes 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from druginv_gym.benchmark import BenchmarkSpec, run_benchmark
from druginv_gym.evaluation import METRIC_TABLE
from druginv_gym.reporting import markdown_cell, markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import finish_comparison, machine, paired_change, write_csv_atomic

#: The variants of ``hospital`` for the price of the targets at the optimum: name -> (factor on
#: the shortage costs, premium mode). As it is, a lost unit pays the emergency premium price on
#: top of 20 x (vital: 60 x) its price level, so serving is always cheaper than losing and the
#: targets bind only where the stock cannot serve; with the exogenous premium and the shortage
#: costs fifty times lower (0.4 x the price level, vital 1.2 x), losing a unit is often
#: cheaper than buying it, and only the targets make the optimum serve.
PRICE_VARIANTS = {"as it is": (1.0, "emergency"), "lost units cheap": (0.02, "exogenous")}

#: The runs: name -> the scenario options that switch a feature off.
RUNS = {
    "full": {},
    "no-targets": {"service_level": None},
    "no-substitution": {"substitution": None},
}


def target_price(n_drugs: int | None, horizon: int | None, episodes: int) -> pd.DataFrame:
    """What the class targets cost the hindsight optimum (Ipopt, the reference): per variant
    of :data:`PRICE_VARIANTS`, the mean optimum with and without the targets over the held-out
    seeds, and the episodes in which a target cannot be met at all."""
    import gymnasium as gym
    import numpy as np

    from druginv_gym.solvers import solve_hindsight

    kw = {k: v for k, v in (("n_drugs", n_drugs), ("horizon", horizon)) if v is not None}
    env = gym.make("DrugRefill-v0", scenario="hospital", **kw)
    base = env.unwrapped.config
    rows = []
    for name, (factor, mode) in PRICE_VARIANTS.items():
        cfg = base.replace(shortage_cost=base.shortage_cost * factor, premium_mode=mode)
        with_t, without, short = [], [], []
        for seed in range(episodes):
            env.reset(seed=seed)
            trace = env.unwrapped.exogenous
            a = solve_hindsight(cfg, trace)
            b = solve_hindsight(cfg.replace(service_level=None), trace)
            if not (a.success and b.success):
                raise RuntimeError(f"{name}, seed {seed}: {a.status} / {b.status}")
            with_t.append(a.objective)
            without.append(b.objective)
            short.append(sum(a.extra["service_shortfall"].values()))
        w, wo = np.array(with_t), np.array(without)
        rows.append(
            {
                "variant": name,
                "optimum_with_targets": w.mean(),
                "optimum_without": wo.mean(),
                "targets_cost": (w / wo - 1).mean(),
                "targets_cost_max": (w / wo - 1).max(),
                "episodes_short": int(sum(u > 1e-6 for u in short)),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/classes", help="output folder")
    ap.add_argument("--n-drugs", type=int, default=None, help="drugs (default: 100)")
    ap.add_argument("--horizon", type=int, default=None, help="weeks (default: 52)")
    ap.add_argument("--episodes", type=int, default=5, help="held-out episodes (seeds 0..)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--quick", action="store_true", help="8 drugs x 10 weeks, 2 episodes")
    ap.add_argument(
        "--no-target-price",
        dest="target_price",
        action="store_false",
        help="skip what the targets cost the optimum (two Ipopt solves per variant and seed)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.n_drugs, args.horizon, args.episodes = 8, 10, 2
    out = Path(args.out)
    runs = {}
    for label, options in RUNS.items():
        spec = BenchmarkSpec(
            scenario="hospital",
            n_drugs=args.n_drugs,
            horizon=args.horizon,
            episodes=args.episodes,
            scenario_options=options,
        )
        print(f"{label} {options} -> {out / label}", flush=True)
        runs[label] = run_benchmark(spec, out / label, plots=not args.quick, jobs=args.jobs)
    full = runs["full"]
    rows = []
    for policy in full.summary.index:
        row: dict[str, object] = {"policy": policy}
        for label in ("no-targets", "no-substitution"):
            other = runs[label].results
            a = other[other.policy == policy].sort_values("seed").total_cost
            b = full.results[full.results.policy == policy].sort_values("seed").total_cost
            row[f"vs_{label}"], row[f"vs_{label}_ci95"] = paired_change(a, b)
        rows.append(row)
    changes = pd.DataFrame(rows).set_index("policy")
    table = full.summary.join(changes)
    write_csv_atomic(table.reset_index(), out / "comparison.csv")
    cfg = full.spec.config
    m = METRIC_TABLE

    def cell(name: str, row: pd.Series) -> str:
        return "—" if pd.isna(row.get(name)) else markdown_cell(m[name], row)

    def change(row: pd.Series, label: str) -> str:
        value = row[f"vs_{label}"]
        if pd.isna(value):
            return "—"
        return f"{100 * value:+.2f} % ± {100 * row[f'vs_{label}_ci95']:.2f}"

    lines = [
        "# Scenario hospital: classes, service levels and substitution",
        "",
        f"{cfg.n_drugs} drugs x {cfg.horizon} weeks, {args.episodes} held-out episodes (seeds "
        f"0..{args.episodes - 1}), the same traces in every run. Machine: {machine()}.",
        f"Command: `python benchmarks/classes.py --out {args.out} --n-drugs {cfg.n_drugs} "
        f"--horizon {cfg.horizon} --episodes {args.episodes}`.",
        "Targets: "
        + ", ".join(f"{k} {100 * v:.0f} %" for k, v in cfg.service_level.items())
        + " (class fill rate: units served from stock or by a substitute over units demanded).",
        "",
        "| policy | cost | vs optimum | V fill | E fill | N fill | V shortage | E shortage | "
        "N shortage | V target met | E target met | cost with targets vs without | "
        "cost with substitution vs without |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for policy, r in table.sort_values("total_cost").iterrows():
        cells = [
            cell(name, r)
            for name in (
                "total_cost", "gap_to_optimum", "fill_rate_V", "fill_rate_E", "fill_rate_N",
                "shortage_rate_V", "shortage_rate_E", "shortage_rate_N", "service_met_V",
                "service_met_E",
            )
        ]  # fmt: skip
        cells += [change(r, "no-targets"), change(r, "no-substitution")]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    lines += markdown_table(
        full.summary,
        "classes",
        "By class and substitution (full run)",
        "Per class: fill rate, shortage rate, share of episodes that met the target; then "
        "units substitutes served and their cost.",
    )
    if args.target_price:
        price = target_price(args.n_drugs, args.horizon, args.episodes)
        write_csv_atomic(price, out / "target_price.csv")
        lines += [
            "",
            "## What the targets cost the optimum",
            "",
            "The hindsight optimum (Ipopt) with and without the class targets, on the same "
            "seeds (benchmarks/classes.py, PRICE_VARIANTS); episodes short: those in which a "
            "target cannot be met at all (the plan misses it by as little as it can).",
            "",
            "| variant | optimum with targets | optimum without | targets cost (mean) "
            "| (largest) | episodes short |",
            "|---|---|---|---|---|---|",
        ]
        for p in price.itertuples():
            lines.append(
                f"| {p.variant} | {p.optimum_with_targets:,.0f} | {p.optimum_without:,.0f} "
                f"| {100 * p.targets_cost:+.3f} % | {100 * p.targets_cost_max:+.3f} % | "
                f"{int(p.episodes_short)} of {args.episodes} |"
            )
    finish_comparison(out, lines, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
