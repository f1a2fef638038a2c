"""DR2O dynamics and costs: the model's readable specification, batched over envs ``B``.

This module is where the model is written. :func:`flow_step` plays one slot in numpy: it is
the specification ``docs/model.md`` points to, and the fallback when numba is not installed.
The compiled backend (:mod:`druginv_gym._kernels`, numba) writes the same formulas as loops, and
tests check it against this module; an independent by-age oracle lives in the test suite. The
envs, the evaluation metrics and (in algebraic form) the hindsight solver all follow it.

Within a slot (see ``docs/model.md``, "Order of events"):

1. the order ``x_i(t)`` (units) is clipped to the refill bounds, the drug's hard capacity
   (``hard_capacity``), the per-drug budget ``B_i(t) / p_i(t)``, the remaining total budget
   and the free storage volume
   (:func:`clip_orders`); the accepted quantity is kept apart from the requested one;
2. the accepted units arrive (lead time 0) with full shelf life;
3. demand is served first-in-first-out from the oldest units; with therapeutic substitution
   (``config.substitution``) the other drugs of a group serve what is left from their spare
   stock (:mod:`druginv_gym.substitution`); unmet demand is lost;
4. units at the end of their shelf life expire;
5. the slot cost of eq. 3 plus the unmet-demand cost is charged on the end-of-slot stock
   ``v_i(t)`` (:func:`slot_costs`); with ``premium_mode="emergency"`` unmet demand is bought at
   the premium price (:func:`unmet_price`) and orders pay the base price (:func:`order_price`).

Steps 2-4 run on cumulative flows (:class:`FlowState`, see the comment above it). Volume
(eq. 2) follows ``v(t) = v(t-1) + accepted(t) - served(t) - expired(t)``.
"""

from __future__ import annotations

import importlib.util
import os
import types
import warnings
from typing import Any, NamedTuple

import numpy as np

from druginv_gym import _kernels
from druginv_gym.config import ScenarioConfig
from druginv_gym.substitution import SUBSTITUTION_INFO

__all__ = [
    "BACKENDS",
    "COST_TERMS",
    "LIMITS",
    "SUPPLY_INFO",
    "FlowState",
    "SlotOutcome",
    "SupplyInputs",
    "band_penalty",
    "binding_limits",
    "clip_orders",
    "flow_step",
    "get_backend",
    "numba_available",
    "order_price",
    "safe_divide",
    "set_backend",
    "slot_costs",
    "unmet_price",
]

#: Cost terms reported per slot (USD); ``total`` is their sum.
COST_TERMS = ("purchase", "storage", "penalty", "shortage")

# When a hard limit (total budget, free storage) scales orders down, scale by a hair more so
# that floating-point rounding can never push spend or volume past the limit.
_SAFETY = 1.0 - 1e-12


class SlotOutcome(NamedTuple):
    """Everything one slot produced, batched. Per-drug arrays are ``(B, N)`` float64."""

    spent: np.ndarray  #: (B,) cumulative purchase spend after the slot (USD)
    ordered: np.ndarray  #: requested order (units)
    accepted: np.ndarray  #: order after clipping, received this slot (units)
    served: np.ndarray  #: demand served from stock (units)
    unmet: np.ndarray  #: demand lost (units)
    expired: np.ndarray  #: units that reached the end of their shelf life (units)
    level: np.ndarray  #: end-of-slot stock ``v_i(t)`` (units)
    spend: np.ndarray  #: (B, N) money paid this slot, ``p_i(t) * accepted`` (USD)
    purchase: np.ndarray  #: ``alpha_i p_i(t) x_i(t)`` (USD)
    storage: np.ndarray  #: ``R_i = r_i(t) * unit_volume_i * v_i(t)`` (USD)
    penalty: np.ndarray  #: ``phi_i(v_i(t))`` (USD)
    shortage: np.ndarray  #: ``shortage_cost_i * unmet`` (USD)
    #: (B, N) ``total``, when the compiled backend computed it in its pass (else ``None``)
    drug_total: np.ndarray | None = None
    #: (6, B) per-env sums of purchase, storage, penalty, shortage, total and spend, when the
    #: compiled backend computed them in its pass (else ``None``; see :meth:`sums`)
    env_sums: np.ndarray | None = None
    #: with a supply model (:mod:`druginv_gym.supply`), the (B, N) arrays named by
    #: :data:`SUPPLY_INFO`: units received from the pipeline this slot, units in transit after
    #: it, units an outage left unfilled, units recalled, units bought from the alternative
    #: source and what they cost (USD, in ``shortage``); ``None`` without one
    supply: dict[str, np.ndarray] | None = None
    #: with therapeutic substitution (:mod:`druginv_gym.substitution`), the (B, N) arrays named
    #: by :data:`~druginv_gym.substitution.SUBSTITUTION_INFO`: units of each drug's demand served
    #: by a substitute, units it gave, and their cost (USD, in ``shortage``); else ``None``
    substitution: dict[str, np.ndarray] | None = None

    @property
    def total(self) -> np.ndarray:
        """(B, N) slot cost per drug (USD)."""
        if self.drug_total is not None:
            return self.drug_total
        return self.purchase + self.storage + self.penalty + self.shortage

    def sums(self) -> np.ndarray:
        """(6, B) per-env sums over drugs (USD), rows named by
        :data:`druginv_gym._kernels.SUM_ROWS`: purchase, storage, penalty, shortage, total,
        spend."""
        if self.env_sums is not None:
            return self.env_sums
        return np.stack([getattr(self, row).sum(axis=-1) for row in _kernels.SUM_ROWS])


def clip_orders(
    requested: np.ndarray,
    price: np.ndarray,
    drug_budget: np.ndarray,
    volume_used: np.ndarray,
    spent: np.ndarray,
    config: ScenarioConfig,
    level: np.ndarray | None = None,
    fill: np.ndarray | None = None,
) -> np.ndarray:
    """Accepted order (B, N) in units: the request made feasible.

    Args:
        requested: (B, N) requested units (finite, >= 0).
        price: (B, N) order price (USD/unit), eq. 1 (:func:`order_price`).
        drug_budget: (N,) or (B, N) per-drug budget ``B_i(t)`` for this slot (USD).
        volume_used: (B,) storage volume in use before arrival (ft^3).
        spent: (B,) purchase spend so far (USD).
        config: the scenario.
        level: (B, N) stock before arrival (units); needed with ``config.hard_capacity``.
            With a supply model, ``level`` and ``volume_used`` are the inventory position
            (stock plus pipeline).
        fill: (B, N) the share of the order its supplier fills (a supply model's outages);
            ``None``: all of it.

    Clipping, in this order: the refill bounds ``[rho_lo, rho_hi]``; the supplier's fill;
    the drug's hard capacity
    ``x_i <= max(C_hi_i - v_i, 0)`` (with ``hard_capacity``); the per-drug budget
    ``x_i <= B_i(t) / p_i(t)``; then one common factor for all drugs of an env, the largest
    that keeps total spend within the remaining total budget and the order volume within the
    free storage (proportional rationing). The hard limits win over ``rho_lo``: a capacity,
    budget or storage shortfall can push an order below its refill lower bound.
    """
    x = np.clip(requested, config.refill_lo, config.refill_hi)
    if fill is not None:
        x = x * fill
    if config.hard_capacity:
        if level is None:
            raise ValueError("clip_orders needs the stock level when hard_capacity is set")
        x = np.minimum(x, np.maximum(config.stock_cap - level, 0.0))
    x = np.minimum(
        x, safe_divide(np.broadcast_to(drug_budget, x.shape), price, where=price > 0, fill=np.inf)
    )

    remaining = np.maximum(config.total_budget - spent, 0.0)
    spend = (price * x).sum(axis=-1)
    free = np.maximum(config.storage_capacity - volume_used, 0.0)
    volume = x @ config.unit_volume
    factor = np.minimum(
        safe_divide(remaining, spend, where=spend > remaining, fill=1.0),
        safe_divide(free, volume, where=volume > free, fill=1.0),
    )
    factor = np.where(factor < 1.0, factor * _SAFETY, 1.0)
    return x * factor[:, None]


#: The limits :func:`binding_limits` reports, in order: per drug-slot (refill upper bound, the
#: drug's hard capacity, per-drug budget) then per env-slot (total budget, total storage).
LIMITS = ("refill", "capacity", "drug_budget", "total_budget", "storage")


def binding_limits(
    requested: np.ndarray,
    price: np.ndarray,
    drug_budget: np.ndarray,
    level: np.ndarray,
    spent: np.ndarray,
    config: ScenarioConfig,
    fill: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Which limits of :func:`clip_orders` bind at this slot's accepted orders.

    Same arguments as :func:`clip_orders` (``level``: (B, N) stock before arrival, the
    inventory position with a supply model; ``fill``: the supplier's fill). A limit
    binds when it is active, the accepted order sitting on it, whether the request asked for
    more and was cut or asked for exactly what the limit allows (an order up to the capacity
    binds the capacity). Returns boolean arrays named by :data:`LIMITS`: per drug (B, N)
    ``refill`` (``x = rho_hi``), ``capacity`` (``v + x = C_hi``, hard capacity only) and
    ``drug_budget`` (``p x = B_i(t)``); per env (B,) ``total_budget`` (the spend reaches
    ``B``) and ``storage`` (the stock after arrival fills ``V``). Active means within
    1e-6 relative, the rounding of a float32 action.
    """
    tol, eps = 1e-6, 1e-9
    x = clip_orders(
        requested, price, drug_budget, level @ config.unit_volume, spent, config, level, fill
    )
    n = x.shape[-1]
    top = config.refill_hi if fill is None else config.refill_hi * fill
    at_refill = (top > 0) & (x >= top * (1 - tol) - eps)
    if config.hard_capacity:
        at_cap = level + x >= config.stock_cap * (1 - tol) - eps
    else:
        at_cap = np.zeros(x.shape, dtype=bool)
    budget = np.broadcast_to(drug_budget, x.shape)
    at_budget = (price > 0) & (price * x >= budget * (1 - tol) - eps)
    total = config.total_budget
    at_total = spent + (price * x).sum(axis=-1) >= total * (1 - tol) - eps
    volume = (level + x) @ config.unit_volume
    at_storage = volume >= config.storage_capacity * (1 - tol) - eps * n
    return {
        "refill": at_refill,
        "capacity": at_cap,
        "drug_budget": at_budget,
        "total_budget": at_total,
        "storage": at_storage,
    }


def order_price(config: ScenarioConfig, base: np.ndarray, premium: np.ndarray) -> np.ndarray:
    """The price an order pays (USD/unit): ``base + premium`` (eq. 1) with the exogenous
    premium, ``base`` when the premium is paid only on emergency purchases."""
    return base + premium if config.premium_mode == "exogenous" else np.array(base, copy=True)


def unmet_price(config: ScenarioConfig, base: np.ndarray, premium: np.ndarray) -> np.ndarray | None:
    """The premium price ``base + premium`` (USD/unit) an emergency purchase pays for each unit
    of unmet demand with ``premium_mode="emergency"``, on top of ``shortage_cost``; ``None``
    with the exogenous premium (unmet demand costs ``shortage_cost`` alone)."""
    return base + premium if config.premium_mode == "emergency" else None


def safe_divide(num: np.ndarray, den: np.ndarray, where: np.ndarray, fill: float) -> np.ndarray:
    """``num / den`` where ``where`` holds, ``fill`` elsewhere; never divides elsewhere."""
    out = np.full(np.shape(den), fill)
    # A tiny (even denormal) denominator may overflow to inf: for the per-drug budget cap
    # B / p that is the right limit (no cap); the other ratios are < 1 where computed.
    with np.errstate(over="ignore"):
        np.divide(num, den, out=out, where=where)
    return out


def band_penalty(
    level: np.ndarray,
    knee_lo: np.ndarray,
    knee_hi: np.ndarray,
    k_lo: np.ndarray,
    k_hi: np.ndarray,
) -> np.ndarray:
    """``phi(v) = k_lo max(knee_lo - v, 0)^2 + k_hi max(v - knee_hi, 0)^2`` (USD), eq. 3 and
    Fig. 1: quadratic as the stock nears a bound. The knees are ``C_lo + penalty_zone_lo`` and
    ``C_hi - penalty_zone_hi`` (:attr:`ScenarioConfig.knee_lo`, ``knee_hi``); with zones of
    width 0 they are the bounds themselves."""
    below = np.maximum(knee_lo - level, 0.0)
    above = np.maximum(level - knee_hi, 0.0)
    return k_lo * below * below + k_hi * above * above


def slot_costs(
    accepted: np.ndarray,
    price: np.ndarray,
    level: np.ndarray,
    storage_rate: np.ndarray,
    unmet: np.ndarray,
    config: ScenarioConfig,
    emergency: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four cost terms (B, N) in USD: purchase, storage, penalty, shortage.

    Eq. 3: ``alpha_i p_i(t) x_i(t) + R_i(v_i(t), r_i(t)) + phi_i(v_i(t))`` with
    ``R = r * unit_volume * v``, plus ``(shortage_cost_i + emergency_i(t)) * unmet_i(t)``:
    ``emergency`` is :func:`unmet_price` (``None``: 0).
    """
    purchase = config.alpha * price * accepted
    storage = storage_rate * config.unit_volume * level
    penalty = band_penalty(
        level, config.knee_lo, config.knee_hi, config.penalty_lo, config.penalty_hi
    )
    unit = config.shortage_cost if emergency is None else config.shortage_cost + emergency
    shortage = unit * unmet
    return purchase, storage, penalty, shortage


def _outcome(
    spent: np.ndarray,
    flows: tuple[np.ndarray, ...],
    price: np.ndarray,
    storage_rate: np.ndarray,
    config: ScenarioConfig,
    emergency: np.ndarray | None,
) -> SlotOutcome:
    """The slot's outcome with its costs; ``flows`` = (requested, accepted, served, unmet,
    expired, level, spend)."""
    requested, accepted, served, unmet, expired, level, spend = flows
    purchase, storage, penalty, shortage = slot_costs(
        accepted, price, level, storage_rate, unmet, config, emergency
    )
    return SlotOutcome(
        spent=spent,
        ordered=np.asarray(requested, dtype=np.float64),
        accepted=accepted,
        served=served,
        unmet=unmet,
        expired=expired,
        level=level,
        spend=spend,
        purchase=purchase,
        storage=storage,
        penalty=penalty,
        shortage=shortage,
    )


# ---------------------------------------------------------------------------------------------
# Stock as cumulative flows.
#
# FIFO stock is a queue, so it is fully described by two cumulative counts per drug: units that
# ever arrived, ``arrived = initial_stock + sum_{a <= t} accepted(a)`` (the initial stock counts
# as arriving in slot 0, fresh), and units that ever left,
# ``left = sum (served + expired)``. The stock level is ``arrived - left``; serving FIFO moves
# ``left`` forward by the demand, at most to ``arrived``; the units that arrived in slot ``a``
# expire at the end of slot ``a + L_i - 1``, so expiry moves ``left`` up to ``arrived(t - L_i +
# 1)``. A ring of the last ``max shelf life`` values of ``arrived`` is all the history needed.
# Each slot then costs O(B N) instead of the O(B N L) of holding stock by age (what
# :meth:`FlowState.by_age` rebuilds for inspection, and what the test suite's independent
# oracle steps with: tests check both give the same slot outcomes).
# ---------------------------------------------------------------------------------------------


class FlowState:
    """Cumulative-flow state of ``B`` envs (mutated in place by :func:`flow_step`).

    Attributes:
        arrived: (B, N) units that ever arrived, the initial stock included.
        left: (B, N) units that ever left (served or expired).
        ring: (B, L, N) ``ring[:, a % L] = arrived`` after slot ``a`` (``L`` = max shelf life).
        spent: (B,) purchase spend so far (USD).
        t: slots played.
    """

    __slots__ = ("arrived", "left", "pipeline", "ring", "spent", "t")

    def __init__(self, config: ScenarioConfig, batch: int) -> None:
        n = config.n_drugs
        self.arrived = np.empty((batch, n))  # filled by assignment: cheaper than broadcast_to
        self.arrived[...] = config.initial_stock
        self.left = np.zeros((batch, n))
        self.ring = np.zeros((batch, config.max_shelf_life, n))
        self.spent = np.zeros(batch)
        self.t = 0
        #: with a supply model, (B, H, N) units in transit by arrival slot (``[:, s % H]``
        #: arrive at the start of slot ``s``; ``H`` = the longest lead time + 1); else ``None``
        self.pipeline: np.ndarray | None = None
        if config.supply is not None:
            self.pipeline = np.zeros((batch, config.supply.max_lead(n) + 1, n))

    @property
    def in_transit(self) -> np.ndarray:
        """(B, N) units ordered and not yet arrived (zeros without a supply model)."""
        if self.pipeline is None:
            return np.zeros_like(self.arrived)
        return self.pipeline.sum(axis=1)

    def arriving(self, k: int) -> np.ndarray:
        """(B, N) units due at the start of slot ``t + k`` (a supply model's pipeline)."""
        return self.pipeline[:, (self.t + k) % self.pipeline.shape[1]]

    def oldest_lot_end(self) -> np.ndarray:
        """(B, N) ``arrived`` at the end of the oldest lot in stock (all units that arrived in
        one slot; the initial stock and slot 0's delivery are one lot): a recall moves ``left``
        there. Equals ``left`` for an empty stock."""
        t, big_l = self.t, self.ring.shape[1]
        end = np.array(self.arrived, copy=True)
        found = np.zeros(end.shape, dtype=bool)
        for a in range(max(t - big_l + 1, 0), t):  # slots whose lots may still be in stock
            after = self.ring[:, a % big_l]
            new = ~found & (after > self.left)
            end[new] = after[new]
            found |= new
        return end

    @property
    def level(self) -> np.ndarray:
        """(B, N) units in stock."""
        return self.arrived - self.left

    def arrived_by(self, slot: np.ndarray) -> np.ndarray:
        """(B, N) ``arrived`` after slot ``slot[i]`` of each drug: 0 before slot 0, the current
        count for slots not played yet."""
        lag = np.asarray(slot)
        b, big_l, n = self.ring.shape
        # one gather of N columns from the (B, L * N) view of the ring
        out = np.take(self.ring.reshape(b, big_l * n), (lag % big_l) * n + np.arange(n), axis=1)
        before = lag < 0
        if before.any():
            out[:, before] = 0.0
        future = lag >= self.t
        if future.any():
            out[:, future] = self.arrived[:, future]
        return out

    def expiring(self, shelf_life: np.ndarray) -> np.ndarray:
        """(B, N) units in stock that expire at the end of the coming slot."""
        a = self.arrived_by(self.t - shelf_life + 1)
        return np.clip(a - self.left, 0.0, self.level)

    def by_age(self, shelf_life: np.ndarray) -> np.ndarray:
        """(B, N, L) stock by remaining shelf life (``[..., k]``: usable for ``k + 1`` more
        slots; a unit arriving in slot ``t`` enters at ``k = shelf_life_i - 1``)."""
        b, n = self.left.shape
        big_l = self.ring.shape[1]
        out = np.zeros((b, n, big_l))
        for k in range(big_l):
            a = self.t + k - shelf_life + 1
            upper = self.arrived_by(a)
            lower = np.maximum(self.arrived_by(a - 1), self.left)
            present = np.maximum(upper - lower, 0.0)
            present[:, k >= shelf_life] = 0.0
            out[..., k] = present
        return out


class SupplyInputs(NamedTuple):
    """One slot's supply events for :func:`flow_step`, each (B, N) (``druginv_gym.supply``)."""

    fill: np.ndarray  #: share of this slot's order its supplier fills
    lead_time: np.ndarray  #: slots until this slot's order arrives (integer-valued)
    recall: np.ndarray  #: 1 where the oldest lot in stock is recalled at the slot's start
    alt_price: np.ndarray  #: the alternative source's price (USD/unit)


#: The per-drug arrays a slot with a supply model reports (:attr:`SlotOutcome.supply`), in
#: order: received, in transit, lost to an outage, recalled, bought from the alternative source
#: (units) and its cost (USD).
SUPPLY_INFO = _kernels.SUPPLY_OUTPUTS[len(_kernels.FLOW_OUTPUTS) + 1 :]


def flow_step(
    state: FlowState,
    requested: np.ndarray,
    demand: np.ndarray,
    price: np.ndarray,
    storage_rate: np.ndarray,
    drug_budget: np.ndarray,
    config: ScenarioConfig,
    backend: str | None = None,
    emergency: np.ndarray | None = None,
    supply: SupplyInputs | None = None,
) -> SlotOutcome:
    """One slot for B envs: clip, receive, serve FIFO, expire, cost; ``state`` moves to the
    next slot in place (its clock ``t`` included).

    Args:
        state: the envs' :class:`FlowState` before the slot.
        requested: (B, N) requested units.
        demand: (B, N) demand ``A_i(t)`` (units).
        price: (B, N) order price ``p_i(t)`` (USD/unit, :func:`order_price`).
        storage_rate: (B, N) ``r_i(t)`` (USD/ft^3/slot).
        drug_budget: (N,) ``B_i(t)`` (USD).
        config: the scenario.
        emergency: (B, N) :func:`unmet_price`, the premium price each unit of unmet demand
            pays on top of ``shortage_cost`` (``None``: nothing, the exogenous premium).

    ``backend``: ``"numpy"`` (these array operations) or ``"numba"`` (one compiled pass over
    the same formulas, :func:`druginv_gym._kernels.flow_kernel`); ``None`` uses
    :func:`get_backend`. Both give the same outcome up to the order of floating-point sums over
    drugs (tested to 1e-9).

    ``supply``: the slot's :class:`SupplyInputs` with a supply model (the state then holds a
    pipeline): :func:`_flow_step_supply` in numpy, :func:`druginv_gym._kernels.supply_flow_kernel`
    compiled.

    With therapeutic substitution (``config.substitution``) the slot always runs in numpy (the
    kernels do not model it): after the drugs' own service, :meth:`Substitution.serve
    <druginv_gym.substitution.Substitution.serve>` serves what they could not from their
    group's spare stock.
    """
    if (backend or _BACKEND) == "numba" and config.substitution is None:
        kernel = compiled(_kernels.flow_kernel if supply is None else _kernels.supply_flow_kernel)
        if kernel is not None:  # None: numba cannot be imported (warned once), numpy below
            return _flow_step_compiled(
                kernel, state, requested, demand, price, storage_rate, drug_budget, config,
                emergency, supply,
            )  # fmt: skip
    if supply is not None:
        return _flow_step_supply(
            state, requested, demand, price, storage_rate, drug_budget, config, emergency, supply
        )
    t = state.t
    level_before = state.arrived - state.left
    accepted = clip_orders(
        requested,
        price,
        drug_budget,
        level_before @ config.unit_volume,
        state.spent,
        config,
        level_before,
    )
    spend = price * accepted
    arrived = state.arrived + accepted
    state.ring[:, t % state.ring.shape[1]] = arrived
    # FIFO service: ``left`` moves forward by the demand, at most to everything that arrived.
    left = np.minimum(state.left + demand, arrived)
    served = left - state.left
    unmet = np.maximum(demand - served, 0.0)
    left, unmet, substituted = _substitute(config, arrived, left, unmet)
    expired, level = _expire(state, arrived, left, spend, config)
    flows = (requested, accepted, served, unmet, expired, level, spend)
    out = _outcome(state.spent, flows, price, storage_rate, config, emergency)
    return out if substituted is None else _with_substitution(out, substituted)


def _substitute(
    config: ScenarioConfig, arrived: np.ndarray, left: np.ndarray, unmet: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
    """Therapeutic substitution after the drugs' own FIFO service (``left``: after it):
    ``(left, unmet, reported)`` with the donated units gone from the donors' stock and the
    substituted ones from the unmet demand; unchanged and ``None`` without substitution."""
    model = config.substitution
    if model is None:
        return left, unmet, None
    rank = config.criticality_rank if config.criticality is not None else None
    spare = arrived - left
    # a drug with stock left served all its demand: its "unmet" is rounding dust (which would
    # let it give and receive at once)
    unmet = np.where(spare > 0, 0.0, unmet)
    substituted, donated = model.serve(unmet, spare, rank)
    reported = dict(
        zip(SUBSTITUTION_INFO, (substituted, donated, model.cost * substituted), strict=True)
    )
    return left + donated, np.maximum(unmet - substituted, 0.0), reported


def _with_substitution(out: SlotOutcome, reported: dict[str, np.ndarray]) -> SlotOutcome:
    """``out`` with substitution's arrays and its cost in the shortage term."""
    return out._replace(
        shortage=out.shortage + reported["substitution_cost"], substitution=reported
    )


def _expire(
    state: FlowState, arrived: np.ndarray, left: np.ndarray, spend: np.ndarray,
    config: ScenarioConfig,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The end of a slot: whatever arrived up to slot ``t - L_i + 1`` and is still here
    (``left`` after service) expires, and ``state`` moves to the next slot with the new
    ``arrived``, ``left`` and spend. Returns ``(expired, end-of-slot stock)``."""
    t = state.t
    state.t = t + 1  # arrived_by(t - L + 1) reads the ring: slot t is recorded
    out_of_date = state.arrived_by(t - config.shelf_life + 1)
    after = np.maximum(left, out_of_date)
    state.arrived, state.left = arrived, after
    state.spent = state.spent + spend.sum(axis=-1)
    return after - left, arrived - after


def _flow_step_supply(
    state: FlowState, requested: np.ndarray, demand: np.ndarray, price: np.ndarray,
    storage_rate: np.ndarray, drug_budget: np.ndarray, config: ScenarioConfig,
    emergency: np.ndarray | None, supply: SupplyInputs,
) -> SlotOutcome:  # fmt: skip
    """:func:`flow_step` with a supply model (``docs/model.md``, "Supply"): the order is
    filled by its supplier, checked against the inventory position, paid now and put in the
    pipeline; the oldest lot is recalled where flagged; the slot's arrivals join the stock;
    then FIFO service, the alternative source for what the stock cannot serve, expiry, costs."""
    t, c, pipe = state.t, config, state.pipeline
    horizon = pipe.shape[1]
    position = state.level + state.in_transit
    bounded = np.clip(requested, c.refill_lo, c.refill_hi)
    accepted = clip_orders(
        requested, price, drug_budget, position @ c.unit_volume, state.spent, c, position,
        supply.fill,
    )  # fmt: skip
    outage_lost = bounded * (1.0 - supply.fill)
    spend = price * accepted
    due = (t + supply.lead_time.astype(np.int64)) % horizon
    b, n = due.shape
    pipe[np.arange(b)[:, None], due, np.arange(n)[None, :]] += accepted  # one cell per drug
    # Recall at the slot's start: ``left`` jumps over the rest of the oldest lot.
    left = state.left
    recalled = np.zeros_like(left)
    if supply.recall.any():
        end = np.where(supply.recall > 0, state.oldest_lot_end(), left)
        recalled = end - left
        left = end
    received = pipe[:, t % horizon].copy()
    pipe[:, t % horizon] = 0.0
    arrived = state.arrived + received
    state.ring[:, t % state.ring.shape[1]] = arrived
    after_service = np.minimum(left + demand, arrived)
    served = after_service - left
    unmet = np.maximum(demand - served, 0.0)
    after_service, unmet, substituted = _substitute(c, arrived, after_service, unmet)
    alt_bought = c.supply.alt_fill * unmet
    alt_spend = supply.alt_price * alt_bought
    expired, level = _expire(state, arrived, after_service, spend, c)
    flows = (requested, accepted, served, unmet - alt_bought, expired, level, spend)
    out = _outcome(state.spent, flows, price, storage_rate, c, emergency)
    rows = (received, pipe.sum(axis=1), outage_lost, recalled, alt_bought, alt_spend)
    out = out._replace(
        unmet=unmet,
        shortage=out.shortage + alt_spend,
        supply=dict(zip(SUPPLY_INFO, rows, strict=True)),
    )
    return out if substituted is None else _with_substitution(out, substituted)


# ---------------------------------------------------------------------------------------------
# Compiled backend (optional: ``pip install "druginv-gym[fast]"`` brings numba). The kernels
# are in ``druginv_gym._kernels``; :func:`_flow_step_compiled` runs ``flow_kernel``.
# ---------------------------------------------------------------------------------------------

#: Backends of :func:`flow_step`.
BACKENDS = ("numpy", "numba")


def compiled(fn: Any) -> Any:
    """``fn`` compiled by numba, once per process (later calls return the same dispatcher),
    with the options every kernel here uses: IEEE arithmetic (no fastmath), numpy's division
    semantics (x / 0 gives inf, no exception), cached on disk.

    A kernel listed in :data:`druginv_gym._kernels.CALLS` calls other kernels by name: they are
    compiled first and the caller is compiled against them.

    Returns ``None``, after one ``RuntimeWarning`` that names the cause, when numba is installed
    but cannot be imported (e.g. built for another numpy); the default backend then becomes
    ``"numpy"`` and callers take the numpy path.
    """
    try:
        return _KERNELS[fn]
    except KeyError:
        pass
    callees = {f.__name__: compiled(f) for f in _kernels.CALLS.get(fn, ())}
    if any(k is None for k in callees.values()):  # numba cannot be imported (warned once)
        _KERNELS[fn] = None
        return None
    if callees:  # the same code, with the callees' names bound to their compiled versions
        fn_globals = {**fn.__globals__, **callees}
        source = types.FunctionType(fn.__code__, fn_globals, fn.__name__, fn.__defaults__)
        source.__qualname__, source.__module__ = fn.__qualname__, fn.__module__
    else:
        source = fn
    global _BACKEND
    try:
        import numba
    except ImportError as exc:
        _BACKEND = "numpy"
        warnings.warn(
            f"numba is installed but cannot be imported ({exc}); druginv_gym steps with its "
            "numpy backend (set DRUGINV_BACKEND=numpy to silence this)",
            RuntimeWarning,
            stacklevel=3,
        )
        kernel = None
    else:
        kernel = numba.njit(cache=True, error_model="numpy", nogil=True)(source)
    _KERNELS[fn] = kernel
    return kernel


#: Compiled kernels by Python function (``None``: numba could not be imported).
_KERNELS: dict[Any, Any] = {}


def _flow_step_compiled(
    kernel: Any, state: FlowState, requested: Any, demand: Any, price: Any, storage_rate: Any,
    drug_budget: Any, config: ScenarioConfig, emergency: Any, supply: SupplyInputs | None = None,
) -> SlotOutcome:  # fmt: skip
    """:func:`flow_step` on the compiled ``kernel`` (:func:`_kernels.flow_kernel`, or
    :func:`_kernels.supply_flow_kernel` with ``supply``)."""
    c = config
    requested = np.asarray(requested, dtype=np.float64)
    # One allocation for the (B, N) outputs.
    shape = requested.shape
    rows = _kernels.FLOW_OUTPUTS if supply is None else _kernels.SUPPLY_OUTPUTS
    block = np.empty((len(rows), *shape))
    sums = np.empty((6, shape[0]))
    # New state arrays (the numpy path rebinds them too): earlier outcomes keep their values.
    arrived, left, spent = state.arrived.copy(), state.left.copy(), state.spent.copy()
    static, limits = _static_rows(c)
    budget = np.asarray(drug_budget, dtype=np.float64)
    if budget.shape != (static.shape[1],):
        budget = np.broadcast_to(budget, (static.shape[1],))
    extra = _no_emergency(shape) if emergency is None else np.asarray(emergency, dtype=np.float64)
    if supply is None:
        kernel(
            arrived, left, state.ring, spent, state.t, requested, demand, price, storage_rate,
            budget, extra, static, limits, block, sums, True, 0, shape[0],
        )  # fmt: skip
        reported = None
    else:  # the pipeline is updated in place, as by the numpy code
        f64 = np.float64
        kernel(
            arrived, left, state.ring, state.pipeline, spent, state.t, requested, demand, price,
            storage_rate, budget, extra, static, limits, np.asarray(supply.fill, dtype=f64),
            np.asarray(supply.lead_time, dtype=f64), np.asarray(supply.recall, dtype=f64),
            np.asarray(supply.alt_price, dtype=f64), float(c.supply.alt_fill), block, sums, 0,
            shape[0],
        )  # fmt: skip
        flows = len(_kernels.FLOW_OUTPUTS)  # then the demand, then the SUPPLY_INFO rows
        reported = dict(zip(SUPPLY_INFO, block[flows + 1 :], strict=True))
        block = block[:flows]
    state.arrived, state.left, state.spent = arrived, left, spent
    state.t += 1
    # positional for speed: the fields after ``spent`` and ``ordered`` are _OUTCOME_ROWS, then
    # ``env_sums`` and ``supply`` (tests/test_dynamics.py checks the order)
    return SlotOutcome(spent, requested, *block, sums, reported)


#: The :class:`SlotOutcome` fields of :data:`druginv_gym._kernels.FLOW_OUTPUTS`, in order.
_OUTCOME_ROWS = tuple("drug_total" if f == "total" else f for f in _kernels.FLOW_OUTPUTS)

_STATIC: dict[int, tuple[ScenarioConfig, np.ndarray, np.ndarray]] = {}
_ZEROS: dict[tuple[int, ...], np.ndarray] = {}


def _no_emergency(shape: tuple[int, ...]) -> np.ndarray:
    """A (B, N) array of zeros, shared (never written): no emergency price (the exogenous
    premium)."""
    zeros = _ZEROS.get(shape)
    if zeros is None:
        if len(_ZEROS) >= 16:
            _ZEROS.clear()
        zeros = _ZEROS[shape] = np.zeros(shape)
    return zeros


def _static_rows(config: ScenarioConfig) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' per-drug parameters (:data:`druginv_gym._kernels.STATIC_ROWS`) as one
    (11, N) array and their limits as one (3,) array, built once per config (a compiled call
    costs per argument)."""
    hit = _STATIC.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1], hit[2]
    n = config.n_drugs
    names = _kernels.STATIC_ROWS
    static = np.stack(
        [np.broadcast_to(np.asarray(getattr(config, k), dtype=np.float64), (n,)) for k in names]
    )
    limits = np.array([config.total_budget, config.storage_capacity, _SAFETY], dtype=np.float64)
    if len(_STATIC) >= 64:
        _STATIC.clear()
    _STATIC[id(config)] = (config, static, limits)
    return static, limits


def numba_available() -> bool:
    """True when numba is installed (the ``fast`` extra). It is imported only when a kernel is
    first compiled, which keeps ``import druginv_gym`` from paying numba's import time."""
    return importlib.util.find_spec("numba") is not None


def get_backend() -> str:
    """The backend :func:`flow_step` uses by default: ``"numba"`` when numba is installed,
    ``"numpy"`` otherwise or when the environment variable ``DRUGINV_BACKEND=numpy`` is set."""
    return _BACKEND


def set_backend(name: str) -> None:
    """Choose the default backend of :func:`flow_step` (``"numpy"`` or ``"numba"``)."""
    global _BACKEND
    if name not in BACKENDS:
        raise ValueError(f"backend = {name!r} is not one of {list(BACKENDS)}")
    if name == "numba" and not numba_available():
        raise ImportError('backend "numba" needs numba: pip install "druginv-gym[fast]"')
    _BACKEND = name


def _default_backend() -> str:
    wanted = os.environ.get("DRUGINV_BACKEND", "").strip().lower()
    if wanted and wanted not in BACKENDS:
        raise ValueError(f"DRUGINV_BACKEND = {wanted!r} is not one of {list(BACKENDS)}")
    if wanted == "numpy":
        return "numpy"
    return "numba" if numba_available() else "numpy"


_BACKEND = _default_backend()
