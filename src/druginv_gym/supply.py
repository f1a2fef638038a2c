"""Where real shortages come from: lead times, supplier outages, recalls, an alternative source.

A :class:`SupplyModel` is an option of the scenario (``ScenarioConfig.supply``); ``None``, the
default of every scenario but ``shortage`` and ``pharma-shortage``, is the paper's supply: every
order arrives in full in the slot it is placed. With a model, per drug ``i`` and slot ``t``
(``docs/model.md``, "Supply"):

* **Lead time.** An order placed in slot ``t`` arrives at the start of slot ``t + l_i(t)``,
  before that slot's demand, with its full shelf life. ``l_i(t) = lead_time_i``, plus, with
  probability ``delay_prob``, a delay drawn uniformly from ``1 .. max_delay`` slots (a late
  shipment). Orders may cross. Units in transit are the *pipeline*; an order that would arrive
  after the horizon is still placed and paid (a policy learns not to order late).
* **When limits are checked.** An order is paid (budget and purchase cost) in the slot it is
  placed. The storage and the hard capacity are checked on order against the *inventory
  position* (stock plus pipeline): stock only falls between an order and its arrival, so the
  storage then also holds on arrival.
* **Supplier outages.** Drug ``i`` is bought from supplier ``supplier_i``; several drugs may
  share one. Each supplier is up or out, a two-state Markov chain per slot: an up supplier goes
  out with probability ``1 / mean_time_between``, an out one recovers with probability
  ``1 / mean_duration``, starting from the chain's stationary law. An order placed while its
  supplier is out is filled to ``outage_fill`` of what was asked (within the refill bounds); the
  rest is lost (``info["outage_lost"]``). With ``announce = a > 0`` the fill of slots
  ``t .. t + a - 1`` is in the observation at slot ``t``; with ``a = 0`` an outage is seen only
  after the slot it hit (the last slot's fill is always shown).
* **Recalls.** With probability ``recall_rate`` per drug and slot, at the start of the slot the
  oldest lot in stock (all units that arrived in one slot; the initial stock and slot 0's
  delivery count as one lot) is withdrawn and written off (``info["recalled"]``). Its purchase
  was paid when it was ordered; nothing is refunded.
* **Alternative source.** Demand the stock cannot serve is bought, up to ``alt_fill`` of it, from
  a secondary supplier at ``alt_markup`` times the slot's base price
  (``info["alt_bought"]``, ``info["alt_spend"]``), counted in the shortage cost term; the rest
  is lost at the scenario's shortage cost, as without the model. The alternative's purchases do
  not use the total budget (an emergency purchase, as the paper's premium).

Every random event (fills, lead times, recalls) is drawn at reset with the rest of the
exogenous trace, after the demand, prices and storage rates, from the same generator: a trace
replays exactly, and a scenario with or without a supply model meets the same demand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from druginv_gym._checks import check_fields, fail

if TYPE_CHECKING:
    from druginv_gym.config import ScenarioConfig

__all__ = ["SUPPLY_FIELDS", "SupplyModel", "supply_feature_names"]

#: The trace fields a supply model draws, each ``(T, N)``: the fill fraction of an order placed
#: in slot ``t``, its lead time (slots, integer-valued) and the recall flag (0 or 1).
SUPPLY_FIELDS = ("fill", "lead_time", "recall")


def _int_array(name: str, value: Any, low: int) -> np.ndarray:
    """``value`` (1-D) as int64, else ``ValueError`` naming the first entry that is not an
    integer >= ``low``."""
    arr = np.array(value, dtype=object)
    if arr.ndim != 1:
        fail(name, None, value, "must be 1-D")
    for i, v in enumerate(arr.tolist()):
        try:
            ok = not isinstance(v, bool) and float(v).is_integer() and v >= low
        except (TypeError, ValueError):
            ok = False
        if not ok:
            fail(name, i if len(arr) > 1 else None, v, f"must be an integer >= {low}")
    return arr.astype(np.int64)


def _fraction(name: str, value: Any, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        fail(name, None, value, "is not a number")
    if isinstance(value, bool) or not (0.0 <= v <= 1.0) or (low_open and v == 0.0):
        fail(name, None, value, "must be in " + ("(0, 1]" if low_open else "[0, 1]"))
    return v


@dataclass(frozen=True, eq=False)
class SupplyModel:
    """The supply side of a scenario (see the module docstring for the model).

    Attributes:
        lead_time: slots from order to arrival, an integer >= 0, scalar or ``(N,)``.
        delay_prob: probability that an order is delayed beyond its lead time, in [0, 1].
        max_delay: the longest delay (slots): a delayed order waits ``1 .. max_delay`` more
            slots, uniformly (integer >= 0; 0 with ``delay_prob = 0``).
        supplier: ``(N,)`` the supplier of each drug (integers ``0 .. S-1``); ``None``: each
            drug its own supplier.
        mean_time_between: mean slots a supplier is up between outages (> 0, ``inf``: never
            out), scalar or one per supplier.
        mean_duration: mean slots an outage lasts (>= 1), scalar or one per supplier.
        outage_fill: share of an order filled while its supplier is out, in [0, 1].
        announce: slots ahead an outage is shown in the observation (integer >= 0).
        recall_rate: probability of a recall per drug and slot, in [0, 1].
        alt_fill: share of the demand the stock cannot serve that the alternative source
            covers, in [0, 1] (0: none).
        alt_markup: the alternative's price over the slot's base price (>= 1).
    """

    lead_time: Any = 0
    delay_prob: float = 0.0
    max_delay: int = 0
    supplier: Any = None
    mean_time_between: Any = float("inf")
    mean_duration: Any = 1.0
    outage_fill: float = 0.0
    announce: int = 0
    recall_rate: float = 0.0
    alt_fill: float = 0.0
    alt_markup: float = 1.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        scalar = np.ndim(self.lead_time) == 0
        lead = _int_array("supply.lead_time", np.reshape(self.lead_time, -1), 0)
        set_(self, "lead_time", lead.reshape(()) if scalar else lead)
        set_(self, "delay_prob", _fraction("supply.delay_prob", self.delay_prob))
        delay = _int_array("supply.max_delay", [self.max_delay], 0)[0]
        if self.delay_prob > 0 and delay < 1:
            fail("supply.max_delay", None, self.max_delay, "must be >= 1 when delay_prob > 0")
        set_(self, "max_delay", int(delay))
        if self.supplier is not None:
            set_(self, "supplier", _int_array("supply.supplier", self.supplier, 0))
        for name in ("mean_time_between", "mean_duration"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            if arr.ndim > 1:
                fail(f"supply.{name}", None, getattr(self, name), "must be a scalar or (S,)")
            for i, v in enumerate(np.atleast_1d(arr).tolist()):
                if name == "mean_duration" and not (1.0 <= v < np.inf):
                    fail(f"supply.{name}", i if arr.ndim else None, v, "must be >= 1 (slots)")
                if name == "mean_time_between" and not v > 0:
                    fail(f"supply.{name}", i if arr.ndim else None, v, "must be > 0 (slots)")
            set_(self, name, arr)
        for name in ("outage_fill", "recall_rate", "alt_fill"):
            set_(self, name, _fraction(f"supply.{name}", getattr(self, name)))
        set_(self, "announce", int(_int_array("supply.announce", [self.announce], 0)[0]))
        try:
            markup = float(self.alt_markup)
        except (TypeError, ValueError):
            fail("supply.alt_markup", None, self.alt_markup, "is not a number")
        if not (np.isfinite(markup) and markup >= 1.0):
            fail("supply.alt_markup", None, self.alt_markup, "must be finite and >= 1")
        set_(self, "alt_markup", markup)

    # ------------------------------------------------------------------ per scenario
    def check(self, n_drugs: int) -> None:
        """``ValueError`` unless the model fits a scenario of ``n_drugs`` drugs."""
        if self.lead_time.ndim and self.lead_time.shape != (n_drugs,):
            fail("supply.lead_time", None, self.lead_time.tolist(), f"must have {n_drugs} entries")
        if self.supplier is not None and self.supplier.shape != (n_drugs,):
            fail("supply.supplier", None, self.supplier.tolist(), f"must have {n_drugs} entries")
        s = self.n_suppliers(n_drugs)
        for name in ("mean_time_between", "mean_duration"):
            arr = getattr(self, name)
            if arr.ndim and arr.shape != (s,):
                fail(f"supply.{name}", None, arr.tolist(), f"must be a scalar or one per "
                     f"supplier ({s})")  # fmt: skip

    def suppliers(self, n_drugs: int) -> np.ndarray:
        """(N,) the supplier of each drug."""
        return np.arange(n_drugs) if self.supplier is None else self.supplier

    def n_suppliers(self, n_drugs: int) -> int:
        """Number of suppliers ``S``."""
        return int(self.suppliers(n_drugs).max()) + 1

    def lead_times(self, n_drugs: int) -> np.ndarray:
        """(N,) each drug's lead time without delay (slots)."""
        return np.broadcast_to(self.lead_time, (n_drugs,)).astype(np.int64)

    def max_lead(self, n_drugs: int) -> int:
        """The longest lead time an order can have (slots), delays included."""
        return int(self.lead_times(n_drugs).max()) + (self.max_delay if self.delay_prob else 0)

    # ------------------------------------------------------------------ draws
    def draw(
        self, rng: np.random.Generator, config: ScenarioConfig, batch: int
    ) -> dict[str, np.ndarray]:
        """The supply events of ``batch`` episodes: :data:`SUPPLY_FIELDS`, each ``(B, T, N)``.

        Draw order (what the seeded traces depend on): the outage chains (one uniform per
        supplier for the start, then one per supplier and slot), the delays (two uniforms per
        drug-slot, only with ``delay_prob > 0``), the recalls (one uniform per drug-slot, only
        with ``recall_rate > 0``).
        """
        n, horizon = config.n_drugs, config.horizon
        s = self.n_suppliers(n)
        down = self.outages(rng, batch, horizon, s)  # (B, T, S) bool
        fill = np.where(down[..., self.suppliers(n)], self.outage_fill, 1.0)
        lead = np.broadcast_to(self.lead_times(n).astype(np.float64), (batch, horizon, n)).copy()
        if self.delay_prob > 0:
            late = rng.random((batch, horizon, n)) < self.delay_prob
            extra = 1 + np.floor(rng.random((batch, horizon, n)) * self.max_delay)
            lead += np.where(late, extra, 0.0)
        recall = np.zeros((batch, horizon, n))
        if self.recall_rate > 0:
            recall = (rng.random((batch, horizon, n)) < self.recall_rate).astype(np.float64)
        return {"fill": fill, "lead_time": lead, "recall": recall}

    def outages(
        self,
        rng: np.random.Generator,
        batch: int,
        horizon: int,
        n_suppliers: int,
        start: np.ndarray | None = None,
    ) -> np.ndarray:
        """(B, T, S) bool: whether each supplier is out in each slot (the Markov chain), from
        its stationary law; with ``start`` ((S,) or (B, S) bool, the state of the slot before
        the first), one step after it."""
        go_out, recover = self._rates(n_suppliers)
        out = np.empty((batch, horizon, n_suppliers), dtype=bool)
        if start is None:
            state = rng.random((batch, n_suppliers)) < go_out / (go_out + recover)
            first = 1
        else:
            state = np.broadcast_to(np.asarray(start, dtype=bool), (batch, n_suppliers))
            first = 0
        u = rng.random((batch, horizon, n_suppliers))
        for t in range(horizon):
            if t >= first:
                state = np.where(state, u[:, t] >= recover, u[:, t] < go_out)
            out[:, t] = state
        return out

    def _rates(self, n_suppliers: int) -> tuple[np.ndarray, np.ndarray]:
        """(S,) each supplier's probabilities per slot of going out and of recovering."""
        go_out = np.broadcast_to(1.0 / self.mean_time_between, (n_suppliers,))
        return go_out, np.broadcast_to(1.0 / self.mean_duration, (n_suppliers,))

    # ------------------------------------------------------------------ what a policy expects
    def _known_state(
        self, n_drugs: int, last_fill: np.ndarray | None, announced: np.ndarray | None
    ) -> tuple[np.ndarray | None, int]:
        """``(out, known)``: each drug's supplier state in the last slot whose fill is known
        ((N,) bool, ``None`` when nothing is known: the stationary law) and how many slots
        ahead are known (the announced ones)."""
        if announced is not None and len(announced):
            return np.asarray(announced[-1]) < 1.0, len(announced)
        if last_fill is None:
            return None, 0
        return np.asarray(last_fill) < 1.0, 0

    def expected_fill(
        self,
        n_drugs: int,
        horizon: int,
        last_fill: np.ndarray | None = None,
        announced: np.ndarray | None = None,
    ) -> np.ndarray:
        """(horizon, N) the expected fill of the slots ahead given what is observed: the last
        slot's fill ``last_fill`` ((N,); ``None`` before the first slot: the stationary law)
        and the ``announced`` fills of the next slots ((A, N), known exactly). After them an
        outage is out after ``m`` more steps with probability ``pi + (1 - pi) lam^m`` if out
        now, ``pi (1 - lam^m)`` if up (``pi`` the stationary share out, ``lam = 1 - a - b``)."""
        sup = self.suppliers(n_drugs)
        go_out, recover = (r[sup] for r in self._rates(self.n_suppliers(n_drugs)))
        pi, lam = go_out / (go_out + recover), 1.0 - go_out - recover
        out, known = self._known_state(n_drugs, last_fill, announced)
        fill = np.empty((horizon, n_drugs))
        if known:
            fill[: min(known, horizon)] = np.asarray(announced)[:horizon]
        steps = np.arange(1, horizon - known + 1)[:, None]
        if out is None:
            p_out = np.broadcast_to(pi, (len(steps), n_drugs))
        else:
            p_out = np.where(out, pi + (1 - pi) * lam**steps, pi * (1 - lam**steps))
        fill[known:] = 1.0 - (1.0 - self.outage_fill) * p_out
        return fill

    def sample_fill(
        self,
        rng: np.random.Generator,
        batch: int,
        n_drugs: int,
        horizon: int,
        last_fill: np.ndarray | None = None,
        announced: np.ndarray | None = None,
    ) -> np.ndarray:
        """(B, horizon, N) fills of the slots ahead drawn from the outage chains given what is
        observed (as :meth:`expected_fill`): the announced ones as known, then the chain."""
        sup = self.suppliers(n_drugs)
        s = self.n_suppliers(n_drugs)
        out, known = self._known_state(n_drugs, last_fill, announced)
        start = None
        if out is not None:  # a supplier's state, read from any of its drugs
            start = np.zeros(s, dtype=bool)
            start[sup] = out
        down = self.outages(rng, batch, max(horizon - known, 0), s, start)
        fill = np.empty((batch, horizon, n_drugs))
        if known:
            fill[:, : min(known, horizon)] = np.asarray(announced)[:horizon]
        fill[:, known:] = np.where(down[..., sup], self.outage_fill, 1.0)
        return fill

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    @classmethod
    def from_dict(cls, data: Any) -> SupplyModel:
        check_fields(cls, data, "supply")
        return cls(**data)


def supply_feature_names(config: ScenarioConfig) -> tuple[str, ...]:
    """The per-drug observation features a scenario's supply model adds, in order:
    ``arriving_k`` (units due at the start of slot ``t + k``, ``k = 0 .. max lead - 1``),
    ``fill_last`` (the fill of the last slot's order) and ``fill_ahead_k`` (the announced fill
    of slot ``t + k``, ``k = 0 .. announce - 1``). Empty without a supply model."""
    model = config.supply
    if model is None:
        return ()
    lead = model.max_lead(config.n_drugs)
    return (
        *(f"arriving_{k}" for k in range(lead)),
        "fill_last",
        *(f"fill_ahead_{k}" for k in range(model.announce)),
    )
