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
  slots ahead, the scenario's capacities.

If a solve fails (or its solver is not installed) the slot falls back to the base-stock rule
``max(C_lo + 1.5 D - U, 0)``; ``policy.failures`` counts those slots and ``policy.last_status``
names the last solve's status.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from druginv_gym.policies import ObservationView, OrderPolicy

__all__ = ["MPC"]


class MPC(OrderPolicy):
    """Rolling-horizon MPC on the hindsight QP with forecast demand (see the module).

    Args:
        env: the env the policy acts in (any DR2O id).
        window: slots planned ahead, this one included (``None``: to the end of the horizon).
        forecaster: a forecaster name of :mod:`druginv_gym.forecasting` or an instance with
            ``fit(series)`` and ``predict(history, horizon)``.
        solver: the QP backend, ``"clarabel"`` (default, fast) or ``"ipopt"``.
        min_history: demands observed before the forecaster is used (the nominal mean before).
    """

    def __init__(
        self,
        env: gym.Env,
        window: int | None = None,
        forecaster: Any = "moving_average",
        solver: str = "clarabel",
        min_history: int = 1,
    ) -> None:
        from druginv_gym.forecasting import make_forecaster
        from druginv_gym.solvers.hindsight import SOLVERS

        if window is not None and (
            isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1
        ):
            raise ValueError(f"window = {window!r} must be an integer >= 1 or None")
        if solver not in SOLVERS:
            raise ValueError(f"solver = {solver!r} is not one of {list(SOLVERS)}")
        if isinstance(min_history, bool) or not isinstance(min_history, int) or min_history < 1:
            raise ValueError(f"min_history = {min_history!r} must be an integer >= 1")
        self.window = None if window is None else int(window)
        self.forecaster = make_forecaster(forecaster) if isinstance(forecaster, str) else forecaster
        self.solver = solver
        self.min_history = min_history
        super().__init__(env)
        # the price and storage-rate expectations beyond the observed slot (the config is fixed)
        self._base, self._premium, self._rate = self._expected_prices()

    def reset(self) -> None:
        super().reset()
        self.failures = 0
        self.last_status = ""

    def _forecast(self, horizon: int) -> np.ndarray:
        """(horizon, N) demand forecast from the demands seen so far."""
        hist = self.history
        mean = np.asarray(self.config.demand_mean, dtype=np.float64)
        if len(hist) < max(self.min_history, getattr(self.forecaster, "min_history", 1)):
            return np.broadcast_to(mean, (horizon, mean.shape[0])).copy()
        series = hist.T  # (N, slots)
        self.forecaster.fit(series)
        return np.maximum(np.asarray(self.forecaster.predict(series, horizon)).T, 0.0)

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

    def orders(self, view: ObservationView) -> np.ndarray:
        from druginv_gym.exogenous import ExogenousTrace
        from druginv_gym.solvers import solve_hindsight

        c = self.config
        t = view.t
        horizon = c.horizon - t
        if self.window is not None:
            horizon = min(horizon, self.window)
        n = c.n_drugs
        demand = self._forecast(horizon)
        usable = np.maximum(self.usable(view, demand[0]), 0.0)
        base, premium, rate = self._base, self._premium, self._rate
        base_t = np.tile(base, (horizon, 1))
        premium_t = np.tile(premium, (horizon, 1))
        # this slot: the price an order pays is observed; with the exogenous premium that is
        # the whole price (its premium known), with the emergency one the base price
        if c.premium_mode == "exogenous":
            base_t[0], premium_t[0] = view.price, 0.0
        else:
            base_t[0] = view.price
        rates = np.tile(view.storage_rate if rate is None else np.full(n, rate), (horizon, 1))
        rates[0] = view.storage_rate
        sub = c.replace(
            horizon=horizon,
            initial_stock=np.minimum(usable, c.band_hi) if c.hard_capacity else usable,
            drug_budget=c.drug_budget[t : t + horizon],
            total_budget=max(view.budget_left, 0.0),
        )
        trace = ExogenousTrace(
            demand=demand, base_price=base_t, premium=premium_t, storage_rate=rates
        )
        try:
            sol = solve_hindsight(sub, trace, solver=self.solver)
        except (ImportError, ValueError) as exc:
            self.last_status = f"error: {exc}"
            sol = None
        if sol is None or not sol.success:
            self.failures += 1
            if sol is not None:
                self.last_status = sol.status
            d = self.mean_demand()
            return np.maximum(c.band_lo + 1.5 * d - usable, 0.0)
        self.last_status = sol.status
        return sol.orders[0]
