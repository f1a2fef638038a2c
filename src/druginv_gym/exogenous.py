"""Exogenous processes: demand, base price, emergency premium and storage-cost rate.

Everything the decision maker does not control is drawn at ``reset`` for the whole horizon from
the environment's seeded generator alone (never from actions), so every policy can be scored on
the same trace and the hindsight solver sees exactly what the env will play.

All samplers return arrays shaped ``(batch, T, N)`` (float64). Draws are made in a fixed order
(demand, base price, premium, storage rate) with C-ordered shapes, so ``batch=1`` gives exactly
the numbers a single environment draws: this is what makes the native vector env equal to the
single env at ``num_envs=1``.

Processes and their registry
----------------------------
A scenario holds three processes, one per *role* (:data:`PROCESS_ROLES`): ``demand``,
``price`` (base price and premium) and ``storage`` (storage-cost rate). Every process has

* ``role``, the :class:`~druginv_gym.config.ScenarioConfig` field it fills;
* ``sample(...)``, its natural draw: ``sample(rng, batch, horizon, n_drugs)`` for demand and
  storage, ``sample(rng, level, batch, horizon) -> (base, premium)`` for price (it needs the
  scenario's price levels);
* ``draw(rng, config, batch)``, the one call :func:`sample_exogenous` makes on each of them,
  returning ``{trace field: (batch, T, N) array}`` for its role's fields;
* ``to_dict()`` / ``from_dict(data)``, its JSON form ``{"kind": <kind>, **parameters}``.

Subclassing :class:`DemandBase`, :class:`PriceBase` or :class:`StorageRateBase` as a frozen
dataclass gives ``role``, ``draw``, ``to_dict`` and ``from_dict``; write ``sample`` and register
the class with :func:`register_process` (or the ``@register_process(kind)`` decorator) so that a
config holding it serialises and loads. :data:`PROCESSES` is the read-only registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from druginv_gym._checks import check_array, check_method_takes
from druginv_gym._table import NameTable
from druginv_gym.supply import SUPPLY_FIELDS

if TYPE_CHECKING:
    from druginv_gym.config import ScenarioConfig

__all__ = [
    "PROCESSES",
    "PROCESS_ROLES",
    "TRACE_FIELDS",
    "DemandBase",
    "DemandProcess",
    "ExogenousProcess",
    "ExogenousTrace",
    "PriceBase",
    "PriceProcess",
    "ReplayDemand",
    "SeasonalDemand",
    "StorageRateBase",
    "StorageRateProcess",
    "UniformDemand",
    "as_trace",
    "draw_process",
    "process_from_dict",
    "process_kind",
    "process_to_dict",
    "register_process",
    "sample_exogenous",
    "trace_fields",
    "unregister_process",
]

#: Role (the ``ScenarioConfig`` field holding a process) -> the trace fields its process draws.
#: The order is the draw order, which the seeded traces depend on.
PROCESS_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"demand": ("demand",), "price": ("base_price", "premium"), "storage": ("storage_rate",)}
)

#: The fields of a trace, in draw order: ``("demand", "base_price", "premium", "storage_rate")``.
TRACE_FIELDS: tuple[str, ...] = sum(PROCESS_ROLES.values(), ())

#: The kind of a ``price`` or ``storage`` entry that has none: configs written before the
#: registry stored these two processes as bare parameter dicts, and configs holding the
#: built-in ones are still written so (so older versions can read them).
_UNNAMED_KIND = {"price": "price", "storage": "storage"}

_TABLE: NameTable[type] = NameTable("process kind")

#: Kind -> process class, read-only; change it with :func:`register_process` and
#: :func:`unregister_process`.
PROCESSES: Mapping[str, type] = _TABLE.view

_C = TypeVar("_C", bound=type)
_P = TypeVar("_P", bound="ExogenousProcess")


@runtime_checkable
class DemandProcess(Protocol):
    """Anything that draws demand (units/slot) for ``batch`` episodes of ``horizon`` slots.

    This is all an env needs to play a demand process; serialising a config that holds one
    also needs it registered (:func:`register_process`).
    """

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:  # pragma: no cover - protocol
        """Return demand, shape ``(batch, horizon, n_drugs)``, float64, >= 0 (units/slot)."""
        ...


def _jsonable(value: Any) -> Any:
    """Arrays and tuples as lists (what JSON can hold); everything else unchanged."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


class ExogenousProcess:
    """Base of the exogenous processes: the JSON form ``{"kind": kind, **parameters}``.

    Use one of its role bases (:class:`DemandBase`, :class:`PriceBase`,
    :class:`StorageRateBase`), which add ``role`` and ``draw``. The parameters are the
    dataclass fields of the process (arrays and tuples written as lists); a process that is not
    a dataclass overrides ``to_dict`` and ``from_dict``.
    """

    role: ClassVar[str] = ""
    #: Parameters a JSON form written before they existed lacks, with the value that gives
    #: that older form's behaviour (the built-in processes' ``draws``: ``"legacy"``).
    OLDER_DEFAULTS: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": kind, **fields}``; ``ValueError`` if the class is not registered."""
        kind = process_kind(self)
        if kind is None:
            raise ValueError(_no_json_form(self))
        if not dataclasses.is_dataclass(self):
            raise TypeError(
                f"{type(self).__name__} is not a dataclass: override to_dict() and from_dict()"
            )
        params = dataclasses.asdict(self)
        # a parameter at the value its older form meant is left out, so older versions read it
        for key, old in self.OLDER_DEFAULTS.items():
            if params.get(key) == old:
                del params[key]
        return {"kind": kind, **{k: _jsonable(v) for k, v in params.items()}}

    @classmethod
    def from_dict(cls: type[_P], data: Mapping[str, Any]) -> _P:
        """Inverse of :meth:`to_dict`: ``cls(**parameters)``; a ``kind``, if given, must be
        this class's (unknown parameters raise the constructor's ``TypeError``)."""
        params = {**cls.OLDER_DEFAULTS, **data}
        kind = params.pop("kind", None)
        own = process_kind(cls)
        if kind is not None and kind != own:
            raise ValueError(f"{cls.__name__}.from_dict got kind = {kind!r}; its kind is {own!r}")
        return cls(**params)


#: How the built-in processes draw their random numbers (their ``draws`` parameter):
#: ``"compact"`` (the default since 0.2: four uniforms per drug-slot over the three processes,
#: the premium's occurrence and size from one of them, about half the time of the earlier draws)
#: or ``"legacy"`` (the earlier draws, five numbers per drug-slot: the traces of every result
#: published before 0.2 and of scenario ``"paper-band"``).
DRAWS = ("compact", "legacy")


def _check_draws(owner: str, draws: str) -> None:
    if draws not in DRAWS:
        raise ValueError(f"{owner}.draws = {draws!r} must be one of {list(DRAWS)}")


def _draw_demand(
    process: DemandProcess, rng: np.random.Generator, config: ScenarioConfig, batch: int
) -> dict[str, np.ndarray]:
    """What :meth:`DemandBase.draw` does, also for a bare object with only ``sample``."""
    demand = process.sample(rng, batch, config.horizon, config.n_drugs)
    return {"demand": np.asarray(demand, dtype=np.float64)}


class DemandBase(ExogenousProcess):
    """Base of demand processes: write ``sample(rng, batch, horizon, n_drugs)``, returning
    demand ``(batch, horizon, n_drugs)`` (units/slot, >= 0)."""

    role: ClassVar[str] = "demand"
    #: Written by each subclass (declared here, not defined: the registry checks it).
    sample: Callable[..., Any]

    def draw(
        self, rng: np.random.Generator, config: ScenarioConfig, batch: int
    ) -> dict[str, np.ndarray]:
        """``{"demand": sample(rng, batch, T, N)}`` as float64."""
        return _draw_demand(self, rng, config, batch)


class PriceBase(ExogenousProcess):
    """Base of price processes: write ``sample(rng, level, batch, horizon)``, returning
    ``(base, premium)``, each ``(batch, horizon, N)`` (USD/unit, >= 0), around the scenario's
    per-drug ``level = config.price_level`` (``(N,)``)."""

    role: ClassVar[str] = "price"
    #: Written by each subclass (declared here, not defined: the registry checks it).
    sample: Callable[..., Any]

    def draw(
        self, rng: np.random.Generator, config: ScenarioConfig, batch: int
    ) -> dict[str, np.ndarray]:
        """``{"base_price": base, "premium": premium}`` from ``sample``."""
        base, premium = self.sample(rng, config.price_level, batch, config.horizon)
        return {"base_price": base, "premium": premium}


class StorageRateBase(ExogenousProcess):
    """Base of storage-rate processes: write ``sample(rng, batch, horizon, n_drugs)``, returning
    the rate ``(batch, horizon, n_drugs)`` (USD/ft^3/slot, >= 0), and give the process a
    ``high`` attribute, the largest rate it draws: the observation divides rates by it."""

    role: ClassVar[str] = "storage"
    #: Written by each subclass (declared here, not defined: the registry checks it).
    sample: Callable[..., Any]

    def draw(
        self, rng: np.random.Generator, config: ScenarioConfig, batch: int
    ) -> dict[str, np.ndarray]:
        """``{"storage_rate": sample(rng, batch, T, N)}``."""
        rate = self.sample(rng, batch, config.horizon, config.n_drugs)
        return {"storage_rate": rate}


_ROLE_BASES = "DemandBase, PriceBase or StorageRateBase"


def _check_process_class(kind: str, cls: Any) -> None:
    """``TypeError`` naming what ``cls`` lacks of the process protocol."""
    if not isinstance(cls, type):
        raise TypeError(f"register_process({kind!r}, {cls!r}): {cls!r} is not a class")
    role = getattr(cls, "role", None)
    if role not in PROCESS_ROLES:
        raise TypeError(
            f"{cls.__name__}.role = {role!r}; a process class needs a role in "
            f"{list(PROCESS_ROLES)} (subclass {_ROLE_BASES})"
        )
    missing = [
        m for m in ("sample", "draw", "to_dict", "from_dict") if not callable(getattr(cls, m, None))
    ]
    if missing:
        raise TypeError(
            f"{cls.__name__} has no {', '.join(f'{m}()' for m in missing)}: a {role} process "
            f"needs sample, draw, to_dict and from_dict (subclass {_ROLE_BASES})"
        )
    want = "(rng, level, batch, horizon)" if role == "price" else "(rng, batch, horizon, n_drugs)"
    check_method_takes(cls, "sample", 4, want)


def register_process(
    kind: str, cls: _C | None = None, *, overwrite: bool = False
) -> _C | Callable[[_C], _C]:
    """Register the process class ``cls`` under ``kind``, its name in a config's JSON form.

    ``register_process("weekly", WeeklyDemand)`` or, as a class decorator,
    ``@register_process("weekly")``; returns the class. After it, a ``ScenarioConfig`` holding
    a ``WeeklyDemand`` round-trips through ``to_dict()`` / ``from_dict()`` (and so through
    checkpoints and ``gym.make(config=<dict>)``).

    Raises:
        TypeError: ``cls`` is not a class with ``role``, ``sample``, ``draw``, ``to_dict``
            and ``from_dict`` (subclass :class:`DemandBase`, :class:`PriceBase` or
            :class:`StorageRateBase` to get all but ``sample``).
        ValueError: ``kind`` is not a non-empty string, is taken (unless ``overwrite``) or is
            built in, or ``cls`` is already registered under another kind (its JSON form names
            exactly one kind).
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"process kind = {kind!r} must be a non-empty string")

    def add(klass: _C) -> _C:
        _check_process_class(kind, klass)
        other = _kind_of(klass)
        if other is not None and other != kind:  # a class's JSON form names exactly one kind
            raise ValueError(f"{klass.__name__} is already registered as kind {other!r}")
        return _TABLE.add(kind, klass, overwrite=overwrite)

    return add if cls is None else add(cls)


def unregister_process(kind: str) -> type:
    """Remove ``kind`` from the registry and return its class (built-in kinds stay)."""
    return _TABLE.remove(kind)


def process_kind(process: Any) -> str | None:
    """The registered kind of a process (instance or class), ``None`` if it has none.

    A subclass of a registered class that is not registered itself has its parent's kind.
    """
    klass = process if isinstance(process, type) else type(process)
    for base in klass.__mro__:
        kind = _kind_of(base)
        if kind is not None:
            return kind
    return None


def _kind_of(cls: type) -> str | None:
    """The kind ``cls`` itself is registered under (``None``: not registered)."""
    return next((kind for kind, c in PROCESSES.items() if c is cls), None)


def _no_json_form(process: Any) -> str:
    role = getattr(process, "role", "") or "demand"
    return (
        f"{role} process {type(process).__name__} has no JSON form; register it with "
        "druginv_gym.exogenous.register_process(kind, cls)"
    )


def _check_role(role: str) -> None:
    if role not in PROCESS_ROLES:
        raise ValueError(f"role = {role!r}; expected one of {list(PROCESS_ROLES)}")


def process_to_dict(process: Any, role: str) -> dict[str, Any]:
    """The JSON form of the process in the config field ``role`` (``process.to_dict()``).

    The built-in price and storage processes are written without ``kind``, as before the
    registry, so configs stay readable by older versions.
    """
    _check_role(role)
    to_dict = getattr(process, "to_dict", None)
    if not callable(to_dict):
        raise ValueError(_no_json_form(process))
    data = dict(to_dict())
    if role in _UNNAMED_KIND and data.get("kind") == _UNNAMED_KIND[role]:
        del data["kind"]
    return data


def process_from_dict(data: Mapping[str, Any], role: str) -> Any:
    """The process of the config field ``role`` from its JSON form (:func:`process_to_dict`).

    ``data["kind"]`` picks the registered class, which must have this role; a ``price`` or
    ``storage`` entry without ``kind`` is the built-in one (the older format).
    """
    _check_role(role)
    if not isinstance(data, Mapping):
        raise ValueError(f"{role} = {data!r} must be a dict with a 'kind'")
    kind = data.get("kind", _UNNAMED_KIND.get(role))
    cls = _TABLE.get(kind) if isinstance(kind, str) else None
    if cls is None or cls.role != role:
        known = sorted(k for k, c in PROCESSES.items() if c.role == role)
        what = "" if cls is None else f" (a {cls.role} process)"
        raise ValueError(
            f"unknown {role} kind {kind!r}{what}; known: {known}; add one with "
            "druginv_gym.exogenous.register_process(kind, cls)"
        )
    return cls.from_dict(data)


def draw_process(
    process: Any, role: str, rng: np.random.Generator, config: ScenarioConfig, batch: int
) -> dict[str, np.ndarray]:
    """``process.draw(rng, config, batch)``, checked to return exactly the role's fields.

    A demand object with only ``sample`` (the :class:`DemandProcess` protocol) is drawn as
    :class:`DemandBase` draws.
    """
    draw = getattr(process, "draw", None)
    if callable(draw):
        drawn = draw(rng, config, batch)
    elif role == "demand":
        drawn = _draw_demand(process, rng, config, batch)
    else:
        raise ValueError(f"{role} process {type(process).__name__} has no draw(rng, config, batch)")
    if not isinstance(drawn, Mapping) or set(drawn) != set(PROCESS_ROLES[role]):
        got = sorted(drawn) if isinstance(drawn, Mapping) else type(drawn).__name__
        raise ValueError(
            f"{role} process {type(process).__name__}.draw returned {got}; "
            f"expected the fields {list(PROCESS_ROLES[role])}"
        )
    return drawn


def _per_drug(value: Any, n_drugs: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_drugs, float(arr))
    if arr.shape != (n_drugs,):
        raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or ({n_drugs},)")
    return arr


@register_process("uniform")
@dataclass(frozen=True)
class UniformDemand(DemandBase):
    """The paper's demand (Table 2): independent uniform draws in ``[low, high]`` units/slot.

    With ``integer=True`` (default) demand is a whole number of units, uniform on
    ``{low, ..., high}``; otherwise continuous on ``[low, high]``.
    """

    low: float = 5.0
    high: float = 20.0
    integer: bool = True
    draws: str = "compact"
    OLDER_DEFAULTS: ClassVar[dict[str, Any]] = {"draws": "legacy"}

    def __post_init__(self) -> None:
        _check_draws("UniformDemand", self.draws)
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low < 0:
            raise ValueError(f"UniformDemand.low = {self.low!r} must be finite and >= 0")
        if self.high < self.low:
            raise ValueError(
                f"UniformDemand.high = {self.high!r} is below UniformDemand.low = {self.low!r}"
            )

    @property
    def mean(self) -> float:
        """Expected demand (units/slot)."""
        return 0.5 * (self.low + self.high)

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:
        shape = (batch, horizon, n_drugs)
        if self.draws == "legacy":
            if self.integer:
                lo, hi = int(np.ceil(self.low)), int(np.floor(self.high))
                return rng.integers(lo, hi + 1, size=shape).astype(np.float64)
            return rng.uniform(self.low, self.high, size=shape)
        if not self.integer:
            return rng.uniform(self.low, self.high, size=shape)
        # lo + floor(u (hi - lo + 1)) with u a float32 uniform on [0, 1) (24 random bits, so
        # each value is equally likely to 2^-24; the product is exact in float64)
        lo, hi = int(np.ceil(self.low)), int(np.floor(self.high))
        u = rng.random(shape, dtype=np.float32).astype(np.float64)
        u *= hi - lo + 1
        np.floor(u, out=u)
        u += lo
        return u


@register_process("seasonal")
@dataclass(frozen=True)
class SeasonalDemand(DemandBase):
    """Poisson demand around a seasonal, trending mean with occasional shocks.

    For drug ``i`` at slot ``t`` (0-based) the mean is::

        m_i(t) = mean_i * (1 + amplitude * sin(2 pi (t + phase_i) / period))
                        * max(1 + trend * t, 0) * shock_i(t)

    where ``phase_i`` is drawn uniformly in ``[0, period)`` per episode and drug, and
    ``shock_i(t)`` equals ``shock_scale`` with probability ``shock_prob`` (an outbreak week)
    and 1 otherwise. Demand is ``Poisson(m_i(t) * g)``, with ``g`` a gamma noise of mean 1 and
    coefficient of variation ``noise_cv`` (0 gives plain Poisson): over-dispersed counts as
    seen in pharmacy sales.

    Args:
        mean: mean demand per drug (units/slot), scalar or ``(N,)``.
        amplitude: relative seasonal swing in ``[0, 1]``.
        period: season length in slots (52 for weekly slots).
        trend: relative change of the mean per slot (e.g. 0.005 = +0.5 %/week).
        shock_prob: probability of a demand shock per drug-slot.
        shock_scale: multiplier of the mean during a shock.
        noise_cv: coefficient of variation of the multiplicative gamma noise.
    """

    mean: Any = 12.5
    amplitude: float = 0.3
    period: float = 52.0
    trend: float = 0.0
    shock_prob: float = 0.02
    shock_scale: float = 2.0
    noise_cv: float = 0.2

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        if not np.all(np.isfinite(mean)) or np.any(mean < 0):
            raise ValueError(f"SeasonalDemand.mean = {self.mean!r} must be finite and >= 0")
        checks = {
            "amplitude": 0.0 <= self.amplitude <= 1.0,
            "period": self.period > 0,
            "trend": np.isfinite(self.trend),
            "shock_prob": 0.0 <= self.shock_prob <= 1.0,
            "shock_scale": self.shock_scale >= 0,
            "noise_cv": self.noise_cv >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SeasonalDemand.{name} = {getattr(self, name)!r} is out of range")

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:
        mean = _per_drug(self.mean, n_drugs, "SeasonalDemand.mean")
        t = np.arange(horizon, dtype=np.float64)[None, :, None]
        phase = rng.uniform(0.0, self.period, size=(batch, 1, n_drugs))
        season = 1.0 + self.amplitude * np.sin(2.0 * np.pi * (t + phase) / self.period)
        trend = np.maximum(1.0 + self.trend * t, 0.0)
        shock = np.where(
            rng.random((batch, horizon, n_drugs)) < self.shock_prob, self.shock_scale, 1.0
        )
        lam = mean[None, None, :] * season * trend * shock
        if self.noise_cv > 0:
            k = 1.0 / self.noise_cv**2
            lam = lam * rng.gamma(k, 1.0 / k, size=lam.shape)
        return rng.poisson(lam).astype(np.float64)


@lru_cache(maxsize=8)
def _replay_series(
    source: str, split: str, split_date: str, columns: tuple[str, ...]
) -> np.ndarray:
    from druginv_gym.data import load_pharma_sales

    if source != "pharma_weekly":
        raise ValueError(f"ReplayDemand.source = {source!r}; known: ['pharma_weekly']")
    frame = load_pharma_sales("weekly")
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise ValueError(f"ReplayDemand.columns {unknown} are not in {list(frame.columns)}")
    cut = pd.Timestamp(split_date)
    rows = {
        "train": frame.index < cut,
        "test": frame.index >= cut,
        "all": np.ones(len(frame), bool),
    }
    if split not in rows:
        raise ValueError(f"ReplayDemand.split = {split!r}; expected 'train', 'test' or 'all'")
    values = frame.loc[rows[split], list(columns)].to_numpy(dtype=np.float64)
    values.setflags(write=False)
    return values


@register_process("replay")
@dataclass(frozen=True)
class ReplayDemand(DemandBase):
    """Demand replayed from real weekly sales: each episode starts at a random week of a split.

    The series are the "Pharma sales data" weekly sales (see ``druginv_gym.data``), one column
    per drug, multiplied per drug by ``scale``. An episode of ``T`` slots replays ``T``
    consecutive weeks starting at a uniformly drawn week such that the whole episode lies in
    the split: weeks before ``split_date`` (``"train"``), from it on (``"test"``), or
    ``"all"``. Agents trained on ``"train"`` can thus be evaluated on weeks they never saw.

    Args:
        columns: the ATC groups to replay, one per drug.
        split: ``"train"``, ``"test"`` or ``"all"``.
        split_date: first date of the test split (ISO format).
        scale: per-drug multipliers (``None``: 1, raw units sold).
        source: the data set (only ``"pharma_weekly"``).
    """

    columns: tuple[str, ...] = ("M01AB", "M01AE", "N02BA", "N02BE", "N05B", "N05C", "R03", "R06")
    split: str = "train"
    split_date: str = "2018-06-01"
    scale: tuple[float, ...] | None = None
    source: str = "pharma_weekly"

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.scale is not None:
            scale = tuple(float(v) for v in self.scale)
            if len(scale) != len(self.columns) or not all(np.isfinite(scale)) or min(scale) < 0:
                raise ValueError(
                    f"ReplayDemand.scale = {self.scale!r} needs {len(self.columns)} finite "
                    "values >= 0, one per column"
                )
            object.__setattr__(self, "scale", scale)
        try:
            pd.Timestamp(self.split_date)
        except (ValueError, TypeError):
            raise ValueError(
                f"ReplayDemand.split_date = {self.split_date!r} is not a date"
            ) from None
        self.series  # noqa: B018 - validate source, split and columns now, not at the first reset

    def training(self) -> ReplayDemand:
        """The same replay on the ``"train"`` split: the weeks before ``split_date``, what
        may be learnt from whichever split is played."""
        return self if self.split == "train" else dataclasses.replace(self, split="train")

    @property
    def series(self) -> np.ndarray:
        """``(weeks, N)`` demand of the split (units/slot), scaled."""
        raw = _replay_series(self.source, self.split, self.split_date, self.columns)
        return raw if self.scale is None else raw * np.asarray(self.scale)

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:
        series = self.series
        if n_drugs != series.shape[1]:
            raise ValueError(f"ReplayDemand has {series.shape[1]} columns for {n_drugs} drugs")
        weeks = series.shape[0]
        if horizon > weeks:
            raise ValueError(
                f"horizon = {horizon} slots is longer than the {self.split!r} split ({weeks} weeks)"
            )
        start = rng.integers(0, weeks - horizon + 1, size=batch)
        return series[start[:, None] + np.arange(horizon)[None, :]]


@register_process("price")
@dataclass(frozen=True)
class PriceProcess(PriceBase):
    """Base price and emergency premium (eq. 1: ``p_i(t) = base_i(t) + beta_i(t)``).

    ``base_i(t) = level_i * (1 + volatility * u)``, ``u ~ U(-1, 1)`` independently per slot.
    With probability ``premium_prob`` per drug-slot the supplier charges an emergency premium
    ``beta_i(t) = base_i(t) * U(premium_low, premium_high)`` (0 otherwise). Both are revealed
    before the decision at ``t``. ``level`` (USD/unit) comes from the scenario config.
    """

    volatility: float = 0.1
    premium_prob: float = 0.1
    premium_low: float = 0.2
    premium_high: float = 0.5
    draws: str = "compact"
    OLDER_DEFAULTS: ClassVar[dict[str, Any]] = {"draws": "legacy"}

    def __post_init__(self) -> None:
        _check_draws("PriceProcess", self.draws)
        if not 0.0 <= self.volatility < 1.0:
            raise ValueError(f"PriceProcess.volatility = {self.volatility!r} must be in [0, 1)")
        if not 0.0 <= self.premium_prob <= 1.0:
            raise ValueError(f"PriceProcess.premium_prob = {self.premium_prob!r} not in [0, 1]")
        if not 0.0 <= self.premium_low <= self.premium_high:
            raise ValueError(
                f"PriceProcess premium range [{self.premium_low!r}, {self.premium_high!r}] "
                "must satisfy 0 <= premium_low <= premium_high"
            )

    @property
    def max_factor(self) -> float:
        """Largest possible ``p / level`` ratio."""
        return (1.0 + self.volatility) * (1.0 + self.premium_high)

    def sample(
        self, rng: np.random.Generator, level: np.ndarray, batch: int, horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        shape = (batch, horizon, level.shape[0])
        if self.draws == "compact":
            # Two uniforms per drug-slot: ``u`` for the base price, ``level (1 + volatility (2u -
            # 1))``, and ``w`` for the premium, which occurs when ``w < premium_prob`` and then
            # is ``base * (low + (high - low) w / premium_prob)`` (``w`` given ``w < prob`` is
            # uniform on [0, prob)); where few drug-slots have one, only those are computed.
            base = rng.random(shape)
            base *= 2.0 * self.volatility * level
            base += (1.0 - self.volatility) * level
            w = rng.random(shape)
            prob = self.premium_prob
            scale = (self.premium_high - self.premium_low) / prob if prob > 0.0 else 0.0
            if prob >= 0.25:  # most drug-slots have a premium: in place over the whole array
                premium = w
                no_premium = w >= prob if prob < 1.0 else None
                premium *= scale
                premium += self.premium_low
                premium *= base
                if no_premium is not None:
                    np.copyto(premium, 0.0, where=no_premium)
            else:  # a few: only those
                premium = np.zeros(shape)
                hit = np.flatnonzero(w < prob)
                frac = w.ravel()[hit]
                frac *= scale
                frac += self.premium_low
                premium.ravel()[hit] = frac * base.ravel()[hit]
            return base, premium
        # In place, the same values as ``level * (1 + volatility * u)`` and
        # ``where(u2 < premium_prob, base * frac, 0)`` (each product's operands swap, which
        # IEEE arithmetic allows) without four full-size temporaries.
        base = rng.uniform(-1.0, 1.0, size=shape)
        base *= self.volatility
        base += 1.0
        base *= level
        no_premium = rng.random(shape) >= self.premium_prob
        premium = rng.uniform(self.premium_low, self.premium_high, size=shape)
        premium *= base
        np.copyto(premium, 0.0, where=no_premium)
        return base, premium


@register_process("storage")
@dataclass(frozen=True)
class StorageRateProcess(StorageRateBase):
    """Storage-cost rate ``r_i(t)`` (USD per ft^3 per slot), uniform in ``[low, high]``.

    The paper's Table 2 gives 2-5 USD/ft^3.
    """

    low: float = 2.0
    high: float = 5.0
    draws: str = "compact"
    OLDER_DEFAULTS: ClassVar[dict[str, Any]] = {"draws": "legacy"}

    def __post_init__(self) -> None:
        _check_draws("StorageRateProcess", self.draws)
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or not 0 <= self.low <= self.high:
            raise ValueError(
                f"StorageRateProcess range [{self.low!r}, {self.high!r}] must satisfy "
                "0 <= low <= high < inf"
            )

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=(batch, horizon, n_drugs))


@dataclass(frozen=True, eq=False)
class ExogenousTrace:
    """One episode's exogenous inputs; each array is ``(T, N)`` float64.

    Attributes:
        demand: units requested per slot ``A_i(t)``.
        base_price: base purchase price (USD/unit).
        premium: emergency premium ``beta_i(t)`` (USD/unit), price = base + premium (eq. 1).
        storage_rate: storage-cost rate ``r_i(t)`` (USD/ft^3/slot).
        fill, lead_time, recall: the supply events of a scenario with a supply model
            (:mod:`druginv_gym.supply`): the share of an order placed in slot ``t`` that its
            supplier fills, its lead time (slots) and the recall flag (0 or 1); ``None``
            without a supply model.
    """

    demand: np.ndarray
    base_price: np.ndarray
    premium: np.ndarray
    storage_rate: np.ndarray
    fill: np.ndarray | None = None
    lead_time: np.ndarray | None = None
    recall: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = None
        supply = [getattr(self, k) is not None for k in SUPPLY_FIELDS]
        if any(supply) and not all(supply):
            raise ValueError(
                f"exogenous trace has only some of the supply fields {list(SUPPLY_FIELDS)}: "
                "give all three or none"
            )
        for name in self.fields:
            raw = getattr(self, name)
            try:
                arr = np.array(raw, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"exogenous trace field {name!r} is not numeric: {exc}") from None
            if arr.ndim != 2:
                raise ValueError(
                    f"exogenous trace field {name!r} has shape {arr.shape}; expected (T, N)"
                )
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise ValueError(
                    f"exogenous trace field {name!r} has shape {arr.shape}; "
                    f"'demand' has shape {shape}"
                )
            # two reductions in the common case; element-wise checks only to name a bad value
            if not (arr.size and arr.min() >= 0.0 and arr.max() < np.inf):  # NaN fails min
                check_array(f"exogenous trace field {name!r}", arr)
            if name in SUPPLY_FIELDS:
                _check_supply_field(name, arr)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def fields(self) -> tuple[str, ...]:
        """The trace's fields: :data:`TRACE_FIELDS`, then :data:`SUPPLY_FIELDS` when the trace
        has supply events (a scenario with a supply model)."""
        return TRACE_FIELDS + SUPPLY_FIELDS if self.fill is not None else TRACE_FIELDS

    @property
    def horizon(self) -> int:
        return int(self.demand.shape[0])

    @property
    def n_drugs(self) -> int:
        return int(self.demand.shape[1])

    @property
    def price(self) -> np.ndarray:
        """Purchase price ``p_i(t) = base_i(t) + beta_i(t)`` (eq. 1), USD/unit, ``(T, N)``."""
        return self.base_price + self.premium

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.fields}

    def check_shape(self, horizon: int, n_drugs: int) -> None:
        """Raise ``ValueError`` unless the trace is ``(horizon, n_drugs)``."""
        if self.demand.shape != (horizon, n_drugs):
            raise ValueError(
                f"exogenous trace has shape {self.demand.shape}; this scenario needs "
                f"(horizon, n_drugs) = ({horizon}, {n_drugs})"
            )


def as_trace(value: ExogenousTrace | Mapping[str, Any]) -> ExogenousTrace:
    """Accept an :class:`ExogenousTrace` or a mapping with its four fields."""
    if isinstance(value, ExogenousTrace):
        return value
    if isinstance(value, Mapping):
        missing = [k for k in TRACE_FIELDS if k not in value]
        if missing:
            raise ValueError(f"exogenous trace is missing fields {missing}")
        return ExogenousTrace(**{k: value[k] for k in TRACE_FIELDS + SUPPLY_FIELDS if k in value})
    raise ValueError(
        f"exogenous trace must be an ExogenousTrace or a mapping, got {type(value).__name__}"
    )


def sample_exogenous(
    config: ScenarioConfig, rng: np.random.Generator, batch: int
) -> dict[str, np.ndarray]:
    """Draw ``batch`` episodes of exogenous inputs for ``config`` (a ``ScenarioConfig``).

    Each process of the config draws its role's fields (:func:`draw_process`), in the order of
    :data:`PROCESS_ROLES`: demand, then base price and premium, then storage rate, all from
    ``rng``. Returns a dict of the four :data:`TRACE_FIELDS`, each ``(batch, T, N)`` float64.
    """
    out: dict[str, np.ndarray] = {}
    for role in PROCESS_ROLES:
        out.update(draw_process(getattr(config, role), role, rng, config, batch))
    if config.supply is not None:  # after the rest: the same demand with or without it
        out.update(config.supply.draw(rng, config, batch))
    return out


def trace_fields(config: ScenarioConfig) -> tuple[str, ...]:
    """The trace fields of ``config``'s episodes: :data:`TRACE_FIELDS`, plus
    :data:`~druginv_gym.supply.SUPPLY_FIELDS` with a supply model."""
    return TRACE_FIELDS + SUPPLY_FIELDS if config.supply is not None else TRACE_FIELDS


def _check_supply_field(name: str, arr: np.ndarray) -> None:
    """``ValueError`` naming a supply event that cannot be: a fill above 1, a lead time or a
    recall flag that is not an integer (a recall 0 or 1)."""
    if name == "fill":
        bad = arr > 1.0
        why = "must be a fraction in [0, 1]"
    elif name == "lead_time":
        bad = arr != np.floor(arr)
        why = "must be a whole number of slots"
    else:
        bad = (arr != 0.0) & (arr != 1.0)
        why = "must be 0 or 1"
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"exogenous trace field {name!r}[{i[0]}, {i[1]}] = {arr[i].item()!r} {why}"
        )


# Registered above by their decorators; these kinds are what configs (and files written by
# every version) mean by "uniform", "seasonal", "replay", "price" and "storage": fixed for good.
_TABLE.seal()
