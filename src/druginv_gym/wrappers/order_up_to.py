"""An action parameterisation third-party agents learn with: order-up-to levels in weeks of
expected demand.

The box id's action is a fraction of each drug's refill range, so that "do nothing" and "refill
to the top" are the corners of the box; an agent from a general-purpose library, starting from
a Gaussian around 0, first learns to order nothing and rarely recovers (SB3's PPO at 10 drugs,
20,000 steps, did worse than over-provisioning). :class:`OrderUpToAction` lets the action say
how much stock to hold instead: ``a_i`` in ``[-1, 1]`` (symmetric, as Gaussian policies
expect; SB3 recommends it) is the order-up-to level ``L_i = (a_i + 1) / 2 * max_cover * D_i``
(``D_i`` the scenario's mean demand per slot, ``max_cover`` slots of it, 4 by default), and
the wrapper orders ``max(L_i - stock_i, 0)`` units, the env's own limits applying after. The
middle of the box, where such agents start, is then two weeks of demand: a sensible policy
from the first episode on.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from druginv_gym.info import require_full_info
from druginv_gym.policies import ObservationReader, orders_to_action

__all__ = ["OrderUpToAction"]


class OrderUpToAction(gym.ActionWrapper):
    """Box actions as order-up-to levels in slots of mean demand (see the module).

    Args:
        env: a ``DrugRefill-v0`` env (box actions), wrappers allowed.
        max_cover: the level at ``a_i = 1``, in slots of the drug's mean demand (> 0).
    """

    def __init__(self, env: gym.Env, max_cover: float = 4.0) -> None:
        super().__init__(env)
        if not (np.isfinite(max_cover) and max_cover > 0):
            raise ValueError(f"max_cover = {max_cover!r} must be a finite number > 0")
        self.reader = ObservationReader(env)
        require_full_info(env, "OrderUpToAction")  # it reads info["stock"]
        if self.reader.mode != "box":
            raise ValueError(
                f"OrderUpToAction needs the box id (DrugRefill-v0), not mode {self.reader.mode!r}"
            )
        self.config = self.reader.config
        self.max_cover = float(max_cover)
        self._scale = self.max_cover * np.asarray(self.config.demand_mean, dtype=np.float64)
        n = self.config.n_drugs
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n,), dtype=np.float32)
        self._stock: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._stock = np.asarray(info["stock"], dtype=np.float64)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        self._stock = np.asarray(info["stock"], dtype=np.float64)
        return obs, reward, terminated, truncated, info

    def levels(self, action: Any) -> np.ndarray:
        """The order-up-to levels (units) of ``action``; ``ValueError`` for a bad one."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape or not np.all(np.isfinite(a)):
            raise ValueError(
                f"action of shape {a.shape} must be finite, of shape {self.action_space.shape}"
            )
        return (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * self._scale

    def action(self, action: Any) -> np.ndarray:
        if self._stock is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        orders = np.maximum(self.levels(action) - self._stock, 0.0)
        return orders_to_action(orders, self.config, "box")
