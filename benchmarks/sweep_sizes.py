"""The paper's comparison at 30, 50 and 70 drugs, side by side with its published figures.

Runs :func:`druginv_gym.benchmark.run_benchmark` (the same as ``druginv benchmark``) for each
size into ``--out/paper-<N>/`` (resumable), then writes ``sizes.csv`` and ``sizes.md``: per
size, each agent's refilling-cost reduction against the paper's three baselines and the
shortage rates, next to the paper's reported values (DRLD on 70 drugs: 12.31 %, 10.4 %,
11.8 % lower cost than over-provisioning, ski-rental and max-min; shortage rate 2.21 % against
4.09 %, 4.37 %, 3.41 %), plus the gap to the hindsight optimum.

Usage::

    python benchmarks/sweep_sizes.py                 # about 4 minutes on 2 cores
    python benchmarks/sweep_sizes.py --quick         # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from druginv_gym.benchmark import (
    PAPER_MARGINS,
    PAPER_SHORTAGE,
    BenchmarkSpec,
    _reduction,
    run_benchmark,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_atomic, write_csv_atomic


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[30, 50, 70])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/sizes"))
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.episodes, args.horizon = [4, 6], 2, 6
    rows = []
    for n in args.sizes:
        spec = BenchmarkSpec(
            n_drugs=n,
            horizon=args.horizon,
            episodes=args.episodes,
            tune_episodes=2 if args.quick else 8,
        )
        res = run_benchmark(spec, args.out / f"paper-{n}", plots=not args.quick, log=print)
        s = res.summary
        for agent in ("ppo", "dqn"):
            if agent not in s.index:
                continue
            row = {
                "n_drugs": n,
                "agent": agent,
                "gap_to_optimum_%": 100 * s.loc[agent, "gap_to_optimum"],
                "shortage_%": 100 * s.loc[agent, "shortage_rate"],
            }
            for base in PAPER_MARGINS:
                red, half = _reduction(res.results, agent, base)
                row[f"vs {base} %"] = 100 * red
                row[f"vs {base} ci95"] = 100 * half
                row[f"{base} shortage_%"] = 100 * s.loc[base, "shortage_rate"]
            rows.append(row)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(table, args.out / "sizes.csv")
    lines = [
        "| drugs | agent | vs optimum | cost cut vs over-prov. | vs ski-rental | vs max-min |"
        " shortage (agent; over-prov., ski, max-min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        d = dict(zip(table.columns, r, strict=True))
        lines.append(
            f"| {d['n_drugs']} | {d['agent']} | +{d['gap_to_optimum_%']:.2f} % | "
            + " | ".join(f"{d[f'vs {b} %']:.2f} % ± {d[f'vs {b} ci95']:.2f}" for b in PAPER_MARGINS)
            + f" | {d['shortage_%']:.2f} %; "
            + ", ".join(f"{d[f'{b} shortage_%']:.2f} %" for b in PAPER_MARGINS)
            + " |"
        )
    lines.append(
        "| 70 (paper) | DRLD | — | "
        + " | ".join(f"{v:.2f} %" for v in PAPER_MARGINS.values())
        + f" | {PAPER_SHORTAGE['DRLD']:.2f} %; "
        + ", ".join(f"{PAPER_SHORTAGE[b]:.2f} %" for b in PAPER_MARGINS)
        + " |"
    )
    text = "\n".join(lines) + "\n"
    write_atomic(args.out / "sizes.md", text)
    print(text)
    print(f"wrote {args.out}/sizes.csv, sizes.md  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
