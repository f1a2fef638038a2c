"""Scenario ``hospital``: classes, service levels and substitution, each switched off in turn.

Runs ``druginv benchmark`` three times on the same held-out traces of ``hospital``: as it is
(``full``), without its class fill-rate targets (``no-targets``) and without therapeutic
substitution (``no-substitution``), then writes ``comparison.csv`` and ``comparison.md``:

* per policy, the cost, the gap to the optimum and the fill and shortage rates of each
  criticality class, in the full run;
* what the targets cost: each policy's cost with them over its cost without (only the
  planners, MPC and the stochastic program, and the optimum read them), and whether they were
  met;
* what substitution saves: each policy's cost with it over its cost without.

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
from _common import machine, write_atomic, write_csv_atomic
from shortage import _paired

#: The runs: name -> the scenario options that switch a feature off.
RUNS = {
    "full": {},
    "no-targets": {"service_level": None},
    "no-substitution": {"substitution": None},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/classes", help="output folder")
    ap.add_argument("--n-drugs", type=int, default=None, help="drugs (default: 100)")
    ap.add_argument("--horizon", type=int, default=None, help="weeks (default: 52)")
    ap.add_argument("--episodes", type=int, default=5, help="held-out episodes (seeds 0..)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--quick", action="store_true", help="8 drugs x 10 weeks, 2 episodes")
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
            row[f"vs_{label}"], row[f"vs_{label}_ci95"] = _paired(a, b)
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
    for label, run in runs.items():
        for note in run.notes:
            lines += ["", f"Note ({label}): {note}"]
    write_atomic(out / "comparison.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
