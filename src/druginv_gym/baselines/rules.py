"""Classic refilling rules, each deciding from the observation alone.

Notation (per drug, units): ``D`` the average demand observed so far (the scenario's nominal
mean before the first observation), ``U = stock - max(expiring - D, 0)`` the usable stock
(units expected to expire unused are not counted), ``[C_lo, C_hi]`` the safe band. With a
supply model (lead times) every rule reads the inventory position instead of the stock: the
pipeline (units ordered, not yet arrived) is added to ``stock`` and to ``U``. Every rule's
equation is in ``docs/baselines.md``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from druginv_gym.dynamics import band_penalty
from druginv_gym.policies import (
    ObservationView,
    OrderPolicy,
    check_min_history,
    policy_forecaster,
)

__all__ = ["SS", "BaseStock", "MaxMin", "OverProvisioning", "SkiRental"]


def _nonneg(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value!r} must be finite and >= 0")
    return value


def _check_rule(cls: str, rule: str, rules: tuple[str, ...]) -> str:
    if rule not in rules:
        raise ValueError(f"{cls} rule = {rule!r} must be one of {list(rules)}")
    return rule


class OverProvisioning(OrderPolicy):
    """The paper's over-provisioning: every slot, refill each drug up to its upper bound.

    Section 5.2.2 of the paper: over-provisioning "refills drugs using the remaining volumes
    and the upper bound volumes". ``rule="paper"`` (default) reads that literally:
    ``order = max(C_hi - v, 0)``, the upper bound volume less the remaining volume ``v`` (the
    stock), so stock after arrival is back at ``C_hi`` whenever the other limits allow. The
    paper's "higher cost" strategy: it rarely runs short and pays for it in stock and waste.

    ``rule="cover"`` is the rule of versions before 0.2 (``"over-provisioning-cover"``):
    ``order = max((1 + margin) * cover * D - U, 0)``, stock after arrival covering ``cover``
    slots of average demand ``D`` with ``margin`` to spare (``U``: usable stock, whatever
    expires unused not counted).

    Args:
        env: the env the policy acts in (any DR2O id).
        rule: ``"paper"`` or ``"cover"``.
        cover: slots of demand to cover (>= 1 slot, may be fractional; ``"cover"`` only).
        margin: relative safety margin (0.3 = 30 % extra; ``"cover"`` only).
        window: average over the last ``window`` observed slots (``None``: all of them;
            ``"cover"`` only).
    """

    RULES = ("paper", "cover")

    def __init__(
        self,
        env: gym.Env,
        rule: str = "paper",
        cover: float = 2.0,
        margin: float = 0.3,
        window: int | None = None,
    ) -> None:
        self.rule = _check_rule("OverProvisioning", rule, self.RULES)
        self.cover = _nonneg("cover", cover)
        self.margin = _nonneg("margin", margin)
        if self.cover == 0:
            raise ValueError("cover = 0.0 must be > 0 slots")
        if window is not None and window < 1:
            raise ValueError(f"window = {window!r} must be >= 1 or None")
        self.window = window
        super().__init__(env)

    def orders(self, view: ObservationView) -> np.ndarray:
        if self.rule == "paper":
            return np.maximum(self.config.band_hi - view.position, 0.0)
        demand = self.mean_demand(self.window)
        target = (1.0 + self.margin) * self.cover * demand
        return np.maximum(target - self.usable(view, demand), 0.0)


class MaxMin(OrderPolicy):
    """The paper's max-min rule: below the min level, reorder the surplus between max and min.

    Section 5.2.2 of the paper: max-min's reorder quantity is "the surplus between max and
    min". ``rule="paper"`` (default): when stock falls under ``min_level``, order
    ``max_level - min_level`` (else nothing). ``min_level = min_fraction * C_hi`` (default
    45 % of the upper bound) and ``max_level = max_fraction * C_hi`` (default the upper bound):
    the paper gives no levels, these are ours.

    ``rule="up-to"`` is the rule of versions before 0.2 (``"max-min-up-to"``): below the min
    level, order up to the max level, ``max_level - stock``.
    """

    RULES = ("paper", "up-to")

    def __init__(
        self,
        env: gym.Env,
        min_fraction: float = 0.45,
        max_fraction: float = 1.0,
        rule: str = "paper",
    ) -> None:
        self.rule = _check_rule("MaxMin", rule, self.RULES)
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
        low = view.position < self.min_level
        if self.rule == "paper":
            return np.where(low, self.max_level - self.min_level, 0.0)
        return np.where(low, self.max_level - view.position, 0.0)


class SkiRental(OrderPolicy):
    """The online rent-or-buy rule (deterministic, competitive ratio ``c = 2 - 1/T``).

    Per drug, each slot is either *rented* or *bought*:

    * **rent**: order just what this slot can use, ``q_rent = max(C_lo + d_max - U, 0)``, with
      ``d_max`` the largest demand seen so far (the scenario's nominal mean before any) and
      ``U`` the usable stock: stock ends the slot at or above the lowest requirement ``C_lo``
      unless demand sets a new high. The rent paid is the expected cost of running that lean,
      estimated on the demands seen so far (``d`` over the history; the nominal mean before
      any)::

          rent = mean_d[ shortage_cost * max(d - (U + q_rent), 0) + phi(U + q_rent - d) ]

    * **buy**: refill up to the upper bound, ``q_buy = max(C_hi - U, 0)``, at today's price;
      the price of buying is the extra money it commits, ``buy = p(t) * (q_buy - q_rent)``.

    The rule rents while the rent accumulated since the last purchase, this slot's included,
    stays below ``(c - 1) * buy``, and buys otherwise (then the account restarts): the
    break-even strategy of ski rental, which pays at most ``c`` times what the best choice in
    hindsight between renting and buying would have paid.

    ``rule="band"`` is the rule of versions before 0.2 (``"ski-rental-band"``): rent
    ``C_lo + D - U`` with ``D`` the mean demand (so about half the rented slots end below
    ``C_lo`` by construction) and buy ``C_hi + D - U``.
    """

    RULES = ("paper", "band")

    def __init__(self, env: gym.Env, rule: str = "paper") -> None:
        self.rule = _check_rule("SkiRental", rule, self.RULES)
        super().__init__(env)
        self.ratio = 2.0 - 1.0 / self.config.horizon

    def reset(self) -> None:
        super().reset()
        self.rent_paid = np.zeros(self.config.n_drugs)

    def orders(self, view: ObservationView) -> np.ndarray:
        c = self.config
        demand = self.mean_demand()
        usable = self.usable(view, demand)
        hist = self.history if len(self.history) else demand[None, :]
        if self.rule == "paper":
            q_rent = np.maximum(c.band_lo + hist.max(axis=0) - usable, 0.0)
            q_buy = np.maximum(c.band_hi - usable, 0.0)
        else:
            q_rent = np.maximum(c.band_lo + demand - usable, 0.0)
            q_buy = np.maximum(c.band_hi + demand - usable, 0.0)
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

    With a ``forecaster`` the level follows the forecast: ``D`` is the mean forecast demand of
    the next ``ceil(level)`` slots (at least one) instead of the average demand so far. A
    forecaster name is refitted each slot on the demand observed this episode; a saved
    forecaster's path or an instance is used as fitted (``policy_forecaster``). Before
    ``min_history`` observed slots the forecast is the nominal mean.
    """

    def __init__(
        self,
        env: gym.Env,
        level: float = 1.5,
        forecaster: Any = None,
        min_history: int = 1,
    ) -> None:
        self.level = _nonneg("level", level)
        self.min_history = check_min_history(min_history)
        self.forecaster, self._refit = (
            (None, False) if forecaster is None else policy_forecaster(forecaster)
        )
        super().__init__(env)

    def orders(self, view: ObservationView) -> np.ndarray:
        if self.forecaster is None:
            demand = self.mean_demand()
        else:
            cover = max(1, int(np.ceil(self.level)))
            plan = self.forecast(self.forecaster, cover, self.min_history, self._refit)
            demand = plan.mean(axis=0)
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
