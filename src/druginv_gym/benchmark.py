"""The paper's comparison in one call: :func:`run_benchmark` (``druginv benchmark``).

Every policy plays the same held-out traces (episode ``k`` on seed ``seed + k``): the
hindsight optimum (Ipopt, the lower bound), the pretrained DRLD (DQN) and PPO agents, and the
baselines (over-provisioning, ski-rental, max-min, base-stock and (s, S) tuned by simulation
on training seeds, rolling-horizon MPC and the two-stage stochastic program), its cells played
by ``jobs`` worker processes. The run writes, into its output folder:

* ``results.csv``: one row per policy and episode, every metric of
  :data:`druginv_gym.evaluation.METRICS` plus ``gap_to_optimum``;
* ``slots.csv``: one row per policy, episode and slot (cost terms, shortage, stockout and
  unexpected rates), the data behind the per-slot figures;
* ``summary.csv`` and ``summary.md``: mean and 95 % t-interval per policy;
* ``fig4_convergence.png`` (training curves of the agents used, from their shipped logs),
  ``fig5_cost_per_slot.png``, ``fig6_shortage_per_slot.png``, ``fig7_unexpected_per_slot.png``
  (the paper's Figs. 4-7, drawn from this run's data);
* ``run.json``: what was asked (scenario, sizes, seeds, policies) and the tuned levels.

Which policies exist, how each is built and tuned, and which ones a run plays by default come
from :mod:`druginv_gym.registry` (the agents register themselves there through an entry
point, so this module never imports them); which metrics the summaries report comes from
:data:`druginv_gym.evaluation.METRIC_TABLE`.

Results are written atomically after every (policy, episode) cell, so a run that is killed
resumes where it stopped: cells already in ``results.csv`` are skipped, and the run ends with
exactly one row per cell.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from druginv_gym import registry
from druginv_gym.evaluation import evaluate, summarize, summary_metrics, table_metrics
from druginv_gym.io import atomic_write, atomic_write_text, make_out_dir
from druginv_gym.reporting import by_cost, has_classes, markdown_cell, markdown_table, pct

__all__ = [
    "AGENTS",  # noqa: F822  (this and the three below: module __getattr__, from the registry)
    "BASELINES",  # noqa: F822
    "DEFAULT_POLICIES",  # noqa: F822
    "OTHER_POLICIES",  # noqa: F822
    "BenchmarkResult",
    "BenchmarkSpec",
    "make_policy",
    "run_benchmark",
    "tune_baselines",
]

#: The policy every ``gap_to_optimum`` is measured against.
OPTIMUM = "hindsight-optimal"
#: The figures a run draws (file names).
FIGURES = (
    "fig4_convergence.png",
    "fig5_cost_per_slot.png",
    "fig6_shortage_per_slot.png",
    "fig7_unexpected_per_slot.png",
)


def _plain(kind: str, default: bool) -> tuple[str, ...]:
    """Plain (non-family) policies of ``kind`` in or out of the default set, in table order."""
    entries = [e for e in registry.policies() if e.kind == kind and not e.takes_argument]
    chosen = [e for e in entries if (e.default_order is not None) == default]
    return tuple(e.name for e in sorted(chosen, key=lambda e: e.default_order or 0))


def _other_policies() -> tuple[str, ...]:
    defaults = set(registry.default_policies())
    return tuple(n for n in registry.policy_names() if n not in defaults)


# The names this module has always offered, now computed from the registry on access (so they
# include policies registered after the import): the default set, the other plain policies,
# the default baselines and the default agents (``dqn``, ``ppo``), and the summaries' metrics.
_COMPUTED: dict[str, Callable[[], tuple[str, ...]]] = {
    "DEFAULT_POLICIES": registry.default_policies,
    "OTHER_POLICIES": _other_policies,
    "BASELINES": lambda: _plain("baseline", default=True),
    "AGENTS": lambda: _plain("agent", default=True),
    "SUMMARY_METRICS": summary_metrics,
}


def __getattr__(name: str) -> Any:
    if name in _COMPUTED:
        return _COMPUTED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The paper's reported DRLD cost reductions (%) and shortage rates (%) on 70 drugs.
PAPER_MARGINS = {"over-provisioning": 12.31, "ski-rental": 10.4, "max-min": 11.8}
#: Where the rates of the tables are defined (the one place every page points to).
METRICS_DOC = "docs/model.md, section Metrics"
PAPER_SHORTAGE = {
    "DRLD": 2.21,
    "over-provisioning": 4.09,
    "ski-rental": 4.37,
    "max-min": 3.41,
}


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to compare and on what.

    Args:
        scenario: a registered scenario name (``"paper"``, ``"seasonal"``, ``"pharma"``, ...).
        n_drugs, horizon: scenario size (``None``: the scenario's default).
        episodes: held-out episodes (seeds ``seed .. seed + episodes - 1``).
        seed: first evaluation seed.
        policies: names of :mod:`druginv_gym.registry` (default: its default set,
            :data:`DEFAULT_POLICIES`), ``"agent:<name or path>"`` for an agent or checkpoint.
        tune_episodes: training episodes for tuning base-stock and (s, S).
    """

    scenario: str = "paper"
    n_drugs: int | None = None
    horizon: int | None = None
    episodes: int = 10
    seed: int = 0
    policies: tuple[str, ...] = field(default_factory=registry.default_policies)
    tune_episodes: int = 8
    scenario_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("episodes", "tune_episodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} = {v!r} must be an integer >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed = {self.seed!r} must be an integer")
        if self.seed < 0:
            raise ValueError(f"seed = {self.seed!r} must be >= 0")
        if not self.policies:
            raise ValueError("policies is empty: nothing to compare")
        if isinstance(self.policies, str):
            raise ValueError(f"policies = {self.policies!r} must be a sequence of names")
        object.__setattr__(self, "policies", tuple(self.policies))
        for p in self.policies:
            registry.resolve(p)  # ValueError naming it and listing the known names
        if len(set(self.policies)) != len(self.policies):
            raise ValueError(f"policies = {list(self.policies)} lists a policy twice")
        _ = self.config  # unknown scenario or bad size: fail before any work

    def env_kwargs(self, held_out: bool = True) -> dict[str, Any]:
        """``gym.make`` keyword arguments of the scenario: of its held-out data (evaluation;
        :func:`~druginv_gym.scenarios.held_out_options`, e.g. ``pharma``'s test weeks) or,
        with ``held_out=False``, of its training data (tuning). ``scenario_options`` win."""
        from druginv_gym.scenarios import held_out_options

        kw: dict[str, Any] = {"scenario": self.scenario}
        if held_out:
            kw.update(held_out_options(self.scenario))
        kw.update(self.scenario_options)
        if self.n_drugs is not None:
            kw["n_drugs"] = self.n_drugs
        if self.horizon is not None:
            kw["horizon"] = self.horizon
        return kw

    @functools.cached_property
    def config(self) -> Any:
        """The scenario's :class:`~druginv_gym.ScenarioConfig` (built once)."""
        return self.make_env().unwrapped.config

    def make_env(
        self, env_id: str = "DrugRefill-v0", held_out: bool = True, **kwargs: Any
    ) -> gym.Env:
        """The env ``env_id`` on the scenario's held-out data (or, ``held_out=False``, its
        training data, where the tuned rules are tuned); ``kwargs`` go to ``gym.make`` too
        (e.g. an agent's ``forecaster``)."""
        import druginv_gym  # noqa: F401  (registers the ids)

        return gym.make(env_id, **self.env_kwargs(held_out), **kwargs)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["policies"] = list(self.policies)
        return d


@dataclass
class BenchmarkResult:
    """A finished run: per-episode and per-slot tables, the summary, the files written."""

    spec: BenchmarkSpec
    results: pd.DataFrame
    slots: pd.DataFrame
    summary: pd.DataFrame
    out: Path
    files: list[Path]
    notes: list[str]


def make_policy(
    name: str, spec: BenchmarkSpec, tuned: dict[str, dict[str, float]]
) -> tuple[gym.Env, Any, str]:
    """``(env, policy, label)`` for a policy name of :mod:`druginv_gym.registry` (a family
    member such as ``agent:<shipped name or checkpoint path>`` included). ``tuned`` holds the
    tuned policies' parameters by name (:func:`tune_baselines`)."""
    entry, argument = registry.resolve(name)
    if entry.tune is not None and name not in tuned:
        raise ValueError(
            f"policy {name!r} is tuned first: pass tune_baselines(spec) (tuned has {sorted(tuned)})"
        )
    return entry.build(spec, tuned.get(name, {}), argument)


def tune_baselines(spec: BenchmarkSpec, progress: bool | None) -> dict[str, dict[str, float]]:
    """Parameters of the tuned policies (base-stock and (s, S)) that ``spec`` plays, tuned on
    training seeds, in registration order."""
    return {e.name: e.tune(spec, progress) for e in _tuned_entries(spec)}


def _tuned_entries(spec: BenchmarkSpec) -> list[registry.PolicyEntry]:
    """The entries ``spec`` plays that are tuned first, in registration order."""
    return [e for e in registry.policies() if e.tune is not None and e.name in spec.policies]


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def scenario_fingerprint(config: Any) -> str | None:
    """SHA-256 of the scenario's JSON form: a resumed run must play the same scenario, not one
    of the same name as another version defines it (``None`` when the config has no JSON form,
    e.g. a demand object that is not registered)."""
    import hashlib

    try:
        text = config.to_json()
    except ValueError:
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def read_earlier(path: Path) -> pd.DataFrame:
    """A results table written by an earlier run (empty when there is none); ``ValueError``
    naming the file when it cannot be read."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the earlier results to resume ({exc})") from None


def _load_done(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of cells that are complete in both ``results.csv`` and ``slots.csv``."""
    results = read_earlier(out / "results.csv")
    slots = read_earlier(out / "slots.csv") if not results.empty else pd.DataFrame()
    if results.empty:
        return pd.DataFrame(), pd.DataFrame()
    for col in ("policy", "episode"):
        if col not in results.columns or (not slots.empty and col not in slots.columns):
            raise ValueError(f"{out}: results.csv/slots.csv lack the {col!r} column")
    results = results.drop_duplicates(["policy", "episode"], keep="last")
    if slots.empty:
        return pd.DataFrame(), pd.DataFrame()
    in_slots = set(zip(slots.policy, slots.episode, strict=True))
    keep = [cell in in_slots for cell in zip(results.policy, results.episode, strict=True)]
    results = results[keep]
    cells = set(zip(results.policy, results.episode, strict=True))
    slots = slots[[c in cells for c in zip(slots.policy, slots.episode, strict=True)]]
    return results.reset_index(drop=True), slots.reset_index(drop=True)


def _add_gap(results: pd.DataFrame) -> pd.DataFrame:
    results = results.copy()
    if (results.policy == OPTIMUM).any():
        opt = results[results.policy == OPTIMUM].set_index("episode").total_cost
        results["gap_to_optimum"] = results.total_cost / results.episode.map(opt) - 1.0
    else:
        results["gap_to_optimum"] = np.nan
    return results


def run_benchmark(
    spec: BenchmarkSpec,
    out: str | Path,
    *,
    progress: bool | None = None,
    plots: bool = True,
    log: Callable[[str], None] = print,
    jobs: int = 1,
) -> BenchmarkResult:
    """Run (or resume) the comparison of ``spec`` into the folder ``out``.

    ``jobs``: worker processes that play the (policy, episode) cells side by side (1: all in
    this process). The numbers do not depend on it: each cell plays its own seed, and every
    default policy decides from its episode alone (``saa`` re-seeds its futures at each reset).

    Raises ``ValueError`` when ``out`` holds a run of a different spec (nothing is touched).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValueError(f"jobs = {jobs!r} must be an integer >= 1")
    from druginv_gym.progress import progress_bar

    out = make_out_dir(out)
    manifest_path = out / "run.json"
    fingerprint = scenario_fingerprint(spec.config)
    manifest: dict[str, Any] = {"spec": spec.to_json(), "scenario_sha256": fingerprint}
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{manifest_path}: not a benchmark manifest ({exc})") from None
        if old.get("spec") != manifest["spec"]:
            raise ValueError(
                f"{out} holds a different benchmark run ({manifest_path.name}: "
                f"{old.get('spec')}); choose another --out or remove it"
            )
        if old.get("scenario_sha256") != fingerprint:
            raise ValueError(
                f"{out} holds a run of scenario {spec.scenario!r} as another version defined it "
                f"({manifest_path.name} has scenario_sha256 {old.get('scenario_sha256')!r}, "
                f"this one {fingerprint!r}); choose another --out or remove it"
            )
        manifest = old
    results, slots = _load_done(out)
    done = set(zip(results.get("policy", []), results.get("episode", []), strict=True))
    todo = [(p, k) for p in spec.policies for k in range(spec.episodes) if (p, k) not in done]
    if done:
        log(f"resuming: {len(done)} of {len(done) + len(todo)} cells already in {out}")
    if "tuned" not in manifest:
        tunable = [e.name for e in _tuned_entries(spec)]
        if set(tunable) & {p for p, _ in todo}:
            log(f"tuning {' and '.join(tunable)} on {spec.tune_episodes} training episodes")
        manifest["tuned"] = tune_baselines(spec, progress)
    manifest.setdefault("sources", {})
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=float))
    notes: list[str] = []
    left_out: set[str] = set()  # policies that do not apply to the scenario, left out silently
    res_frames = [results] if not results.empty else []
    slot_frames = [slots] if not slots.empty else []
    bar = progress_bar(total=len(todo), desc="benchmark", unit="cells", enabled=progress)
    for cell in _play_cells(spec, manifest["tuned"], todo, jobs, bar, log):
        if cell.note is not None and cell.note not in notes:  # once, not once per worker
            notes.append(cell.note)
        if cell.not_applicable is not None:
            left_out.add(cell.not_applicable)
        if cell.source is not None and manifest["sources"].get(cell.name) != cell.source:
            manifest["sources"][cell.name] = cell.source
            atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=float))
        if cell.episode is not None:
            res_frames.append(cell.episode)
            slot_frames.append(cell.slots)
            # slots first: a cell counts as done once it is in results.csv too.
            _write_csv(pd.concat(slot_frames, ignore_index=True), out / "slots.csv")
            _write_csv(pd.concat(res_frames, ignore_index=True), out / "results.csv")
        bar.update(1)
    bar.close()
    if not res_frames:
        raise ValueError("no policy could be evaluated: " + "; ".join(notes + sorted(left_out)))
    results = pd.concat(res_frames, ignore_index=True)
    rank = results.policy.map({p: i for i, p in enumerate(spec.policies)})
    results = results.assign(_rank=rank).sort_values(["_rank", "episode"]).drop(columns="_rank")
    results = _add_gap(results.reset_index(drop=True))
    notes += _bound_notes(results)
    slots = pd.concat(slot_frames, ignore_index=True)
    _write_csv(results, out / "results.csv")
    summary = summarize(results, metrics=summary_metrics())
    summary = summary.loc[[p for p in spec.policies if p in summary.index]]
    files = [out / "results.csv", out / "slots.csv", out / "summary.csv", out / "summary.md"]
    _write_csv(summary.reset_index(), out / "summary.csv")
    atomic_write_text(out / "summary.md", summary_markdown(spec, summary, results, manifest, notes))
    if plots:
        files += draw_figures(spec, slots, manifest, out)
        if has_classes(spec.config):
            files += class_figure(spec, summary, out)
    files.append(manifest_path)
    return BenchmarkResult(spec, results, slots, summary, out, files, notes)


@dataclass
class _Cell:
    """One played (policy, episode) cell, or why its policy was skipped (``note``)."""

    name: str
    k: int
    episode: pd.DataFrame | None = None
    slots: pd.DataFrame | None = None
    source: str | None = None
    note: str | None = None
    not_applicable: str | None = None  # why its policy was left out (registry.NotApplicable)


#: The policies a process has built, by name (a worker builds each once, as the main loop).
_BUILT: dict[str, tuple[gym.Env, Any, str] | None] = {}


def _play_cell(spec: BenchmarkSpec, tuned: dict[str, dict[str, float]], name: str, k: int) -> _Cell:
    """Play episode ``k`` of policy ``name`` (built at its first cell in this process)."""
    if name not in _BUILT:
        try:
            _BUILT[name] = make_policy(name, spec, tuned)
        except registry.NotApplicable as exc:
            _BUILT[name] = None
            return _Cell(name, k, not_applicable=f"{name}: {exc}")
        except Exception as exc:
            if not isinstance(exc, registry.resolve(name)[0].skip_errors):
                raise
            _BUILT[name] = None
            return _Cell(name, k, note=f"{name}: skipped ({exc})")
    built = _BUILT[name]
    if built is None:
        return _Cell(name, k)
    env, policy, label = built
    start = time.perf_counter()
    ep, sl = evaluate(env, policy, 1, spec.seed + k, return_slots=True)
    ep["episode"] = k
    ep["wall_s"] = time.perf_counter() - start
    solutions = getattr(policy, "solutions", None)  # the hindsight optimum: its QP's bound
    if solutions:
        ep["bound"] = solutions[-1].objective
    sl["episode"] = k
    ep.insert(0, "policy", name)
    sl.insert(0, "policy", name)
    return _Cell(name, k, ep, sl, label)


def _bound_notes(results: pd.DataFrame) -> list[str]:
    """A note when the hindsight plan's replay lies above its QP bound (the relaxation used a
    freedom the env does not have, as holding stock back while demand goes unmet on spiky
    real demand): the gaps are then to the replay, and an online policy may cost less."""
    if "bound" not in results.columns:
        return []
    opt = results[results.bound.notna()]
    if opt.empty:
        return []
    excess = 100 * (opt.total_cost.mean() / opt.bound.mean() - 1)
    if excess < 0.1:
        return []
    return [
        f"hindsight-optimal: its plans replay {excess:.1f} % above their lower bound (mean "
        f"{opt.bound.mean():,.0f} USD, the QP's objective): the relaxation holds stock back "
        "where the env serves it, or substitutes before a shelf is empty (docs/hindsight.md); "
        "gaps are to the replay, and a policy can cost less than it"
    ]


def _worker_init(entries: bytes) -> None:
    """A worker uses one core: one BLAS thread (numpy is loaded by now: threadpoolctl) and
    one torch thread (read when the agents import torch). ``entries``: the pickled policies
    its parent registered in Python (:func:`registry.runtime_entries`)."""
    import os
    import pickle
    import threading

    registry.add_entries(pickle.loads(entries))
    # A parent killed outright (SIGKILL) cannot stop its pool: exit when it is gone, rather
    # than wait for work forever.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the solver extra
        pass
    else:
        threadpool_limits(limits=1)
    _BUILT.clear()


def _play_cells(
    spec: BenchmarkSpec,
    tuned: dict[str, dict[str, float]],
    todo: list[tuple[str, int]],
    jobs: int,
    bar: Any,
    log: Callable[[str], None],
) -> Any:
    """The cells of ``todo``, played here (``jobs=1``, in order) or by ``jobs`` worker
    processes (as they finish); a policy's error other than its ``skip_errors`` stops the
    run, as in one process. Policies registered in Python travel to the workers pickled;
    one that cannot be pickled (a lambda, a closure) makes the run play in this process."""
    import pickle

    entries = b""
    if jobs > 1 and len(todo) > 1:
        runtime = registry.runtime_entries({name for name, _ in todo})
        try:
            entries = pickle.dumps(runtime)
        except Exception as exc:  # pickling a local function raises several types
            log(
                f"playing in one process: the policies {sorted(runtime)} were registered in "
                f"Python and cannot be sent to worker processes ({type(exc).__name__}: {exc})"
            )
            jobs = 1
    if jobs == 1 or len(todo) <= 1:
        _BUILT.clear()
        try:
            for name, k in todo:
                bar.set_postfix_str(name)
                yield _play_cell(spec, tuned, name, k)
        finally:
            _BUILT.clear()
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: a fresh interpreter per worker (no forked torch or BLAS thread state)
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=mp.get_context("spawn"),
        initializer=_worker_init,
        initargs=(entries,),
    ) as pool:
        pending = {pool.submit(_play_cell, spec, tuned, name, k) for name, k in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = future.result()
                    bar.set_postfix_str(cell.name)
                    yield cell
        finally:
            for future in pending:
                future.cancel()


def _reduction(results: pd.DataFrame, agent: str, base: str) -> tuple[float, float]:
    """Mean per-episode cost reduction of ``agent`` against ``base`` and its 95 % half-width."""
    from scipy import stats

    a = results[results.policy == agent].set_index("episode").total_cost
    b = results[results.policy == base].set_index("episode").total_cost
    red = (1.0 - a / b).dropna()
    n = len(red)
    if n == 0:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, n - 1) * red.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
    return float(red.mean()), float(half)


def summary_markdown(
    spec: BenchmarkSpec,
    summary: pd.DataFrame,
    results: pd.DataFrame,
    manifest: dict[str, Any],
    notes: Sequence[str] = (),
) -> str:
    """The run's summary as a markdown page (tables of means ± 95 % intervals): one column
    per shown metric of :data:`~druginv_gym.evaluation.METRIC_TABLE`, then each agent's
    per-episode cost reduction against each default baseline."""
    cfg = spec.config
    metrics = table_metrics()
    lines = [
        f"# Benchmark: {cfg.name}, {cfg.n_drugs} drugs x {cfg.horizon} slots",
        "",
        f"{spec.episodes} held-out episodes (seeds {spec.seed}..{spec.seed + spec.episodes - 1});"
        " mean ± 95 % t-interval over episodes. Reproduce with `druginv benchmark --scenario "
        f"{spec.scenario} --n-drugs {cfg.n_drugs} --horizon {cfg.horizon} --episodes "
        f"{spec.episodes} --seed {spec.seed}`.",
        "",
        "| " + " | ".join(["policy", "source", *(m.header for m in metrics)]) + " |",
        "|" + "---|" * (2 + len(metrics)),
    ]
    sources = manifest.get("sources", {})
    for name, r in by_cost(summary).iterrows():
        cells = [str(name), str(sources.get(name, "")), *(markdown_cell(m, r) for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Rows by cost. Shortage, stockout and unexpected rates as defined in {METRICS_DOC}.",
    ]
    lines += markdown_table(
        summary,
        "binding",
        "How often each limit binds",
        "Share of slots (total budget, total storage) or drug-slots (the others) in which "
        "the limit is active at the accepted order, and in which units expire.",
    )
    if cfg.supply is not None:
        lines += markdown_table(
            summary,
            "supply",
            "What the supply model did",
            "Per episode: ordered units a supplier outage left unfilled, units recalled, unmet "
            "units bought from the alternative source and their cost (in the shortage cost), "
            "and the longest run of slots with unmet demand of one drug.",
        )
    if has_classes(cfg):
        lines += markdown_table(
            summary,
            "classes",
            "By criticality class and substitution",
            "Per class of drugs (vital, essential, non-essential; n/a for a class with no drug "
            "or no target): units served from stock or by a substitute over units demanded, "
            "the share of drug-slots below C_lo, and the share of episodes in which that fill "
            "rate met the class's target (`service_level`); then the units of demand "
            "substitutes served and what that cost (in the shortage cost).",
        )
    agents = [p for p in summary.index if registry.resolve(p)[0].kind == "agent"]
    bases = [b for b in _plain("baseline", default=True) if b in summary.index]
    if agents and bases:
        lines += [
            "",
            "## Agents against the baselines (per-episode cost reduction)",
            "",
            "| agent | against | cost reduction | paper's DRLD | shortage: agent vs baseline |",
            "|---|---|---|---|---|",
        ]
        for agent in agents:
            for base in bases:
                red, half = _reduction(results, agent, base)
                paper = PAPER_MARGINS.get(base)
                lines.append(
                    f"| {agent} | {base} | {100 * red:+.2f} % ± {100 * half:.2f} | "
                    f"{f'{paper:.2f} %' if paper else '—'} | "
                    f"{pct(summary.loc[agent, 'shortage_rate'])} vs "
                    f"{pct(summary.loc[base, 'shortage_rate'])} |"
                )
    tuned = manifest.get("tuned", {})
    if tuned:
        lines += [
            "",
            "Tuned on training seeds: "
            + "; ".join(
                f"{k} ({', '.join(f'{a}={b:g}' for a, b in v.items())})" for k, v in tuned.items()
            )
            + ".",
        ]
    for note in notes:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def _plt():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    return path


def draw_figures(
    spec: BenchmarkSpec, slots: pd.DataFrame, manifest: dict[str, Any], out: Path
) -> list[Path]:
    """The paper's Figs. 4-7 for this run; returns the files written (none without
    matplotlib, which the ``bench`` extra installs)."""
    plt = _plt()
    if plt is None:
        return []
    files = []
    order = [p for p in spec.policies if p in set(slots.policy)]
    per_slot = slots.groupby(["policy", "t"], sort=False).mean(numeric_only=True)
    panels = [
        ("fig5_cost_per_slot.png", "total_cost", "refilling cost per slot (USD)", 1.0),
        ("fig6_shortage_per_slot.png", "shortage_rate", "shortage rate per slot (%)", 100.0),
        ("fig7_unexpected_per_slot.png", "unexpected_rate", "unexpected rate per slot (%)", 100.0),
    ]
    cfg = spec.config
    title = f"{cfg.name}: {cfg.n_drugs} drugs, {spec.episodes} episodes"
    lines = same_lines(per_slot, order)
    for fname, col, ylabel, scale in panels:
        fig, ax = plt.subplots(figsize=(7, 4))
        for members in lines:
            s = per_slot.loc[members[0]][col] * scale
            ax.plot(s.index + 1, s.to_numpy(), marker="o", ms=3, label=" = ".join(members))
        if col == "total_cost" and "hindsight-optimal" in order:
            _annotate_run_down(ax, per_slot.loc["hindsight-optimal"][col], cfg.horizon)
        if cfg.supply is not None and "outage_rate" in per_slot.columns:
            _mark_outages(ax, per_slot.loc[order[0]]["outage_rate"])
        ax.set_xlabel("slot (week)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel.split(' per')[0].capitalize()} per slot — {title}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        files.append(_save(fig, out / fname))
        plt.close(fig)
    files.append(_convergence(plt, spec, manifest, out))
    return files


def class_figure(spec: BenchmarkSpec, summary: pd.DataFrame, out: Path) -> list[Path]:
    """``fig_classes.png``: per policy, the fill rate and the shortage rate of each
    criticality class (grouped bars, 95 % intervals), the service targets as lines; nothing
    without classes or matplotlib."""
    plt = _plt()
    cfg = spec.config
    if plt is None or cfg.criticality is None:
        return []
    from druginv_gym.classify import CLASS_COLOURS
    from druginv_gym.config import CRITICALITY, CRITICALITY_NAMES

    labels = [c for c in CRITICALITY if c in cfg.criticality]
    policies = list(by_cost(summary).index)
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.1 * len(policies) + 4), 4.2))
    width = 0.8 / len(labels)
    x = np.arange(len(policies))
    for ax, (metric, title) in zip(
        axes,
        (("fill_rate", "fill rate (%)"), ("shortage_rate", "shortage rate (%)")),
        strict=True,
    ):
        for k, label in enumerate(labels):
            col = f"{metric}_{label}"
            means = 100 * summary.loc[policies, col].to_numpy(dtype=np.float64)
            half = 100 * summary.loc[policies, f"{col}_ci95"].to_numpy(dtype=np.float64)
            offset = (k - (len(labels) - 1) / 2) * width
            ax.bar(
                x + offset, means, width, yerr=half, capsize=2,
                label=CRITICALITY_NAMES[label], color=CLASS_COLOURS[label],
            )  # fmt: skip
        if metric == "fill_rate":
            targets = cfg.service_level
            for label in labels:
                if targets.get(label, 0.0) > 0:
                    ax.axhline(100 * targets[label], color=CLASS_COLOURS[label], ls="--", lw=1)
            low = np.nanmin([100 * summary[f"fill_rate_{c}"].min() for c in labels])
            ax.set_ylim(max(0.0, min(low, 100 * min(targets.values(), default=1.0)) - 5), 100.5)
        ax.set_xticks(x, policies, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, title="class (dashed: target)", title_fontsize=8)
    fig.suptitle(f"By criticality class — {cfg.name}: {cfg.n_drugs} drugs, {spec.episodes} "
                 "episodes")  # fmt: skip
    fig.tight_layout()
    path = _save(fig, out / "fig_classes.png")
    plt.close(fig)
    return [path]


def _mark_outages(ax: Any, share: pd.Series) -> None:
    """Shade each slot by the share of drugs whose supplier was out in it (mean over the
    episodes; every policy meets the same outages), the darkest at the largest share."""
    top = float(share.max())
    if top <= 0:
        return
    for t, value in share.items():
        if value > 0:
            ax.axvspan(t + 0.5, t + 1.5, color="tab:red", alpha=0.3 * float(value) / top, lw=0)
    ax.plot([], [], color="tab:red", alpha=0.3, lw=6,
            label=f"drugs whose supplier is out (darkest: {100 * top:.0f} %)")  # fmt: skip


def same_lines(per_slot: pd.DataFrame, order: Sequence[str]) -> list[list[str]]:
    """The policies of ``order`` grouped by identical per-slot results (every column of
    ``per_slot``, indexed by policy and slot, equal to 1e-12): each group is drawn once, so
    that one line never hides another (tuned base-stock and (s, S) often coincide)."""
    groups: list[list[str]] = []
    for p in order:
        values = per_slot.loc[p].to_numpy(dtype=np.float64)
        for g in groups:
            first = per_slot.loc[g[0]].to_numpy(dtype=np.float64)
            if first.shape == values.shape and np.allclose(
                first, values, rtol=1e-12, atol=0.0, equal_nan=True
            ):
                g.append(p)
                break
        else:
            groups.append([p])
    return groups


def _annotate_run_down(ax: Any, cost: pd.Series, horizon: int) -> None:
    """Mark the optimum's last slots: knowing the horizon ends, it buys only what the
    remaining weeks use and lets stock run down, which no online policy can plan."""
    t = int(cost.index.max())
    ax.annotate(
        "optimum runs stock down:\nit knows the horizon ends",
        xy=(t + 1, float(cost.iloc[-1])),
        xytext=(max(1, horizon * 0.45), float(cost.max())),
        arrowprops={"arrowstyle": "->", "alpha": 0.6},
        fontsize=8,
    )


def _convergence(plt: Any, spec: BenchmarkSpec, manifest: dict[str, Any], out: Path) -> Path:
    """Fig. 4: validation cost against training steps of the default agents this run used
    (their curves from the registry's providers, :func:`druginv_gym.registry.training_curves`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sources = manifest.get("sources", {})
    default_agents = _plain("agent", default=True)
    agents = [sources[a] for a in default_agents if a in sources and a in spec.policies]
    curves = registry.training_curves()
    drawn = False
    if curves is not None:
        for name in agents:
            c = curves[(curves.agent == name) & (curves.tag == "eval_cost")]
            if c.empty:
                continue
            axes[0].plot(c.step, c.value, label=name)
            axes[1].plot(c.wall_s / 60, c.value, label=name)
            drawn = True
    xlabels = ("env steps (PPO: slots x envs; DQN: drug decisions)", "training time (min)")
    for ax, xlabel in zip(axes, xlabels, strict=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation cost per episode (USD)")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(
                0.5,
                0.5,
                "no training logs for the agents of this run",
                ha="center",
                transform=ax.transAxes,
            )
    fig.suptitle(
        "Training convergence of the pretrained agents (validation seeds; times as logged, "
        "see benchmarks/RESULTS.md for the machines)",
        fontsize=10,
    )
    fig.tight_layout()
    path = _save(fig, out / "fig4_convergence.png")
    plt.close(fig)
    return path
