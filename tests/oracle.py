"""An independent oracle of the DR2O slot: stock held by remaining shelf life.

The library steps on cumulative flows (:func:`druginv_gym.dynamics.flow_step` and its compiled
twin). This module holds the stock the other way, as an array ``stock[b, i, k]`` (units) of
drug ``i`` in env ``b`` that can still be used for ``k + 1`` slots (``k = 0``: expires at the
end of this slot; a unit arriving in slot ``t`` enters at ``k = shelf_life_i - 1``), with FIFO
service as a cumulative sum over ages and expiry as what is left in the oldest slot (as
viso_jax does). Tests check the library against it slot by slot. It shares only the order
clipping and the cost formulas with the library, not the stock bookkeeping.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from druginv_gym.config import ScenarioConfig
from druginv_gym.dynamics import SlotOutcome, _outcome, clip_orders


class ReferenceSlot(NamedTuple):
    """One slot of the oracle: the by-age stock after it, and the slot's outcome."""

    stock: np.ndarray  #: (B, N, L) stock by remaining shelf life after the slot (units)
    outcome: SlotOutcome


def initial_stock(config: ScenarioConfig, batch: int) -> np.ndarray:
    """(B, N, L) stock at ``t = 0``: ``initial_stock`` units per drug, all fresh."""
    stock = np.zeros((batch, config.n_drugs, config.max_shelf_life))
    stock[:, np.arange(config.n_drugs), config.shelf_life - 1] = config.initial_stock
    return stock


def stock_volume(stock: np.ndarray, unit_volume: np.ndarray) -> np.ndarray:
    """(B,) storage volume in use (ft^3) of ``stock`` (B, N, L)."""
    return stock.sum(axis=-1) @ unit_volume


def receive(stock: np.ndarray, accepted: np.ndarray, shelf_life: np.ndarray) -> np.ndarray:
    """Stock (B, N, L) after the accepted units (B, N) arrive with full shelf life."""
    out = stock.copy()
    out[:, np.arange(stock.shape[1]), shelf_life - 1] += accepted
    return out


def serve_fifo(stock: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Serve demand (B, N) from the oldest units first.

    Returns ``(stock_after, served, unmet)``: stock (B, N, L), served and unmet (B, N) units.
    The units taken from age ``k`` are ``min(stock_k, max(demand - sum_{j<k} stock_j, 0))``.
    """
    before = np.cumsum(stock, axis=-1) - stock
    taken = np.clip(demand[..., None] - before, 0.0, stock)
    served = taken.sum(axis=-1)
    return stock - taken, served, np.maximum(demand - served, 0.0)


def expire(stock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Age the stock by one slot: units with one slot of life left expire.

    Returns ``(stock_after, expired)``: stock (B, N, L) and expired units (B, N).
    """
    out = np.zeros_like(stock)
    out[..., :-1] = stock[..., 1:]
    return out, stock[..., 0].copy()


def step_slot(
    stock: np.ndarray,
    spent: np.ndarray,
    requested: np.ndarray,
    demand: np.ndarray,
    price: np.ndarray,
    storage_rate: np.ndarray,
    drug_budget: np.ndarray,
    config: ScenarioConfig,
    emergency: np.ndarray | None = None,
) -> ReferenceSlot:
    """One slot for B envs: clip, receive, serve FIFO, expire, cost, on stock held by age.

    Args:
        stock: (B, N, L) stock by remaining shelf life (units).
        spent: (B,) spend so far (USD).
        requested: (B, N) requested units.
        demand: (B, N) demand ``A_i(t)`` (units).
        price: (B, N) price ``p_i(t)`` (USD/unit).
        storage_rate: (B, N) ``r_i(t)`` (USD/ft^3/slot).
        drug_budget: (N,) ``B_i(t)`` (USD).
        config: the scenario.
        emergency: (B, N) the premium price of a unit of unmet demand (``None``: none).
    """
    accepted = clip_orders(
        requested,
        price,
        drug_budget,
        stock_volume(stock, config.unit_volume),
        spent,
        config,
        stock.sum(axis=-1),
    )
    spend = price * accepted
    arrived = receive(stock, accepted, config.shelf_life)
    after_demand, served, unmet = serve_fifo(arrived, demand)
    new_stock, expired = expire(after_demand)
    level = new_stock.sum(axis=-1)
    flows = (requested, accepted, served, unmet, expired, level, spend)
    return ReferenceSlot(
        new_stock,
        _outcome(spent + spend.sum(axis=-1), flows, price, storage_rate, config, emergency),
    )
