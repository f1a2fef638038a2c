"""The hindsight-optimal plan: the whole episode solved with demand and prices known (Ipopt).

Given a scenario and one episode's exogenous trace, :func:`solve_hindsight` minimises the env's
exact refilling cost (eq. 3 plus the shortage cost, same weights) over the horizon, subject to
the env's refill bounds, per-drug and total budgets, storage capacity, shelf-life expiry and lost
sales, and the scenario's readings of the model: the hard capacity
``v_i(t-1) + x_i(t) <= C_hi_i`` (``hard_capacity``; rows only then), the penalty's knees
``knee_lo``/``knee_hi`` (``penalty_zone_lo``/``_hi``) and both premium modes (``premium_mode``:
orders pay ``dynamics.order_price``; with ``"emergency"`` each unit of unmet demand pays
``shortage_cost + dynamics.unmet_price``). The problem is a convex QP; it is solved with Ipopt
through cyipopt, with a sparse Jacobian and Hessian (both constant, and declared so).

Variables, per slot ``t`` and drug ``i`` (all ``(T, N)``; see ``docs/hindsight.md``):

* ``X[t]``: cumulative units arrived by the end of slot ``t``, the initial stock included
  (it arrives fresh at slot 0); the order is ``x_t = X[t] - X[t-1]``.
* ``S[t]``: cumulative units served; ``E[t]``: cumulative units expired.
* ``lo[t]``, ``hi[t]`` >= 0: stock below ``knee_lo`` and above ``knee_hi`` (penalty slacks;
  the knees are the band ``C_lo``, ``C_hi`` without penalty zones).

The end-of-slot stock is ``v_t = X[t] - S[t] - E[t]``. FIFO expiry in cumulative form: all units
that arrived by slot ``t - L + 1`` are gone (served or expired) by the end of slot ``t``:
``E[t] + S[t] >= X[t-L+1]``; and no younger unit expires: what expires by ``t`` arrived by
``a = t-L+1`` and was not served by then, ``E[t] <= X[a] - S[a]`` (equivalently ``v_t >=
(X[t] - X[a]) - (S[t] - S[a])``: the stock holds at least what arrived since ``a`` less what
was served since).

Because it is a relaxation of the env (it may leave demand unmet while stock is on hand, and
serve young units while old ones expire; with hard capacity and a refill minimum, see
``_QP._order_bounds``), its optimum is a lower bound on the cost of every
policy on the same trace; at the optimum it rarely uses that freedom, and replaying the plan
through the env gives back its objective (tested).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from druginv_gym import dynamics as dyn
from druginv_gym.config import ScenarioConfig
from druginv_gym.exogenous import ExogenousTrace, as_trace

__all__ = ["SOLVERS", "HindsightSolution", "solve_hindsight"]

_INF = 2.0e19  # Ipopt's "no bound" (nlp_upper_bound_inf is 1e19)

# Ipopt ApplicationReturnStatus -> our status.
_STATUS = {
    0: "optimal",
    1: "acceptable",
    2: "infeasible",
    3: "not_converged",  # search direction too small
    4: "not_converged",  # diverging iterates
    5: "stopped",
    6: "acceptable",  # feasible point found (square problems)
    -1: "not_converged",  # maximum iterations
    -2: "not_converged",  # restoration failed
    -3: "error",  # error in step computation
    -4: "not_converged",  # maximum CPU time
    -5: "not_converged",  # maximum wall time
}


@dataclass(frozen=True, eq=False)
class HindsightSolution:
    """The result of :func:`solve_hindsight`.

    Attributes:
        orders: ``(T, N)`` planned orders (units), feasible for the env's bounds.
        objective: the plan's refilling cost (USD), the lower bound.
        costs: the objective by term, ``purchase``, ``storage``, ``penalty``, ``shortage``.
        stock: ``(T, N)`` planned end-of-slot stock (units).
        status: ``"optimal"``, ``"acceptable"``, ``"infeasible"``, ``"not_converged"``,
            ``"stopped"`` or ``"error"``.
        status_code: Ipopt's return code (``None`` when Ipopt did not run).
        message: Ipopt's message, or why it did not run.
        iterations: the solver's iterations.
        solve_seconds: wall time of the solve (s).
        replayed_cost: the plan's ``orders`` played through the env's dynamics on the same
            trace (USD): what the plan really costs. It lies above ``objective`` when the plan
            uses a freedom of the relaxation (``docs/hindsight.md``) and below it by the
            solver's tolerance (about 1e-7 relative) otherwise.
        solver: ``"ipopt"`` or ``"clarabel"``.
        extra: with class fill-rate targets (``config.service_level``), ``"service_shortfall"``:
            class -> units of demand by which the plan falls short of the class's target
            (0 where the target can be met; their price in the QP is not in ``objective``).
        dual_bound: a lower bound from the solver's dual (Clarabel's dual objective; ``nan``
            for Ipopt): below ``objective`` by the duality gap the solver stopped at.
    """

    orders: np.ndarray
    objective: float
    costs: dict[str, float]
    stock: np.ndarray
    status: str
    status_code: int | None
    message: str
    iterations: int
    solve_seconds: float
    n_variables: int = 0
    n_constraints: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    replayed_cost: float = float("nan")
    solver: str = "ipopt"
    dual_bound: float = float("nan")

    @property
    def success(self) -> bool:
        """True when the solver found an optimal (or acceptable) point."""
        return self.status in SUCCESS


#: The statuses of a solve that found its point.
SUCCESS = ("optimal", "acceptable")


class _QP:
    """What both formulations share: the constraint assembly and cyipopt's callbacks.

    A subclass calls ``super().__init__(config, trace)``, adds its rows block by block with
    :meth:`_entries` and :meth:`_close`, calls :meth:`_assemble`, and sets ``n``, ``lb``, ``ub``,
    ``g``, ``const``, ``q``, ``hidx`` and an ``unpack`` that returns ``(X, S, E, lo, hi)``.
    """

    def __init__(
        self, config: ScenarioConfig, trace: ExogenousTrace, in_transit: np.ndarray | None = None
    ) -> None:
        self.config, self.trace = config, trace
        self.T, self.N = config.horizon, config.n_drugs
        # (T, N) units ordered before slot 0 that arrive at the start of each slot (MPC's
        # pipeline; zeros for an episode) and, per slot, those still in transit at its start
        self.receipts = np.zeros((self.T, self.N))
        if in_transit is not None:
            k = min(len(in_transit), self.T)
            self.receipts[:k] = in_transit[:k]
        self.pending = np.cumsum(self.receipts[::-1], axis=0)[::-1]
        self.iterations = 0
        self._row = 0  # first row of the block being added
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        # What an order pays (base + premium, or base alone with premium_mode="emergency") and,
        # with the emergency reading, the premium price each unit of unmet demand pays on top
        # of the shortage cost (``None``: nothing).
        self.price = dyn.order_price(config, trace.base_price, trace.premium)
        self.emergency = dyn.unmet_price(config, trace.base_price, trace.premium)
        # A supply model's events, known in hindsight: each order's fill and arrival slot
        # (``docs/hindsight.md``, "A supply model"); without one, every order arrives in full.
        self.supply = config.supply
        if self.supply is not None and trace.fill is None:
            raise ValueError("the scenario has a supply model but the trace has no supply events")
        self.fill = None if self.supply is None else trace.fill
        self.arrival = np.arange(self.T)[:, None] + (
            0 if self.supply is None else trace.lead_time.astype(np.int64)
        )
        self.x_lo, self.x_hi, self.floor = self._order_bounds()

    def _order_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x_lo, x_hi, floor)``, each ``(T, N)``: the bounds on each order and, with hard
        capacity, the refill minimum that a capacity row may cut.

        ``x_hi = min(rho_hi, B_i(t) / p)`` and ``x_lo = min(rho_lo, x_hi)`` (refill bounds and
        per-drug budget). With ``hard_capacity`` the env cuts an order to ``C_hi - v_{t-1}``,
        below ``rho_lo`` if need be: slot 0's room ``C_hi - init`` is known and joins both
        bounds; from slot 1 on, ``x >= min(x_lo, C_hi - v_{t-1})`` is not convex, so ``x_lo`` is
        0 there and its convex hull over ``0 <= v_{t-1} <= C_hi`` is added as a row,
        ``x_t >= floor (1 - v_{t-1} / C_hi)`` with ``floor = min(x_lo, C_hi)`` (no row where
        ``floor`` is 0, e.g. with ``rho_lo = 0``).
        """
        c, price = self.config, self.price
        affordable = dyn.safe_divide(c.drug_budget, price, where=price > 0, fill=np.inf)
        top, bottom = c.refill_hi, c.refill_lo
        if self.fill is not None:  # the supplier fills this share of the bounded request
            top, bottom = top * self.fill, bottom * self.fill
        x_hi = np.minimum(top, affordable)
        x_lo = np.minimum(bottom, x_hi)
        floor = np.zeros((self.T, self.N))
        if c.hard_capacity:
            room = np.maximum(c.band_hi - c.initial_stock - self.pending[0], 0.0)
            x_hi[0] = np.minimum(x_hi[0], room)
            x_lo[0] = np.minimum(x_lo[0], room)
            floor[1:] = np.minimum(x_lo[1:], c.band_hi)
            x_lo[1:] = 0.0
        return x_lo, x_hi, floor

    def _shortage_unit(self) -> np.ndarray:
        """(T, N) what a unit of unmet demand costs (USD): the shortage cost, plus the slot's
        premium price with ``premium_mode="emergency"``; with a supply model's alternative
        source, ``alt_fill`` of it is bought at the alternative's price instead."""
        c = self.config
        if self.emergency is None:
            unit = np.broadcast_to(c.shortage_cost, (self.T, self.N))
        else:
            unit = c.shortage_cost + self.emergency
        if self.supply is None or self.supply.alt_fill == 0:
            return unit
        # the alternative source buys alt_fill of every unmet unit at its price
        alt = self.supply.alt_markup * self.trace.base_price
        return (1.0 - self.supply.alt_fill) * unit + self.supply.alt_fill * alt

    def _entries(self, row_of: Any, col: Any, coef: Any) -> None:
        """Jacobian entries at rows ``self._row + row_of`` (row numbers local to the block),
        columns ``col``; ``row_of`` and ``coef`` broadcast to ``col``'s shape."""
        col = np.asarray(col, dtype=np.int64)
        self._rows.append(self._row + np.broadcast_to(row_of, col.shape).ravel())
        self._cols.append(col.ravel())
        self._vals.append(np.broadcast_to(np.asarray(coef, dtype=np.float64), col.shape).ravel())

    def _close(self, lo: Any, up: Any, count: int) -> None:
        """End the block: its ``count`` rows get bounds ``lo <= row <= up``."""
        self._lower.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (count,)).ravel())
        self._upper.append(np.broadcast_to(np.asarray(up, dtype=np.float64), (count,)).ravel())
        self._row += count

    def _assemble(self) -> None:
        self.m = self._row
        self.jrows = np.concatenate(self._rows).astype(np.int64)
        self.jcols = np.concatenate(self._cols).astype(np.int64)
        self.jvals = np.concatenate(self._vals)
        self.cl = np.concatenate(self._lower)
        self.cu = np.concatenate(self._upper)
        self.jac = sp.csr_matrix((self.jvals, (self.jrows, self.jcols)), shape=(self.m, self.n))

    # -------------------------------------------------------------- callbacks
    def objective(self, z: np.ndarray) -> float:
        return float(self.g @ z + self.q @ (z * z) + self.const)

    def gradient(self, z: np.ndarray) -> np.ndarray:
        return self.g + 2.0 * self.q * z

    def constraints(self, z: np.ndarray) -> np.ndarray:
        return self.jac @ z

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.jrows, self.jcols

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        return self.jvals

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.hidx, self.hidx

    def hessian(self, z: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        return obj_factor * 2.0 * self.q[self.hidx]

    def intermediate(self, alg_mod, iter_count, *args) -> bool:
        self.iterations = int(iter_count)
        return True

    def plan(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(orders, stock)``, each ``(T, N)``, of the point ``z``: the orders feasible for the
        env's bounds (the solver's last 1e-9 snapped: refill upper bound, per-drug budget at
        the order price, slot 0's hard capacity) and the planned end-of-slot stock."""
        orders = np.clip(self.orders_of(z), 0.0, self.x_hi)
        if self.fill is not None:  # the request whose filled share is the planned order
            orders = dyn.safe_divide(orders, self.fill, where=self.fill > 0, fill=0.0)
        return orders, self.stock_of(z)

    def orders_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) the accepted orders of the point ``z``."""
        X = self.unpack(z)[0]
        return np.diff(np.vstack([self.config.initial_stock[None, :], X]), axis=0)

    def stock_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) the end-of-slot stock of the point ``z``."""
        X, S, E = self.unpack(z)[:3]
        return X - S - E

    def served_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) the units served in each slot at the point ``z``."""
        return np.diff(self.unpack(z)[1], axis=0, prepend=0.0)

    def shortfall(self, z: np.ndarray) -> np.ndarray:
        """(K,) units each class with a fill-rate target falls short of it at ``z``."""
        return np.zeros(0)

    #: USD per unit of a class's shortfall in the objective (``_BalanceQP._class_rows``)
    shortfall_price = 0.0

    def model_cost(self, z: np.ndarray) -> float:
        """The objective at ``z`` without the price of the shortfalls: the model's cost."""
        return self.objective(z) - self.shortfall_price * float(self.shortfall(z).sum())

    def substituted_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) units of each drug's demand served by a substitute at the point ``z``."""
        return np.zeros((self.T, self.N))

    def costs(self, z: np.ndarray) -> dict[str, float]:
        c, tr = self.config, self.trace
        lo, hi = self.unpack(z)[3:5]
        x, v, served = self.orders_of(z), self.stock_of(z), self.served_of(z)
        lost = tr.demand - served
        extra = 0.0
        if c.substitution is not None:  # a substitute's units are not lost; they cost ``cost``
            sub = self.substituted_of(z)
            lost, extra = lost - sub, c.substitution.cost * sub
        shortage = self._shortage_unit() * lost + extra
        return {
            "purchase": float((c.alpha * self.price * x).sum()),
            "storage": float((tr.storage_rate * c.unit_volume * v).sum()),
            "penalty": float((c.penalty_lo * lo**2 + c.penalty_hi * hi**2).sum()),
            "shortage": float(shortage.sum()),
        }


class _CumulativeQP(_QP):
    """The hindsight QP in cumulative form (``formulation="cumulative"``), the reference.

    Variables ``X, S, E, lo, hi`` (cumulative arrived, served, expired; penalty slacks), about
    ``8 T N`` inequality rows (``9 T N`` with hard capacity). Kept to check the balance form
    against (same optimum) and to measure it side by side; see ``docs/hindsight.md``.
    """

    def __init__(
        self,
        config: ScenarioConfig,
        trace: ExogenousTrace,
        in_transit: Any = None,
        service_history: Any = None,
    ) -> None:
        if config.supply is not None or in_transit is not None:
            raise ValueError(
                "formulation = 'cumulative' does not model a supply model (lead times, outages, "
                "recalls); use the default formulation = 'balance'"
            )
        if config.substitution is not None or config.class_targets():
            raise ValueError(
                "formulation = 'cumulative' does not model substitution or service levels; use "
                "the default formulation = 'balance'"
            )
        super().__init__(config, trace)
        c, T, N = config, self.T, self.N
        tn = T * N
        self.n = 5 * tn
        price = self.price
        demand = trace.demand
        init = c.initial_stock
        # Variable blocks.
        idx = np.arange(tn).reshape(T, N)
        iX, iS, iE, iLo, iHi = (idx + k * tn for k in range(5))

        def add(entries: list[tuple[np.ndarray, float | np.ndarray]], lo: Any, up: Any, k: int):
            """Add ``k`` rows; ``entries`` are (column index array (k,), coefficient)."""
            r = np.arange(k)
            for col, coef in entries:
                self._entries(r, np.ravel(col), coef)
            self._close(lo, up, k)

        # Order bounds: x_t = X[t] - X[t-1] (X[-1] = initial stock, a constant).
        x_lo, x_hi = self.x_lo, self.x_hi
        add([(iX[0], 1.0)], x_lo[0] + init, x_hi[0] + init, N)
        if T > 1:
            add([(iX[1:], 1.0), (iX[:-1], -1.0)], x_lo[1:].ravel(), x_hi[1:].ravel(), (T - 1) * N)
        # Served per slot in [0, A_t].
        add([(iS[0], 1.0)], 0.0, demand[0], N)
        if T > 1:
            add([(iS[1:], 1.0), (iS[:-1], -1.0)], 0.0, demand[1:].ravel(), (T - 1) * N)
        # Expired is cumulative: non-decreasing.
        if T > 1:
            add([(iE[1:], 1.0), (iE[:-1], -1.0)], 0.0, _INF, (T - 1) * N)
        # Expiry by shelf life: with a = t - L + 1 >= 0, E[t] + S[t] >= X[a] and E[t] <= X[a] -
        # S[a];
        # for a < 0 nothing can have expired (E[t] = 0, set by variable bounds below).
        t_grid, i_grid = np.meshgrid(np.arange(T), np.arange(N), indexing="ij")
        arr = t_grid - c.shelf_life[None, :] + 1
        ok = arr >= 0
        k = int(ok.sum())
        if k:
            src = iX[arr[ok], i_grid[ok]]
            add([(iE[ok], 1.0), (iS[ok], 1.0), (src, -1.0)], 0.0, _INF, k)
            # no unit younger than its shelf life expires: E[t] <= X[a] - S[a] (what expires
            # by t arrived by a and was not served by a; FIFO)
            old_served = iS[arr[ok], i_grid[ok]]
            add([(src, 1.0), (old_served, -1.0), (iE[ok], -1.0)], 0.0, _INF, k)
        # Stock: v = X - S - E >= 0, and the penalty slacks below/above the knees.
        add([(iX, 1.0), (iS, -1.0), (iE, -1.0)], 0.0, _INF, tn)
        add([(iLo, 1.0), (iX, 1.0), (iS, -1.0), (iE, -1.0)], np.tile(c.knee_lo, T), _INF, tn)
        add([(iHi, 1.0), (iX, -1.0), (iS, 1.0), (iE, 1.0)], -np.tile(c.knee_hi, T), _INF, tn)
        # Storage at arrival: sum_i u_i (v_{t-1} + x_t) = sum_i u_i (X[t] - S[t-1] - E[t-1]) <= V.
        self._entries(np.repeat(np.arange(T), N), iX.ravel(), np.tile(c.unit_volume, T))
        if T > 1:
            r_prev = np.repeat(np.arange(1, T), N)
            for blk in (iS, iE):
                self._entries(r_prev, blk[:-1].ravel(), -np.tile(c.unit_volume, T - 1))
        self._close(-_INF, c.storage_capacity, T)
        # Total budget: sum_t p_t x_t = sum_t (p_t - p_{t+1}) X[t] - p_0 . init <= B.
        p_next = np.vstack([price[1:], np.zeros((1, N))])
        self._entries(0, iX.ravel(), (price - p_next).ravel())
        self._close(-_INF, c.total_budget + float(price[0] @ init), 1)
        if c.hard_capacity and T > 1:
            # Hard capacity, slots t >= 1 (slot 0's is in its order bound): v_{t-1} + x_t =
            # X[t] - S[t-1] - E[t-1] <= C_hi.
            add([(iX[1:], 1.0), (iS[:-1], -1.0), (iE[:-1], -1.0)], -_INF,
                np.tile(c.band_hi, T - 1), (T - 1) * N)  # fmt: skip
            # The refill minimum the capacity may cut (see _order_bounds):
            # x_t + k v_{t-1} >= floor, k = floor / C_hi, i.e.
            # X[t] + (k - 1) X[t-1] - k S[t-1] - k E[t-1] >= floor.
            cut = self.floor[1:] > 0
            if cut.any():
                ts, ii = np.nonzero(cut)
                f = self.floor[1:][cut]
                kf = f / c.band_hi[ii]
                add([(iX[ts + 1, ii], 1.0), (iX[ts, ii], kf - 1.0), (iS[ts, ii], -kf),
                     (iE[ts, ii], -kf)], f, _INF, len(f))  # fmt: skip

        self._assemble()

        # Variable bounds.
        self.lb = np.zeros(self.n)
        self.ub = np.full(self.n, _INF)
        self.ub[iS.ravel()] = np.cumsum(demand, axis=0).ravel()
        self.ub[iE[~ok].ravel()] = 0.0
        self.lb[iX.ravel()] = 0.0

        # Objective: linear part g . z + constant, plus sum k_lo lo^2 + k_hi hi^2.
        w = trace.storage_rate * c.unit_volume  # USD per unit of end-of-slot stock
        g = np.zeros(self.n)
        g[iX.ravel()] = (c.alpha * (price - p_next) + w).ravel()
        g[iS.ravel()] = -w.ravel()
        g[iE.ravel()] = -w.ravel()
        if self.emergency is None:
            g[iS[-1]] += -c.shortage_cost  # shortage = sum A - S[T-1]
            shortage_const = float(c.shortage_cost @ demand.sum(axis=0))
        else:
            # shortage = sum_t u_t (A_t - s_t), u_t = shortage + premium price of slot t:
            # sum_t u_t s_t = sum_t (u_t - u_{t+1}) S[t].
            unit = self._shortage_unit()
            u_next = np.vstack([unit[1:], np.zeros((1, N))])
            g[iS.ravel()] += -(unit - u_next).ravel()
            shortage_const = float((unit * demand).sum())
        self.g = g
        self.const = shortage_const - float((c.alpha * price[0]) @ init)
        self.q = np.zeros(self.n)
        self.q[iLo.ravel()] = np.tile(c.penalty_lo, T)
        self.q[iHi.ravel()] = np.tile(c.penalty_hi, T)
        self.hidx = np.flatnonzero(self.q)
        self.blocks = (iX, iS, iE, iLo, iHi)

    # -------------------------------------------------------------- helpers
    def pack(self, replay: _Replay) -> np.ndarray:
        c = self.config
        X = c.initial_stock + np.cumsum(replay.received, axis=0)
        S, E = np.cumsum(replay.served, axis=0), np.cumsum(replay.expired, axis=0)
        v = X - S - E
        return np.concatenate(
            [
                X.ravel(),
                S.ravel(),
                E.ravel(),
                np.maximum(c.knee_lo - v, 0.0).ravel(),
                np.maximum(v - c.knee_hi, 0.0).ravel(),
            ]
        )

    def unpack(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        T, N = self.T, self.N
        return tuple(z[b.ravel()].reshape(T, N) for b in self.blocks)


class _BalanceQP(_QP):
    """The hindsight QP in stock-balance form (``formulation="balance"``, the default).

    Same optimum as :class:`_CumulativeQP`, about a third of its KKT system, so each Ipopt
    iteration costs less (with the MUMPS in ``cyipopt-wheels`` the cost per iteration grows with
    the number of KKT rows, not with the nonzeros). Per slot ``t`` and drug ``i``:

    * ``x`` (order) in ``[min(rho_lo, x_hi), x_hi]`` and ``s`` (served) in ``[0, A_t]``: the
      refill bounds, per-drug budget and lost sales become variable bounds, not rows.
    * ``e`` (expired) >= 0, fixed at 0 while ``t < L - 1``.
    * the end-of-slot stock is ``v = K_lo - lo + w + hi`` (``K`` the penalty's knees,
      ``config.knee_lo``/``knee_hi``; the band without penalty zones) with ``lo`` in
      ``[0, K_lo]``, ``w`` in ``[0, K_hi - K_lo]``, ``hi >= 0``: ``v >= 0`` and the penalty
      slacks become bounds (at the optimum ``lo = max(K_lo - v, 0)``, ``hi = max(v - K_hi, 0)``).
    * one equality row, the stock balance ``v_t = v_{t-1} + x_t - s_t - e_t``.
    * for ``t >= L - 1`` (``a = t - L + 1``), two chained auxiliaries with equality rows:
      ``z_t = S[t] + E[t] - X[a] >= 0`` (all that arrived by ``a`` is gone) and
      ``y_t = X[a] - S[a] - E[t] >= 0`` (no younger unit expires), ``z_t = z_{t-1} + s_t + e_t -
      x_a``, ``y_t = y_{t-1} + x_a - s_a - e_t``: sparse rows instead of sums over the past.
    * ``T`` storage rows on ``v_{t-1} + x_t`` and the total-budget row ``sum p x <= B``.
    * with ``hard_capacity``, ``(T - 1) N`` rows ``v_{t-1} + x_t <= C_hi`` (slot 0's is a bound
      on ``x``), four nonzeros each (and the refill-minimum rows of :meth:`_order_bounds`).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        trace: ExogenousTrace,
        in_transit: np.ndarray | None = None,
        service_history: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        super().__init__(config, trace, in_transit)
        c, T, N = config, self.T, self.N
        # (demand, filled) per drug before slot 0: the class targets hold with them included
        self.history = (np.zeros(N), np.zeros(N)) if service_history is None else service_history
        tn = T * N
        price, demand, init = self.price, trace.demand, c.initial_stock
        rec, pending = self.receipts, self.pending
        clo = c.knee_lo  # v = knee_lo - lo + w + hi
        L = c.shelf_life
        idx = np.arange(tn).reshape(T, N)
        ix, is_, ie, iw, ilo, ihi = (idx + k * tn for k in range(6))
        t_grid = np.broadcast_to(np.arange(T)[:, None], (T, N))
        i_grid = np.broadcast_to(np.arange(N)[None, :], (T, N))
        expires = t_grid >= (L[None, :] - 1)  # slots whose end may see units expire
        k = int(expires.sum())
        iz = np.full((T, N), -1)
        iy = np.full((T, N), -1)
        iz[expires] = 6 * tn + np.arange(k)
        iy[expires] = 6 * tn + k + np.arange(k)
        self.n = 6 * tn + 2 * k
        # A supply model: each order enters the stock at its arrival slot (``self._arrive``),
        # and a recall slot gets a variable r >= 0, units written off at the slot's start.
        self._ix = ix
        self._by_arrival = self._arrival_matrix() if self.supply is not None else None
        recall = np.zeros((T, N), dtype=bool) if self.supply is None else trace.recall > 0
        ir = np.full((T, N), -1)
        ir[recall] = self.n + np.arange(int(recall.sum()))
        self.n += int(recall.sum())
        # Therapeutic substitution: for each drug with a substitute, s is every unit issued
        # from its stock (its own service and what it gives), ``d`` what it gives and ``c``
        # its demand served by a substitute (``docs/hindsight.md``, "Classes").
        model = c.substitution
        subst = np.zeros(N, dtype=bool) if model is None else model.substitutable
        k_sub = int(subst.sum()) * T
        i_d = np.full((T, N), -1)
        i_c = np.full((T, N), -1)
        i_d[:, subst] = (self.n + np.arange(k_sub)).reshape(T, -1)
        i_c[:, subst] = (self.n + k_sub + np.arange(k_sub)).reshape(T, -1)
        self.n += 2 * k_sub
        self.sub_vars = (subst, i_d, i_c)
        # one shortfall variable per class target (``_class_rows``)
        targets = c.class_targets()
        self.i_short = self.n + np.arange(len(targets))
        self.n += len(targets)
        self.i_run = [self.n + k * T + np.arange(T) for k in range(len(targets))]
        self.n += len(targets) * T

        # Stock balance, one row per (t, i): (w + hi - lo)_t - (w + hi - lo)_{t-1} - x + s + e
        # = 0, and for t = 0: (w + hi - lo)_0 - x + s + e = init - C_lo.
        r = idx
        for blk, sign in ((iw, 1.0), (ihi, 1.0), (ilo, -1.0), (ix, -1.0), (is_, 1.0), (ie, 1.0)):
            if blk is ix:  # what arrives in the slot
                self._arrive(r, t_grid, i_grid, sign)
            else:
                self._entries(r, blk, sign)
        for blk, sign in ((iw, -1.0), (ihi, -1.0), (ilo, 1.0)):
            self._entries(r[1:], blk[:-1], sign)
        self._entries(r[recall], ir[recall], 1.0)  # v_t = ... - r_t
        rhs = np.zeros((T, N))
        rhs[0] = init - clo
        rhs += rec  # units ordered before slot 0 arrive as scheduled
        self._close(rhs.ravel(), rhs.ravel(), tn)

        # Expiry chains, rows in the order of the auxiliaries.
        te, ie_ = t_grid[expires], i_grid[expires]
        a = te - L[ie_] + 1
        first = a == 0
        r = np.arange(k)
        zc, yc = iz[expires], iy[expires]
        # z rows: z_t - z_{t-1} - s_t - e_t + x_a = 0; at a = 0: z - S[t] - e_t + x_0 = -init
        # (x_a: what arrived in slot a; with recalls, - r_t, and R[t] in the first row).
        self._entries(r, zc, 1.0)
        self._entries(r, ie[te, ie_], -1.0)
        self._arrive(r, a, ie_, 1.0)
        self._entries(r[~first], iz[te[~first] - 1, ie_[~first]], -1.0)
        self._entries(r[~first], is_[te[~first], ie_[~first]], -1.0)
        later = ~first & recall[te, ie_]
        self._entries(r[later], ir[te[later], ie_[later]], -1.0)
        # S[t] for the first row of each drug: every s_tau, tau <= t (and every r_tau).
        fr, ft, fi = r[first], te[first], ie_[first]
        span = ft + 1
        past = (_ragged_range(span), np.repeat(fi, span))
        self._entries(np.repeat(fr, span), is_[past], -1.0)
        had = recall[past]
        self._entries(np.repeat(fr, span)[had], ir[past][had], -1.0)
        zr = -rec[a, ie_]
        zr[first] -= init[fi]
        self._close(zr, zr, k)
        # y rows, y_t = X[a] - S[a] - E[t] >= 0 (no unit younger than its shelf life expires:
        # what expires by t arrived by a and was not served by a): y_t - y_{t-1} - x_a + s_a
        # + e_t = 0; at a = 0: y - x_0 + s_0 + e_t = init.
        self._entries(r, yc, 1.0)
        self._arrive(r, a, ie_, -1.0)
        self._entries(r, is_[a, ie_], 1.0)
        self._entries(r, ie[te, ie_], 1.0)
        self._entries(r[~first], iy[te[~first] - 1, ie_[~first]], -1.0)
        gone = recall[a, ie_]  # + r_a: recalled units left before they could expire
        self._entries(r[gone], ir[a[gone], ie_[gone]], 1.0)
        yr = rec[a, ie_].copy()
        yr[first] += init[fi]
        self._close(yr, yr, k)

        # Storage just after arrival: sum_i u_i (v_{t-1} + x_t) <= V, v_{-1} = init (with a
        # supply model, on the position: x_t and every order in transit at t).
        u = c.unit_volume
        slot = np.arange(T)[:, None]
        self._position(slot, u, 0)
        for blk, sign in ((iw, 1.0), (ihi, 1.0), (ilo, -1.0)):
            self._entries(slot[1:], blk[:-1], sign * u)
        cap = np.full(T, c.storage_capacity - float(u @ clo))
        cap[0] = c.storage_capacity - float(u @ init)
        cap -= pending @ u  # what is still in transit is in the position
        self._close(-_INF, cap, T)
        # Total budget: sum_t sum_i p_t x_t <= B.
        self._entries(0, ix, price)
        self._close(-_INF, c.total_budget, 1)
        if c.hard_capacity and T > 1:
            # Hard capacity, slots t >= 1 (slot 0's is in x's bound): v_{t-1} + x_t <= C_hi,
            # i.e. x_t + (w + hi - lo)_{t-1} <= C_hi - knee_lo.
            r = idx[:-1]
            self._position(r, 1.0, 1)
            for blk, sign in ((iw[:-1], 1.0), (ihi[:-1], 1.0), (ilo[:-1], -1.0)):
                self._entries(r, blk, sign)
            self._close(-_INF, (c.band_hi - clo - pending[1:]).ravel(), (T - 1) * N)
            # The refill minimum the capacity may cut (see _order_bounds):
            # x_t + k (w + hi - lo)_{t-1} >= floor - k knee_lo, k = floor / C_hi.
            cut = self.floor[1:] > 0
            if cut.any():
                ts, ii = np.nonzero(cut)
                f = self.floor[1:][cut]
                kf = f / c.band_hi[ii]
                r = np.arange(len(f))
                self._entries(r, ix[ts + 1, ii], 1.0)
                for blk, sign in ((iw, 1.0), (ihi, 1.0), (ilo, -1.0)):
                    self._entries(r, blk[ts, ii], sign * kf)
                if self.supply is not None:  # the position's orders in transit, times k
                    self._in_transit(r, ts + 1, ii, kf)
                self._close(f - kf * (clo[ii] + pending[ts + 1, ii]), _INF, len(f))
        self._class_rows(is_, demand, (iw, ihi, ilo))

        self._assemble()

        # Variable bounds.
        x_lo, x_hi = self.x_lo, self.x_hi
        self.lb = np.zeros(self.n)
        self.ub = np.full(self.n, _INF)
        self.lb[ix.ravel()] = x_lo.ravel()
        self.ub[ix.ravel()] = np.minimum(x_hi, _INF).ravel()
        self.ub[is_.ravel()] = demand.ravel()
        self.ub[is_[:, subst]] = _INF  # own service and donations: rows bound them
        self.ub[ie[~expires]] = 0.0
        self.ub[iw.ravel()] = np.tile(np.minimum(c.knee_hi - clo, _INF), T)
        self.ub[ilo.ravel()] = np.tile(clo, T)

        # Objective: purchase, storage on v = knee_lo - lo + w + hi, shortage on A - s, penalty.
        rate = trace.storage_rate * u  # USD per unit of end-of-slot stock
        g = np.zeros(self.n)
        g[ix.ravel()] = (c.alpha * price).ravel()
        g[iw.ravel()] = rate.ravel()
        g[ihi.ravel()] = rate.ravel()
        g[ilo.ravel()] = -rate.ravel()
        if self.emergency is None:
            g[is_.ravel()] = -np.tile(c.shortage_cost, T)
            shortage_const = c.shortage_cost @ demand.sum(axis=0)
        else:
            unit = self._shortage_unit()  # (T, N): shortage + the slot's premium price
            g[is_.ravel()] = -unit.ravel()
            shortage_const = (unit * demand).sum()
        self.shortfall_price = SHORTFALL_PRICE * float(
            max(np.max(-g[is_], initial=1.0), np.max(price, initial=1.0))
        )
        g[self.i_short] = self.shortfall_price
        if subst.any():  # shortage = unit (A - (s - d) - c) + cost c
            unit = np.broadcast_to(-g[is_], (T, N))
            g[i_d[:, subst]] = unit[:, subst]
            g[i_c[:, subst]] = -unit[:, subst] + model.cost[subst]
        self.g = g
        self.const = float(shortage_const + (rate * clo).sum())
        self.q = np.zeros(self.n)
        self.q[ilo.ravel()] = np.tile(c.penalty_lo, T)
        self.q[ihi.ravel()] = np.tile(c.penalty_hi, T)
        self.hidx = np.flatnonzero(self.q)
        self.blocks = (ix, is_, ie, iw, ilo, ihi)
        self.expires, self.first_a = expires, (te, ie_, a)
        self.recall_vars = (recall, ir)

    # -------------------------------------------------------------- classes
    def _class_rows(
        self, is_: np.ndarray, demand: np.ndarray, stock: tuple[np.ndarray, ...]
    ) -> None:
        """Substitution's rows and the service levels' (``docs/hindsight.md``, "Classes").

        With a substitute, per slot and drug: own service ``s - d`` in ``[0, A - c]`` (two
        rows), and per slot and group: what the donors give equals what the recipients need,
        ``sum d - sum ratio c = 0``. Per criticality class with a target ``q > 0``
        (``config.service_level``): its drugs' own service and substitutes over the horizon
        serve at least ``q`` of their demand, ``sum_{t, i in class} (s - d + c) + u >= q sum A``
        (the sum as a running total ``F_t``, one short row per slot), with ``u >= 0`` the
        units the class falls short, each costing :data:`SHORTFALL_PRICE` times the largest
        shortage unit cost or order price: above what serving one more unit costs in every
        case tested, so the optimum meets a target that can be met, and misses one that
        cannot (a long outage) by as little as it can. ``HindsightSolution.extra`` reports
        the shortfall, and ``objective`` is the model's cost without its price.

        The env serves a drug from a substitute only once its own stock is gone, so a slot
        that substitutes ends with no stock of the drug: ``c v = 0``, and then ``lo = K_lo``
        and ``w = hi = 0``. That is not convex; over ``0 <= c <= A`` and ``0 <= v <= M``
        (``M`` the largest stock the drug can hold: ``C_hi`` with hard capacity, else what
        fills the storage) two rows hold for every play of the env: ``A lo >= K_lo c`` (the
        penalty of an empty shelf, in proportion) and ``A (w + hi) + (M - K_lo) c <= A (M -
        K_lo)``. They keep the relaxation from holding a drug's stock idle, clear of the
        penalty, while a substitute serves its demand.
        """
        c, T = self.config, self.T
        subst, i_d, i_c = self.sub_vars
        if subst.any():
            cols = np.flatnonzero(subst)
            k = T * len(cols)
            r = np.arange(k)
            own, give, got = is_[:, cols].ravel(), i_d[:, cols].ravel(), i_c[:, cols].ravel()
            self._entries(r, own, 1.0)
            self._entries(r, give, -1.0)
            self._close(0.0, _INF, k)
            self._entries(r, own, 1.0)
            self._entries(r, give, -1.0)
            self._entries(r, got, 1.0)
            self._close(-_INF, demand[:, cols].ravel(), k)
            # an empty shelf when a substitute serves (see above)
            iw, ihi, ilo = stock
            most = c.storage_capacity / c.unit_volume
            if c.hard_capacity:
                most = np.minimum(most, c.band_hi)
            a = demand[:, cols].ravel()
            knee = np.broadcast_to(c.knee_lo[cols], (T, len(cols))).ravel()
            room = np.broadcast_to(np.maximum(most - c.knee_lo, 0.0)[cols], (T, len(cols)))
            room = room.ravel()
            self._entries(r, ilo[:, cols].ravel(), a)
            self._entries(r, got, -knee)
            self._close(0.0, _INF, k)
            self._entries(r, iw[:, cols].ravel(), a)
            self._entries(r, ihi[:, cols].ravel(), a)
            self._entries(r, got, room)
            self._close(-_INF, a * room, k)
            member = c.substitution.members  # (G, N)
            ratio = c.substitution.ratio
            for g_row in member:
                drugs = np.flatnonzero(g_row)
                rows = np.broadcast_to(np.arange(T)[:, None], (T, len(drugs)))
                self._entries(rows, i_d[:, drugs], 1.0)
                self._entries(rows, i_c[:, drugs], -ratio[drugs])
                self._close(0.0, 0.0, T)
        for (_label, target, members), short, run in zip(
            c.class_targets(), self.i_short, self.i_run, strict=True
        ):
            # the class's units filled by the end of each slot, a chain of T equality rows
            # (one dense row over every drug-slot would fill the KKT factor in):
            # F_t - F_{t-1} - sum_i (s - d + c)_{t, i} = 0
            drugs = np.flatnonzero(members)
            slots = np.broadcast_to(np.arange(T)[:, None], (T, len(drugs)))
            self._entries(np.arange(T), run, 1.0)
            self._entries(np.arange(1, T), run[:-1], -1.0)
            self._entries(slots, is_[:, drugs], -1.0)
            sub = drugs[subst[drugs]]
            if len(sub):
                self._entries(slots[:, : len(sub)], i_d[:, sub], 1.0)
                self._entries(slots[:, : len(sub)], i_c[:, sub], -1.0)
            self._close(0.0, 0.0, T)
            # F_{T-1} + u >= q (demand before and in the horizon) - filled before
            self._entries(0, run[-1], 1.0)
            self._entries(0, short, 1.0)
            asked, filled = (h[drugs].sum() for h in self.history)
            self._close(target * (asked + demand[:, drugs].sum()) - filled, _INF, 1)

    def shortfall(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z[self.i_short], 0.0)

    def substituted_of(self, z: np.ndarray) -> np.ndarray:
        return self._substitution_block(z, 2)

    def donated_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) units each drug gives to substitute for others at the point ``z``."""
        return self._substitution_block(z, 1)

    def _substitution_block(self, z: np.ndarray, which: int) -> np.ndarray:
        """(T, N) the values at ``z`` of ``sub_vars[which]`` (1: given, 2: received), zero for
        the drugs without a substitute."""
        subst, index = self.sub_vars[0], self.sub_vars[which]
        out = np.zeros((self.T, self.N))
        out[:, subst] = z[index[:, subst]]
        return out

    # -------------------------------------------------------------- supply
    def _arrival_matrix(self) -> sp.csr_matrix:
        """(T N, T N) 0/1: row ``a N + i`` holds the orders ``tau N + i`` that arrive in slot
        ``a`` (orders arriving after the horizon are in no row)."""
        T, N = self.T, self.N
        tau, i = np.nonzero(self.arrival < T)
        rows = self.arrival[tau, i] * N + i
        return sp.csr_matrix((np.ones(len(tau)), (rows, tau * N + i)), shape=(T * N, T * N))

    def _arrive(self, rows: Any, a: Any, i: Any, coef: float) -> None:
        """Entries ``coef`` at ``rows`` for what arrives in slot ``a`` of drug ``i`` (arrays of
        one shape): the order of slot ``a`` itself without a supply model, else every order
        whose lead time ends at ``a``."""
        if self._by_arrival is None:
            self._entries(rows, self._ix[a, i], coef)
            return
        rows, a, i = (np.ravel(np.broadcast_to(v, np.shape(rows))) for v in (rows, a, i))
        sub = self._by_arrival[a * self.N + i].tocoo()
        self._entries(rows[sub.row], sub.col, coef)  # the x block starts at column 0

    def _in_transit(self, rows: Any, t: Any, i: Any, coef: Any) -> None:
        """Entries ``coef`` at ``rows`` for the orders of drug ``i`` placed before slot ``t``
        and not arrived at its start (arrival >= t): the pipeline of the position."""
        rows, t, i, coef = (np.ravel(v) for v in np.broadcast_arrays(rows, t, i, coef))
        max_lead = self.supply.max_lead(self.N)
        for back in range(1, max_lead + 1):  # orders placed ``back`` slots before t
            tau = t - back
            ok = tau >= 0
            ok[ok] = self.arrival[tau[ok], i[ok]] >= t[ok]
            self._entries(rows[ok], self._ix[tau[ok], i[ok]], coef[ok])

    def _position(self, rows: Any, coef: Any, first: int) -> None:
        """Entries for ``x_t`` (and, with a supply model, the orders in transit at ``t``) in
        the position rows ``rows`` of slots ``first ..``, one row per slot (``rows`` shaped
        (T - first, 1)) or per slot and drug ((T - first, N)), times ``coef`` ((N,) or a
        scalar)."""
        T, N = self.T, self.N
        shape = (T - first, N)
        t = np.broadcast_to(np.arange(first, T)[:, None], shape)
        i = np.broadcast_to(np.arange(N)[None, :], shape)
        rows = np.broadcast_to(rows, shape)
        coef = np.broadcast_to(coef, shape)
        self._entries(rows, self._ix[first:], coef)
        if self.supply is not None:
            self._in_transit(rows, t, i, coef)

    def pack(self, replay: _Replay) -> np.ndarray:
        c = self.config
        x, e, v = replay.accepted, replay.expired, replay.level
        s = replay.served + replay.donated  # every unit issued from the stock
        X = c.initial_stock + np.cumsum(replay.received, axis=0)
        S, E = np.cumsum(s, axis=0), np.cumsum(e, axis=0)
        R = np.cumsum(replay.recalled, axis=0)
        w = np.clip(v - c.knee_lo, 0.0, c.knee_hi - c.knee_lo)
        lo = np.maximum(c.knee_lo - v, 0.0)
        hi = np.maximum(v - c.knee_hi, 0.0)
        te, ie_, a = self.first_a
        z = S[te, ie_] + E[te, ie_] + R[te, ie_] - X[a, ie_]
        y = X[a, ie_] - S[a, ie_] - R[a, ie_] - E[te, ie_]
        recall, _ = self.recall_vars
        subst = self.sub_vars[0]
        filled = replay.served + replay.substituted
        demand = self.trace.demand
        asked, before = self.history
        short, runs = [], []
        for _label, q, m in c.class_targets():
            run = np.cumsum(filled[:, m].sum(axis=1))
            runs.append(run)
            short.append(
                max(q * (asked[m].sum() + demand[:, m].sum()) - before[m].sum() - run[-1], 0)
            )
        return np.concatenate(
            [b.ravel() for b in (x, s, e, w, lo, hi)]
            + [z, y, replay.recalled[recall]]
            + [replay.donated[:, subst].ravel(), replay.substituted[:, subst].ravel()]
            + [np.array(short), *runs]
        )

    def unpack(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(X, S, E, lo, hi)``: cumulative arrivals, service and expiry (recalls, with a
        supply model, are in none of them), and the penalty slacks."""
        T, N = self.T, self.N
        x, s, e, _w, lo, hi = (z[b.ravel()].reshape(T, N) for b in self.blocks)
        X = self.config.initial_stock + np.cumsum(self._arrivals(x), axis=0)
        return X, np.cumsum(s, axis=0), np.cumsum(e, axis=0), lo, hi

    def _arrivals(self, x: np.ndarray) -> np.ndarray:
        """(T, N) what arrives in each slot under the orders ``x``, the pipeline ordered
        before slot 0 (``in_transit``) included."""
        if self._by_arrival is None:
            return x
        return (self._by_arrival @ x.ravel()).reshape(self.T, self.N) + self.receipts

    def orders_of(self, z: np.ndarray) -> np.ndarray:
        return z[self.blocks[0].ravel()].reshape(self.T, self.N)

    def stock_of(self, z: np.ndarray) -> np.ndarray:
        v = super().stock_of(z)
        recall, ir = self.recall_vars
        if recall.any():  # less what was recalled
            r = np.zeros((self.T, self.N))
            r[recall] = z[ir[recall]]
            v = v - np.cumsum(r, axis=0)
        return v

    def served_of(self, z: np.ndarray) -> np.ndarray:
        """(T, N) each drug's own service (units issued from its stock less what it gave)."""
        return z[self.blocks[1].ravel()].reshape(self.T, self.N) - self.donated_of(z)


def _ragged_range(lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts


_FORMULATIONS = {"balance": _BalanceQP, "cumulative": _CumulativeQP}

#: The price of a unit a class falls short of its fill-rate target in the hindsight QP, as a
#: multiple of the largest shortage unit cost or order price, whichever is larger
#: (``_BalanceQP._class_rows``). 10 meets every target that can be met in the tests and on
#: ``hospital``; 100 made Ipopt's iterations six times slower (hospital-40: 42 s against 7 s)
#: by the conditioning of the KKT system.
SHORTFALL_PRICE = 10.0


class _Replay(NamedTuple):
    """A plan played through the env's own dynamics: per-slot arrays ``(T, N)`` (units) and
    the total refilling cost (USD)."""

    accepted: np.ndarray  #: orders after clipping (paid and put in the pipeline)
    received: np.ndarray  #: units arriving in the stock
    served: np.ndarray
    expired: np.ndarray
    recalled: np.ndarray
    level: np.ndarray  #: end-of-slot stock
    donated: np.ndarray  #: units given to substitute for other drugs
    substituted: np.ndarray  #: units of demand served by a substitute
    cost: float


def _simulate(qp: _QP, orders: np.ndarray | None = None) -> _Replay:
    """The env's own numpy dynamics on the trace (:class:`_Replay`). ``orders`` ``(T, N)``:
    requested units per slot (the env clips them); ``None``: each slot order up to the middle of
    the knees plus the slot's (known) demand, the warm start (less what is in transit)."""
    c, tr = qp.config, qp.trace
    state = dyn.FlowState(c, 1)
    if qp.receipts.any():  # orders placed before slot 0, due as scheduled (K < H checked)
        due = qp.receipts[: state.pipeline.shape[1]]
        state.pipeline[0, : len(due)] = due
    target = 0.5 * (c.knee_lo + c.knee_hi)
    rows = {k: np.zeros((c.horizon, c.n_drugs)) for k in _Replay._fields[:-1]}
    alt = None if c.supply is None else c.supply.alt_markup * tr.base_price
    cost = 0.0
    for t in range(c.horizon):
        if orders is None:
            have = state.level[0] + state.in_transit[0]
            request = np.maximum(target + tr.demand[t] - have, 0.0)[None, :]
        else:
            request = np.asarray(orders[t], dtype=np.float64)[None, :]
        supply = None
        if c.supply is not None:
            supply = dyn.SupplyInputs(
                tr.fill[t][None], tr.lead_time[t][None], tr.recall[t][None], alt[t][None]
            )
        o = dyn.flow_step(
            state,
            request,
            tr.demand[t][None, :],
            qp.price[t][None, :],
            tr.storage_rate[t][None, :],
            c.drug_budget[t],
            c,
            backend="numpy",
            emergency=None if qp.emergency is None else qp.emergency[t][None, :],
            supply=supply,
        )
        flows = {"accepted": o.accepted, "served": o.served, "expired": o.expired,
                 "level": o.level}  # fmt: skip
        if o.supply is None:
            flows.update(received=o.accepted, recalled=np.zeros_like(o.accepted))
        else:
            flows.update(received=o.supply["received"], recalled=o.supply["recalled"])
        sub = o.substitution
        zero = np.zeros_like(o.accepted)
        flows.update(
            donated=zero if sub is None else sub["donated"],
            substituted=zero if sub is None else sub["substituted"],
        )
        for k, v in flows.items():
            rows[k][t] = v[0]
        cost += float(o.total.sum())
    return _Replay(**rows, cost=cost)


def _warm_start(qp: _QP, orders: np.ndarray | None = None) -> np.ndarray:
    """A starting point from the env's own dynamics: :func:`_simulate` of ``orders`` (``None``:
    its order-up-to-band plan)."""
    return qp.pack(_simulate(qp, orders))


#: The solvers of :func:`solve_hindsight`: Ipopt (the reference) and Clarabel.
SOLVERS = ("ipopt", "clarabel")


def _one_blas_thread() -> Any:
    """A context with one BLAS thread (threadpoolctl), so that numpy's threaded BLAS in the
    callbacks does not spin on the core the linear solver needs; a no-op without
    threadpoolctl. The loaded libraries are found once per process (about 20 ms), not at every
    solve (MPC solves every slot)."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - threadpoolctl comes with the solver extra
        import contextlib

        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with the solver extra
        return None
    return ThreadpoolController()


def solve_hindsight(
    config: ScenarioConfig,
    exogenous: ExogenousTrace | dict[str, Any],
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
    max_wall_time: float | None = None,
    warm_start: bool | np.ndarray = True,
    print_level: int = 0,
    options: dict[str, Any] | None = None,
    formulation: str = "balance",
    solver: str = "ipopt",
    in_transit: np.ndarray | None = None,
    service_history: tuple[Any, Any] | None = None,
) -> HindsightSolution:
    """Solve one episode with the future known; the optimum lower-bounds every policy's cost.

    Args:
        config: the scenario.
        exogenous: the episode's trace (``env.unwrapped.exogenous``), ``(T, N)`` arrays.
        tol: Ipopt's convergence tolerance (``tol``; default 1e-10, no extra iteration on
            paper-70 over Ipopt's 1e-8). The objective is then about 1e-7 (relative) above the
            exact optimum; ``options={"compl_inf_tol": 1e-9, "tol": 1e-12}`` tightens that at
            ~40 % more iterations (see ``docs/hindsight.md``). Clarabel ignores it (its own
            tolerances are settings, ``options={"tol_gap_rel": ...}``).
        max_iter: the solver's iteration limit.
        max_wall_time: wall-time limit in seconds (``None``: none).
        warm_start: ``True``: start from the env's own simulation of an order-up-to-band plan;
            ``False``: from zeros; a ``(T, N)`` array of orders: from the env's simulation of
            that plan (MPC passes its previous plan). Ipopt only: Clarabel, an interior-point
            method from its own start, takes none.
        print_level: the solver's verbosity (0 silent; Ipopt 5 is its default log, Clarabel
            prints its log at any level above 0).
        options: further solver options: Ipopt options such as ``{"linear_solver": "mumps"}``,
            or attributes of Clarabel's ``DefaultSettings``.
        formulation: ``"balance"`` (default; stock-balance rows, the smaller KKT system) or
            ``"cumulative"`` (the earlier cumulative form, kept as a reference). Both have the
            same optimum; see ``docs/hindsight.md``.
        solver: ``"ipopt"`` (default; cyipopt, the reference the docs and tests use) or
            ``"clarabel"`` (Clarabel's interior point on the same matrices: several times
            faster, same optimum to ~1e-7, and a dual bound). Both from the ``solver`` extra.
        in_transit: with a supply model, ``(K, N)`` units ordered before slot 0 that arrive at
            the start of slots ``0 .. K-1`` (K at most the longest lead time; what MPC passes
            for the pipeline it observes); ``None``: nothing in transit, as at an episode's start.
        service_history: ``(demand, filled)``, each ``(N,)``: units demanded and units served
            (from stock or by a substitute) before slot 0, so that the class fill-rate targets
            (``config.service_level``) hold over the whole episode (what MPC passes at a later
            slot); ``None``: nothing before, as at an episode's start.

    Returns:
        A :class:`HindsightSolution`. It never raises for a hard instance: an infeasible one,
        one that did not converge, or a solver failure is reported through ``status`` and
        ``message`` (check ``solution.success``). A trace that does not fit the config raises
        ``ValueError``; a missing solver package raises ``ImportError`` naming it.
    """
    trace = as_trace(exogenous)
    trace.check_shape(config.horizon, config.n_drugs)
    _check_solve(tol, max_iter, solver)
    if formulation not in _FORMULATIONS:
        raise ValueError(f"formulation = {formulation!r} is not one of {sorted(_FORMULATIONS)}")
    if in_transit is not None:
        in_transit = _check_in_transit(in_transit, config)
    start = time.perf_counter()
    history = _check_history(service_history, config)
    qp = _FORMULATIONS[formulation](config, trace, in_transit, history)
    plan = None if isinstance(warm_start, (bool, np.bool_)) else _check_plan(warm_start, config)
    z0 = None  # Clarabel takes no start
    if solver == "ipopt" and (plan is not None or warm_start):
        z0 = _warm_start(qp, plan)
    run = _run_solver(
        qp, solver, tol=tol, max_iter=max_iter, max_wall_time=max_wall_time, z0=z0,
        print_level=print_level, options=options, obj_scale=config.reward_scale * config.horizon,
        pivtol=_mumps_pivtol(config),
    )  # fmt: skip
    if run.z is None:
        return _failed(qp, solver, run.message, start)
    sol = _solution(qp, run.z, run.status, run.code, run.message, run.iterations, start, solver)
    shortfall = sum(sol.extra.get("service_shortfall", {}).values())
    if solver == "clarabel" and sol.success and shortfall <= 1e-9:
        # (a plan short of a target: the dual bounds the cost with the shortfall's price)
        object.__setattr__(sol, "dual_bound", run.dual + qp.const)
    return sol


def _check_in_transit(value: Any, config: ScenarioConfig) -> np.ndarray:
    """``in_transit`` as ``(K, N)`` float64, or ``ValueError`` naming what is wrong."""
    if config.supply is None:
        raise ValueError("in_transit needs a scenario with a supply model (lead times)")
    arr = np.asarray(value, dtype=np.float64)
    lead = config.supply.max_lead(config.n_drugs)
    if arr.ndim != 2 or arr.shape[1] != config.n_drugs or len(arr) > max(lead, 1):
        raise ValueError(
            f"in_transit has shape {arr.shape}; expected (K, {config.n_drugs}) with K <= {lead}, "
            "the longest lead time"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("in_transit must hold finite units >= 0")
    return arr


def _check_history(value: Any, config: ScenarioConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """``service_history`` as two ``(N,)`` float64 arrays, or ``ValueError`` naming it."""
    if value is None:
        return None
    try:
        demand, filled = (np.asarray(v, dtype=np.float64) for v in value)
    except (TypeError, ValueError):
        raise ValueError("service_history must be a pair (demand, filled) of (N,) arrays") from None
    n = config.n_drugs
    for name, arr in (("demand", demand), ("filled", filled)):
        if arr.shape != (n,) or not np.isfinite(arr).all() or (arr < 0).any():
            raise ValueError(
                f"service_history's {name} must be ({n},) finite units >= 0, got shape {arr.shape}"
            )
    return demand, filled


def _check_solve(tol: float, max_iter: int, solver: str) -> None:
    """``ValueError`` naming a bad tolerance, iteration limit or solver name."""
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol = {tol!r} must be > 0")
    if max_iter < 0:
        raise ValueError(f"max_iter = {max_iter!r} must be >= 0")
    if solver not in SOLVERS:
        raise ValueError(f"solver = {solver!r} is not one of {list(SOLVERS)}")


def _check_plan(plan: Any, config: ScenarioConfig) -> np.ndarray:
    """A warm-start plan as ``(T, N)`` float64 orders, or ``ValueError`` naming its shape."""
    arr = np.asarray(plan, dtype=np.float64)
    want = (config.horizon, config.n_drugs)
    if arr.shape != want or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"warm_start plan of shape {arr.shape} must be finite orders of shape {want} "
            "(horizon, n_drugs), or a bool"
        )
    return arr


@dataclass(frozen=True)
class _Run:
    """What a solver run gives back: the point (``None`` when it did not run to one), our
    status, the solver's code and message, its iterations and (Clarabel) dual objective."""

    z: np.ndarray | None
    status: str
    code: int | None
    message: str
    iterations: int
    dual: float = float("nan")


def _mumps_pivtol(config: ScenarioConfig) -> float:
    """MUMPS's pivot tolerance for Ipopt on ``config``'s QP: 1e-10 without a supply model or
    substitution, Ipopt's 1e-6 with either.

    With 1e-6, MUMPS delays tens of thousands of pivots late in a solve of the literal default
    (its largest front grows from 100 to 2,700 rows at 200 x 52, against at most 190 with
    1e-10), and the late iterations cost several times more: side by side, 500 x 52 took 126 s
    against 39 s with 1e-10, 200 x 52 ×1.15 longer, 70 x 30 the same (no pivot delayed); the
    same optimum to 1e-8 (``benchmarks/RESULTS.md``). With a supply model (lead times,
    recalls) a small tolerance accepts pivots too small to trust: on ``shortage`` and
    ``hospital`` Ipopt then stalls or stops short (1e-8 and 1e-7 too), so those keep 1e-6; with
    substitution (``pharma-atc``) 1e-10 took 81-86 iterations against 76-78. Ipopt raises the
    tolerance itself (up to ``mumps_pivtolmax``) when a solve turns out inaccurate;
    ``options={"mumps_pivtol": ...}`` overrides it."""
    return 1e-6 if config.supply is not None or config.substitution is not None else 1e-10


def _run_solver(
    qp: Any,
    solver: str,
    *,
    tol: float,
    max_iter: int,
    max_wall_time: float | None,
    z0: np.ndarray | None,
    print_level: int,
    options: dict[str, Any] | None,
    obj_scale: float,
    pivtol: float = 1e-6,
) -> _Run:
    """Solve the QP ``qp`` (a :class:`_QP`, or anything with its matrices and callbacks) with
    Ipopt or Clarabel under one BLAS thread. ``z0``: Ipopt's start (``None``: zeros; Clarabel
    takes none). ``obj_scale``: the objective's nominal size (Ipopt scales by its inverse);
    ``pivtol``: MUMPS's pivot tolerance (:func:`_mumps_pivtol`), Ipopt only.
    A missing solver package raises ``ImportError`` naming it."""
    if solver == "clarabel":
        try:
            import clarabel
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "solver='clarabel' needs clarabel: pip install 'druginv-gym[solver]'"
            ) from exc
        with _one_blas_thread():
            return _run_clarabel(clarabel, qp, max_iter, max_wall_time, print_level, options)
    try:
        import cyipopt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the hindsight solver needs cyipopt: pip install 'druginv-gym[solver]' "
            "(cyipopt-wheels), or conda install -c conda-forge cyipopt"
        ) from exc
    problem = cyipopt.Problem(
        n=qp.n, m=qp.m, problem_obj=qp, lb=qp.lb, ub=qp.ub, cl=qp.cl, cu=qp.cu
    )
    opts: dict[str, Any] = {
        "tol": tol,
        "max_iter": int(max_iter),
        "print_level": int(print_level),
        "sb": "yes",
        "jac_c_constant": "yes",
        "jac_d_constant": "yes",
        "hessian_constant": "yes",
        # From a feasible warm start a small fixed barrier parameter takes fewer iterations than
        # the adaptive rule (23 against 34 on paper-70, same optimum; at 500 x 52, mu_init 1e-6
        # takes 31 against 40 with 1e-5), and one back-solve per iteration is enough unless
        # Ipopt's residual test asks for refinement.
        "mu_strategy": "monotone",
        "mu_init": 1e-6,
        "min_refinement_steps": 0,
        "mumps_pivtol": pivtol,  # see _mumps_pivtol
        # Scale the objective to O(1): a slot's nominal spend is the reward scale.
        "obj_scaling_factor": 1.0 / obj_scale,
    }
    if max_wall_time is not None:
        opts["max_wall_time"] = float(max_wall_time)
    opts.update(options or {})
    try:
        for key, value in opts.items():
            problem.add_option(key, value)
        with _one_blas_thread():
            z, info = problem.solve(np.zeros(qp.n) if z0 is None else z0)
    except Exception as exc:  # cyipopt raises on bad options or callback failures
        return _Run(None, "error", None, f"{type(exc).__name__}: {exc}", qp.iterations)
    code = int(info["status"])
    msg = info["status_msg"]
    msg = msg.decode() if isinstance(msg, bytes) else str(msg)
    return _Run(z, _STATUS.get(code, "error"), code, msg, qp.iterations)


# Clarabel's SolverStatus -> our status.
_CLARABEL_STATUS = {
    "Solved": "optimal",
    "AlmostSolved": "acceptable",
    "PrimalInfeasible": "infeasible",
    "AlmostPrimalInfeasible": "infeasible",
    "DualInfeasible": "error",
    "AlmostDualInfeasible": "error",
    "MaxIterations": "not_converged",
    "MaxTime": "not_converged",
    "NumericalError": "not_converged",
    "InsufficientProgress": "not_converged",
}


def _run_clarabel(
    clarabel: Any,
    qp: Any,
    max_iter: int,
    max_wall_time: float | None,
    print_level: int,
    options: dict[str, Any] | None,
) -> _Run:
    """The QP of ``qp`` in Clarabel's conic form: ``min 1/2 z' P z + g' z`` subject to
    ``A z + s = b``, ``s`` in (zero cone for the equality rows) x (nonnegative cone for the
    inequality rows, each finite side once, and the finite variable bounds)."""
    big = _INF / 2
    # Variables fixed by their bounds (expiry before a drug's shelf life can end) are
    # substituted, not solved for: 12 % fewer variables and 11 % fewer rows at 70 x 30, about
    # 12 % less time, the same optimum.
    fixed = (qp.ub < big) & (qp.ub - qp.lb <= 0)
    free = ~fixed
    value = qp.lb[fixed]
    jac = qp.jac.tocsc()
    shift = jac[:, fixed] @ value
    cl = np.where(qp.cl > -big, qp.cl - shift, qp.cl)
    cu = np.where(qp.cu < big, qp.cu - shift, qp.cu)
    jac = jac[:, free].tocsr()
    lb, ub, g, q = qp.lb[free], qp.ub[free], qp.g[free], qp.q[free]
    eq = cl == cu
    upper = ~eq & (cu < big)
    lower = ~eq & (cl > -big)
    eye = sp.identity(int(free.sum()), format="csr")
    var_up, var_lo = ub < big, lb > -big
    A = sp.vstack([jac[eq], jac[upper], -jac[lower], eye[var_up], -eye[var_lo]]).tocsc()
    b = np.concatenate([cu[eq], cu[upper], -cl[lower], ub[var_up], -lb[var_lo]])
    n_nonneg = int(upper.sum() + lower.sum() + var_up.sum() + var_lo.sum())
    cones = [clarabel.ZeroConeT(int(eq.sum())), clarabel.NonnegativeConeT(n_nonneg)]
    P = sp.diags(2.0 * q, format="csc")
    fixed_cost = float(qp.g[fixed] @ value + qp.q[fixed] @ (value * value))
    settings = clarabel.DefaultSettings()
    settings.verbose = print_level > 0
    settings.max_iter = int(max_iter)
    # Without iterative refinement of each KKT solve a solve takes 20-30 % less time, the
    # iterations and the optimum unchanged (70 x 30: 0.55-0.62 s against 0.70-0.82 s, 36
    # iterations each; 500 x 52: 14.4 s against 20.0 s, 48 against 47 iterations, objectives
    # within 1e-9); options={"iterative_refinement_enable": True} restores it.
    settings.iterative_refinement_enable = False
    if max_wall_time is not None:
        settings.time_limit = float(max_wall_time)
    try:
        for key, value in (options or {}).items():
            if not hasattr(settings, key):
                raise ValueError(f"Clarabel has no setting {key!r}")
            setattr(settings, key, value)
        result = clarabel.DefaultSolver(P, g, A, b, cones, settings).solve()
    except Exception as exc:  # bad settings, or Clarabel's own errors
        return _Run(None, "error", None, f"{type(exc).__name__}: {exc}", 0)
    name = str(result.status).rsplit(".", 1)[-1]
    z = np.empty(qp.n)
    z[free] = np.asarray(result.x, dtype=np.float64)
    z[fixed] = value
    return _Run(
        z, _CLARABEL_STATUS.get(name, "error"), None, name, int(result.iterations),
        float(result.obj_val_dual) + fixed_cost,
    )  # fmt: skip


def _failed(qp: _QP, solver: str, message: str, start: float) -> HindsightSolution:
    """The solution of a solve that did not run to a point (status ``"error"``)."""
    T, N = qp.T, qp.N
    return HindsightSolution(
        orders=np.zeros((T, N)),
        objective=float("nan"),
        costs={},
        stock=np.zeros((T, N)),
        status="error",
        status_code=None,
        message=message,
        iterations=qp.iterations,
        solve_seconds=time.perf_counter() - start,
        n_variables=qp.n,
        n_constraints=qp.m,
        solver=solver,
    )


def _solution(
    qp: _QP, z: np.ndarray, status: str, code: int | None, message: str, iterations: int,
    start: float, solver: str,
) -> HindsightSolution:  # fmt: skip
    """The plan at the solver's point ``z``, with its objective and its replayed cost."""
    orders, stock = qp.plan(z)
    seconds = time.perf_counter() - start
    point = status != "error"  # after an error z is no point the solver iterated on
    extra: dict[str, Any] = {}
    objective = qp.model_cost(z) if point else float("nan")  # no price of a shortfall
    targets = qp.config.class_targets()
    if targets and point:
        extra["service_shortfall"] = {
            label: float(u) for (label, _q, _m), u in zip(targets, qp.shortfall(z), strict=True)
        }
    return HindsightSolution(
        orders=orders,
        extra=extra,
        objective=objective,
        costs=qp.costs(z) if point else {},
        stock=stock,
        status=status,
        status_code=code,
        message=message,
        iterations=iterations,
        solve_seconds=seconds,
        n_variables=qp.n,
        n_constraints=qp.m,
        replayed_cost=_simulate(qp, orders).cost if point else float("nan"),
        solver=solver,
    )
