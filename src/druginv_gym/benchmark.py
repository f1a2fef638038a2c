"""The paper's comparison in one call: :func:`run_benchmark` (``druginv benchmark``).

Every policy plays the same held-out traces (episode ``k`` on seed ``seed + k``): the
hindsight optimum (Ipopt, the lower bound), the pretrained DRLD (DQN) and PPO agents, and the
baselines (over-provisioning, ski-rental, max-min, and base-stock and (s, S) tuned by simulation
on training seeds). The run writes, into its output folder:

* ``results.csv``: one row per policy and episode, every metric of
  :data:`druginv_gym.evaluation.METRICS` plus ``gap_to_optimum``;
* ``slots.csv``: one row per policy, episode and slot (cost terms, shortage, stockout and
  unexpected rates), the data behind the per-slot figures;
* ``summary.csv`` and ``summary.md``: mean and 95 % t-interval per policy;
* ``fig4_convergence.png`` (training curves of the agents used, from their shipped logs),
  ``fig5_cost_per_slot.png``, ``fig6_shortage_per_slot.png``, ``fig7_unexpected_per_slot.png``
  (the paper's Figs. 4-7, drawn from this run's data);
* ``run.json``: what was asked (scenario, sizes, seeds, policies) and the tuned levels.

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

from druginv_gym._io import atomic_write, atomic_write_text, make_out_dir
from druginv_gym.evaluation import evaluate, summarize

__all__ = [
    "AGENTS",
    "BASELINES",
    "DEFAULT_POLICIES",
    "BenchmarkResult",
    "BenchmarkSpec",
    "make_policy",
    "run_benchmark",
    "tune_baselines",
]

#: Baselines by name, in table order.
BASELINES = ("over-provisioning", "ski-rental", "max-min", "base-stock", "(s,S)")
#: Pretrained agents by algorithm name.
AGENTS = ("dqn", "ppo")
OPTIMUM = "hindsight-optimal"
DEFAULT_POLICIES = (OPTIMUM, *AGENTS, *BASELINES)
#: Policies :func:`make_policy` also builds but the benchmark does not play by default.
OTHER_POLICIES = ("random",)
#: The figures a run draws (file names).
FIGURES = (
    "fig4_convergence.png",
    "fig5_cost_per_slot.png",
    "fig6_shortage_per_slot.png",
    "fig7_unexpected_per_slot.png",
)
SUMMARY_METRICS = (
    "total_cost",
    "gap_to_optimum",
    "shortage_rate",
    "stockout_rate",
    "unexpected_rate",
    "fill_rate",
    "waste_rate",
    "expired_units",
)
#: The paper's reported DRLD cost reductions (%) and shortage rates (%) on 70 drugs.
PAPER_MARGINS = {"over-provisioning": 12.31, "ski-rental": 10.4, "max-min": 11.8}
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
        policies: names from :data:`DEFAULT_POLICIES`, plus ``"agent:<path>"`` for a checkpoint.
        tune_episodes: training episodes for tuning base-stock and (s, S).
    """

    scenario: str = "paper"
    n_drugs: int | None = None
    horizon: int | None = None
    episodes: int = 10
    seed: int = 0
    policies: tuple[str, ...] = DEFAULT_POLICIES
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
        object.__setattr__(self, "policies", tuple(self.policies))
        for p in self.policies:
            if p not in DEFAULT_POLICIES + OTHER_POLICIES and not p.startswith("agent:"):
                raise ValueError(
                    f"unknown policy {p!r}; choose from {list(DEFAULT_POLICIES + OTHER_POLICIES)}"
                    " or 'agent:<path>'"
                )
        if len(set(self.policies)) != len(self.policies):
            raise ValueError(f"policies = {list(self.policies)} lists a policy twice")
        _ = self.config  # unknown scenario or bad size: fail before any work

    def env_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"scenario": self.scenario, **self.scenario_options}
        if self.n_drugs is not None:
            kw["n_drugs"] = self.n_drugs
        if self.horizon is not None:
            kw["horizon"] = self.horizon
        return kw

    @functools.cached_property
    def config(self) -> Any:
        """The scenario's :class:`~druginv_gym.ScenarioConfig` (built once)."""
        return self.make_env().unwrapped.config

    def make_env(self, env_id: str = "DrugRefill-v0") -> gym.Env:
        import druginv_gym  # noqa: F401  (registers the ids)

        return gym.make(env_id, **self.env_kwargs())

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


def _nearest_pretrained(algo: str, scenario: str, n_drugs: int) -> str | None:
    """The shipped ``<algo>-<scenario>-<N>`` with N nearest to ``n_drugs`` (None if none)."""
    import druginv_agents

    names = [n for n in druginv_agents.list_pretrained() if n.startswith(f"{algo}-{scenario}-")]
    if not names:
        return None
    return min(names, key=lambda n: (abs(int(n.rsplit("-", 1)[1]) - n_drugs), n))


def make_policy(
    name: str, spec: BenchmarkSpec, tuned: dict[str, dict[str, float]]
) -> tuple[gym.Env, Any, str]:
    """``(env, policy, label)`` for a policy name of :data:`DEFAULT_POLICIES` or
    :data:`OTHER_POLICIES`, or ``agent:<shipped name or checkpoint path>``. ``tuned`` holds the
    tuned baselines' parameters (:func:`tune_baselines`)."""
    from druginv_gym.baselines import (
        SS,
        BaseStock,
        MaxMin,
        OverProvisioning,
        RandomPolicy,
        SkiRental,
    )

    if name in AGENTS or name.startswith("agent:"):
        import druginv_agents

        if name.startswith("agent:"):
            source = name.split(":", 1)[1]
            if Path(source).suffix == ".pt" or Path(source).is_file():
                agent = druginv_agents.load(source)
            else:
                agent = druginv_agents.load_pretrained(source)
        else:
            n = spec.config.n_drugs
            source = _nearest_pretrained(name, spec.scenario, n)
            if source is None:
                source = _nearest_pretrained(name, "paper", n)
            if source is None:
                raise ValueError(f"no pretrained {name} agent is shipped")
            agent = druginv_agents.load_pretrained(source)
        env = spec.make_env(agent.env_id)
        return env, agent, source
    env = spec.make_env()
    if name == OPTIMUM:
        from druginv_gym.solvers import HindsightOracle

        return env, HindsightOracle(env), "Ipopt on the known trace"
    rules: dict[str, Callable[[], Any]] = {
        "over-provisioning": lambda: OverProvisioning(env),
        "ski-rental": lambda: SkiRental(env),
        "max-min": lambda: MaxMin(env),
        "base-stock": lambda: BaseStock(env, **tuned["base-stock"]),
        "(s,S)": lambda: SS(env, **tuned["(s,S)"]),
        "random": lambda: RandomPolicy(env),
    }
    policy = rules[name]()
    label = ", ".join(f"{k}={v:g}" for k, v in tuned.get(name, {}).items()) or "defaults"
    return env, policy, label


def tune_baselines(spec: BenchmarkSpec, progress: bool | None) -> dict[str, dict[str, float]]:
    """Parameters of base-stock and (s, S), when ``spec`` plays them, tuned on training seeds."""
    from druginv_gym.baselines import tune_base_stock, tune_ss

    env = spec.make_env()
    tuned: dict[str, dict[str, float]] = {}
    if "base-stock" in spec.policies:
        base, _ = tune_base_stock(env, n_episodes=spec.tune_episodes, progress=progress)
        tuned["base-stock"] = {"level": base.level}
    if "(s,S)" in spec.policies:
        ss, _ = tune_ss(env, n_episodes=spec.tune_episodes, progress=progress)
        tuned["(s,S)"] = {"s_level": ss.s_level, "S_level": ss.S_level}
    return tuned


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


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
) -> BenchmarkResult:
    """Run (or resume) the comparison of ``spec`` into the folder ``out``.

    Raises ``ValueError`` when ``out`` holds a run of a different spec (nothing is touched).
    """
    from tqdm.auto import tqdm

    out = make_out_dir(out)
    manifest_path = out / "run.json"
    manifest: dict[str, Any] = {"spec": spec.to_json()}
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
        manifest = old
    results, slots = _load_done(out)
    done = set(zip(results.get("policy", []), results.get("episode", []), strict=True))
    todo = [(p, k) for p in spec.policies for k in range(spec.episodes) if (p, k) not in done]
    if done:
        log(f"resuming: {len(done)} of {len(done) + len(todo)} cells already in {out}")
    if "tuned" not in manifest:
        if {"base-stock", "(s,S)"} & {p for p, _ in todo}:
            log(f"tuning base-stock and (s,S) on {spec.tune_episodes} training episodes")
        manifest["tuned"] = tune_baselines(spec, progress)
    manifest.setdefault("sources", {})
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=float))
    notes: list[str] = []
    res_frames = [results] if not results.empty else []
    slot_frames = [slots] if not slots.empty else []
    bar = tqdm(
        total=len(todo), desc="benchmark", disable=None if progress is None else not progress
    )
    built: dict[str, tuple[gym.Env, Any, str]] = {}
    for name, k in todo:
        if name not in built:
            try:
                built[name] = make_policy(name, spec, manifest["tuned"])
            except (ValueError, ImportError) as exc:
                if name not in AGENTS:
                    raise
                notes.append(f"{name}: skipped ({exc})")
                built[name] = None  # type: ignore[assignment]
            if built[name] is not None:
                manifest["sources"][name] = built[name][2]
                atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=float))
        if built[name] is None:
            bar.update(1)
            continue
        env, policy, _ = built[name]
        bar.set_postfix_str(name)
        start = time.perf_counter()
        ep, sl = evaluate(env, policy, 1, spec.seed + k, return_slots=True)
        ep["episode"] = k
        ep["wall_s"] = time.perf_counter() - start
        sl["episode"] = k
        ep.insert(0, "policy", name)
        sl.insert(0, "policy", name)
        res_frames.append(ep)
        slot_frames.append(sl)
        # slots first: a cell counts as done once it is in results.csv too.
        _write_csv(pd.concat(slot_frames, ignore_index=True), out / "slots.csv")
        _write_csv(pd.concat(res_frames, ignore_index=True), out / "results.csv")
        bar.update(1)
    bar.close()
    if not res_frames:
        raise ValueError("no policy could be evaluated: " + "; ".join(notes))
    results = pd.concat(res_frames, ignore_index=True)
    rank = results.policy.map({p: i for i, p in enumerate(spec.policies)})
    results = results.assign(_rank=rank).sort_values(["_rank", "episode"]).drop(columns="_rank")
    results = _add_gap(results.reset_index(drop=True))
    slots = pd.concat(slot_frames, ignore_index=True)
    _write_csv(results, out / "results.csv")
    summary = summarize(results, metrics=SUMMARY_METRICS)
    summary = summary.loc[[p for p in spec.policies if p in summary.index]]
    files = [out / "results.csv", out / "slots.csv", out / "summary.csv", out / "summary.md"]
    _write_csv(summary.reset_index(), out / "summary.csv")
    atomic_write_text(out / "summary.md", summary_markdown(spec, summary, results, manifest, notes))
    if plots:
        files += draw_figures(spec, slots, manifest, out)
    files.append(manifest_path)
    return BenchmarkResult(spec, results, slots, summary, out, files, notes)


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.2f} %"


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
    """The run's summary as a markdown page (tables of means ± 95 % intervals)."""
    cfg = spec.config
    lines = [
        f"# Benchmark: {cfg.name}, {cfg.n_drugs} drugs x {cfg.horizon} slots",
        "",
        f"{spec.episodes} held-out episodes (seeds {spec.seed}..{spec.seed + spec.episodes - 1});"
        " mean ± 95 % t-interval over episodes. Reproduce with `druginv benchmark --scenario "
        f"{spec.scenario} --n-drugs {cfg.n_drugs} --horizon {cfg.horizon} --episodes "
        f"{spec.episodes} --seed {spec.seed}`.",
        "",
        "| policy | source | refilling cost (USD) | vs optimum | shortage rate | stockout rate |"
        " unexpected rate | fill rate | waste |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sources = manifest.get("sources", {})
    for name, r in summary.iterrows():
        lines.append(
            f"| {name} | {sources.get(name, '')} | {r.total_cost:,.0f} ± {r.total_cost_ci95:,.0f}"
            f" | {_pct(r.gap_to_optimum)} ± {_pct(r.gap_to_optimum_ci95)}"
            f" | {_pct(r.shortage_rate)} ± {_pct(r.shortage_rate_ci95)}"
            f" | {_pct(r.stockout_rate)} ± {_pct(r.stockout_rate_ci95)}"
            f" | {_pct(r.unexpected_rate)} ± {_pct(r.unexpected_rate_ci95)}"
            f" | {_pct(r.fill_rate)} ± {_pct(r.fill_rate_ci95)}"
            f" | {_pct(r.waste_rate)} ± {_pct(r.waste_rate_ci95)} |"
        )
    agents = [p for p in summary.index if p in AGENTS or p.startswith("agent:")]
    bases = [b for b in BASELINES if b in summary.index]
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
                    f"{_pct(summary.loc[agent, 'shortage_rate'])} vs "
                    f"{_pct(summary.loc[base, 'shortage_rate'])} |"
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
    for fname, col, ylabel, scale in panels:
        fig, ax = plt.subplots(figsize=(7, 4))
        for p in order:
            s = per_slot.loc[p][col] * scale
            ax.plot(s.index + 1, s.to_numpy(), marker="o", ms=3, label=p)
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


def _convergence(plt: Any, spec: BenchmarkSpec, manifest: dict[str, Any], out: Path) -> Path:
    """Fig. 4: validation cost against training steps of the agents this run used."""
    from importlib import resources

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sources = manifest.get("sources", {})
    agents = [sources[a] for a in AGENTS if a in sources and a in spec.policies]
    curves = None
    try:
        path = resources.files("druginv_agents") / "pretrained" / "training_curves.csv"
        with path.open("rb") as fh:
            curves = pd.read_csv(fh)
    except (ModuleNotFoundError, FileNotFoundError):
        pass
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
