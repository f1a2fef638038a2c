"""The ``druginv`` command line.

Examples::

    druginv benchmark                                   # the paper's comparison, 70 drugs
    druginv benchmark --n-drugs 30 --episodes 20 --out results/paper-30
    druginv evaluate ppo-paper-70 --episodes 10         # any policy on held-out seeds
    druginv evaluate base-stock --scenario seasonal --n-drugs 20
    druginv solve --n-drugs 70 --seed 3 --out orders.csv  # hindsight optimum of one episode
    druginv forecast moving_average --test-weeks 52     # forecasters on the real data
    druginv train ppo --scenario paper --n-drugs 70 --total-steps 600000 --logdir runs/ppo-70
    druginv train dqn --scenario paper --n-drugs 70 --set gamma=0.9 --set learning_rate=1e-3
    druginv train ppo --resume runs/ppo-70/last.pt --total-steps 900000 --logdir runs/ppo-70
    druginv sweep --scenarios paper seasonal --n-drugs 10 30 --seeds 0-4 --out results/sweep

User errors (a bad value, a missing file) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

EXAMPLES = __doc__.split("Examples::", 1)[1].split("User errors")[0]


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value

    return parse


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from druginv_gym.scenarios import make_scenario

    kw: dict[str, Any] = {"scenario": args.scenario}
    if args.n_drugs is not None:
        kw["n_drugs"] = args.n_drugs
    if args.horizon is not None:
        kw["horizon"] = args.horizon
    try:
        make_scenario(args.scenario, n_drugs=args.n_drugs, horizon=args.horizon)  # fail fast
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return kw


def _set_overrides(config_cls: type, items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs as typed hyper-parameters (VALUE read as JSON)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls) if f.name != "env_kwargs"}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in defaults:
            raise UserError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(defaults)}"
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        default = defaults[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if None not in (default, value) and type(value) is not type(default):
            raise UserError(
                f"--set {item!r}: {key} takes a {type(default).__name__}, not {value!r}"
            )
        out[key] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from druginv_agents import dqn, ppo
    except ImportError as exc:
        raise UserError(
            f"training needs the agents' dependencies ({exc}); install 'druginv-gym[torch]'"
        ) from None
    module = {"ppo": ppo, "dqn": dqn}[args.algo]
    config_cls = ppo.PPOConfig if args.algo == "ppo" else dqn.DQNConfig
    overrides: dict[str, Any] = {
        "env_kwargs": _env_kwargs(args),
        "seed": args.seed,
        "device": args.device,
    }
    if args.total_steps is not None:
        overrides["total_steps"] = args.total_steps
    if args.num_envs is not None:
        overrides["num_envs"] = args.num_envs
    if args.shortage_penalty is not None:
        overrides["shortage_penalty"] = args.shortage_penalty
    overrides.update(_set_overrides(config_cls, args.set or []))
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: no CUDA device is available")
    try:
        cfg = config_cls(**overrides)
    except (ValueError, TypeError) as exc:
        raise UserError(f"bad hyper-parameter: {exc}") from None
    if args.resume is not None and not args.resume.is_file():
        raise UserError(f"--resume {args.resume}: no such checkpoint file")
    from druginv_gym._io import make_out_dir

    try:
        make_out_dir(args.logdir, "--logdir")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    policy = module.train(cfg, logdir=args.logdir, resume=args.resume, progress=None)
    what = "cost + shortage penalty" if cfg.shortage_penalty > 0 else "cost"
    print(
        f"{args.algo}: best validation {what} {policy.meta['best_eval_cost']:,.0f} USD after "
        f"{policy.meta['global_step']:,} steps; checkpoints in {args.logdir}"
    )
    return 0


def _print_table(title: str, summary: Any, sources: dict[str, str] | None = None) -> None:
    """Means ± 95 % intervals per policy, with rich when it is installed."""
    import math

    def pct(x: float, ci: float | None = None) -> str:
        if not math.isfinite(x):
            return "n/a"
        return f"{100 * x:.2f} %" + (f" ± {100 * ci:.2f}" if ci is not None else "")

    cols = [
        "policy",
        "cost (USD)",
        "vs optimum",
        "shortage",
        "stockout",
        "unexpected",
        "fill",
        "waste",
    ]
    rows = []
    for name, r in summary.iterrows():
        gap = r.get("gap_to_optimum", float("nan"))
        rows.append(
            [
                str(name) + (f" [{sources[name]}]" if sources and name in sources else ""),
                f"{r.total_cost:,.0f} ± {r.total_cost_ci95:,.0f}",
                pct(gap, r.get("gap_to_optimum_ci95")) if math.isfinite(gap) else "n/a",
                pct(r.shortage_rate, r.shortage_rate_ci95),
                pct(r.stockout_rate, r.stockout_rate_ci95),
                pct(r.unexpected_rate, r.unexpected_rate_ci95),
                pct(r.fill_rate, r.fill_rate_ci95),
                pct(r.waste_rate, r.waste_rate_ci95),
            ]
        )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
        print(title)
        for row in [cols, *rows]:
            print(
                "  ".join(
                    v.ljust(w) if i == 0 else v.rjust(w)
                    for i, (v, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return
    table = Table(title=title)
    for i, c in enumerate(cols):
        table.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))
    console.print(table)


def _default_out(args: argparse.Namespace) -> Any:
    from pathlib import Path

    name = args.scenario
    if args.n_drugs is not None and not (args.scenario == "paper" and args.n_drugs == 70):
        name += f"-{args.n_drugs}"
    if args.horizon is not None:
        name += f"x{args.horizon}"
    return Path("results") / name


def _spec(args: argparse.Namespace, policies: list[str]) -> Any:
    """The :class:`~druginv_gym.benchmark.BenchmarkSpec` of ``benchmark``/``evaluate``
    arguments; a bad value is a one-line user error."""
    from druginv_gym.benchmark import BenchmarkSpec

    try:
        return BenchmarkSpec(
            scenario=args.scenario,
            n_drugs=args.n_drugs,
            horizon=args.horizon,
            episodes=args.episodes,
            seed=args.seed,
            policies=tuple(policies),
            tune_episodes=args.tune_episodes,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_benchmark(args: argparse.Namespace) -> int:
    from druginv_gym.benchmark import DEFAULT_POLICIES, run_benchmark

    policies = list(args.policies or DEFAULT_POLICIES) + [f"agent:{p}" for p in args.agent or []]
    for path in args.agent or []:
        if not path.is_file():
            raise UserError(f"--agent {path}: no such checkpoint file")
    spec = _spec(args, policies)
    out = args.out or _default_out(args)
    try:
        result = run_benchmark(spec, out, progress=None, plots=not args.no_plots)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    cfg = spec.config
    _print_table(
        f"{cfg.name}: {cfg.n_drugs} drugs x {cfg.horizon} slots, {spec.episodes} held-out "
        f"episodes (seeds {spec.seed}..{spec.seed + spec.episodes - 1})",
        result.summary,
    )
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {', '.join(f.name for f in result.files)} to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import druginv_gym
    from druginv_gym.benchmark import (
        DEFAULT_POLICIES,
        OTHER_POLICIES,
        make_policy,
        tune_baselines,
    )

    name = args.policy
    if name not in DEFAULT_POLICIES + OTHER_POLICIES:
        try:
            import druginv_agents

            shipped = druginv_agents.list_pretrained()
        except ImportError:
            shipped = []
        if not (Path(name).suffix == ".pt" or Path(name).is_file() or name in shipped):
            known = [*DEFAULT_POLICIES, *OTHER_POLICIES, *shipped]
            raise UserError(f"unknown policy {name!r}; choose from {known} or a checkpoint path")
        name = f"agent:{name}"
    spec = _spec(args, [name])
    try:
        env, policy, _ = make_policy(name, spec, tune_baselines(spec, progress=None))
        episodes = druginv_gym.evaluate(env, policy, args.episodes, args.seed, progress=None)
    except ImportError as exc:
        raise UserError(f"agents need 'druginv-gym[torch]' ({exc})") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    episodes.insert(0, "policy", args.policy)
    summary = druginv_gym.summarize(episodes)
    cfg = env.unwrapped.config
    _print_table(
        f"{cfg.name}: {cfg.n_drugs} drugs x {cfg.horizon} slots, seeds "
        f"{args.seed}..{args.seed + args.episodes - 1}",
        summary,
    )
    if args.out is not None:
        from druginv_gym._io import atomic_write_text

        try:
            atomic_write_text(args.out, episodes.to_csv(index=False))
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write it ({exc.strerror})") from None
        print(f"wrote {args.out}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import pandas as pd

    from druginv_gym.solvers import solve_hindsight

    env = gym.make("DrugRefill-v0", **_env_kwargs(args))
    env.reset(seed=args.seed)
    u = env.unwrapped
    sol = solve_hindsight(u.config, u.exogenous)
    print(
        f"{u.config.name}, seed {args.seed}: status {sol.status}, objective "
        f"{sol.objective:,.2f} USD, {sol.iterations} iterations, {sol.solve_seconds:.2f} s"
    )
    if args.out is not None:
        from druginv_gym._io import atomic_write_text

        table = pd.DataFrame(sol.orders, columns=[f"drug_{i}" for i in range(u.config.n_drugs)])
        table.insert(0, "slot", range(len(table)))
        try:
            atomic_write_text(args.out, table.to_csv(index=False))
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write it ({exc.strerror})") from None
        print(f"wrote the optimal orders (units, slot x drug) to {args.out}")
    return 0 if sol.success else 1


def cmd_forecast(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from druginv_gym.data import load_pharma_sales
    from druginv_gym.forecasting import FORECASTERS
    from druginv_gym.forecasting.metrics import mae, rmse, smape

    if args.model not in FORECASTERS:
        raise UserError(f"unknown forecaster {args.model!r}; choose from {sorted(FORECASTERS)}")
    sales = load_pharma_sales("weekly")
    groups = args.groups or list(sales.columns)
    missing = [g for g in groups if g not in sales.columns]
    if missing:
        raise UserError(f"--groups {missing}: not in the data; choose from {list(sales.columns)}")
    data = sales[groups].to_numpy(dtype=float).T
    n_weeks = data.shape[1]
    if not 1 <= args.test_weeks < n_weeks - 8:
        raise UserError(f"--test-weeks {args.test_weeks}: must be in 1..{n_weeks - 9}")
    start = n_weeks - args.test_weeks
    model = FORECASTERS[args.model]()
    model.fit(data[:, :start])
    h = args.horizon
    origins = range(start, n_weeks - h + 1)
    if len(origins) == 0:
        raise UserError(f"--horizon {h}: longer than the test weeks")
    pred = np.stack([model.predict(data[:, :t], h)[:, h - 1] for t in origins], axis=1)
    actual = data[:, start + h - 1 :]
    rows = [
        {
            "group": g,
            "mae": mae(actual[i], pred[i]),
            "rmse": rmse(actual[i], pred[i]),
            "smape": smape(actual[i], pred[i]),
        }
        for i, g in enumerate(groups)
    ]
    table = pd.DataFrame(rows)
    print(
        f"{args.model}: {h}-week-ahead forecasts over the last {args.test_weeks} weeks "
        f"(fitted on the {start} weeks before)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(
        f"mean: MAE {table.mae.mean():.2f}, RMSE {table.rmse.mean():.2f}, "
        f"SMAPE {table.smape.mean():.2f} %"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="druginv",
        description="Hospital drug refilling (DR2O): environments, baselines, agents.",
        epilog="examples:" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train a DQN (DRLD) or PPO agent",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:" + EXAMPLES,
    )
    train.add_argument("algo", choices=["ppo", "dqn"])
    train.add_argument("--scenario", default="paper", help="scenario name (default: paper)")
    train.add_argument("--n-drugs", type=_positive(int), default=None)
    train.add_argument("--horizon", type=_positive(int), default=None)
    train.add_argument(
        "--total-steps",
        type=_positive(int),
        default=None,
        help="env steps (PPO: slots x envs; DQN: drug decisions x envs)",
    )
    train.add_argument("--num-envs", type=_positive(int), default=None)
    train.add_argument(
        "--shortage-penalty",
        type=float,
        default=None,
        help="training-only cost per drug-slot below C_lo, in per-drug reward-scale units",
    )
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other hyper-parameter of PPOConfig/DQNConfig (repeatable), e.g. gamma=0.9",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    train.add_argument("--logdir", type=Path, default=Path("runs"))
    train.add_argument("--resume", type=Path, default=None, help="a last.pt to continue from")
    train.set_defaults(func=cmd_train)

    def scenario_args(p: argparse.ArgumentParser, n_drugs: int | None = None) -> None:
        p.add_argument("--scenario", default="paper", help="scenario name (default: paper)")
        p.add_argument("--n-drugs", type=_positive(int), default=n_drugs)
        p.add_argument("--horizon", type=_positive(int), default=None)

    bench = sub.add_parser(
        "benchmark",
        help="the paper's comparison: optimum, agents and baselines on held-out traces",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:" + EXAMPLES,
    )
    scenario_args(bench)
    bench.add_argument("--episodes", type=_positive(int), default=10)
    bench.add_argument("--seed", type=_nonnegative_int, default=0, help="first held-out seed")
    bench.add_argument("--out", type=Path, default=None, help="default: results/<scenario>/")
    bench.add_argument(
        "--policies",
        nargs="+",
        default=None,
        help="subset of: hindsight-optimal dqn ppo over-provisioning ski-rental max-min "
        "base-stock (s,S)",
    )
    bench.add_argument("--agent", type=Path, action="append", help="also a checkpoint (repeatable)")
    bench.add_argument("--tune-episodes", type=_positive(int), default=8)
    bench.add_argument("--no-plots", action="store_true")
    bench.set_defaults(func=cmd_benchmark)

    ev = sub.add_parser(
        "evaluate",
        help="score one policy (baseline, pretrained agent or checkpoint) on held-out seeds",
    )
    ev.add_argument("policy", help="a baseline name, hindsight-optimal, ppo-paper-70, or a .pt")
    scenario_args(ev)
    ev.add_argument("--episodes", type=_positive(int), default=10)
    ev.add_argument("--seed", type=_nonnegative_int, default=0)
    ev.add_argument("--tune-episodes", type=_positive(int), default=8)
    ev.add_argument("--out", type=Path, default=None, help="write the per-episode CSV here")
    ev.set_defaults(func=cmd_evaluate)

    solve = sub.add_parser("solve", help="hindsight optimum (Ipopt) of one episode")
    scenario_args(solve)
    solve.add_argument("--seed", type=_nonnegative_int, default=0)
    solve.add_argument("--out", type=Path, default=None, help="write the orders CSV here")
    solve.set_defaults(func=cmd_solve)

    fc = sub.add_parser("forecast", help="score a forecaster on the real weekly pharmacy data")
    fc.add_argument(
        "model",
        help="naive, seasonal_naive, moving_average, exponential_smoothing, mlp, lstm, cnn_lstm",
    )
    fc.add_argument("--groups", nargs="+", default=None, help="ATC groups (default: all 8)")
    fc.add_argument("--test-weeks", type=_positive(int), default=52)
    fc.add_argument("--horizon", type=_positive(int), default=1)
    fc.set_defaults(func=cmd_forecast)

    from druginv_gym.sweep import add_sweep_parser

    add_sweep_parser(sub, EXAMPLES)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"druginv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("druginv: interrupted (the last checkpoint is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
