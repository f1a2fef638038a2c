"""The observation's layout: feature names, their positions, and the scales that normalise them.

Every position in the flat observation comes from the named feature lists below: the envs, the
compiled kernels (through :data:`KERNEL_LAYOUT`), the wrappers and the rules that read an
observation back (:class:`druginv_gym.policies.ObservationReader`) derive their indices here,
never from literal offsets. ``docs/model.md`` ("Observation") documents each feature.

The flat observation of ``N`` drugs is ``obs[: N * F].reshape(N, F)`` (drug-major, the ``F``
per-drug features in :data:`DRUG_FEATURES` order, plus :data:`SEQ_DRUG_FEATURES` for the
sequential id) followed by the global features (:data:`GLOBAL_FEATURES`, plus
:data:`SEQ_GLOBAL_FEATURES`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from druginv_gym.config import ScenarioConfig
from druginv_gym.supply import supply_feature_names

__all__ = [
    "DRUG_FEATURES",
    "DYNAMIC_DRUG_FEATURES",
    "GLOBAL_FEATURES",
    "KERNEL_LAYOUT",
    "OBS_HIGH",
    "SEQ_DRUG_FEATURES",
    "SEQ_GLOBAL_FEATURES",
    "STATIC_DRUG_FEATURES",
    "ObservationScales",
    "feature_groups",
    "observation_scales",
]

#: Per-drug features that change from slot to slot, in observation order.
DYNAMIC_DRUG_FEATURES = (
    "price",
    "storage_rate",
    "last_demand",
    "drug_budget",
    "stock",
    "expiring",
)
#: Per-drug features fixed by the scenario (each ``<= 1`` by construction), in order.
STATIC_DRUG_FEATURES = ("band_lo", "band_hi", "refill_lo", "refill_hi", "shelf_life")
#: Per-drug observation features, in order.
DRUG_FEATURES = DYNAMIC_DRUG_FEATURES + STATIC_DRUG_FEATURES
#: Global observation features, in order.
GLOBAL_FEATURES = ("budget_left", "storage_used", "time_left")
#: Extra features of the sequential id (per drug, then global), after the ones above.
SEQ_DRUG_FEATURES = ("pending_order", "is_current")
SEQ_GLOBAL_FEATURES = ("pending_spend", "pending_volume")

#: Upper bound of unbounded normalised features; values beyond are clipped (documented).
OBS_HIGH = 1.0e3

#: The features :func:`druginv_gym._kernels.observe_kernel` writes, in the order of its
#: ``layout`` argument: the dynamic per-drug features, then the global ones.
KERNEL_LAYOUT = (*DYNAMIC_DRUG_FEATURES, *GLOBAL_FEATURES)


def feature_groups(
    sequential: bool, config: ScenarioConfig | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(per-drug feature names, global feature names)`` of an id (sequential or not): with
    a ``config`` that has a supply model, its features
    (:func:`druginv_gym.supply.supply_feature_names`) follow :data:`DRUG_FEATURES`."""
    drug = DRUG_FEATURES + (() if config is None else supply_feature_names(config))
    if sequential:
        return drug + SEQ_DRUG_FEATURES, GLOBAL_FEATURES + SEQ_GLOBAL_FEATURES
    return drug, GLOBAL_FEATURES


def kernel_layout(sequential: bool, config: ScenarioConfig | None = None) -> np.ndarray:
    """(len(KERNEL_LAYOUT),) int64: the position of each :data:`KERNEL_LAYOUT` feature, within
    a drug's row for the per-drug ones and within the global block for the global ones."""
    drug, glob = feature_groups(sequential, config)
    pos = [drug.index(f) for f in DYNAMIC_DRUG_FEATURES] + [glob.index(f) for f in GLOBAL_FEATURES]
    return np.array(pos, dtype=np.int64)


class ObservationScales(NamedTuple):
    """Divisors of the observation features (documented in docs/model.md, "Observation")."""

    price: float  #: USD/unit: the largest price level
    units: float  #: units: the largest of band_hi, refill_hi, demand_mean
    rate: float  #: USD/ft^3/slot: the upper end of the storage-rate process
    budget: float  #: USD: price * units


def observation_scales(config: ScenarioConfig) -> ObservationScales:
    """The normalisation scales of ``config``'s observations."""
    price = float(max(config.price_level.max(), 1e-12))
    units = float(
        max(config.band_hi.max(), config.refill_hi.max(), config.demand_mean.max(), 1e-12)
    )
    return ObservationScales(price, units, float(max(config.storage.high, 1e-12)), price * units)
