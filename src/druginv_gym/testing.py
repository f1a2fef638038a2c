"""Regression checks for researchers' own suites and CI: compare a run with a reference, and
assert that an agent beats named baselines on fixed seeds.

* :func:`compare_summaries` compares a benchmark's ``summary.csv`` (or results folder) with a
  reference one metric by metric, with stated tolerances, and says which cells regressed
  (``druginv benchmark --against REF`` prints it and exits non-zero on a regression).
* :func:`assert_beats` is a ``pytest``-style assertion: the policy's cost is lower than each
  baseline's on the same held-out seeds, episode by episode on average, by at least a margin.

The numbers are reproducible for this: the same version, scenario and seeds give the same
table on any machine; the numpy and compiled backends agree to :data:`BACKEND_RTOL` (tested in
``tests/test_backends.py``), which the default tolerances cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BACKEND_RTOL",
    "DEFAULT_TOLERANCES",
    "Comparison",
    "assert_beats",
    "compare_summaries",
    "read_summary",
]

#: Relative agreement of the numpy and compiled backends on a refilling cost.
BACKEND_RTOL = 1e-9
#: metric -> (relative, absolute) tolerance of a regression; a metric not listed is compared
#: with ``("*")``'s. Costs: a relative 1e-6 (a million times the backends' disagreement);
#: rates (fractions): an absolute 1e-6.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "total_cost": (1e-6, 0.0),
    "gap_to_optimum": (0.0, 1e-6),
    "*": (0.0, 1e-6),
}
#: Metrics where higher is better (every other metric of the summaries: lower is better).
HIGHER_IS_BETTER = frozenset({"fill_rate"})


def read_summary(path: str | Path) -> pd.DataFrame:
    """A benchmark's summary (``summary.csv``, or a results folder holding one), indexed by
    policy; ``ValueError`` naming the file when it is missing or not a summary."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.csv"
    if not path.is_file():
        raise ValueError(f"{path}: no such summary (a summary.csv or a results folder)")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: not a summary ({exc})") from None
    if "policy" not in table.columns or "total_cost" not in table.columns:
        raise ValueError(f"{path}: not a benchmark summary (no policy and total_cost columns)")
    return table.set_index("policy")


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_summaries` found: one row per (policy, metric) in ``table``
    (``reference``, ``current``, ``change``, ``tolerance``, ``status``: ``"same"``,
    ``"better"``, ``"worse"`` (beyond the tolerance) or ``"missing"``)."""

    table: pd.DataFrame

    @property
    def regressions(self) -> pd.DataFrame:
        """The rows that are worse beyond their tolerance, or missing from the current run."""
        return self.table[self.table.status.isin(["worse", "missing"])]

    @property
    def ok(self) -> bool:
        return self.regressions.empty

    def markdown(self) -> str:
        """The rows that changed (every row when ``ok`` is False), as a markdown table."""
        rows = self.table[self.table.status != "same"]
        if rows.empty:
            return "every metric of every policy as in the reference (within the tolerances)"
        lines = ["| policy | metric | reference | current | change | tolerance | status |"]
        lines.append("|---|---|---|---|---|---|---|")
        for r in rows.itertuples():
            lines.append(
                f"| {r.policy} | {r.metric} | {r.reference:.6g} | {r.current:.6g} | "
                f"{r.change:+.3g} | {r.tolerance:.3g} | {r.status} |"
            )
        return "\n".join(lines)


def _tolerance(metric: str, tolerances: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    rel, abs_ = tolerances.get(metric, tolerances.get("*", DEFAULT_TOLERANCES["*"]))
    if not (rel >= 0 and abs_ >= 0):
        raise ValueError(f"tolerance of {metric!r} = {(rel, abs_)!r} must be >= 0")
    return float(rel), float(abs_)


def compare_summaries(
    current: str | Path | pd.DataFrame,
    reference: str | Path | pd.DataFrame,
    *,
    tolerances: Mapping[str, tuple[float, float]] | None = None,
    metrics: Sequence[str] | None = None,
) -> Comparison:
    """Compare two benchmark summaries metric by metric.

    Args:
        current, reference: ``summary.csv`` paths, results folders, or summary tables
            indexed by policy (what :func:`read_summary` gives).
        tolerances: metric -> ``(relative, absolute)``; a change within ``absolute +
            relative * |reference|`` is ``"same"``; merged over :data:`DEFAULT_TOLERANCES`.
        metrics: the metrics to compare (default: every mean column both summaries have;
            the ``_ci95`` columns are not compared).

    A policy of the reference missing from the current run is a regression (``"missing"``);
    a policy only in the current run is not compared.
    """
    cur = current if isinstance(current, pd.DataFrame) else read_summary(current)
    ref = reference if isinstance(reference, pd.DataFrame) else read_summary(reference)
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    if metrics is None:
        numeric = ref.select_dtypes("number").columns
        metrics = [m for m in numeric if not m.endswith("_ci95") and m != "episodes"]
    rows = []
    for policy in ref.index:
        for metric in metrics:
            if metric not in ref.columns:
                raise ValueError(f"metric {metric!r} is not in the reference summary")
            want = float(ref.at[policy, metric])
            rel, abs_ = _tolerance(metric, tol)
            allowed = abs_ + rel * abs(want)
            if policy not in cur.index or metric not in cur.columns:
                rows.append((policy, metric, want, np.nan, np.nan, allowed, "missing"))
                continue
            got = float(cur.at[policy, metric])
            change = got - want
            if (np.isnan(want) and np.isnan(got)) or abs(change) <= allowed:
                status = "same"
            else:
                worse = change < 0 if metric in HIGHER_IS_BETTER else change > 0
                status = "worse" if worse or np.isnan(got) else "better"
            rows.append((policy, metric, want, got, change, allowed, status))
    table = pd.DataFrame(
        rows, columns=["policy", "metric", "reference", "current", "change", "tolerance", "status"]
    )
    return Comparison(table)


def assert_beats(
    policy: Any,
    baselines: Sequence[str],
    *,
    env_id: str = "DrugRefill-v0",
    env_kwargs: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = range(5),
    margin: float = 0.0,
) -> pd.DataFrame:
    """Assert that ``policy`` costs less than each named baseline on the same held-out seeds.

    Args:
        policy: anything :func:`druginv_gym.evaluate` scores (a policy, an SB3 model, a
            function ``obs -> action``) for ``env_id``, or a policy class, built as
            ``cls(env)``.
        baselines: registry names (``"over-provisioning"``, ``"base-stock"``, ``"mpc"``...);
            tuned ones are tuned first on the benchmark's training seeds.
        env_id, env_kwargs: the env the policy plays (the baselines play the same scenario).
        seeds: the held-out seeds (consecutive, each an episode).
        margin: the least mean per-episode cost cut (a fraction: 0.02 = 2 %).

    Returns the per-baseline table (``cut_mean``, ``cut_min``, ``cut_max``) when it holds;
    raises ``AssertionError`` showing that table otherwise.
    """
    import gymnasium as gym

    import druginv_gym
    from druginv_gym.benchmark import BenchmarkSpec, make_policy, tune_baselines

    seeds = list(seeds)
    if not seeds or seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(f"seeds = {seeds!r} must be consecutive integers (episodes)")
    if not baselines:
        raise ValueError("baselines is empty: nothing to beat")
    kwargs = dict(env_kwargs or {})
    env = gym.make(env_id, **kwargs)
    if isinstance(policy, type):
        policy = policy(env)
    ours = druginv_gym.evaluate(env, policy, len(seeds), seeds[0]).total_cost.to_numpy()
    spec = BenchmarkSpec(
        scenario=kwargs.pop("scenario", "paper"),
        n_drugs=kwargs.pop("n_drugs", None),
        horizon=kwargs.pop("horizon", None),
        episodes=len(seeds),
        seed=seeds[0],
        policies=tuple(baselines),
        scenario_options=kwargs,
    )
    tuned = tune_baselines(spec, progress=False)
    rows = []
    for name in baselines:
        base_env, base, _ = make_policy(name, spec, tuned)
        theirs = druginv_gym.evaluate(base_env, base, len(seeds), seeds[0]).total_cost.to_numpy()
        cut = 1.0 - ours / theirs
        rows.append((name, cut.mean(), cut.min(), cut.max(), cut.mean() > margin))
    table = pd.DataFrame(rows, columns=["baseline", "cut_mean", "cut_min", "cut_max", "beats"])
    table = table.set_index("baseline")
    if not table.beats.all():
        raise AssertionError(
            f"the policy does not beat {list(table.index[~table.beats])} by {margin:.2%} on "
            f"seeds {seeds[0]}..{seeds[-1]}:\n{table.to_string()}"
        )
    return table
