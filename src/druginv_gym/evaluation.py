"""Scoring policies: ``evaluate`` (one row per episode) and ``compare`` (mean and 95 % interval).

Every metric is one :class:`Metric` of :data:`METRIC_TABLE` (docs/model.md and DESIGN): its
column name, its labels and unit for the tables, what it means, whether summaries report it,
and the function that computes it from an episode's :class:`EpisodeTally`. :func:`evaluate`,
:func:`summarize`, the console tables of ``druginv`` and the benchmark's ``summary.md`` all read
that table, so a new metric is one :func:`register_metric` call. Over the drug-slots of an
episode:

* ``total_cost``: the refilling cost, eq. 3 summed over drugs and slots plus the shortage cost
  (USD); its terms ``purchase_cost``, ``storage_cost``, ``penalty_cost``, ``shortage_cost``;
* ``shortage_rate``: share of drug-slots whose end-of-slot stock is below ``C_lo`` (the
  paper's "shortage level");
* ``stockout_rate``: share of drug-slots with unmet demand;
* ``unexpected_rate``: share of drug-slots whose end-of-slot stock is above the penalty's upper
  knee ``C_hi - penalty_zone_hi`` (redundant stock near or above the capacity; the paper does
  not define its "unexpected rate", see ``docs/model.md``, "Metrics");
* ``fill_rate``: served / demand (1 when there was no demand);
* ``expired_units`` and ``waste_rate`` (expired / accepted units, 0 when nothing was accepted);
* ``budget_used``: spend / total budget (0 for a zero budget);
* ``gap_to_optimum``: cost over the hindsight optimum's on the same trace, minus 1; not an
  episode's own metric (``compute`` is ``None``): the benchmark and the sweep add it;
* the ``binding_*`` shares (their own table, :func:`binding_table`): how often each limit of
  the model binds (is active at the accepted order, :func:`~druginv_gym.dynamics.binding_limits`)
  or expiry takes stock: ``binding_total_budget`` and ``binding_storage`` per slot,
  ``binding_capacity``, ``binding_drug_budget`` and ``binding_refill`` per drug-slot,
  ``binding_expiry`` per drug-slot (units expired).

Episode ``k`` of ``evaluate(env, policy, n_episodes, seed)`` is played on the trace of
``env.reset(seed=seed + k)``, so every policy given the same seed meets the same weeks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import pandas as pd
from scipy import stats

from druginv_gym._table import NameTable
from druginv_gym.adapters import as_policy, is_library_policy
from druginv_gym.config import CRITICALITY, CRITICALITY_NAMES
from druginv_gym.dynamics import LIMITS, binding_limits, order_price
from druginv_gym.info import require_full_info
from druginv_gym.policies import Policy
from druginv_gym.progress import progress_bar

if TYPE_CHECKING:
    from druginv_gym.config import ScenarioConfig

__all__ = [
    "METRICS",  # noqa: F822  (module __getattr__: computed on access)
    "METRIC_TABLE",
    "EpisodeTally",
    "Metric",
    "binding_table",
    "class_table",
    "compare",
    "episode_metrics",
    "evaluate",
    "register_metric",
    "summarize",
    "summary_metrics",
    "supply_table",
    "table_metrics",
    "unregister_metric",
]


@dataclass(frozen=True)
class EpisodeTally:
    """What :func:`evaluate` counts over one episode, for the metrics' ``compute`` functions.

    Counts are over the episode's drug-slots (a slot per drug); band edges allow float noise.

    Attributes:
        config: the scenario played (sizes, band, budget).
        slots: slots played.
        drug_slots: ``slots * n_drugs`` (at least 1, so rates never divide by zero).
        costs: ``purchase``, ``storage``, ``penalty``, ``shortage`` and ``total`` cost (USD).
        below_band: drug-slots whose end-of-slot stock is below ``C_lo``.
        above_band: drug-slots whose end-of-slot stock is above the upper knee ``knee_hi``
            (``C_hi`` when there is no penalty zone).
        stockouts: drug-slots with unmet demand.
        served, demand, expired, accepted: units summed over drugs and slots.
        spend: purchase spend (USD).
        reward: sum of the env's rewards.
        binding: per limit of :data:`druginv_gym.dynamics.LIMITS`, the slots (``total_budget``,
            ``storage``) or drug-slots (the others) in which it bound the accepted order.
        expiry_slots: drug-slots in which units expired.
        outage_lost, recalled, alt_bought: units a supplier outage left unfilled, units
            recalled and units bought from the alternative source (a supply model; else 0).
        alt_spend: what the alternative source cost (USD).
        longest_stockout: the longest run of consecutive slots with unmet demand of one drug.
        substituted: units of demand served by a substitute (therapeutic substitution; else
            0), counted as served in the fill rate; ``substitution_cost`` what they cost (USD).
        per_drug: ``(N,)`` arrays over the episode, for the per-class metrics: ``served``
            (from stock or by a substitute), ``own`` (from stock), ``demand``, ``below_band``
            (slots below ``C_lo``), ``substituted``, ``donated``, ``substitution_cost``; empty
            when not counted.
    """

    config: ScenarioConfig
    slots: int
    drug_slots: int
    costs: Mapping[str, float]
    below_band: int
    above_band: int
    stockouts: int
    served: float
    demand: float
    expired: float
    accepted: float
    spend: float
    reward: float
    binding: Mapping[str, int] = field(default_factory=dict)
    expiry_slots: int = 0
    outage_lost: float = 0.0
    recalled: float = 0.0
    alt_bought: float = 0.0
    alt_spend: float = 0.0
    longest_stockout: int = 0
    substituted: float = 0.0
    substitution_cost: float = 0.0
    per_drug: Mapping[str, np.ndarray] = field(default_factory=dict)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Metric:
    """One metric: a column of :func:`evaluate`'s table and, if asked, of every summary.

    Args:
        name: the column name (an identifier; summaries add ``<name>_ci95``).
        label: its column header in ``summary.md`` (without the unit).
        unit: ``"USD"`` (printed without decimals), ``"%"`` (a share of 1, printed as a
            percentage), or any other unit (printed with two decimals, the unit in the header).
        description: what it measures, in one sentence.
        compute: its value for one episode from the :class:`EpisodeTally`; ``None`` for a metric
            that :func:`evaluate` does not compute (``gap_to_optimum`` needs the optimum's run).
        summarised: a column of the benchmark's and the sweep's summaries (``summary.csv``).
        shown: also a column of the console tables and ``summary.md`` (implies ``summarised``).
        short_label: its header in the console tables (default: ``label``), kept short because
            that table must fit a terminal.
        table: the table it is a column of: ``"main"`` (the console tables and ``summary.md``'s
            first table), ``"binding"`` (:func:`binding_table`), ``"supply"`` (what a supply
            model's outages, recalls and alternative source did, :func:`supply_table`) or
            ``"classes"`` (per criticality class, and substitution, :func:`class_table`).
    """

    name: str
    label: str
    unit: str
    description: str
    compute: Callable[[EpisodeTally], float] | None = None
    summarised: bool = False
    shown: bool = False
    short_label: str | None = None
    table: str = "main"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"metric name = {self.name!r} must be an identifier")
        for field_name in ("label", "unit", "description"):
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise ValueError(f"metric {self.name!r}: {field_name} = {value!r} is not a string")
        if self.short_label is not None and not isinstance(self.short_label, str):
            raise ValueError(
                f"metric {self.name!r}: short_label = {self.short_label!r} is not a string"
            )
        if self.compute is not None and not callable(self.compute):
            raise ValueError(f"metric {self.name!r}: compute = {self.compute!r} is not callable")
        if self.shown and not self.summarised:
            raise ValueError(f"metric {self.name!r}: shown=True needs summarised=True")
        if self.table not in METRIC_TABLES:
            raise ValueError(
                f"metric {self.name!r}: table = {self.table!r} is not one of {list(METRIC_TABLES)}"
            )

    @property
    def header(self) -> str:
        """``label`` with its unit, as ``summary.md`` prints it: ``refilling cost (USD)``."""
        return _with_unit(self.label, self.unit)

    @property
    def short_header(self) -> str:
        """The console table's header: ``cost (USD)``."""
        return _with_unit(self.short_label or self.label, self.unit)


def _with_unit(label: str, unit: str) -> str:
    return label if unit in ("%", "") else f"{label} ({unit})"


#: The tables a metric can be a column of (:attr:`Metric.table`).
METRIC_TABLES = ("main", "binding", "supply", "classes")


def _bound(limit: str, per_drug: bool) -> Callable[[EpisodeTally], float]:
    def compute(t: EpisodeTally) -> float:
        return t.binding.get(limit, 0) / (t.drug_slots if per_drug else max(t.slots, 1))

    return compute


def _share(count: str) -> Callable[[EpisodeTally], float]:
    def compute(t: EpisodeTally) -> float:
        return getattr(t, count) / t.drug_slots

    return compute


def _cost(term: str) -> Callable[[EpisodeTally], float]:
    def compute(t: EpisodeTally) -> float:
        return t.costs[term]

    return compute


_TABLE: NameTable[Metric] = NameTable("metric")
_BUILT_IN_METRICS = (
    Metric(
        "total_cost",
        "refilling cost",
        "USD",
        "eq. 3 summed over drugs and slots, plus the shortage cost",
        _cost("total"),
        summarised=True,
        shown=True,
        short_label="cost",
    ),
    Metric(
        "gap_to_optimum",
        "vs optimum",
        "%",
        "cost over the hindsight optimum's on the same trace, minus 1 (added by the "
        "benchmark and the sweep)",
        None,
        summarised=True,
        shown=True,
    ),
    Metric("purchase_cost", "purchase cost", "USD", "price times units ordered", _cost("purchase")),
    Metric("storage_cost", "storage cost", "USD", "cost of the stock held", _cost("storage")),
    Metric(
        "penalty_cost",
        "band penalty",
        "USD",
        "penalty for end-of-slot stock outside the band [C_lo, C_hi]",
        _cost("penalty"),
    ),
    Metric("shortage_cost", "shortage cost", "USD", "cost of unmet demand", _cost("shortage")),
    Metric(
        "shortage_rate",
        "shortage rate",
        "%",
        "share of drug-slots whose end-of-slot stock is below C_lo",
        _share("below_band"),
        summarised=True,
        shown=True,
        short_label="shortage",
    ),
    Metric(
        "stockout_rate",
        "stockout rate",
        "%",
        "share of drug-slots with unmet demand",
        _share("stockouts"),
        summarised=True,
        shown=True,
        short_label="stockout",
    ),
    Metric(
        "unexpected_rate",
        "unexpected rate",
        "%",
        "share of drug-slots whose end-of-slot stock is above C_hi - penalty_zone_hi (redundant "
        "stock near or above the capacity)",
        _share("above_band"),
        summarised=True,
        shown=True,
        short_label="unexpected",
    ),
    Metric(
        "fill_rate",
        "fill rate",
        "%",
        "units served (from stock or by a substitute) over demanded units (1 when nothing was "
        "demanded)",
        lambda t: (t.served + t.substituted) / t.demand if t.demand > 0 else 1.0,
        summarised=True,
        shown=True,
        short_label="fill",
    ),
    Metric(
        "expired_units",
        "expired",
        "units",
        "units that expired on the shelf",
        lambda t: t.expired,
        summarised=True,
    ),
    Metric(
        "waste_rate",
        "waste",
        "%",
        "expired over accepted units (0 when nothing was accepted)",
        lambda t: t.expired / t.accepted if t.accepted > 0 else 0.0,
        summarised=True,
        shown=True,
    ),
    Metric(
        "budget_used",
        "budget used",
        "%",
        "spend over the total budget (0 for a zero budget)",
        lambda t: t.spend / t.config.total_budget if t.config.total_budget > 0 else 0.0,
    ),
    *(
        Metric(
            f"binding_{limit}",
            label,
            "%",
            f"share of {what} in which {desc}",
            _bound(limit, per_drug),
            summarised=True,
            shown=True,
            table="binding",
        )
        for limit, label, what, desc, per_drug in (
            ("total_budget", "total budget", "slots", "the spend reached the total budget", False),
            ("storage", "total storage", "slots", "the stock after arrival filled V", False),
            ("capacity", "drug capacity", "drug-slots", "stock after arrival reached C_hi", True),
            ("drug_budget", "drug budget", "drug-slots", "the order spent all of B_i(t)", True),
            ("refill", "refill bound", "drug-slots", "the order was rho_hi", True),
        )
    ),
    Metric(
        "binding_expiry",
        "expiry",
        "%",
        "share of drug-slots in which units expired",
        lambda t: t.expiry_slots / t.drug_slots,
        summarised=True,
        shown=True,
        table="binding",
    ),
    *(
        Metric(name, label, unit, desc, compute, summarised=True, shown=True, table="supply")
        for name, label, unit, desc, compute in (
            (
                "outage_lost_units",
                "lost to outages",
                "units",
                "ordered units a supplier outage left unfilled",
                lambda t: t.outage_lost,
            ),
            (
                "recalled_units",
                "recalled",
                "units",
                "units recalled from stock",
                lambda t: t.recalled,
            ),
            (
                "alt_units",
                "bought elsewhere",
                "units",
                "units of unmet demand bought from the alternative source",
                lambda t: t.alt_bought,
            ),
            (
                "alt_spend",
                "alternative spend",
                "USD",
                "what the alternative source cost (part of the shortage cost)",
                lambda t: t.alt_spend,
            ),
            (
                "longest_stockout",
                "longest stockout",
                "slots",
                "the longest run of consecutive slots with unmet demand of one drug",
                lambda t: float(t.longest_stockout),
            ),
        )
    ),
)


def _of_class(label: str, what: str) -> Callable[[EpisodeTally], float]:
    """A per-class metric of the drugs of criticality ``label`` (``nan`` for a scenario
    without classes or a class without drugs): ``"fill"`` the class's units served over its
    units demanded, ``"shortage"`` its share of drug-slots below ``C_lo``, ``"service"`` 1 when
    that fill rate met the class's target (``service_level``), else 0 (``nan``: no target)."""

    def compute(t: EpisodeTally) -> float:
        c = t.config
        if c.criticality is None or not t.per_drug:
            return float("nan")
        mine = c.criticality_rank == CRITICALITY.index(label)
        if not mine.any():
            return float("nan")
        if what == "shortage":
            return float(t.per_drug["below_band"][mine].sum() / (mine.sum() * max(t.slots, 1)))
        demand = t.per_drug["demand"][mine].sum()
        fill = float(t.per_drug["served"][mine].sum() / demand) if demand > 0 else 1.0
        if what == "fill":
            return fill
        target = c.service_level.get(label, 0.0)
        return float(fill >= target - 1e-9) if target > 0 else float("nan")

    return compute


_BUILT_IN_METRICS += (
    *(
        Metric(
            f"{what}_{label}",
            f"{CRITICALITY_NAMES[label]} {desc}",
            "%",
            f"{long} of the {CRITICALITY_NAMES[label]} drugs (criticality {label!r}; nan without "
            "classes)",
            _of_class(label, key),
            summarised=True,
            shown=True,
            short_label=f"{label} {short}",
            table="classes",
        )
        for label in CRITICALITY
        for what, key, desc, short, long in (
            ("fill_rate", "fill", "fill rate", "fill", "units served over units demanded"),
            (
                "shortage_rate",
                "shortage",
                "shortage rate",
                "short.",
                "share of drug-slots below C_lo",
            ),
            (
                "service_met",
                "service",
                "service met",
                "met",
                "1 when the fill rate met the class's target (service_level; mean: the share "
                "of episodes), nan without one",
            ),
        )
    ),
    Metric(
        "substituted_units",
        "substituted",
        "units",
        "units of demand served by a substitute (therapeutic substitution)",
        lambda t: t.substituted,
        summarised=True,
        shown=True,
        short_label="subst.",
        table="classes",
    ),
    Metric(
        "substitution_cost",
        "substitution cost",
        "USD",
        "what substitution cost (part of the shortage cost)",
        lambda t: t.substitution_cost,
        summarised=True,
        shown=True,
        short_label="subst. cost",
        table="classes",
    ),
)
for _metric in _BUILT_IN_METRICS:
    _TABLE.add(_metric.name, _metric)
_TABLE.seal()

#: Every metric by name, in the column order of :func:`evaluate` (read-only). Add one with
#: :func:`register_metric`.
METRIC_TABLE: Mapping[str, Metric] = _TABLE.view


def register_metric(metric: Metric, *, overwrite: bool = False) -> None:
    """Add ``metric`` to :data:`METRIC_TABLE` (after the others): :func:`evaluate` computes
    it, and summaries and tables report it as its flags say. Replacing a metric keeps its
    place; ``ValueError`` when the name is built in, or taken and ``overwrite`` is false."""
    if not isinstance(metric, Metric):
        raise ValueError(f"metric = {metric!r} is not a druginv_gym.evaluation.Metric")
    if metric.name in _RESERVED:
        raise ValueError(f"metric name {metric.name!r} is a column evaluate() already writes")
    _TABLE.add(metric.name, metric, overwrite=overwrite)


def unregister_metric(name: str) -> Metric:
    """Remove a metric that :func:`register_metric` added and return it. The built-in ones
    stay: the benchmark's own tables and comparisons read them (``ValueError``)."""
    return _TABLE.remove(name)


# Columns of evaluate() that are not metrics.
_RESERVED = ("episode", "seed", "return", "slots", "wall_s", "policy")


def episode_metrics() -> tuple[str, ...]:
    """The metric columns :func:`evaluate` writes, in order (those with a ``compute``)."""
    return tuple(m.name for m in METRIC_TABLE.values() if m.compute is not None)


def table_metrics(table: str = "main") -> tuple[Metric, ...]:
    """The metrics of the console tables and ``summary.md`` (``table="main"``) or of
    :func:`binding_table` (``"binding"``), in column order."""
    return tuple(m for m in METRIC_TABLE.values() if m.shown and m.table == table)


def binding_table(summary: pd.DataFrame) -> pd.DataFrame:
    """How often each limit bound, per policy: the ``binding_*`` means of a summary (from
    :func:`summarize` or :func:`compare`), one column per limit, named by its label."""
    return _means(summary, "binding", lambda m: m.label)


def supply_table(summary: pd.DataFrame) -> pd.DataFrame:
    """What a supply model did, per policy: the supply metrics' means of a summary (units lost
    to outages, recalled, bought from the alternative source, its spend, the longest
    stockout), one column per metric, named by its header."""
    return _means(summary, "supply", lambda m: m.header)


def class_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per criticality class, per policy: fill rate, shortage rate and the share of service
    targets met for the vital, essential and non-essential drugs, and what substitution
    served and cost; the means of a summary, one column per metric, named by its header."""
    return _means(summary, "classes", lambda m: m.header)


def _means(summary: pd.DataFrame, table: str, name: Callable[[Metric], str]) -> pd.DataFrame:
    """The means of a summary's shown metrics of ``table``, one column per metric, renamed by
    ``name``."""
    metrics = [m for m in table_metrics(table) if m.name in summary.columns]
    return summary[[m.name for m in metrics]].rename(columns={m.name: name(m) for m in metrics})


def summary_metrics() -> tuple[str, ...]:
    """The metrics of ``summary.csv``: the main table's first (a reader finds the table's
    columns in the same order), then the other summarised ones, then the binding, supply and
    class tables'."""
    rest = (m for m in METRIC_TABLE.values() if m.summarised and not m.shown)
    return tuple(
        m.name
        for m in (
            *table_metrics(),
            *rest,
            *(m for table in METRIC_TABLES[1:] for m in table_metrics(table)),
        )
    )


def __getattr__(name: str) -> Any:
    # METRICS is computed on access, so it includes metrics registered after the import.
    if name == "METRICS":
        return episode_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Stock within this many units of a band edge counts as on the edge (float noise).
_EDGE = 1e-9


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} = {value!r} must be an integer >= 1")
    return int(value)


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    """The episodes' progress (:func:`druginv_gym.progress.progress_bar`): ``enabled=None``
    shows a bar on a terminal and plain log lines elsewhere."""
    return progress_bar(total=total, desc=desc, unit="episodes", enabled=enabled, leave=False)


def _position(info: Mapping[str, Any]) -> np.ndarray:
    """(N,) the inventory position an info reports: stock plus pipeline (a supply model)."""
    stock = np.asarray(info["stock"], dtype=np.float64)
    return stock + info["pipeline"] if "pipeline" in info else stock


def evaluate(
    env: gym.Env,
    policy: Policy,
    n_episodes: int = 10,
    seed: int = 0,
    *,
    return_slots: bool = False,
    return_drugs: bool = False,
    progress: bool | None = False,
) -> pd.DataFrame | tuple[pd.DataFrame, ...]:
    """Play ``n_episodes`` of ``policy`` in ``env`` and score each.

    Args:
        env: a single DR2O env of any id (wrappers allowed).
        policy: follows the protocol (``reset()`` after ``env.reset()``, ``act(obs)``), or
            anything :func:`druginv_gym.adapters.as_policy` adapts (a Stable-Baselines3 model,
            an RLlib algorithm, a function ``obs -> action``).
        n_episodes: episodes to play (>= 1).
        seed: episode ``k`` uses ``env.reset(seed=seed + k)``.
        return_slots: also return a per-slot table (episode, t, cost terms, rates, the share
            of drugs whose supplier was out).
        return_drugs: also return a per-drug table: one row per episode and drug with its
            criticality (empty without classes), units demanded, served from stock, served by
            a substitute, given to substitute for others, the substitution cost (USD), the
            fill rate and the drug-slots below ``C_lo``.
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        One row per episode: ``episode``, ``seed``, the :data:`METRICS`, ``return`` (sum of
        rewards), ``slots``, ``wall_s``. With ``return_slots`` and/or ``return_drugs``, a
        tuple: the episodes, then the slots table, then the drugs table (each if asked).
    """
    n_episodes = _check_count("n_episodes", n_episodes)
    policy = as_policy(policy)  # SB3 models, RLlib algorithms, functions obs -> action
    require_full_info(env, "evaluate")
    cfg = env.unwrapped.config
    computed = [m for m in METRIC_TABLE.values() if m.compute is not None]
    rows, slot_rows, drug_frames = [], [], []
    bar = _progress(n_episodes, type(policy).__name__, progress)
    for k in range(n_episodes):
        start = time.perf_counter()
        obs, info = env.reset(seed=int(seed) + k)
        policy.reset()
        trace = env.unwrapped.exogenous
        prices = order_price(cfg, trace.base_price, trace.premium)
        level, spent = _position(info), 0.0
        bound = dict.fromkeys(LIMITS, 0)
        n_expiry = 0
        supply = dict.fromkeys(("outage_lost", "recalled", "alt_bought", "alt_spend"), 0.0)
        run = np.zeros(cfg.n_drugs, dtype=np.int64)
        longest = 0
        acc = {key: 0.0 for key in ("purchase", "storage", "penalty", "shortage", "total")}
        per_drug = {k: np.zeros(cfg.n_drugs) for k in _PER_DRUG}
        n_short = n_out = n_over = 0
        served = demand = expired = accepted = spend = ret = 0.0
        slots = 0
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            ret += reward
            done = terminated or truncated
            if not info.get("slot_done", True):
                continue
            stock = info["stock"]
            below = stock < cfg.band_lo - _EDGE
            above = stock > cfg.knee_hi + _EDGE
            out = info["unmet"] > _EDGE
            cut = binding_limits(
                np.asarray(info["ordered"], dtype=np.float64)[None],
                prices[slots][None],
                cfg.drug_budget[slots],
                level[None],
                np.array([spent]),
                cfg,
                None if trace.fill is None else trace.fill[slots][None],
            )
            for limit, flags in cut.items():
                bound[limit] += int(flags.sum())
            n_expiry += int((info["expired"] > _EDGE).sum())
            level = _position(info)
            run = np.where(out, run + 1, 0)
            longest = max(longest, int(run.max()))
            if "recalled" in info:  # a supply model
                for key in supply:
                    supply[key] += float(np.sum(info[key]))
            spent += float(info["spend"])
            filled = info["served"]
            per_drug["own"] += info["served"]
            if "substituted" in info:  # therapeutic substitution
                filled = filled + info["substituted"]
                for key in ("substituted", "donated", "substitution_cost"):
                    per_drug[key] += info[key]
            per_drug["served"] += filled
            per_drug["demand"] += info["demand"]
            per_drug["below_band"] += below
            n_short += int(below.sum())
            n_over += int(above.sum())
            n_out += int(out.sum())
            served += float(info["served"].sum())
            demand += float(info["demand"].sum())
            expired += float(info["expired"].sum())
            accepted += float(info["accepted"].sum())
            spend += float(info["spend"])
            for key in acc:
                acc[key] += info["costs"][key]
            if return_slots:
                slot_rows.append(
                    {
                        "episode": k,
                        "t": slots,
                        **{f"{key}_cost": info["costs"][key] for key in acc},
                        "shortage_rate": below.mean(),
                        "stockout_rate": out.mean(),
                        "unexpected_rate": above.mean(),
                        "stock": float(stock.sum()),
                        # share of drugs whose supplier was out (a supply model; else 0)
                        "outage_rate": 0.0
                        if trace.fill is None
                        else float((trace.fill[slots] < 1.0).mean()),
                    }
                )
            slots += 1
        tally = EpisodeTally(
            config=cfg,
            slots=slots,
            drug_slots=max(slots * cfg.n_drugs, 1),
            costs=acc,
            below_band=n_short,
            above_band=n_over,
            stockouts=n_out,
            served=served,
            demand=demand,
            expired=expired,
            accepted=accepted,
            spend=spend,
            reward=ret,
            binding=bound,
            expiry_slots=n_expiry,
            longest_stockout=longest,
            substituted=float(per_drug["substituted"].sum()),
            substitution_cost=float(per_drug["substitution_cost"].sum()),
            per_drug=per_drug,
            **supply,
        )
        row: dict[str, Any] = {"episode": k, "seed": int(seed) + k}
        for metric in computed:
            row[metric.name] = metric.compute(tally)
        row.update({"return": ret, "slots": slots, "wall_s": time.perf_counter() - start})
        rows.append(row)
        if return_drugs:
            drug_frames.append(_drug_rows(k, cfg, per_drug))
        bar.update(1)
    bar.close()
    episodes = pd.DataFrame(rows)
    extras = []
    if return_slots:
        extras.append(pd.DataFrame(slot_rows))
    if return_drugs:
        extras.append(pd.concat(drug_frames, ignore_index=True))
    return (episodes, *extras) if extras else episodes


#: What :func:`evaluate` counts per drug over an episode (``EpisodeTally.per_drug``).
_PER_DRUG = ("served", "own", "demand", "below_band", "substituted", "donated",
             "substitution_cost")  # fmt: skip


def _drug_rows(episode: int, config: ScenarioConfig, per_drug: Mapping[str, np.ndarray]):
    """The per-drug table of one episode (``evaluate(..., return_drugs=True)``)."""
    demand = per_drug["demand"]
    fill = np.divide(per_drug["served"], demand, out=np.ones_like(demand), where=demand > 0)
    return pd.DataFrame(
        {
            "episode": episode,
            "drug": list(config.drug_names),
            "criticality": list(config.criticality or [""] * config.n_drugs),
            "demand": demand,
            "served": per_drug["own"],
            "substituted": per_drug["substituted"],
            "donated": per_drug["donated"],
            "substitution_cost": per_drug["substitution_cost"],
            "fill_rate": fill,
            "below_band_slots": per_drug["below_band"],
        }
    )


def summarize(
    episodes: pd.DataFrame, by: str = "policy", metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean and 95 % t-interval half-width per metric, one row per ``by`` group.

    ``metrics`` defaults to every metric :func:`evaluate` computes (:func:`episode_metrics`).
    Columns: ``<metric>`` (mean) and ``<metric>_ci95`` (half-width; 0 for one episode), plus
    ``episodes``.
    """
    if metrics is None:
        metrics = episode_metrics()
    missing = [m for m in metrics if m not in episodes.columns]
    if missing:
        raise ValueError(f"metrics {missing} are not columns of the episodes table")
    out = {}
    for name, group in episodes.groupby(by, sort=False):
        n = len(group)
        row: dict[str, float] = {"episodes": n}
        for m in metrics:
            values = group[m].to_numpy(dtype=np.float64)
            row[m] = float(values.mean())
            if n > 1:
                sem = values.std(ddof=1) / np.sqrt(n)
                row[f"{m}_ci95"] = float(stats.t.ppf(0.975, n - 1) * sem)
            else:
                row[f"{m}_ci95"] = 0.0
        out[name] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = by
    return table


def compare(
    env: gym.Env,
    policies: Mapping[str, Policy | tuple[gym.Env, Policy] | Callable[[gym.Env], Policy]],
    n_episodes: int = 10,
    seed: int = 0,
    *,
    progress: bool | None = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate several policies on the same traces.

    ``policies`` maps a name to a policy for ``env`` (or another library's agent, as
    :func:`evaluate` takes it), a ``(env, policy)`` pair (for a policy built on another id of
    the same scenario), or a factory ``env -> policy``.

    Returns ``(summary, episodes)``: :func:`summarize` of the per-episode table, and that table
    with a ``policy`` column.
    """
    if not policies:
        raise ValueError("policies is empty: nothing to compare")
    frames = []
    for name, item in policies.items():
        run_env = env
        if isinstance(item, tuple):
            run_env, policy = item
        elif isinstance(item, type) or (
            callable(item) and not hasattr(item, "act") and not is_library_policy(item)
        ):  # a factory env -> policy (a callable TorchRL or RLlib module is a policy)
            policy = item(env)
        else:
            policy = item
        df = evaluate(run_env, policy, n_episodes, seed, progress=progress)
        df.insert(0, "policy", name)
        frames.append(df)
    episodes = pd.concat(frames, ignore_index=True)
    return summarize(episodes), episodes
