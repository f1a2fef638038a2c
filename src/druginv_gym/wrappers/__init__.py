"""Wrappers for the DR2O envs."""

from druginv_gym.wrappers.forecast import ForecastObservation, ForecastObservationVector

__all__ = ["ForecastObservation", "ForecastObservationVector"]
