"""Classic refilling rules, each deciding from the observation alone.

Notation (per drug, units): ``D`` the average demand observed so far (the scenario's nominal
mean before the first observation), ``U = stock - max(expiring - D, 0)`` the usable stock
(units expected to expire unused are not counted), ``[C_lo, C_hi]`` the safe band. Every
rule's equation is in ``docs/baselines.md``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from druginv_gym.dynamics import band_penalty
from druginv_gym.policies import ObservationView, OrderPolicy

__all__ = ["SS", "BaseStock", "MaxMin", "OverProvisioning", "SkiRental"]


def _nonneg(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value!r} must be finite and >= 0")
    return value


class OverProvisioning(OrderPolicy):
    """Cover the average past use of the next ``cover`` slots plus a safety ``margin``.

    ``order = max((1 + margin) * cover * D - U, 0)``: stock after arrival covers ``cover``
    slots of average demand with ``margin`` to spare, whatever expires unused not counted. The
    paper's "higher cost" strategy: it rarely runs short and pays for it in stock.

    Args:
        env: the env the policy acts in (any DR2O id).
        cover: slots of demand to cover (>= 1 slot, may be fractional).
        margin: relative safety margin (0.3 = 30 % extra).
        window: average over the last ``window`` observed slots (``None``: all of them).
    """

    def __init__(
        self, env: gym.Env, cover: float = 2.0, margin: float = 0.3, window: int | None = None
    ) -> None:
        self.cover = _nonneg("cover", cover)
        self.margin = _nonneg("margin", margin)
        if self.cover == 0:
            raise ValueError("cover = 0.0 must be > 0 slots")
        if window is not None and window < 1:
            raise ValueError(f"window = {window!r} must be >= 1 or None")
        self.window = window
        super().__init__(env)

    def orders(self, view: ObservationView) -> np.ndarray:
        demand = self.mean_demand(self.window)
        target = (1.0 + self.margin) * self.cover * demand
        return np.maximum(target - self.usable(view, demand), 0.0)


class MaxMin(OrderPolicy):
    """When stock falls under the min level, refill up to the max level.

    ``order = max_level - stock`` if ``stock < min_level`` else 0, with ``min_level =
    min_fraction * C_hi`` (default 45 % of the band top) and ``max_level = max_fraction *
    C_hi`` (default the band top).
    """

    def __init__(self, env: gym.Env, min_fraction: float = 0.45, max_fraction: float = 1.0) -> None:
        self.min_fraction = _nonneg("min_fraction", min_fraction)
        self.max_fraction = _nonneg("max_fraction", max_fraction)
        if self.min_fraction > self.max_fraction:
            raise ValueError(
                f"min_fraction = {min_fraction!r} is above max_fraction = {max_fraction!r}"
            )
        super().__init__(env)
        self.min_level = self.min_fraction * self.config.band_hi
        self.max_level = self.max_fraction * self.config.band_hi

    def orders(self, view: ObservationView) -> np.ndarray:
        return np.where(view.stock < self.min_level, self.max_level - view.stock, 0.0)


class SkiRental(OrderPolicy):
    """The online rent-or-buy rule (deterministic, competitive ratio ``c = 2 - 1/T``).

    Per drug, each slot is either *rented* or *bought*:

    * **rent**: order just this slot's expected use on top of the band bottom, ``q_rent =
      max(C_lo + D - U, 0)``, and run lean; the rent paid is the expected cost of running lean,
      estimated on the demands seen so far (``d`` over the history; the nominal mean before
      any)::

          rent = mean_d[ shortage_cost * max(d - (U + q_rent), 0) + phi(U + q_rent - d) ]

    * **buy**: order up to the band top for after this slot's demand, ``q_buy = max(C_hi + D -
      U, 0)``, at today's price; the price of buying is the extra money it commits,
      ``buy = p(t) * (q_buy - q_rent)``.

    The rule rents while the rent accumulated since the last purchase, this slot's included,
    stays below ``(c - 1) * buy``, and buys otherwise (then the account restarts). That is
    the break-even strategy of ski rental: whatever demand does, it pays at most ``c`` times
    what the best choice in hindsight between renting and buying would have paid.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.ratio = 2.0 - 1.0 / self.config.horizon

    def reset(self) -> None:
        super().reset()
        self.rent_paid = np.zeros(self.config.n_drugs)

    def orders(self, view: ObservationView) -> np.ndarray:
        c = self.config
        demand = self.mean_demand()
        usable = self.usable(view, demand)
        q_rent = np.maximum(c.band_lo + demand - usable, 0.0)
        q_buy = np.maximum(c.band_hi + demand - usable, 0.0)
        hist = self.history if len(self.history) else demand[None, :]
        lean = (usable + q_rent)[None, :] - hist  # end stock per past demand
        rent = (
            c.shortage_cost * np.maximum(-lean, 0.0)
            + band_penalty(np.maximum(lean, 0.0), c.knee_lo, c.knee_hi, c.penalty_lo, c.penalty_hi)
        ).mean(axis=0)
        buy_price = view.price * (q_buy - q_rent)
        buy = (self.rent_paid + rent >= (self.ratio - 1.0) * buy_price) & (q_buy > q_rent)
        self.rent_paid = np.where(buy, 0.0, self.rent_paid + rent)
        return np.where(buy, q_buy, q_rent)


class BaseStock(OrderPolicy):
    """Order up to a base-stock level ``S = C_lo + level * D`` every slot.

    ``order = max(S - U, 0)``: the band bottom plus ``level`` slots of average demand. Tune
    ``level`` by simulation on training seeds with :func:`druginv_gym.baselines.tune_base_stock`.
    """

    def __init__(self, env: gym.Env, level: float = 1.5) -> None:
        self.level = _nonneg("level", level)
        super().__init__(env)

    def orders(self, view: ObservationView) -> np.ndarray:
        demand = self.mean_demand()
        target = self.config.band_lo + self.level * demand
        return np.maximum(target - self.usable(view, demand), 0.0)


class SS(OrderPolicy):
    """The (s, S) rule: when usable stock falls under ``s``, order up to ``S``.

    ``s = C_lo + s_level * D`` and ``S = C_lo + S_level * D`` (``s_level <= S_level``):
    ``order = S - U`` if ``U < s`` else 0. Tune with :func:`druginv_gym.baselines.tune_ss`.
    """

    def __init__(self, env: gym.Env, s_level: float = 1.0, S_level: float = 2.5) -> None:
        self.s_level = _nonneg("s_level", s_level)
        self.S_level = _nonneg("S_level", S_level)
        if self.s_level > self.S_level:
            raise ValueError(f"s_level = {s_level!r} is above S_level = {S_level!r}")
        super().__init__(env)

    def orders(self, view: ObservationView) -> np.ndarray:
        demand = self.mean_demand()
        usable = self.usable(view, demand)
        low = self.config.band_lo + self.s_level * demand
        up_to = self.config.band_lo + self.S_level * demand
        return np.where(usable < low, np.maximum(up_to - usable, 0.0), 0.0)
