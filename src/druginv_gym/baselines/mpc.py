"""Rolling-horizon model-predictive control: the hindsight QP re-solved every slot on forecasts.

Each slot the policy builds the QP of :func:`druginv_gym.solvers.solve_hindsight` over the
remaining horizon (or a window of it) from what it can know at decision time, solves it, orders
the plan's first slot, and repeats at the next slot. What it puts in the QP:

* **stock**: the observed stock less what is expected to expire unused this slot (the
  baselines' usable stock ``U``), taken as fresh. The observation shows the stock and its
  expiring part, not its whole age profile, so later expiry of the units on hand is not
  modelled (an approximation: it can only make the plan hold more than it should);
* **demand**: a forecaster's forecast (any of :mod:`druginv_gym.forecasting`, fitted on the
  demand seen so far this episode; the scenario's nominal mean before any);
* **prices**: the observed price for this slot and its expectation for the later ones
  (``price_level`` times the price process's expected premium factor), the observed storage
  rate this slot and the process's mean later;
* **budgets and storage**: the remaining total budget (observed), the per-drug budgets of the
  slots ahead, the scenario's capacities;
* **supply** (a scenario with a supply model): the observed pipeline, due as scheduled; each
  drug's lead time without delay; no recall; the expected fill of each slot ahead given the
  observed and announced fills (``SupplyModel.expected_fill``; :class:`StochasticMPC` draws
  whole outages instead, ``SupplyModel.sample_fill``).

* **service levels** (``ScenarioConfig.service_level``): each class's fill-rate target over
  the episode: the demand seen so far and an estimate of the units filled so far
  (:meth:`MPC._service_history`), then the forecast demand of the planned window. A target
  that cannot be met is missed by as little as the plan can (``docs/hindsight.md``,
  "Classes");
* **substitution**: as the hindsight solver models it (``docs/hindsight.md``, "Classes").

If a solve fails (or its solver is not installed) the slot falls back to the base-stock rule
``max(C_lo + 1.5 D - U, 0)``; ``policy.failures`` counts those slots and ``policy.last_status``
names the last solve's status.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from druginv_gym.policies import (
    ObservationView,
    OrderPolicy,
    check_min_history,
    policy_forecaster,
)

__all__ = ["MPC", "SAMPLERS", "StochasticMPC", "TrueFuture"]


class MPC(OrderPolicy):
    """Rolling-horizon MPC on the hindsight QP with forecast demand (see the module).

    Args:
        env: the env the policy acts in (any DR2O id).
        window: slots planned ahead, this one included (``None``: to the end of the horizon).
        forecaster: a forecaster name of :mod:`druginv_gym.forecasting`, the path of a saved
            one, or an instance with ``fit(series)`` and ``predict(history, horizon)``. A name
            is fitted each slot on the demands seen so far this episode; a path or an instance
            is used as it is (fitted beforehand, e.g. on the scenario's training data with
            :func:`druginv_gym.forecasting.fit_forecaster`).
        solver: the QP backend, ``"clarabel"`` (default, fast) or ``"ipopt"``.
        min_history: demands observed before the forecaster is used (the nominal mean before).
        reuse_plan: with ``solver="ipopt"``, start each solve from the previous slot's plan
            shifted by a slot (replayed from the new stock) instead of Ipopt's usual start, the
            env's simulation of an order-up-to-band plan. Off by default: on the default
            scenario it took 22 % more iterations (1,189 against 969-976 an episode, window 8,
            seeds 0-1, same orders). Clarabel takes no start.
    """

    def __init__(
        self,
        env: gym.Env,
        window: int | None = None,
        forecaster: Any = "moving_average",
        solver: str = "clarabel",
        min_history: int = 1,
        reuse_plan: bool = False,
    ) -> None:
        from druginv_gym.solvers.hindsight import SOLVERS

        if window is not None and (
            isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1
        ):
            raise ValueError(f"window = {window!r} must be an integer >= 1 or None")
        if solver not in SOLVERS:
            raise ValueError(f"solver = {solver!r} is not one of {list(SOLVERS)}")
        self.window = None if window is None else int(window)
        self.forecaster, self._refit = policy_forecaster(forecaster)
        self.solver = solver
        self.min_history = check_min_history(min_history)
        if not isinstance(reuse_plan, (bool, np.bool_)):
            raise ValueError(f"reuse_plan = {reuse_plan!r} must be a bool")
        self.reuse_plan = bool(reuse_plan)
        super().__init__(env)
        # the price and storage-rate expectations beyond the observed slot (the config is fixed)
        self._base, self._premium, self._rate = self._expected_prices()

    def reset(self) -> None:
        super().reset()
        self.failures = 0
        self.iterations = 0
        n = self.config.n_drugs
        self._asked, self._filled = np.zeros(n), np.zeros(n)
        self._available: np.ndarray | None = None
        self.last_status = ""
        self._plan: np.ndarray | None = None

    def _forecast(self, horizon: int) -> np.ndarray:
        """(horizon, N) demand forecast from the demands seen so far."""
        return self.forecast(self.forecaster, horizon, self.min_history, self._refit)

    def _expected_prices(self) -> tuple[np.ndarray, np.ndarray, float | None]:
        """``(base, premium)`` expectations per drug and the mean storage rate (``None``:
        unknown; the observed one is used)."""
        c = self.config
        price = c.price
        prob = float(getattr(price, "premium_prob", 0.0))
        frac = 0.5 * (getattr(price, "premium_low", 0.0) + getattr(price, "premium_high", 0.0))
        base = np.asarray(c.price_level, dtype=np.float64)
        lo, hi = getattr(c.storage, "low", None), getattr(c.storage, "high", None)
        rate = None if lo is None or hi is None else 0.5 * (float(lo) + float(hi))
        return base, base * prob * frac, rate

    def _horizon(self, t: int) -> int:
        """Slots planned at slot ``t``: the rest of the episode, or the window."""
        horizon = self.config.horizon - t
        return horizon if self.window is None else min(horizon, self.window)

    def _prices(self, view: ObservationView, horizon: int) -> tuple[np.ndarray, ...]:
        """``(base, premium, rate)``, each ``(horizon, N)``: the expectations, with this slot's
        observed price and storage rate in row 0."""
        n = self.config.n_drugs
        base_t = np.tile(self._base, (horizon, 1))
        premium_t = np.tile(self._premium, (horizon, 1))
        rate = self._rate
        rates = np.tile(view.storage_rate if rate is None else np.full(n, rate), (horizon, 1))
        self._observed(view, base_t, premium_t, rates)
        return base_t, premium_t, rates

    def _observed(
        self, view: ObservationView, base: np.ndarray, premium: np.ndarray, rates: np.ndarray
    ) -> None:
        """Put this slot's observed prices in row 0 of ``(..., horizon, N)`` arrays, in place.

        The price an order pays is observed: with the exogenous premium that is the whole price
        (its premium known, 0 here), with the emergency one the base price (the premium that
        unmet demand would pay stays as it was: expected, or sampled).
        """
        base[..., 0, :] = view.price
        if self.config.premium_mode == "exogenous":
            premium[..., 0, :] = 0.0
        rates[..., 0, :] = view.storage_rate

    def _subproblem(
        self, view: ObservationView, horizon: int, demand0: np.ndarray
    ) -> tuple[Any, np.ndarray]:
        """``(scenario, usable)``: the scenario of the QP solved at ``view``'s slot (the usable
        stock as the initial stock, the slots ahead's budgets, the remaining total budget) and
        the usable stock itself."""
        c, t = self.config, view.t
        usable = np.maximum(self.usable(view, demand0), 0.0)
        # with a supply model the pipeline arrives as scheduled (``_supply``), not now
        on_hand = usable if c.supply is None else np.maximum(self.usable_stock(view, demand0), 0)
        return c.replace(
            horizon=horizon,
            initial_stock=np.minimum(on_hand, c.band_hi) if c.hard_capacity else on_hand,
            drug_budget=c.drug_budget[t : t + horizon],
            total_budget=max(view.budget_left, 0.0),
        ), usable

    def _supply(self, view: ObservationView, horizon: int) -> tuple[dict[str, np.ndarray], Any]:
        """``(trace fields, in_transit)`` of a supply model for the QP at ``view``'s slot:
        the expected fills given the observed (and announced) ones, the drugs' lead times
        without delay, no recall, and the observed pipeline by arrival slot; ``({}, None)``
        without a supply model."""
        model, n = self.config.supply, self.config.n_drugs
        if model is None:
            return {}, None
        fill = model.expected_fill(n, horizon, view.fill_last if view.t else None, view.fill_ahead)
        lead = np.broadcast_to(model.lead_times(n).astype(np.float64), (horizon, n)).copy()
        in_transit = (
            view.arriving[:horizon] if view.arriving is not None and len(view.arriving) else None
        )
        return {"fill": fill, "lead_time": lead, "recall": np.zeros((horizon, n))}, in_transit

    def _fallback(self, status: str, usable: np.ndarray) -> np.ndarray:
        """The base-stock rule's orders after a failed solve (counted, status kept)."""
        self.failures += 1
        self.last_status = status
        self._plan = None
        return np.maximum(self.config.band_lo + 1.5 * self.mean_demand() - usable, 0.0)

    def _start(self, horizon: int) -> np.ndarray | bool:
        """Ipopt's warm start: with ``reuse_plan``, the previous plan shifted by a slot (its
        last slot repeated to fill a window); otherwise, or before there is one, the default."""
        plan = self._plan
        if not self.reuse_plan or plan is None or len(plan) < 2:
            return True
        ahead = plan[1 : 1 + horizon]
        if len(ahead) < horizon:
            ahead = np.vstack([ahead, np.repeat(ahead[-1:], horizon - len(ahead), axis=0)])
        return ahead

    def orders(self, view: ObservationView) -> np.ndarray:
        from druginv_gym.exogenous import ExogenousTrace
        from druginv_gym.solvers import solve_hindsight

        horizon = self._horizon(view.t)
        demand = self._forecast(horizon)
        sub, usable = self._subproblem(view, horizon, demand[0])
        base_t, premium_t, rates = self._prices(view, horizon)
        supply, in_transit = self._supply(view, horizon)
        trace = ExogenousTrace(
            demand=demand, base_price=base_t, premium=premium_t, storage_rate=rates, **supply
        )

        history = self._service_history(view)

        sol, fallback = self._solved(
            lambda: solve_hindsight(
                sub, trace, solver=self.solver, warm_start=self._start(horizon),
                in_transit=in_transit, service_history=history,
            ),
            usable,
        )  # fmt: skip
        if sol is None:
            return self._remember(view, fallback)
        self._plan = sol.orders
        return self._remember(view, sol.orders[0])

    def _service_history(self, view: ObservationView) -> tuple[np.ndarray, np.ndarray] | None:
        """``(demand, filled)`` so far this episode for the class targets (``None`` without
        targets). The demand is observed; the units filled in a slot are estimated as
        ``min(demand, units available)``, the units available being the stock, the arrivals
        due and the order (with no lead time) of :meth:`_remember` (the observation does not
        show unmet demand; what substitutes served is not counted)."""
        if not self.config.class_targets():
            return None
        if view.t > 0 and self._available is not None:
            self._asked += view.last_demand
            self._filled += np.minimum(view.last_demand, self._available)
        return self._asked.copy(), self._filled.copy()

    def _remember(self, view: ObservationView, orders: np.ndarray) -> np.ndarray:
        """Keep what is available to serve this slot's demand (:meth:`_service_history`);
        returns ``orders``."""
        c = self.config
        if c.class_targets():
            available = view.stock.copy()
            if view.arriving is not None and len(view.arriving):
                available += view.arriving[0]
            now = (
                np.ones(c.n_drugs, dtype=bool)
                if c.supply is None
                else c.supply.lead_times(c.n_drugs) == 0
            )
            self._available = available + np.where(now, np.clip(orders, c.refill_lo, None), 0.0)
        return orders

    def _solved(self, solve: Any, usable: np.ndarray) -> tuple[Any, np.ndarray | None]:
        """``(solution, None)`` when ``solve()`` succeeded (its status and iterations kept),
        else ``(None, the fallback rule's orders)``, the failure counted."""
        try:
            sol = solve()
        except (ImportError, ValueError) as exc:
            return None, self._fallback(f"error: {exc}", usable)
        if not sol.success:
            return None, self._fallback(sol.status, usable)
        self.last_status = sol.status
        self.iterations += sol.iterations
        return sol, None


class StochasticMPC(MPC):
    """Rolling-horizon two-stage stochastic program over K sampled futures (policy ``saa``).

    Each slot it samples ``n_scenarios`` futures of the remaining horizon (or window), solves
    :func:`druginv_gym.solvers.solve_two_stage` on them (one order for this slot, shared by all
    futures; each future's later orders its own recourse) and orders the shared first slot.
    What it puts in each future, beside MPC's stock, budgets and capacities:

    * **this slot's prices**: observed, as MPC;
    * **later prices and storage rates**: drawn from the scenario's own processes;
    * **demand** (``sampler``): ``"process"`` (default) draws it from the scenario's demand
      process: the exact law of the future for the paper's independent demand, as the
      stochastic program of a benchmark usually knows it; for a process with memory
      (``seasonal``'s phase, ``pharma``'s replayed weeks) the unconditional law, which ignores
      what the history shows; for replayed real demand (``pharma``), the weeks of its
      *training* split, whichever split is played (sampling the held-out weeks would look
      ahead). ``"forecast"``: the forecaster's forecast plus one-step errors
      drawn from those it made so far this episode (whole vectors across drugs, with
      replacement); the process's draws until it has made ``min_residuals`` of them.

    The futures are drawn from ``numpy.random.default_rng(seed)`` re-seeded at every reset, so
    an episode's decisions do not depend on the episodes played before.

    Args:
        env, window, forecaster, solver, min_history: as :class:`MPC`.
        n_scenarios: the number K of sampled futures (>= 1).
        sampler: ``"process"`` or ``"forecast"`` (see above).
        seed: seed of the futures' draws.
        min_residuals: forecast errors needed before ``sampler="forecast"`` uses them.
    """

    def __init__(
        self,
        env: gym.Env,
        n_scenarios: int = 8,
        window: int | None = None,
        sampler: str = "process",
        forecaster: Any = "moving_average",
        solver: str = "clarabel",
        seed: int = 0,
        min_history: int = 1,
        min_residuals: int = 4,
    ) -> None:
        for name, value in (("n_scenarios", n_scenarios), ("min_residuals", min_residuals)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} = {value!r} must be an integer >= 1")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler = {sampler!r} is not one of {list(SAMPLERS)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed = {seed!r} must be an integer >= 0")
        self.n_scenarios = int(n_scenarios)
        self.sampler = sampler
        self.seed = int(seed)
        self.min_residuals = int(min_residuals)
        super().__init__(env, window, forecaster, solver, min_history)
        self._sampled = _known_law(self.config)

    def reset(self) -> None:
        super().reset()
        self._rng = np.random.default_rng(self.seed)
        self._residuals: list[np.ndarray] = []
        self._last_forecast: np.ndarray | None = None

    def _futures(self, view: ObservationView, horizon: int) -> list[Any]:
        """The ``n_scenarios`` sampled traces of the slots ahead (row 0 this slot)."""
        from druginv_gym.exogenous import ExogenousTrace, sample_exogenous

        t, k = view.t, self.n_scenarios
        draws = {
            name: value[:, t : t + horizon].copy()
            for name, value in sample_exogenous(self._sampled, self._rng, k).items()
        }
        if self.sampler == "forecast":
            if t > 0 and self._last_forecast is not None:
                self._residuals.append(view.last_demand - self._last_forecast)
            forecast = self._forecast(horizon)
            self._last_forecast = forecast[0]
            if len(self._residuals) >= self.min_residuals:
                pool = np.stack(self._residuals)
                pick = self._rng.integers(0, len(pool), size=(k, horizon))
                draws["demand"] = np.maximum(forecast[None] + pool[pick], 0.0)
        self._observed(view, draws["base_price"], draws["premium"], draws["storage_rate"])
        model = self.config.supply
        if model is not None:  # outages drawn from the chains given what is observed
            n, last = self.config.n_drugs, view.fill_last if t else None
            draws["fill"] = model.sample_fill(self._rng, k, n, horizon, last, view.fill_ahead)
            # this slot's order is one decision: every future fills it as expected
            draws["fill"][:, 0] = model.expected_fill(n, 1, last, view.fill_ahead)[0]
        return [ExogenousTrace(**{n: v[j] for n, v in draws.items()}) for j in range(k)]

    def orders(self, view: ObservationView) -> np.ndarray:
        from druginv_gym.solvers import solve_two_stage

        horizon = self._horizon(view.t)
        futures = self._futures(view, horizon)
        # what is expected to expire unused this slot, against the futures' mean demand
        mean0 = np.mean([f.demand[0] for f in futures], axis=0)
        sub, usable = self._subproblem(view, horizon, mean0)
        in_transit = self._supply(view, horizon)[1]
        history = self._service_history(view)
        sol, fallback = self._solved(
            lambda: solve_two_stage(
                sub, futures, solver=self.solver, in_transit=in_transit,
                service_history=history,
            ),
            usable,
        )  # fmt: skip
        return self._remember(view, fallback if sol is None else sol.orders)


class TrueFuture:
    """A forecaster that looks ahead: the episode's true demand, read from ``env``'s trace.

    Not a policy input to trust: it is the *upper reference* of a forecast's value (MPC with
    a perfect demand forecast; prices stay forecast as MPC forecasts them). ``predict(history,
    horizon)`` returns the demand of the slots after the ``history.shape[1]`` seen, the last
    slot repeated past the horizon. Give it to :class:`MPC` or :class:`BaseStock` of the same
    env; ``fit`` does nothing.
    """

    min_history = 0
    looks_ahead = True

    def __init__(self, env: gym.Env) -> None:
        self.env = env

    def fit(self, series: np.ndarray) -> TrueFuture:
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        demand = self.env.unwrapped.exogenous.demand  # (T, N)
        t = np.shape(history)[-1]
        rows = np.minimum(np.arange(t, t + horizon), demand.shape[0] - 1)
        return demand[rows].T.copy()


def _known_law(config: Any) -> Any:
    """The config whose processes the stochastic program samples: ``config`` itself, but
    replayed real demand replays its training split (the past), never the split played."""
    from druginv_gym.exogenous import ReplayDemand

    d = config.demand
    if isinstance(d, ReplayDemand) and d.split != "train":
        return config.replace(demand=d.training())
    return config


#: The demand samplers of :class:`StochasticMPC`.
SAMPLERS = ("process", "forecast")
