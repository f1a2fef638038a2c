"""Hindsight solver: solve time and Ipopt iterations against problem size.

For each size ``N x T`` (drugs x weekly slots) and seed, draws the paper scenario's trace,
solves it with :func:`druginv_gym.solvers.solve_hindsight` with Ipopt in each formulation
(the default stock-balance form and the earlier cumulative form) and with Clarabel on the
balance form, side by side in one run, and records wall time, iterations, problem dimensions,
status, objective, the plan's replayed cost and Clarabel's dual bound. Prints the speed-ups
(min/median/max over seeds) and the largest objective differences. Writes ``hindsight.csv``
and a plot of time against problem size (``hindsight_time.png``) to ``--out``.

Usage::

    python benchmarks/hindsight.py                              # 30/50/70 x 30 and 500 x 52
    python benchmarks/hindsight.py --sizes 70x30 --seeds 0 1 2
    python benchmarks/hindsight.py --formulations balance      # the default form only
    python benchmarks/hindsight.py --pivtol-ab                 # Ipopt at MUMPS's old pivtol too
    python benchmarks/hindsight.py --quick                      # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pandas as pd

import druginv_gym  # noqa: F401
from druginv_gym.solvers import solve_hindsight

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pyplot, write_csv_atomic


def parse_size(text: str) -> tuple[int, int]:
    try:
        n, t = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not of the form NxT (e.g. 70x30)"
        ) from None
    if n < 1 or t < 1:
        raise argparse.ArgumentTypeError(f"size {text!r} needs N >= 1 and T >= 1")
    return n, t


def blas_modes(choice: str) -> list[str]:
    return ["one", "default"] if choice == "both" else [choice]


def blas_threads(mode: str) -> Any:
    """``"one"``: as ``solve_hindsight`` runs (one BLAS thread); ``"default"``: that limit
    lifted for the A/B, numpy's BLAS threads free to spin during the solve."""
    import contextlib

    from druginv_gym.solvers import hindsight

    if mode == "one":
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def lifted() -> Any:
        saved = hindsight._one_blas_thread
        hindsight._one_blas_thread = contextlib.nullcontext
        try:
            yield
        finally:
            hindsight._one_blas_thread = saved

    return lifted()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes", type=parse_size, nargs="+", default=[(30, 30), (50, 30), (70, 30), (500, 52)]
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--scenario", default="paper", help="scenario name (e.g. paper-band)")
    p.add_argument(
        "--formulations",
        nargs="+",
        choices=["balance", "cumulative"],
        default=["balance", "cumulative"],
    )
    p.add_argument(
        "--solvers", nargs="+", choices=["ipopt", "clarabel"], default=["ipopt", "clarabel"]
    )
    p.add_argument(
        "--blas-threads",
        choices=["one", "default", "both"],
        default="one",
        help="solve with one BLAS thread (what solve_hindsight does), numpy's default, or both "
        "interleaved (the A/B of the thread contention)",
    )
    p.add_argument(
        "--pivtol-ab",
        action="store_true",
        help="also solve with Ipopt at MUMPS's pivot tolerance 1e-6 (Ipopt's default, the "
        "solver's before version 0.3) beside the default, same trace, same run",
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/hindsight"))
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.seeds = [(5, 6), (10, 8)], [0]
    rows = []
    for n, t in args.sizes:
        env = gym.make("DrugRefill-v0", scenario=args.scenario, n_drugs=n, horizon=t)
        for seed in args.seeds:
            env.reset(seed=seed)
            u = env.unwrapped
            # Ipopt in each formulation; Clarabel on the default (balance) form
            methods = [("ipopt", f, "") for f in args.formulations if "ipopt" in args.solvers]
            if args.pivtol_ab and "ipopt" in args.solvers:
                methods.append(("ipopt", "balance", "/pivtol-1e-6"))
            if "clarabel" in args.solvers:
                methods.append(("clarabel", "balance", ""))
            runs = [(*m, b) for m in methods for b in blas_modes(args.blas_threads)]
            for solver, form, tag, blas in runs:
                opts = {"mumps_pivtol": 1e-6} if tag else None
                with blas_threads(blas):
                    sol = solve_hindsight(
                        u.config, u.exogenous, formulation=form, solver=solver, options=opts
                    )
                rows.append(
                    {
                        "n_drugs": n,
                        "horizon": t,
                        "seed": seed,
                        "solver": solver,
                        "method": f"{solver}/{form}{tag}"
                        + ("" if blas == "one" else "/blas-default"),
                        "blas_threads": blas,
                        "formulation": form,
                        "status": sol.status,
                        "iterations": sol.iterations,
                        "solve_s": sol.solve_seconds,
                        "objective": sol.objective,
                        "replayed_cost": sol.replayed_cost,
                        "dual_bound": sol.dual_bound,
                        "n_variables": sol.n_variables,
                        "n_constraints": sol.n_constraints,
                    }
                )
                print(
                    f"{n:>5} x {t:<3} seed {seed} {solver + '/' + form + tag:<31}: "
                    f"{sol.status:<13} "
                    f"{sol.iterations:>3} it {sol.solve_seconds:8.2f} s  "
                    f"objective {sol.objective:,.3f}",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(df, args.out / "hindsight.csv")
    summary = df.groupby(["n_drugs", "horizon", "method"]).agg(
        variables=("n_variables", "first"),
        constraints=("n_constraints", "first"),
        iterations=("iterations", "median"),
        time_min=("solve_s", "min"),
        time_median=("solve_s", "median"),
        time_max=("solve_s", "max"),
    )
    print("\n" + summary.to_string())
    for slow, fast in (
        ("ipopt/cumulative", "ipopt/balance"),
        ("ipopt/balance/pivtol-1e-6", "ipopt/balance"),
        ("ipopt/balance", "clarabel/balance"),
        ("ipopt/balance/blas-default", "ipopt/balance"),
        ("clarabel/balance/blas-default", "clarabel/balance"),
    ):
        if not {slow, fast} <= set(df.method):
            continue
        wide = df.pivot_table(
            index=["n_drugs", "horizon", "seed"],
            columns="method",
            values=["solve_s", "objective"],
        )
        ratio = wide["solve_s"][slow] / wide["solve_s"][fast]
        gap = (wide["objective"][fast] - wide["objective"][slow]).abs()
        rel = gap / wide["objective"][slow].abs()
        side = pd.DataFrame({"speedup": ratio, "objective_rel_diff": rel}).groupby(
            level=["n_drugs", "horizon"]
        )
        table = side.agg(
            speedup_min=("speedup", "min"),
            speedup_median=("speedup", "median"),
            speedup_max=("speedup", "max"),
            objective_rel_diff_max=("objective_rel_diff", "max"),
        )
        print(f"\n{fast} vs {slow} (time ratio, same trace, same run):")
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        cells = df.n_drugs * df.horizon
        for method, marker in (
            ("ipopt/balance", "o"), ("ipopt/cumulative", "s"), ("clarabel/balance", "^"),
        ):  # fmt: skip
            sel = df.method == method
            if sel.any():
                ax.loglog(cells[sel], df.solve_s[sel], marker, alpha=0.7, label=method)
        for (n, t), g in df.groupby(["n_drugs", "horizon"]):
            ax.annotate(
                f"{n}x{t}",
                (n * t, g.solve_s.min()),
                textcoords="offset points",
                xytext=(5, -10),
                fontsize=8,
            )
        ax.legend(title="solver / formulation", fontsize=8)
        ax.set_xlabel("drug-slots (N x T)")
        ax.set_ylabel("solve time (s)")
        ax.set_title("Hindsight solve time (Ipopt + MUMPS; Clarabel)")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.out / "hindsight_time.png", dpi=120)
        print(f"wrote {args.out / 'hindsight_time.png'}")
    print(f"wrote {args.out / 'hindsight.csv'}  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
