"""How the comparison with the paper moves with the readings of what the paper leaves open.

Scenario "paper" reads the paper literally and calibrates the open values to its baselines
(``benchmarks/calibrate.py``). This script replays the benchmark (hindsight optimum, one agent,
the paper's three baselines, held-out seeds 0-9) on variants that change one reading at a time:
the capacity ``C_hi`` (3 x or 6 x mean demand instead of the drug's share of the 40 ft^3), the
week-to-week price volatility (0 or 5 % instead of 10 %) and the premium (exogenous, on 10 % of
the drug-slots and revealed before the decision, instead of paid on emergency purchases), so a
reader sees which reading gives the paper's numbers. The agent is the one trained on the
calibrated default: the other readings are played by it unchanged (not retrained), which is
the question "how far does the published comparison depend on the reading", not "how well can
an agent do under each reading".

    python benchmarks/sensitivity.py --agent agent:ppo-paper-70 --out results/sensitivity

Writes ``sensitivity.csv`` and ``sensitivity.md`` (the table of ``benchmarks/RESULTS.md``)
and each variant's benchmark files under ``<out>/<variant>/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

BASELINES = ("over-provisioning", "ski-rental", "max-min")
PAPER = {"over-provisioning": (12.31, 4.09), "ski-rental": (10.4, 4.37), "max-min": (11.8, 3.41)}


def variants() -> dict[str, tuple[str, Any]]:
    """Variant name -> (what it changes, its Calibration)."""
    from druginv_gym.scenarios import PAPER_CALIBRATION as base

    exogenous = base.replace(premium_mode="exogenous", premium_prob=0.1, shortage_cost=1.5)
    return {
        "calibrated": (
            "(the default): C̄ a share of the 40 ft³, volatility 10 %, premium on emergency "
            "purchases",
            base,
        ),
        "capacity-3x": ("C̄ = 3 x mean demand", base.replace(capacity=3.0)),
        "capacity-6x": ("C̄ = 6 x mean demand", base.replace(capacity=6.0)),
        "volatility-0": ("no price volatility", base.replace(volatility=0.0)),
        "volatility-5": ("price volatility 5 %", base.replace(volatility=0.05)),
        "premium-exogenous": ("premium on 10 % of drug-slots, known, on orders", exogenous),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="agent:ppo-paper-70", help="policy name of the agent")
    parser.add_argument("--n-drugs", type=int, default=70)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=None)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="two variants, 4 drugs (tests)")
    parser.add_argument("--out", type=Path, default=Path("results/sensitivity"))
    args = parser.parse_args(argv)
    if args.quick:
        args.n_drugs, args.horizon, args.episodes = 4, 6, 2
        args.only = ["calibrated", "premium-exogenous"]

    import druginv_gym  # noqa: F401
    from druginv_gym.benchmark import BenchmarkSpec, run_benchmark
    from druginv_gym.io import atomic_write_text
    from druginv_gym.scenarios import paper_scenario, register_scenario

    rows = []
    chosen = variants()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only}
    for name, (what, calibration) in chosen.items():
        scenario = f"sensitivity-{name}"

        def factory(calibration: Any = calibration, scenario: str = scenario, **kw: Any) -> Any:
            kw.setdefault("name", f"{scenario}-{kw.get('n_drugs', 70)}")
            return paper_scenario(calibration=calibration, **kw)

        register_scenario(scenario, factory, overwrite=True)
        spec = BenchmarkSpec(
            scenario=scenario,
            n_drugs=args.n_drugs,
            horizon=args.horizon,
            episodes=args.episodes,
            policies=("hindsight-optimal", args.agent, *BASELINES),
        )
        start = time.perf_counter()
        result = run_benchmark(spec, args.out / name, progress=False, plots=False, log=print)
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
        res, summ = result.results, result.summary
        agent = res[res.policy == args.agent].set_index("episode").total_cost
        row: dict[str, Any] = {"variant": name, "reading": what}
        row["agent_vs_optimum"] = 100 * summ.loc[args.agent, "gap_to_optimum"]
        row["agent_shortage"] = 100 * summ.loc[args.agent, "shortage_rate"]
        row["agent_unexpected"] = 100 * summ.loc[args.agent, "unexpected_rate"]
        for b in BASELINES:
            base = res[res.policy == b].set_index("episode").total_cost
            row[f"margin_{b}"] = 100 * float((1 - agent / base).mean())
            row[f"{b}_vs_optimum"] = 100 * summ.loc[b, "gap_to_optimum"]
            row[f"shortage_{b}"] = 100 * summ.loc[b, "shortage_rate"]
            row[f"unexpected_{b}"] = 100 * summ.loc[b, "unexpected_rate"]
        rows.append(row)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "sensitivity.csv", table.to_csv(index=False))
    atomic_write_text(args.out / "sensitivity.md", markdown(table, args.agent))
    print(markdown(table, args.agent))
    return 0


def markdown(table: pd.DataFrame, agent: str) -> str:
    """The sensitivity table: per reading, the agent's cost cut against each baseline and
    everyone's shortage and unexpected rates, with the paper's figures in the last row."""
    head = (
        "| reading | agent vs optimum | cut vs over-prov. / ski-rental / max-min | "
        "shortage: agent; over-prov., ski, max-min | unexpected: agent; over-prov., ski, "
        "max-min | baselines vs optimum |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        cut = " / ".join(f"{r[f'margin_{b}']:.1f} %" for b in BASELINES)
        short = ", ".join(f"{r[f'shortage_{b}']:.2f}" for b in BASELINES)
        unexp = ", ".join(f"{r[f'unexpected_{b}']:.2f}" for b in BASELINES)
        gaps = " / ".join(f"+{r[f'{b}_vs_optimum']:.1f} %" for b in BASELINES)
        sep = " " if r.reading.startswith("(") else ": "
        lines.append(
            f"| {r.variant}{sep}{r.reading} | +{r.agent_vs_optimum:.2f} % | {cut} | "
            f"{r.agent_shortage:.2f} %; {short} % | {r.agent_unexpected:.2f} %; {unexp} % | "
            f"{gaps} |"
        )
    paper_cut = " / ".join(f"{PAPER[b][0]:.2f} %" for b in BASELINES)
    paper_short = ", ".join(f"{PAPER[b][1]:.2f}" for b in BASELINES)
    lines.append(
        f"| the paper (DRLD) | — | {paper_cut} | 2.21 %; {paper_short} % | ~1.5-1.7 % | — |"
    )
    return f"Agent: `{agent}`.\n\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
