"""The ``druginv`` command line.

Examples::

    druginv benchmark                                   # the paper's comparison, 70 drugs
    druginv benchmark --n-drugs 30 --episodes 20 --out results/paper-30
    druginv evaluate ppo-paper-70 --episodes 10         # any policy on held-out seeds
    druginv evaluate base-stock --scenario seasonal --n-drugs 20
    druginv solve --n-drugs 70 --seed 3 --out orders.csv  # hindsight optimum of one episode
    druginv forecast moving_average --test-weeks 52     # forecasters on the real data
    druginv classify --scenario hospital --out results/classes-hospital  # ABC x VEN, Pareto
    druginv classify --data pharma                      # the real sales data's 8 ATC groups
    druginv train ppo --scenario paper --n-drugs 70 --total-steps 600000 --logdir runs/ppo-70
    druginv train dqn --scenario paper --n-drugs 70 --set gamma=0.9 --set learning_rate=1e-3
    druginv train ppo --resume runs/ppo-70/last.pt --total-steps 900000 --logdir runs/ppo-70
    druginv sweep --scenarios paper seasonal --n-drugs 10 30 --seeds 0-4 --out results/sweep

User errors (a bad value, a missing file, an output path that cannot be written) print one
line and exit with code 2, before any work starts. Every option's ``--help`` shows its default.
Long runs show a tqdm bar on a terminal and, elsewhere (a batch job, a pipe), a plain progress
line every 30 s (``DRUGINV_PROGRESS_EVERY`` seconds; :mod:`druginv_gym.progress`).

Policies, their help and the trainers come from :mod:`druginv_gym.registry` (agents register
there through an entry point; this module never imports them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from druginv_gym import registry
from druginv_gym.preflight import check_checkpoint, check_out_dir, check_out_file, check_policy_file
from druginv_gym.reporting import (
    BINDING_TITLE,
    CLASS_TITLE,
    SUPPLY_TITLE,
    UserError,
    has_classes,
    print_table,
)

__all__ = ["HelpFormatter", "UserError", "build_parser", "main"]

EXAMPLES = __doc__.split("Examples::", 1)[1].split("User errors")[0]


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Epilogs as written (the policy lists, the examples), and every option's default after
    its help, as ``ArgumentDefaultsHelpFormatter`` does: ``(default: 10)``, ``(default: off)``
    for a flag. An option whose default needs words (``None`` meaning "the scenario's") says
    ``(default: ...)`` in its own help, which is then left as it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if "(default" in text or "%(default)" in text:
            return text
        default = action.default
        if action.nargs == 0 and action.const is True and default is False:
            shown = "off"  # a store_true flag
        elif isinstance(default, (list, tuple)):
            shown = " ".join(map(str, default))
        else:
            shown = str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


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


def _forecast_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``forecaster``/``forecast_horizon`` env keyword arguments of ``train``; a saved
    forecaster is stored by absolute path (the checkpoint then loads from anywhere)."""
    from pathlib import Path

    from druginv_gym.forecasting import make_forecaster

    if args.forecaster is None:
        if args.forecast_horizon is not None:
            raise UserError("--forecast-horizon needs --forecaster")
        return {}
    spec = args.forecaster
    if Path(spec).is_file():
        spec = str(Path(spec).resolve())
    try:
        make_forecaster(spec)  # fail fast: an unknown name, an unfitted or unreadable model
    except (ValueError, TypeError) as exc:
        raise UserError(f"--forecaster: {exc}") from None
    kw: dict[str, Any] = {"forecaster": spec}
    if args.forecast_horizon is not None:
        kw["forecast_horizon"] = args.forecast_horizon
    return kw


def _penalty(text: str) -> float | dict[str, float]:
    """``--shortage-penalty``: a number, or ``V=2,E=0.5`` (class -> number); the trainer's
    config checks the values."""
    from druginv_gym.config import CRITICALITY

    if "=" not in text:
        return _number(text)
    out: dict[str, float] = {}
    for part in text.split(","):
        label, _, value = part.partition("=")
        label = label.strip()
        if label not in CRITICALITY:
            raise argparse.ArgumentTypeError(f"{label!r} in {text!r} is not a class V, E or N")
        out[label] = _number(value)
    return out


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


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
    trainer = registry.get_trainer(args.algo)
    try:
        config_cls, train = trainer.resolve()
    except ImportError as exc:
        hint = f"; install '{trainer.requires}'" if trainer.requires else ""
        raise UserError(f"training {args.algo} needs its dependencies ({exc}){hint}") from None
    overrides: dict[str, Any] = {
        "env_kwargs": {**_env_kwargs(args), **_forecast_kwargs(args)},
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
    if args.resume is not None:
        check_checkpoint(args.resume, "--resume")
    check_out_dir(args.logdir, "--logdir")
    plan = getattr(cfg, "step_plan", None)  # trainers that play whole rollouts say how many
    if callable(plan):
        print(plan().describe("--total-steps"))
    policy = train(cfg, logdir=args.logdir, resume=args.resume, progress=None)
    penalty = getattr(cfg, "shortage_penalty", 0)
    weights = penalty.values() if isinstance(penalty, dict) else [penalty]
    what = "cost + shortage penalty" if any(w > 0 for w in weights) else "cost"
    print(
        f"{args.algo}: best validation {what} {policy.meta['best_eval_cost']:,.0f} USD after "
        f"{policy.meta['global_step']:,} steps; checkpoints in {args.logdir}"
    )
    return 0


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


def _cores() -> int:
    """The cores this process may use."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def cmd_benchmark(args: argparse.Namespace) -> int:
    from druginv_gym.benchmark import run_benchmark

    policies = list(args.policies or registry.default_policies())
    policies += [f"agent:{p}" for p in args.agent or []]
    for path in args.agent or []:
        check_checkpoint(path, "--agent")
    spec = _spec(args, policies)
    tolerances = _tolerances(args.tolerance or [])
    if args.against is not None:
        from druginv_gym.testing import read_summary

        try:
            read_summary(args.against)  # a bad reference fails now, not after the run
        except ValueError as exc:
            raise UserError(f"--against {exc}") from None
    out = check_out_dir(args.out or _default_out(args), "--out")
    try:
        result = run_benchmark(
            spec, out, progress=None, plots=not args.no_plots, jobs=args.jobs or _cores()
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    cfg = spec.config
    print_table(
        f"{cfg.name}: {cfg.n_drugs} drugs x {cfg.horizon} slots, {spec.episodes} held-out "
        f"episodes (seeds {spec.seed}..{spec.seed + spec.episodes - 1})",
        result.summary,
    )
    print_table(BINDING_TITLE, result.summary, table="binding")
    if cfg.supply is not None:
        print_table(SUPPLY_TITLE, result.summary, table="supply")
    if has_classes(cfg):
        print_table(CLASS_TITLE, result.summary, table="classes")
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {', '.join(f.name for f in result.files)} to {out}")
    if args.against is None:
        return 0
    from druginv_gym.io import atomic_write_text
    from druginv_gym.testing import compare_summaries

    found = compare_summaries(out / "summary.csv", args.against, tolerances=tolerances)
    report = f"Against {args.against}:\n\n{found.markdown()}\n"
    atomic_write_text(out / "against.md", report)
    print(report.rstrip())
    if found.ok:
        print("no regression (against.md)")
        return 0
    print(f"{len(found.regressions)} regressions (against.md)")
    return 1


def _tolerances(items: list[str]) -> dict[str, tuple[float, float]]:
    """``--tolerance METRIC=VALUE`` as ``{metric: (relative, absolute)}``: relative for the
    cost metrics (``*_cost``), absolute for the others (rates, gaps)."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        try:
            tol = float(value)
        except ValueError:
            tol = float("nan")
        if not sep or not metric or not tol >= 0:
            raise UserError(f"--tolerance {item!r}: expected METRIC=VALUE, VALUE >= 0")
        out[metric] = (tol, 0.0) if metric.endswith("cost") else (0.0, tol)
    return out


def cmd_dataset(args: argparse.Namespace) -> int:
    from druginv_gym.datasets import write_dataset
    from druginv_gym.progress import progress_bar

    with progress_bar(total=args.episodes, desc=f"dataset {args.policy}", unit="episodes") as bar:
        try:
            dataset = write_dataset(
                args.policy,
                scenario=args.scenario,
                n_drugs=args.n_drugs,
                horizon=args.horizon,
                episodes=args.episodes,
                seed=args.seed,
                dataset_id=args.id,
                root=args.root,
                tune_episodes=args.tune_episodes,
                progress=lambda done, total: bar.update(1),
            )
        except (ValueError, ImportError) as exc:
            raise UserError(str(exc)) from None
    print(
        f"wrote Minari dataset {dataset.spec.dataset_id}: {dataset.total_episodes} episodes, "
        f"{dataset.total_steps} steps (minari.load_dataset({dataset.spec.dataset_id!r}))"
    )
    return 0


def _evaluate_episodes(env: Any, policy: Any, episodes: int, seed: int, label: str) -> Any:
    """``druginv_gym.evaluate(env, policy, episodes, seed)``, one episode at a time under a
    :func:`~druginv_gym.progress.progress_bar` (the same table: episode ``k`` plays seed
    ``seed + k`` after ``policy.reset()``)."""
    import pandas as pd

    import druginv_gym
    from druginv_gym.progress import progress_bar

    rows = []
    with progress_bar(total=episodes, desc=f"evaluate {label}", unit="episodes") as bar:
        for k in range(episodes):
            row = druginv_gym.evaluate(env, policy, 1, seed + k, progress=False)
            rows.append(row.assign(episode=k))
            bar.update(1)
    return pd.concat(rows, ignore_index=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import druginv_gym
    from druginv_gym.benchmark import make_policy, tune_baselines

    try:
        name = registry.resolve_alias(args.policy)  # ppo-paper-70 -> agent:ppo-paper-70
    except ValueError as exc:
        raise UserError(str(exc)) from None
    check_policy_file(name)
    spec = _spec(args, [name])
    if args.out is not None:
        check_out_file(args.out, "--out")
    try:
        env, policy, _ = make_policy(name, spec, tune_baselines(spec, progress=None))
        episodes = _evaluate_episodes(env, policy, args.episodes, args.seed, args.policy)
    except ImportError as exc:
        requires = registry.resolve(name)[0].requires
        hint = f" needs '{requires}'" if requires else ": a dependency is missing"
        raise UserError(f"{args.policy}{hint} ({exc})") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    episodes.insert(0, "policy", args.policy)
    summary = druginv_gym.summarize(episodes)
    cfg = env.unwrapped.config
    print_table(
        f"{cfg.name}: {cfg.n_drugs} drugs x {cfg.horizon} slots, seeds "
        f"{args.seed}..{args.seed + args.episodes - 1}",
        summary,
    )
    print_table(BINDING_TITLE, summary, table="binding")
    if cfg.supply is not None:
        print_table(SUPPLY_TITLE, summary, table="supply")
    if has_classes(cfg):
        print_table(CLASS_TITLE, summary, table="classes")
    if args.out is not None:
        from druginv_gym.io import atomic_write_text

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

    env_kwargs = _env_kwargs(args)
    if args.out is not None:
        check_out_file(args.out, "--out")
    env = gym.make("DrugRefill-v0", **env_kwargs)
    env.reset(seed=args.seed)
    u = env.unwrapped
    sol = solve_hindsight(u.config, u.exogenous)
    print(
        f"{u.config.name}, seed {args.seed}: status {sol.status}, objective "
        f"{sol.objective:,.2f} USD, {sol.iterations} iterations, {sol.solve_seconds:.2f} s"
    )
    if args.out is not None:
        from druginv_gym.io import atomic_write_text

        table = pd.DataFrame(sol.orders, columns=[f"drug_{i}" for i in range(u.config.n_drugs)])
        table.insert(0, "slot", range(len(table)))
        try:
            atomic_write_text(args.out, table.to_csv(index=False))
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write it ({exc.strerror})") from None
        print(f"wrote the optimal orders (units, slot x drug) to {args.out}")
    return 0 if sol.success else 1


def cmd_classify(args: argparse.Namespace) -> int:
    from druginv_gym import classify

    if args.out is not None:
        out = check_out_dir(args.out, "--out")
    try:
        if args.data == "pharma":
            table = classify.pharma_sales_table(cutoffs=tuple(args.cutoffs))
            what, measure = "the pharmacy sales data's ATC groups (by units sold)", "units sold"
        else:
            from druginv_gym.scenarios import make_scenario

            cfg = make_scenario(args.scenario, n_drugs=args.n_drugs, horizon=args.horizon)
            table = classify.classify(cfg, cutoffs=tuple(args.cutoffs))
            what, measure = f"{cfg.name} (nominal spend over {cfg.horizon} slots)", "spend"
    except ValueError as exc:
        raise UserError(str(exc)) from None
    counts = table.groupby("abc").agg(drugs=("drug", "size"), share=("share", "sum"))
    print(f"ABC classes of {what}, cut-offs {args.cutoffs[0]:g} / {args.cutoffs[1]:g}:")
    for label, row in counts.iterrows():
        print(f"  {label}: {int(row.drugs)} drugs, {100 * row.share:.1f} % of the {measure}")
    if table.criticality.any():
        matrix = _class_matrix(table)
        print("ABC x criticality (drugs):")
        print("  " + matrix.to_string().replace("\n", "\n  "))
    shown = table if len(table) <= args.rows else table.head(args.rows)
    print(shown.to_string(index=False, float_format=lambda x: f"{x:,.4g}"))
    if len(table) > args.rows:
        print(f"... {len(table) - args.rows} more drugs (--rows, or --out for the whole table)")
    if args.out is not None:
        from druginv_gym.io import atomic_write_text

        atomic_write_text(out / "classes.csv", table.to_csv(index=False))
        written = ["classes.csv"]
        try:
            classify.pareto_figure(table, out / "pareto.png", f"ABC analysis: {what}", measure)
            written.append("pareto.png")
        except ImportError as exc:
            print(f"note: no plot ({exc})")
        print(f"wrote {', '.join(written)} to {out}")
    return 0


def _class_matrix(table: Any) -> Any:
    """Drugs per ABC class (rows) and criticality (columns, most critical first)."""
    import pandas as pd

    from druginv_gym.classify import VEN

    matrix = pd.crosstab(table.abc, table.criticality)
    return matrix.reindex(columns=[c for c in VEN if c in matrix.columns])


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


def _policies_epilog() -> str:
    """The registered policies, one per line with their help, for ``benchmark``/``evaluate``."""
    defaults = registry.default_policies()
    rest = [e for e in registry.policies() if e.name not in defaults]
    entries = [*(registry.get_policy(n) for n in defaults), *rest]
    width = max((len(e.usage()) for e in entries), default=0)
    lines = ["policies (* the default set):"]
    for e in entries:
        mark = "*" if e.name in defaults else " "
        lines.append(f"  {mark} {e.usage():<{width}}  {e.help}")
        aliases = e.alias_names()
        if aliases:
            lines.append(f"    {'':<{width}}  or by itself: {', '.join(aliases)}")
    return "\n".join(lines) + "\n\n"


def _trainers_epilog() -> str:
    """The registered trainers, one per line with their help, for ``train``."""
    trainers = registry.trainers()
    width = max((len(t.name) for t in trainers), default=0)
    lines = ["algorithms:", *(f"  {t.name:<{width}}  {t.help}" for t in trainers)]
    return "\n".join(lines) + "\n\n"


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    trainer_names = [t.name for t in registry.trainers()]
    defaults = registry.default_policies()
    others = [n for n in registry.policy_names() if n not in defaults]
    others += [e.usage() for e in registry.policies() if e.takes_argument]

    parser = argparse.ArgumentParser(
        prog="druginv",
        description="Hospital drug refilling (DR2O): environments, baselines, agents.",
        epilog="examples:" + EXAMPLES,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help=f"train an agent ({', '.join(trainer_names) or 'no trainer is installed'})",
        formatter_class=HelpFormatter,
        epilog=_trainers_epilog() + "examples:" + EXAMPLES,
    )
    train.add_argument("algo", choices=trainer_names, help="the algorithm (see below)")
    train.add_argument("--scenario", default="paper", help="scenario name")
    train.add_argument(
        "--n-drugs", type=_positive(int), default=None, help="drugs (default: the scenario's)"
    )
    train.add_argument(
        "--horizon",
        type=_positive(int),
        default=None,
        help="slots per episode (default: the scenario's)",
    )
    train.add_argument(
        "--total-steps",
        type=_positive(int),
        default=None,
        help="env steps (PPO: slots x envs; DQN: drug decisions x envs), rounded down to whole "
        "rollouts (a printed line says how many run) (default: the algorithm's)",
    )
    train.add_argument(
        "--num-envs",
        type=_positive(int),
        default=None,
        help="vector envs (default: the algorithm's)",
    )
    train.add_argument(
        "--shortage-penalty",
        type=_penalty,
        default=None,
        help="training-only cost per drug-slot below C_lo, in per-drug reward-scale units: a "
        "number, or one per criticality class, V=2,E=0.5,N=0 (default: the algorithm's)",
    )
    train.add_argument(
        "--forecaster",
        default=None,
        help="train with a demand forecast in the observation (ForecastObservation): a "
        "forecaster name that needs no fitting, or a saved forecaster (.pt, .json) fitted on "
        "the scenario's training data (default: none, no forecast)",
    )
    train.add_argument(
        "--forecast-horizon",
        type=_positive(int),
        default=None,
        help="slots of forecast per drug, with --forecaster (default: 3)",
    )
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other field of the algorithm's configuration (repeatable), e.g. gamma=0.9 "
        "(default: none, the algorithm's values)",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the envs and the network")
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument(
        "--logdir",
        type=Path,
        default=Path("runs"),
        help="folder of the checkpoints (last.pt, best.pt) and TensorBoard logs",
    )
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="a last.pt to continue from (default: none, a fresh start)",
    )
    train.set_defaults(func=cmd_train)

    def scenario_args(p: argparse.ArgumentParser, n_drugs: int | None = None) -> None:
        p.add_argument("--scenario", default="paper", help="scenario name")
        p.add_argument(
            "--n-drugs",
            type=_positive(int),
            default=n_drugs,
            help="drugs" if n_drugs is not None else "drugs (default: the scenario's)",
        )
        p.add_argument(
            "--horizon",
            type=_positive(int),
            default=None,
            help="slots per episode (default: the scenario's)",
        )

    bench = sub.add_parser(
        "benchmark",
        help="the paper's comparison: optimum, agents and baselines on held-out traces",
        formatter_class=HelpFormatter,
        epilog=_policies_epilog() + "examples:" + EXAMPLES,
    )
    scenario_args(bench)
    bench.add_argument(
        "--episodes", type=_positive(int), default=10, help="held-out episodes per policy"
    )
    bench.add_argument("--seed", type=_nonnegative_int, default=0, help="first held-out seed")
    bench.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: results/<scenario>, plus -<n-drugs> and x<horizon> "
        "when given)",
    )
    bench.add_argument(
        "--policies",
        nargs="+",
        default=None,
        help=(
            f"subset of: {' '.join(defaults)} (default: all of them); also "
            + (" ".join(others) or "nothing else")
        ).replace("%", "%%"),
    )
    bench.add_argument(
        "--agent",
        type=Path,
        action="append",
        help="also a checkpoint (repeatable) (default: none)",
    )
    bench.add_argument(
        "--tune-episodes",
        type=_positive(int),
        default=8,
        help="training episodes that tune base-stock and (s,S)",
    )
    bench.add_argument(
        "--jobs",
        type=_positive(int),
        default=None,
        help="worker processes playing the cells (default: the cores this process may use; "
        "the numbers do not depend on it)",
    )
    bench.add_argument("--no-plots", action="store_true", help="skip the figures")
    bench.add_argument(
        "--against",
        type=Path,
        default=None,
        help="an earlier run's summary.csv or folder: compare metric by metric, exit 1 on a "
        "regression (default: no comparison)",
    )
    bench.add_argument(
        "--tolerance",
        action="append",
        metavar="METRIC=VALUE",
        help="with --against: a metric's tolerance, relative for costs, absolute for rates; "
        "repeatable (default: druginv_gym.testing.DEFAULT_TOLERANCES)",
    )
    bench.set_defaults(func=cmd_benchmark)

    ds = sub.add_parser(
        "dataset",
        help="record a policy's episodes as a Minari dataset (offline RL)",
        formatter_class=HelpFormatter,
    )
    ds.add_argument("policy", help="a registered policy (druginv benchmark --help lists them)")
    scenario_args(ds)
    ds.add_argument("--episodes", type=_positive(int), default=10, help="episodes to record")
    ds.add_argument("--seed", type=_nonnegative_int, default=0, help="first episode's seed")
    ds.add_argument(
        "--id", default=None, help="Minari dataset id (default: druginv/<scenario>-<N>-<policy>-v0)"
    )
    ds.add_argument(
        "--root",
        type=Path,
        default=None,
        help="datasets folder (default: Minari's, MINARI_DATASETS_PATH or ~/.minari/datasets)",
    )
    ds.add_argument(
        "--tune-episodes", type=_positive(int), default=8, help="training episodes for tuning"
    )
    ds.set_defaults(func=cmd_dataset)

    ev = sub.add_parser(
        "evaluate",
        help="score one policy (baseline, pretrained agent or checkpoint) on held-out seeds",
        formatter_class=HelpFormatter,
        epilog=_policies_epilog().rstrip("\n"),
    )
    ev.add_argument(
        "policy", help="a policy name (see below), a family's alias (ppo-paper-70) or a .pt"
    )
    scenario_args(ev)
    ev.add_argument("--episodes", type=_positive(int), default=10, help="held-out episodes")
    ev.add_argument("--seed", type=_nonnegative_int, default=0, help="first held-out seed")
    ev.add_argument(
        "--tune-episodes",
        type=_positive(int),
        default=8,
        help="training episodes that tune base-stock and (s,S)",
    )
    ev.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the per-episode CSV here (default: none, the table only)",
    )
    ev.set_defaults(func=cmd_evaluate)

    solve = sub.add_parser(
        "solve", help="hindsight optimum (Ipopt) of one episode", formatter_class=HelpFormatter
    )
    scenario_args(solve)
    solve.add_argument("--seed", type=_nonnegative_int, default=0, help="the episode's seed")
    solve.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the orders CSV here (default: none, the summary only)",
    )
    solve.set_defaults(func=cmd_solve)

    from druginv_gym.forecasting import FORECASTERS

    fc = sub.add_parser(
        "forecast",
        help="score a forecaster on the real weekly pharmacy data",
        formatter_class=HelpFormatter,
    )
    fc.add_argument("model", help="a registered forecaster: " + ", ".join(FORECASTERS))
    fc.add_argument("--groups", nargs="+", default=None, help="ATC groups (default: all 8)")
    fc.add_argument(
        "--test-weeks",
        type=_positive(int),
        default=52,
        help="the last weeks, held out and forecast (the model is fitted on the weeks before)",
    )
    fc.add_argument("--horizon", type=_positive(int), default=1, help="weeks ahead")
    fc.set_defaults(func=cmd_forecast)

    cl = sub.add_parser(
        "classify",
        help="ABC by share of spend crossed with VEN criticality, with a Pareto plot",
        formatter_class=HelpFormatter,
    )
    scenario_args(cl)
    cl.add_argument(
        "--data",
        choices=("pharma",),
        default=None,
        help="classify the shipped pharmacy sales data's 8 ATC groups instead of a scenario "
        "(default: the scenario)",
    )
    cl.add_argument(
        "--cutoffs",
        type=float,
        nargs=2,
        default=(0.8, 0.95),
        metavar=("A", "B"),
        help="ABC cut-offs on the cumulative share of spend",
    )
    cl.add_argument("--rows", type=_positive(int), default=30, help="drugs printed")
    cl.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write classes.csv and pareto.png to this folder (default: none, print only)",
    )
    cl.set_defaults(func=cmd_classify)

    from druginv_gym.sweep import add_sweep_parser

    add_sweep_parser(sub, EXAMPLES, HelpFormatter)
    return parser


def _one_line(message: str) -> str:
    """A user error's message on one line: a message of several lines (another library's
    advice quoted in a reason) keeps its first line."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return message.strip()
    return lines[0].rstrip() + " [...]"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from druginv_gym.progress import progress_every

        try:
            progress_every()  # a bad DRUGINV_PROGRESS_EVERY fails now, not mid-run
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return args.func(args)
    except UserError as exc:
        print(f"druginv: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("druginv: interrupted (the last checkpoint is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
