"""Scenario configuration: one frozen, validated dataclass for a whole DR2O instance.

Units throughout: quantities in units of drug, volumes in ft^3, money in USD, time in slots
(weeks in the paper). Per-drug arrays are ``(N,)`` float64 (``shelf_life`` and ``priority`` are
int64); ``drug_budget`` is stored as ``(T, N)`` (the paper's ``B_i(t)``). All arrays are made
read-only after validation, so a config can be shared between envs safely.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from druginv_gym._checks import check_array as _check_array
from druginv_gym._checks import check_fields as _check_fields
from druginv_gym._checks import fail as _fail
from druginv_gym.exogenous import (
    PROCESS_ROLES,
    DemandProcess,
    PriceProcess,
    StorageRateProcess,
    UniformDemand,
    process_from_dict,
    process_to_dict,
)
from druginv_gym.substitution import Substitution
from druginv_gym.supply import SupplyModel

__all__ = ["CRITICALITY", "CRITICALITY_NAMES", "PER_DRUG_FIELDS", "PREMIUM_MODES", "ScenarioConfig"]

#: The criticality classes of ``ScenarioConfig.criticality``, most critical first: VEN's vital,
#: essential and non-essential (:mod:`druginv_gym.classify` maps CVA's classes onto them).
CRITICALITY = ("V", "E", "N")
#: What each class of :data:`CRITICALITY` is called in tables and figures.
CRITICALITY_NAMES = {"V": "vital", "E": "essential", "N": "non-essential"}

#: How the emergency premium ``beta_i(t)`` of eq. 1 is paid (``ScenarioConfig.premium_mode``):
#: ``"exogenous"``, on every order of a slot with a premium (revealed before the decision);
#: ``"emergency"``, only on the emergency purchases that cover unmet demand.
PREMIUM_MODES = ("exogenous", "emergency")

#: Per-drug float fields, each shaped ``(N,)``.
PER_DRUG_FIELDS = (
    "unit_volume",
    "alpha",
    "band_lo",
    "band_hi",
    "refill_lo",
    "refill_hi",
    "penalty_lo",
    "penalty_hi",
    "shortage_cost",
    "initial_stock",
    "price_level",
    "demand_mean",
)


def _check_process(role: str, process: Any, what: str) -> None:
    """``ValueError`` unless ``process`` can fill the config field ``role``.

    Price and storage processes are drawn through ``draw`` and must declare their role (the
    built-in ones, or a class registered with ``druginv_gym.exogenous.register_process``).
    """
    if getattr(process, "role", None) != role or not callable(getattr(process, "draw", None)):
        _fail(
            role,
            None,
            process,
            f"must be {what} or another process with role {role!r} "
            "(see druginv_gym.exogenous.register_process)",
        )


@dataclass(frozen=True, eq=False)
class ScenarioConfig:
    """A DR2O scenario: N drugs over a horizon of T slots.

    Per drug ``i`` (arrays ``(N,)`` unless noted):

    Attributes:
        horizon: number of slots ``T`` (weeks).
        unit_volume: storage volume of one unit (ft^3/unit), > 0.
        shelf_life: slots a unit stays usable after arrival (int >= 1): a unit arriving in slot
            ``t`` can serve demand in slots ``t .. t + shelf_life - 1`` and expires at the end of
            the last one.
        alpha: weight ``alpha_i`` of the purchase cost in eq. 3 (dimensionless).
        band_lo, band_hi: the paper's bounds ``[C_lo_i, C_hi_i]`` (units, eq. 4): ``C_lo`` the
            lowest volume requirement (end-of-slot stock below it is a shortage), ``C_hi`` the
            drug's capacity (a hard limit with ``hard_capacity``, else a soft redundancy level).
        hard_capacity: when true, ``C_hi_i`` is a hard limit on drug ``i``'s stock: an order is
            clipped so that stock after arrival stays at or below it (accepted and requested
            kept apart, as for the other limits). False: ``C_hi`` is only penalised.
        penalty_zone_lo, penalty_zone_hi: widths (units, >= 0, scalar or ``(N,)``) of the zones
            inside the bounds where the penalty ``phi`` already rises (Fig. 1): ``phi`` is
            quadratic below ``C_lo + zone_lo`` and above ``C_hi - zone_hi`` (its knees,
            :attr:`knee_lo` and :attr:`knee_hi`). 0 (default): quadratic outside the bounds.
        premium_mode: one of :data:`PREMIUM_MODES`, how the premium of eq. 1 is paid.
        supply: a :class:`~druginv_gym.supply.SupplyModel` (lead times, supplier outages,
            recalls, an alternative source), or ``None`` (default): every order arrives in full
            in the slot it is placed, as in the paper.
        criticality: one class of :data:`CRITICALITY` per drug (``"V"`` vital, ``"E"``
            essential, ``"N"`` non-essential), or ``None`` (default): no classes. Classes order
            the sequential id's decisions (``priority``), the substitution rule and the
            per-class metrics; their weights are in ``shortage_cost`` and ``alpha``
            (:func:`druginv_gym.classify.with_classes` writes them).
        service_level: criticality class -> fill-rate target of the class over an episode, in
            ``[0, 1]`` (its units served from stock or by a substitute over its units
            demanded); ``None`` or ``{}`` (default): none. Needs ``criticality``. The env
            does not enforce them; the hindsight solver and MPC plan for them (constraints
            with a priced shortfall, ``docs/hindsight.md``); evaluation reports each class's
            as met or missed.
        substitution: a :class:`~druginv_gym.substitution.Substitution` (drugs of a group
            serve each other's unmet demand), or ``None`` (default): none.
        refill_lo, refill_hi: refill bounds ``[rho_lo_i, rho_hi_i]`` (units/slot).
        drug_budget: per-drug, per-slot purchase budget ``B_i(t)`` (USD), ``(N,)`` or ``(T, N)``;
            stored as ``(T, N)``.
        penalty_lo, penalty_hi: ``k_lo``, ``k_hi`` of ``phi`` (USD/unit^2).
        shortage_cost: cost per unit of unmet demand (USD/unit), an emergency purchase; with
            ``premium_mode="emergency"`` the slot's premium price ``p0 + beta`` is added.
        initial_stock: stock at ``t = 0`` (units), all of it fresh (full shelf life).
        price_level: nominal base price (USD/unit); the price process fluctuates around it.
        demand_mean: nominal mean demand (units/slot); the "last demand" shown before the first
            slot, and the scale baselines start from.
        storage_capacity: total storage volume ``V`` (ft^3), shared by all drugs.
        total_budget: total purchase budget ``B`` over the horizon (USD).
        priority: the order in which the sequential env decides drugs (a permutation of
            ``0..N-1``, highest priority first). ``None``: by criticality class (vital first)
            and, within a class, by nominal weighted spend ``alpha * price_level *
            demand_mean``, largest first.
        demand, price, storage: the exogenous processes (see :mod:`druginv_gym.exogenous`):
            by default ``UniformDemand()``, ``PriceProcess()`` and ``StorageRateProcess()``;
            any process of the field's role works, and one registered with
            ``druginv_gym.exogenous.register_process`` also serialises (``demand`` may be any
            object with ``sample(rng, batch, horizon, n_drugs)``, but then has no JSON form).
        reward_scale: reward = ``-total slot cost / reward_scale`` (USD), > 0, fixed per
            scenario so rewards are O(1).
        n_levels: number of refill levels of the discrete ids (>= 2); level ``k`` orders
            ``refill_lo + k / (n_levels - 1) * (refill_hi - refill_lo)``.
        drug_names: one name per drug.
        name: scenario name (for logs and tables).
    """

    horizon: int
    unit_volume: Any
    shelf_life: Any
    alpha: Any
    band_lo: Any
    band_hi: Any
    refill_lo: Any
    refill_hi: Any
    drug_budget: Any
    penalty_lo: Any
    penalty_hi: Any
    shortage_cost: Any
    initial_stock: Any
    price_level: Any
    demand_mean: Any
    storage_capacity: float
    total_budget: float
    reward_scale: float
    priority: Any = None
    demand: Any = field(default_factory=UniformDemand)
    price: Any = field(default_factory=PriceProcess)
    storage: Any = field(default_factory=StorageRateProcess)
    n_levels: int = 11
    drug_names: tuple[str, ...] | None = None
    name: str = "custom"
    hard_capacity: bool = False
    penalty_zone_lo: Any = 0.0
    penalty_zone_hi: Any = 0.0
    premium_mode: str = "exogenous"
    supply: Any = None
    criticality: tuple[str, ...] | None = None
    service_level: Mapping[str, float] | None = None
    substitution: Any = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, (int, np.integer)):
            _fail("horizon", None, self.horizon, "must be an integer number of slots")
        if self.horizon < 1:
            _fail("horizon", None, self.horizon, "must be >= 1")
        set_(self, "horizon", int(self.horizon))

        arrays: dict[str, np.ndarray] = {}
        for name in PER_DRUG_FIELDS:
            try:
                arr = np.array(getattr(self, name), dtype=np.float64)
            except (TypeError, ValueError):
                _fail(name, None, getattr(self, name), "is not a numeric array")
            if arr.ndim != 1:
                _fail(name, None, getattr(self, name), f"must be 1-D (N,), got shape {arr.shape}")
            arrays[name] = arr
        n = arrays["unit_volume"].shape[0]
        if n < 1:
            raise ValueError("unit_volume is empty: a scenario needs at least one drug (N >= 1)")
        for name, arr in arrays.items():
            if arr.shape != (n,):
                raise ValueError(
                    f"{name} has length {arr.shape[0]} but unit_volume has length {n}: "
                    "every per-drug array must have the same length N"
                )
            _check_array(name, arr, positive=name == "unit_volume")

        shelf = np.array(self.shelf_life)
        if shelf.ndim == 0:
            shelf = np.full(n, shelf)
        if shelf.shape != (n,):
            raise ValueError(f"shelf_life has shape {shelf.shape}; expected ({n},)")
        shelf_f = shelf.astype(np.float64)
        _check_array("shelf_life", shelf_f)
        for i, v in enumerate(shelf_f):
            if v < 1 or v != np.floor(v):
                _fail("shelf_life", i, shelf[i], "must be an integer >= 1 (slots)")
        arrays["shelf_life"] = shelf_f.astype(np.int64)

        budget = np.array(self.drug_budget, dtype=np.float64)
        if budget.ndim == 0:
            budget = np.full(n, float(budget))
        if budget.shape == (n,):
            budget = np.broadcast_to(budget, (self.horizon, n)).copy()
        if budget.shape != (self.horizon, n):
            raise ValueError(
                f"drug_budget has shape {budget.shape}; expected ({n},) or "
                f"(horizon, N) = ({self.horizon}, {n})"
            )
        _check_array("drug_budget", budget)
        arrays["drug_budget"] = budget

        for name in ("penalty_zone_lo", "penalty_zone_hi"):
            try:
                zone = np.array(getattr(self, name), dtype=np.float64)
            except (TypeError, ValueError):
                _fail(name, None, getattr(self, name), "is not a numeric array")
            if zone.ndim == 0:
                zone = np.full(n, float(zone))
            if zone.shape != (n,):
                raise ValueError(f"{name} has shape {zone.shape}; expected a scalar or ({n},)")
            _check_array(name, zone)
            arrays[name] = zone
        if not isinstance(self.hard_capacity, (bool, np.bool_)):
            _fail("hard_capacity", None, self.hard_capacity, "must be True or False")
        set_(self, "hard_capacity", bool(self.hard_capacity))
        if self.premium_mode not in PREMIUM_MODES:
            _fail("premium_mode", None, self.premium_mode, f"must be one of {list(PREMIUM_MODES)}")

        for lo, hi in (("band_lo", "band_hi"), ("refill_lo", "refill_hi")):
            bad = arrays[lo] > arrays[hi]
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"{lo}[{i}] = {arrays[lo][i].item()!r} is greater than "
                    f"{hi}[{i}] = {arrays[hi][i].item()!r}"
                )

        knee_lo = arrays["band_lo"] + arrays["penalty_zone_lo"]
        knee_hi = arrays["band_hi"] - arrays["penalty_zone_hi"]
        bad = knee_lo > knee_hi
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"penalty zones overlap for drug {i}: band_lo + penalty_zone_lo = "
                f"{knee_lo[i].item()!r} is above band_hi - penalty_zone_hi = {knee_hi[i].item()!r}"
            )
        if self.hard_capacity:
            over = arrays["initial_stock"] > arrays["band_hi"]
            if over.any():
                i = int(np.argmax(over))
                raise ValueError(
                    f"initial_stock[{i}] = {arrays['initial_stock'][i].item()!r} is above "
                    f"band_hi[{i}] = {arrays['band_hi'][i].item()!r}, the drug's hard capacity"
                )
        arrays["knee_lo"] = knee_lo
        arrays["knee_hi"] = knee_hi
        arrays["stock_cap"] = arrays["band_hi"] if self.hard_capacity else np.full(n, np.inf)

        for name in ("storage_capacity", "total_budget", "reward_scale"):
            value = getattr(self, name)
            try:
                fv = float(value)
            except (TypeError, ValueError):
                _fail(name, None, value, "is not a number")
            if not np.isfinite(fv) or fv < 0:
                _fail(name, None, value, "must be finite and >= 0")
            set_(self, name, fv)
        if self.reward_scale <= 0:
            _fail("reward_scale", None, self.reward_scale, "must be > 0")
        if self.storage_capacity <= 0:
            _fail("storage_capacity", None, self.storage_capacity, "must be > 0 (ft^3)")

        band_volume = float(np.dot(arrays["band_lo"], arrays["unit_volume"]))
        if band_volume > self.storage_capacity * (1 + 1e-12):
            raise ValueError(
                f"storage_capacity = {self.storage_capacity!r} ft^3 cannot hold the minimum band: "
                f"sum(band_lo * unit_volume) = {band_volume:.6g} ft^3"
            )
        init_volume = float(np.dot(arrays["initial_stock"], arrays["unit_volume"]))
        if init_volume > self.storage_capacity * (1 + 1e-12):
            raise ValueError(
                f"initial_stock needs {init_volume:.6g} ft^3, more than "
                f"storage_capacity = {self.storage_capacity!r} ft^3"
            )

        criticality = self.criticality
        if criticality is not None:
            if isinstance(criticality, str):
                criticality = None
            else:
                criticality = tuple(c if not isinstance(c, str) else str(c) for c in criticality)
            if criticality is None or len(criticality) != n:
                _fail("criticality", None, self.criticality, f"must be {n} classes, one per drug")
            for i, label in enumerate(criticality):
                if label not in CRITICALITY:
                    _fail("criticality", i, label, f"must be one of {list(CRITICALITY)}")
            set_(self, "criticality", criticality)
        service = {} if self.service_level is None else self.service_level
        if not isinstance(service, Mapping):
            _fail("service_level", None, self.service_level, "must be a mapping class -> target")
        checked = {}
        for label, target in service.items():
            if label not in CRITICALITY:
                _fail("service_level", label, target, f"is for no class of {list(CRITICALITY)}")
            try:
                value = float(target)
            except (TypeError, ValueError):
                _fail("service_level", label, target, "is not a number")
            if isinstance(target, bool) or not 0.0 <= value <= 1.0:
                _fail("service_level", label, target, "must be in [0, 1] (a fill-rate target)")
            checked[label] = value
        if any(v > 0 for v in checked.values()) and criticality is None:
            _fail("service_level", None, dict(service), "needs criticality classes")
        set_(self, "service_level", checked)

        rank = np.zeros(n, dtype=np.int64)
        if criticality is not None:
            rank[:] = [CRITICALITY.index(c) for c in criticality]
        arrays["criticality_rank"] = rank
        if self.priority is None:
            spend = arrays["alpha"] * arrays["price_level"] * arrays["demand_mean"]
            prio = np.lexsort((-spend, rank))  # stable: ties keep the drugs' order
        else:
            prio = np.array(self.priority)
            if prio.shape != (n,) or not np.array_equal(np.sort(prio), np.arange(n)):
                _fail("priority", None, self.priority, f"must be a permutation of 0..{n - 1}")
        arrays["priority"] = prio.astype(np.int64)

        if isinstance(self.n_levels, bool) or not isinstance(self.n_levels, (int, np.integer)):
            _fail("n_levels", None, self.n_levels, "must be an integer >= 2")
        if self.n_levels < 2:
            _fail("n_levels", None, self.n_levels, "must be >= 2")
        set_(self, "n_levels", int(self.n_levels))

        if self.supply is not None:
            if not isinstance(self.supply, SupplyModel):
                _fail("supply", None, self.supply, "must be a SupplyModel or None")
            self.supply.check(n)
        if self.substitution is not None:
            if not isinstance(self.substitution, Substitution):
                _fail("substitution", None, self.substitution, "must be a Substitution or None")
            self.substitution.check(n)

        if not isinstance(self.demand, DemandProcess):
            _fail("demand", None, self.demand, "has no sample(rng, batch, horizon, n_drugs)")
        _check_process("price", self.price, "a PriceProcess")
        _check_process("storage", self.storage, "a StorageRateProcess")
        high = getattr(self.storage, "high", None)  # the observation divides rates by it
        if isinstance(high, bool) or not isinstance(high, (int, float, np.number)):
            _fail("storage.high", None, high, "must be a number: the largest storage rate")
        if not (np.isfinite(high) and high >= 0):
            _fail("storage.high", None, high, "must be finite and >= 0 (USD/ft^3/slot)")

        names = (
            tuple(f"drug{i}" for i in range(n))
            if self.drug_names is None
            else tuple(str(s) for s in self.drug_names)
        )
        if len(names) != n:
            raise ValueError(f"drug_names has {len(names)} names for {n} drugs")
        set_(self, "drug_names", names)

        derived = {
            k: arrays.pop(k) for k in ("knee_lo", "knee_hi", "stock_cap", "criticality_rank")
        }
        for arr in (*arrays.values(), *derived.values()):
            arr.setflags(write=False)
        for name, arr in arrays.items():
            set_(self, name, arr)
        set_(self, "_derived", derived)

    # ------------------------------------------------------------------ derived
    @property
    def knee_lo(self) -> np.ndarray:
        """(N,) the penalty's lower knee ``C_lo + penalty_zone_lo`` (units)."""
        return self._derived["knee_lo"]

    @property
    def knee_hi(self) -> np.ndarray:
        """(N,) the penalty's upper knee ``C_hi - penalty_zone_hi`` (units)."""
        return self._derived["knee_hi"]

    @property
    def stock_cap(self) -> np.ndarray:
        """(N,) the hard limit on each drug's stock after arrival (units): ``band_hi`` with
        ``hard_capacity``, else ``inf``."""
        return self._derived["stock_cap"]

    @property
    def criticality_rank(self) -> np.ndarray:
        """(N,) each drug's class as its index in :data:`CRITICALITY` (0 vital, 1 essential,
        2 non-essential); zeros without classes."""
        return self._derived["criticality_rank"]

    def class_targets(self) -> list[tuple[str, float, np.ndarray]]:
        """``(class, target, (N,) bool members)`` for each class with a fill-rate target > 0,
        most critical first."""
        rank = self.criticality_rank
        return [
            (label, self.service_level[label], rank == k)
            for k, label in enumerate(CRITICALITY)
            if self.service_level.get(label, 0.0) > 0
        ]

    @property
    def n_drugs(self) -> int:
        """Number of drugs ``N``."""
        return int(self.unit_volume.shape[0])

    @property
    def max_shelf_life(self) -> int:
        """Length of the age axis of the stock array (slots)."""
        return int(self.shelf_life.max())

    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with ``changes`` applied, validated again."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (used by checkpoints; no pickle anywhere).

        Each process writes its own form (``process.to_dict()``, see
        :func:`druginv_gym.exogenous.process_to_dict`); a demand process that is not
        registered has none and raises ``ValueError``.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out[f.name] = value.tolist()
            elif f.name in PROCESS_ROLES:
                out[f.name] = process_to_dict(value, f.name)
            elif f.name in ("supply", "substitution"):
                out[f.name] = None if value is None else value.to_dict()
            elif f.name in ("drug_names", "criticality"):
                out[f.name] = None if value is None else list(value)
            elif f.name == "service_level":
                out[f.name] = dict(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioConfig:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or missing fields.

        A process given as a dict is built by the class registered under its ``kind``
        (:func:`druginv_gym.exogenous.process_from_dict`); files of older versions, whose
        ``price`` and ``storage`` entries have no ``kind``, load as before.
        """
        _check_fields(cls, data, "scenario config")
        kw = dict(data)
        for role in PROCESS_ROLES:
            if isinstance(kw.get(role), dict):
                kw[role] = process_from_dict(kw[role], role)
        if isinstance(kw.get("supply"), dict):
            kw["supply"] = SupplyModel.from_dict(kw["supply"])
        if isinstance(kw.get("substitution"), dict):
            kw["substitution"] = Substitution.from_dict(kw["substitution"])
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ValueError(f"invalid scenario config: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ScenarioConfig:
        return cls.from_dict(json.loads(text))
