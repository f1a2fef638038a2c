"""Replaying hindsight plans through an env with the policy protocol."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from druginv_gym.dynamics import safe_divide
from druginv_gym.policies import ObservationReader, orders_to_action
from druginv_gym.solvers.hindsight import HindsightSolution, solve_hindsight

__all__ = ["HindsightOracle", "HindsightPolicy"]


class HindsightPolicy:
    """Replays one :class:`HindsightSolution`'s orders, slot by slot.

    The slot is read from the observation (``time_left``), so the policy works on every id.
    On the Box id the action is float64, so the env receives the planned units to the last
    digit (float32 would round them by ~1e-7); on the discrete ids orders are rounded to the
    nearest level, so the replay is approximate there.
    """

    def __init__(self, env: gym.Env, solution: HindsightSolution) -> None:
        self.reader = ObservationReader(env)
        cfg = self.reader.config
        orders = np.asarray(solution.orders, dtype=np.float64)
        if orders.shape != (cfg.horizon, cfg.n_drugs):
            raise ValueError(
                f"solution.orders has shape {orders.shape}; the env needs "
                f"(horizon, n_drugs) = ({cfg.horizon}, {cfg.n_drugs})"
            )
        self.solution = solution
        self.orders = orders

    def reset(self) -> None:
        """Nothing to forget: the plan is fixed."""

    def act(self, obs: np.ndarray) -> Any:
        view = self.reader.read(obs)
        cfg = self.reader.config
        orders = self.orders[min(view.t, cfg.horizon - 1)]
        if self.reader.mode == "box":
            span = cfg.refill_hi - cfg.refill_lo
            frac = safe_divide(orders - cfg.refill_lo, span, where=span > 0, fill=0.0)
            return np.clip(frac, 0.0, 1.0)
        return orders_to_action(orders, cfg, self.reader.mode, view.current)


class HindsightOracle:
    """At each ``reset()`` solves the current episode with its future known, then replays it.

    This policy reads the env's trace (``env.unwrapped.exogenous``) on purpose: it is the
    hindsight-optimal yardstick, not an online policy. ``reset()`` must follow ``env.reset()``
    (as ``druginv_gym.evaluate`` does). ``solutions`` keeps every episode's solution.
    """

    def __init__(self, env: gym.Env, **solver_options: Any) -> None:
        self.env = env
        self.solver_options = solver_options
        self.solutions: list[HindsightSolution] = []
        self._replay: HindsightPolicy | None = None

    def reset(self) -> None:
        u = self.env.unwrapped
        solution = solve_hindsight(u.config, u.exogenous, **self.solver_options)
        if not solution.success:
            raise RuntimeError(f"hindsight solve failed ({solution.status}): {solution.message}")
        self.solutions.append(solution)
        self._replay = HindsightPolicy(self.env, solution)

    def act(self, obs: np.ndarray) -> Any:
        if self._replay is None:
            raise RuntimeError("call reset() after env.reset() before act()")
        return self._replay.act(obs)
