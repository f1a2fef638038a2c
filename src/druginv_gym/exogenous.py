"""Exogenous processes: demand, base price, emergency premium and storage-cost rate.

Everything the decision maker does not control is drawn at ``reset`` for the whole horizon from
the environment's seeded generator alone (never from actions), so every policy can be scored on
the same trace and the hindsight solver sees exactly what the env will play.

All samplers return arrays shaped ``(batch, T, N)`` (float64). Draws are made in a fixed order
(demand, base price, premium, storage rate) with C-ordered shapes, so ``batch=1`` gives exactly
the numbers a single environment draws: this is what makes the native vector env equal to the
single env at ``num_envs=1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "TRACE_FIELDS",
    "DemandProcess",
    "ExogenousTrace",
    "PriceProcess",
    "ReplayDemand",
    "SeasonalDemand",
    "StorageRateProcess",
    "UniformDemand",
    "as_trace",
    "sample_exogenous",
]

TRACE_FIELDS = ("demand", "base_price", "premium", "storage_rate")


@runtime_checkable
class DemandProcess(Protocol):
    """Anything that draws demand (units/slot) for ``batch`` episodes of ``horizon`` slots."""

    def sample(
        self, rng: np.random.Generator, batch: int, horizon: int, n_drugs: int
    ) -> np.ndarray:  # pragma: no cover - protocol
        """Return demand, shape ``(batch, horizon, n_drugs)``, float64, >= 0 (units/slot)."""
        ...


def _per_drug(value: Any, n_drugs: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_drugs, float(arr))
    if arr.shape != (n_drugs,):
        raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or ({n_drugs},)")
    return arr


@dataclass(frozen=True)
class UniformDemand:
    """The paper's demand (Table 2): independent uniform draws in ``[low, high]`` units/slot.

    With ``integer=True`` (default) demand is a whole number of units, uniform on
    ``{low, ..., high}``; otherwise continuous on ``[low, high]``.
    """

    low: float = 5.0
    high: float = 20.0
    integer: bool = True

    def __post_init__(self) -> None:
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
        if self.integer:
            lo, hi = int(np.ceil(self.low)), int(np.floor(self.high))
            return rng.integers(lo, hi + 1, size=shape).astype(np.float64)
        return rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class SeasonalDemand:
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


@dataclass(frozen=True)
class ReplayDemand:
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


@dataclass(frozen=True)
class PriceProcess:
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

    def __post_init__(self) -> None:
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


@dataclass(frozen=True)
class StorageRateProcess:
    """Storage-cost rate ``r_i(t)`` (USD per ft^3 per slot), uniform in ``[low, high]``.

    The paper's Table 2 gives 2-5 USD/ft^3.
    """

    low: float = 2.0
    high: float = 5.0

    def __post_init__(self) -> None:
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
    """

    demand: np.ndarray
    base_price: np.ndarray
    premium: np.ndarray
    storage_rate: np.ndarray

    def __post_init__(self) -> None:
        shape = None
        for name in TRACE_FIELDS:
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
                from druginv_gym.config import _check_array  # config imports this module

                _check_array(f"exogenous trace field {name!r}", arr)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

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
        return {name: getattr(self, name) for name in TRACE_FIELDS}

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
        return ExogenousTrace(**{k: value[k] for k in TRACE_FIELDS})
    raise ValueError(
        f"exogenous trace must be an ExogenousTrace or a mapping, got {type(value).__name__}"
    )


def sample_exogenous(config: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Draw ``batch`` episodes of exogenous inputs for ``config`` (a ``ScenarioConfig``).

    Returns a dict of the four :data:`TRACE_FIELDS`, each ``(batch, T, N)`` float64.
    """
    T, N = config.horizon, config.n_drugs
    demand = np.asarray(config.demand.sample(rng, batch, T, N), dtype=np.float64)
    base, premium = config.price.sample(rng, config.price_level, batch, T)
    rate = config.storage.sample(rng, batch, T, N)
    return {"demand": demand, "base_price": base, "premium": premium, "storage_rate": rate}
