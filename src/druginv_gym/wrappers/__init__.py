"""Wrappers for the DR2O envs."""

from druginv_gym.wrappers.flat_info import FlatInfo, FlatInfoVector, flatten_info
from druginv_gym.wrappers.forecast import ForecastObservation, ForecastObservationVector
from druginv_gym.wrappers.order_up_to import OrderUpToAction

__all__ = [
    "FlatInfo",
    "FlatInfoVector",
    "ForecastObservation",
    "ForecastObservationVector",
    "OrderUpToAction",
    "flatten_info",
]
