"""``druginv sweep``: a grid of scenarios x sizes x seeds x policies as Ray tasks.

Each *cell* is one held-out episode of one policy: ``(scenario, n_drugs, horizon, policy,
seed)``. A policy is any name of :mod:`druginv_gym.registry` (a baseline, the optimum, a shipped
agent or checkpoint as ``agent:<name or path>``), or ``train:<algorithm>`` for a registered
trainer (``train:ppo``, ``train:dqn``): an agent that the sweep trains first, once per scenario
and size (``--train-steps`` steps, seed 0, into ``<out>/train/``), then evaluates like the
others. Ray workers find the policies that packages register through entry points; a policy
registered in Python only exists in that process, so play it with ``--local``.

Cells run as Ray tasks (``ray`` is the optional ``sweep`` extra; by default a new local Ray
instance, started for the sweep even when another one runs or left its address behind,
``--address`` to join a cluster where the package is installed), or in this process with
``--local``. Results go to ``<out>/sweep.csv``, rewritten atomically as each cell ends, so
a sweep that is stopped or killed resumes: cells already in the file are skipped, training runs
continue from their last checkpoint, and the table ends with exactly one row per cell.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from druginv_gym import registry
from druginv_gym.io import atomic_write_text, make_out_dir
from druginv_gym.preflight import check_out_dir, check_policy_file
from druginv_gym.reporting import UserError, print_table

KEY = ("scenario", "n_drugs", "horizon", "policy", "seed")


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,3,7"`` -> ``[0, 3, 7]``."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"seeds = {text!r}: expected e.g. '0-9' or '0,3,7'") from None
        if a < 0 or b < a:
            raise ValueError(f"seeds = {text!r}: '{part}' is not a range of seeds >= 0")
        seeds.extend(range(a, b + 1))
    return sorted(set(seeds))


def make_cells(
    scenarios: list[str],
    n_drugs: list[int | None],
    horizon: int | None,
    policies: list[str],
    seeds: list[int],
) -> list[dict[str, Any]]:
    return [
        {"scenario": s, "n_drugs": n, "horizon": horizon, "policy": p, "seed": k}
        for s, n, p, k in itertools.product(scenarios, n_drugs, policies, seeds)
    ]


def cell_key(cell: dict[str, Any]) -> tuple:
    return tuple(_norm(cell[k]) for k in KEY)


def _norm(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _spec(cell: dict[str, Any], tune_episodes: int, policy: str):
    from druginv_gym.benchmark import BenchmarkSpec

    return BenchmarkSpec(
        scenario=cell["scenario"],
        n_drugs=cell["n_drugs"],
        horizon=cell["horizon"],
        episodes=1,
        seed=cell["seed"],
        policies=(policy,),
        tune_episodes=tune_episodes,
    )


def train_dir(
    out: Path, scenario: str, n_drugs: int | None, horizon: int | None, algo: str
) -> Path:
    return out / "train" / f"{scenario}-{n_drugs or 'default'}-{horizon or 'default'}-{algo}"


def train_config(
    scenario: str, n_drugs: int | None, horizon: int | None, algo: str, steps: int
) -> tuple[Any, Any]:
    """``(config, train)`` of the sweep's training of ``algo`` (a registered trainer; seed 0,
    ``steps`` total steps, its ``sweep_overrides``) for the scenario and size."""
    trainer = registry.get_trainer(algo)
    cls, train = trainer.resolve()
    env_kwargs: dict[str, Any] = {"scenario": scenario}
    if n_drugs is not None:
        env_kwargs["n_drugs"] = n_drugs
    if horizon is not None:
        env_kwargs["horizon"] = horizon
    cfg = cls(env_kwargs=env_kwargs, total_steps=steps, seed=0, **trainer.sweep_overrides)
    return cfg, train


def run_training(
    scenario: str, n_drugs: int | None, horizon: int | None, algo: str, steps: int, logdir: str
) -> str:
    """Train ``algo`` (:func:`train_config`) for the scenario, resuming from ``last.pt``;
    returns the best checkpoint."""
    logdir_p = Path(logdir)
    done = logdir_p / "done.json"
    if not done.exists():
        last = logdir_p / "last.pt"
        cfg, train = train_config(scenario, n_drugs, horizon, algo, steps)
        train(cfg, logdir=logdir_p, resume=last if last.exists() else None, progress=False)
        atomic_write_text(done, json.dumps({"algo": algo, "steps": steps}))
    best = logdir_p / "best.pt"
    return str(best if best.exists() else logdir_p / "last.pt")


def run_cell(cell: dict[str, Any], tune_episodes: int, checkpoint: str | None = None) -> dict:
    """Evaluate one cell; returns its row (the cell's key, every metric, wall time)."""
    from druginv_gym.benchmark import make_policy, tune_baselines
    from druginv_gym.evaluation import evaluate

    start = time.perf_counter()
    policy = cell["policy"]
    if policy.startswith("train:"):
        name = f"{registry.get_trainer(policy.split(':', 1)[1]).plays}:{checkpoint}"
    else:
        name = policy
    spec = _spec(cell, tune_episodes, name)
    env, agent, source = make_policy(name, spec, tune_baselines(spec, progress=False))
    row = evaluate(env, agent, 1, cell["seed"]).iloc[0].to_dict()
    row.pop("episode", None)
    row.pop("seed", None)
    return {**cell, "source": str(source), **row, "cell_wall_s": time.perf_counter() - start}


def _load(path: Path) -> pd.DataFrame:
    from druginv_gym.benchmark import read_earlier

    table = read_earlier(path)
    if table.empty:
        return table
    missing = [k for k in KEY if k not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a sweep table (no column {missing[0]!r})")
    table = table.astype({"horizon": "object", "n_drugs": "object"})
    keys = [cell_key(r) for r in table[list(KEY)].to_dict("records")]
    return table.assign(_key=keys).drop_duplicates("_key", keep="last").drop(columns="_key")


def _log_step_plan(training: tuple, steps: int, log: Any) -> None:
    """Log how many steps a ``train:*`` run of the sweep plays (whole rollouts), for trainers
    that say (a ``step_plan()`` method of their configuration)."""
    scenario, n_drugs, horizon, algo = training
    try:
        cfg, _ = train_config(scenario, n_drugs, horizon, algo, steps)
    except ImportError:  # the workers may have what this process lacks
        return
    plan = getattr(cfg, "step_plan", None)
    if callable(plan):
        size = f"{scenario}-{n_drugs or 'default'}-{horizon or 'default'}"
        log(f"train:{algo} on {size}: {plan().describe('--train-steps')}")


def run_sweep(
    cells: list[dict[str, Any]],
    out: str | Path,
    *,
    tune_episodes: int = 4,
    train_steps: int = 50_000,
    address: str | None = None,
    local: bool = False,
    num_cpus: int | None = None,
    progress: bool | None = None,
    log: Any = print,
) -> pd.DataFrame:
    """Run the cells not yet in ``<out>/sweep.csv``; returns the whole table.

    ``address=None`` starts a new local Ray instance (``ray.init(address="local")``, with
    ``num_cpus``), never one found through ``RAY_ADDRESS`` or the address file a stopped
    cluster leaves behind; any other address joins that cluster. ``progress``: ``None`` shows
    a bar on a terminal and progress lines elsewhere (:func:`druginv_gym.progress.progress_bar`).
    """
    from druginv_gym.progress import progress_bar

    out = make_out_dir(out)
    path = out / "sweep.csv"
    table = _load(path)
    done = {cell_key(r) for r in table[list(KEY)].to_dict("records")} if len(table) else set()
    todo = [c for c in cells if cell_key(c) not in done]
    if done:
        log(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already in {path}")
    rows = [table] if len(table) else []
    failures: list[str] = []
    bar = progress_bar(total=len(todo), desc="sweep", unit="cells", enabled=progress)

    def record(row: dict[str, Any]) -> None:
        rows.append(pd.DataFrame([row]))
        atomic_write_text(path, pd.concat(rows, ignore_index=True).to_csv(index=False))
        bar.update(1)

    trainings = {
        (c["scenario"], c["n_drugs"], c["horizon"], c["policy"].split(":", 1)[1])
        for c in todo
        if c["policy"].startswith("train:")
    }
    for t in sorted(trainings, key=str):
        _log_step_plan(t, train_steps, log)
    if local:
        ckpts = {
            t: run_training(*t, train_steps, str(train_dir(out, *t)))
            for t in sorted(trainings, key=str)
        }
        for c in todo:
            ckpt = ckpts.get((c["scenario"], c["n_drugs"], c["horizon"], c["policy"][6:]))
            try:
                record(run_cell(c, tune_episodes, ckpt))
            except Exception as exc:  # reported; the sweep goes on
                failures.append(f"{cell_key(c)}: {type(exc).__name__}: {exc}")
                bar.update(1)
    else:
        try:
            import ray
        except ImportError:
            raise ValueError(
                "the sweep runs on Ray: install 'druginv-gym[sweep]' (or pass --local)"
            ) from None
        try:
            ray.init(
                # "local": a new instance; None would join whatever RAY_ADDRESS or the address
                # file of an earlier (perhaps killed) cluster names, and then refuse num_cpus.
                address="local" if address is None else address,
                num_cpus=num_cpus if address in (None, "local") else None,
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
                configure_logging=False,
            )
        except ConnectionError as exc:  # e.g. a token-authenticated cluster, no token here
            raise RuntimeError(
                f"cannot join the Ray cluster at {address}: {exc} (a cluster with token "
                "authentication needs RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN here too; "
                "docs/cli.md)"
            ) from None
        try:
            train_task = ray.remote(run_training)
            cell_task = ray.remote(run_cell)
            ckpt_refs = {
                t: train_task.remote(*t, train_steps, str(train_dir(out, *t).resolve()))
                for t in trainings
            }
            pending = {}
            for c in todo:
                ref = ckpt_refs.get((c["scenario"], c["n_drugs"], c["horizon"], c["policy"][6:]))
                pending[cell_task.remote(c, tune_episodes, ref)] = c
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                c = pending.pop(ready[0])
                try:
                    record(ray.get(ready[0]))
                except Exception as exc:  # reported; the sweep goes on
                    failures.append(f"{cell_key(c)}: {type(exc).__name__}: {exc}".splitlines()[0])
                    bar.update(1)
        finally:
            ray.shutdown()
    bar.close()
    for f in failures:
        log(f"failed cell {f}")
    result = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(todo)} cells failed (kept {len(result)} rows in {path}; "
            "run again to retry them)"
        )
    return result


def add_gap(table: pd.DataFrame) -> pd.DataFrame:
    """``gap_to_optimum`` per row: cost over the hindsight optimum's on the same scenario,
    size and seed (NaN where the grid has no optimum)."""
    from druginv_gym.benchmark import OPTIMUM

    where = ["scenario", "n_drugs", "horizon", "seed"]
    keyed = table.assign(**{k: table[k].astype(str) for k in where})
    opt = keyed[keyed.policy == OPTIMUM].set_index(where).total_cost
    if opt.empty:
        return table.assign(gap_to_optimum=float("nan"))
    ref = keyed.join(opt.rename("_opt"), on=where)["_opt"].to_numpy()
    return table.assign(gap_to_optimum=table.total_cost.to_numpy() / ref - 1.0)


def default_sweep_policies() -> list[str]:
    """The benchmark's default set without the names the sweep refuses (``dqn``, ``ppo``):
    the optimum and every default baseline."""
    return [p for p in registry.default_policies() if not registry.get_policy(p).sweep_refusal]


def check_policy(name: str) -> None:
    """``UserError`` unless the sweep can play ``name``: a registered policy it does not
    refuse, or ``train:<trainer>``."""
    trainers = [t.name for t in registry.trainers()]
    if name.startswith("train:"):
        if name.split(":", 1)[1] not in trainers:
            use = " or ".join(f"train:{t}" for t in trainers) or "no trainer is installed"
            raise UserError(f"unknown policy {name!r}: use {use}")
        return
    try:
        entry, _ = registry.resolve(name)
    except ValueError:
        plain = [p for p in registry.policy_names() if not registry.get_policy(p).sweep_refusal]
        more = [e.pattern() for e in registry.policies() if e.takes_argument]
        more += [f"'train:{t}'" for t in trainers]
        tail = (", ".join(more[:-1]) + " or " if len(more) > 1 else "") + "".join(more[-1:])
        raise UserError(
            f"unknown policy {name!r}; choose from {plain}" + (f", {tail}" if tail else "")
        ) from None
    if entry.sweep_refusal:
        raise UserError(f"policy {name!r}: {entry.sweep_refusal}")


#: Seconds :func:`check_cluster_reachable` waits for a cluster's port to answer.
CONNECT_TIMEOUT = 10.0


def check_cluster_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT) -> None:
    """``UserError`` unless a TCP connection to ``address``'s ``HOST:PORT`` (``ray://`` or
    not) opens within ``timeout`` seconds: Ray itself retries an address where nothing listens
    for minutes before it gives up. ``None``, ``"local"``, ``"auto"`` and forms without a port
    are left to Ray."""
    import socket

    if address is None or address in ("local", "auto"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UserError(
            f"--address {address}: no Ray cluster answers there ({exc}); start one with "
            "`ray start --head` (docs/cli.md)"
        ) from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from druginv_gym.evaluation import summarize, summary_metrics
    from druginv_gym.scenarios import make_scenario

    for flag, value in (
        ("--train-steps", args.train_steps),
        ("--tune-episodes", args.tune_episodes),
    ):
        if value < 1:
            raise UserError(f"{flag} {value}: must be >= 1")
    try:
        seeds = parse_seeds(args.seeds)
        for s in args.scenarios:
            for n in args.n_drugs or [None]:
                make_scenario(s, n_drugs=n, horizon=args.horizon)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    policies = args.policies or default_sweep_policies()
    for p in policies:
        check_policy(p)
        check_policy_file(p)
    if not args.local:
        check_cluster_reachable(args.address)
    check_out_dir(args.out, "--out")
    cells = make_cells(args.scenarios, args.n_drugs or [None], args.horizon, policies, seeds)
    try:
        table = run_sweep(
            cells,
            args.out,
            tune_episodes=args.tune_episodes,
            train_steps=args.train_steps,
            address=args.address,
            local=args.local,
            num_cpus=args.num_cpus,
        )
    except (ValueError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    table = add_gap(table)
    table = table.assign(
        group=[
            f"{r.scenario}-{int(r.n_drugs) if pd.notna(r.n_drugs) else 'default'} {r.policy}"
            for r in table.itertuples()
        ]
    )
    summary = summarize(table, by="group", metrics=summary_metrics())
    print_table(f"sweep: {len(cells)} cells", summary)
    print(f"wrote {Path(args.out) / 'sweep.csv'}")
    return 0


def add_sweep_parser(
    sub: Any, examples: str, formatter_class: type = argparse.RawDescriptionHelpFormatter
) -> None:
    """The ``sweep`` subcommand in ``sub``; ``formatter_class``: the command line's
    (:class:`druginv_gym.cli.HelpFormatter`, which shows the defaults)."""
    refused = [e.name for e in registry.policies() if e.sweep_refusal]
    p = sub.add_parser(
        "sweep",
        help="a grid of scenarios x sizes x seeds x policies as Ray tasks (resumable)",
        formatter_class=formatter_class,
        epilog="examples:" + examples,
    )
    p.add_argument("--scenarios", nargs="+", default=["paper"], help="scenarios of the grid")
    p.add_argument(
        "--n-drugs", nargs="+", type=int, default=None, help="sizes (default: each scenario's)"
    )
    p.add_argument(
        "--horizon", type=int, default=None, help="slots per episode (default: each scenario's)"
    )
    p.add_argument("--seeds", default="0-4", help="held-out seeds, e.g. 0-9 or 0,3,7")
    p.add_argument(
        "--policies",
        nargs="+",
        default=None,
        help=(
            "any policy of `druginv benchmark --help`"
            + (f" but {', '.join(refused)}" if refused else "")
            + "; "
            + (" ".join(f"train:{t.name}" for t in registry.trainers()) or "no trainer")
            + " to train one first (default: the optimum and every baseline)"
        ).replace("%", "%%"),
    )
    p.add_argument(
        "--train-steps",
        type=int,
        default=50_000,
        help="steps of each train:* run, rounded down to whole rollouts as in druginv train",
    )
    p.add_argument(
        "--tune-episodes",
        type=int,
        default=4,
        help="training episodes that tune base-stock and (s,S)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results/sweep"), help="folder of sweep.csv and train/"
    )
    p.add_argument(
        "--address",
        default=None,
        help="join this Ray cluster (default: a new local Ray instance, even when another runs)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray instance (default: every core)",
    )
    p.add_argument("--local", action="store_true", help="run in this process, without Ray")
    p.set_defaults(func=cmd_sweep)
