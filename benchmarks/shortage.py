"""Scenario ``shortage``: every policy with outages unannounced and announced, side by side.

Runs ``druginv benchmark`` twice on the same held-out traces (the outages, delays and recalls
do not depend on ``announce``: only what the observation shows does), once with outages seen
when they hit (``announce=0``, the scenario's default) and once shown ``--announce`` weeks
ahead, then writes ``comparison.csv`` and ``comparison.md``: each policy's cost, rates, supply
columns and gap to the optimum in both runs, and what the announcement is worth (the cost
change, with its 95 % interval over the paired episodes). The optimum knows the outages in
hindsight either way, so its row is the same in both. An agent trained without the
announcement cannot read the announced run's observation and is in the first run only.
Resumable: each run resumes from its folder.

Usage::

    python benchmarks/shortage.py                         # 70 drugs x 52 weeks, 10 episodes
    python benchmarks/shortage.py --quick                 # seconds: checks that it runs
    python benchmarks/shortage.py --out results/shortage --announce 8 --episodes 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from druginv_gym.benchmark import BenchmarkSpec, run_benchmark
from druginv_gym.evaluation import table_metrics
from druginv_gym.reporting import markdown_cell, markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import finish_comparison, machine, paired_change, write_csv_atomic


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/shortage", help="output folder")
    ap.add_argument("--n-drugs", type=int, default=None, help="drugs (default: 70)")
    ap.add_argument("--horizon", type=int, default=None, help="weeks (default: 52)")
    ap.add_argument("--episodes", type=int, default=10, help="held-out episodes (seeds 0..)")
    ap.add_argument("--announce", type=int, default=8, help="weeks ahead in the announced run")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--quick", action="store_true", help="6 drugs x 12 weeks, 2 episodes")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_drugs, args.horizon, args.episodes = 6, 12, 2
    out = Path(args.out)
    runs = {}
    for label, announce in (("unannounced", 0), ("announced", args.announce)):
        spec = BenchmarkSpec(
            scenario="shortage",
            n_drugs=args.n_drugs,
            horizon=args.horizon,
            episodes=args.episodes,
            scenario_options={"announce": announce},
        )
        print(f"{label} (announce={announce}) -> {out / label}", flush=True)
        runs[label] = run_benchmark(spec, out / label, plots=not args.quick, jobs=args.jobs)
    before, after = (runs[k].results for k in ("unannounced", "announced"))
    metrics = [
        m
        for m in (*table_metrics(), *table_metrics("supply"))
        if m.name in runs["unannounced"].summary.columns
    ]
    rows = []
    policies = list(
        dict.fromkeys([*runs["unannounced"].summary.index, *runs["announced"].summary.index])
    )
    for policy in policies:
        a = before[before.policy == policy].sort_values("seed")
        b = after[after.policy == policy].sort_values("seed")
        change, half = paired_change(a.total_cost, b.total_cost)
        rows.append({"policy": policy, "announce_value": change, "announce_value_ci95": half})
    value = pd.DataFrame(rows).set_index("policy")
    columns = [c for m in metrics for c in (m.name, f"{m.name}_ci95")]
    table = pd.concat(
        {
            **{k: r.summary.reindex(columns=columns) for k, r in runs.items()},
            "announcement": value,
        },
        axis=1,
    )
    table = table.sort_values(("unannounced", "total_cost"))
    flat = table.copy()
    flat.columns = [f"{a}_{b}" for a, b in flat.columns]
    write_csv_atomic(flat.reset_index(), out / "comparison.csv")
    cfg = runs["unannounced"].spec.config
    lines = [
        f"# Scenario shortage: outages unannounced and announced {args.announce} weeks ahead",
        "",
        f"{cfg.n_drugs} drugs x {cfg.horizon} weeks, {args.episodes} held-out episodes (seeds "
        f"0..{args.episodes - 1}), the same traces in both runs. Machine: {machine()}.",
        f"Command: `python benchmarks/shortage.py --out {args.out} --announce {args.announce} "
        f"--episodes {args.episodes}`.",
        "",
        "| policy | cost, unannounced | cost, announced | announcement (cost change) | "
        "vs optimum, unannounced | vs optimum, announced | stockout, unannounced | "
        "stockout, announced |",
        "|---|---|---|---|---|---|---|---|",
    ]
    m = {x.name: x for x in metrics}

    def cell(name: str, row: pd.Series) -> str:
        """The metric's cell, or a dash for a policy the run does not have."""
        return "—" if pd.isna(row[name]) else markdown_cell(m[name], row)

    for policy, r in table.iterrows():
        u, an = r["unannounced"], r["announced"]
        value = r["announcement", "announce_value"]
        worth = "—" if pd.isna(value) else (
            f"{100 * value:+.2f} % ± {100 * r['announcement', 'announce_value_ci95']:.2f}"
        )  # fmt: skip
        lines.append(
            f"| {policy} | {cell('total_cost', u)} | {cell('total_cost', an)} | {worth} | "
            f"{cell('gap_to_optimum', u)} | {cell('gap_to_optimum', an)} | "
            f"{cell('stockout_rate', u)} | {cell('stockout_rate', an)} |"
        )
    lines += markdown_table(
        runs["unannounced"].summary,
        "supply",
        "What the supply model did (unannounced run)",
        "Per episode: ordered units a supplier outage left unfilled, units recalled, unmet units "
        "bought from the alternative source and their cost, the longest stockout run.",
    )
    finish_comparison(out, lines, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
