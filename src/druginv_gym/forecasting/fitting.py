"""Fitting a forecaster on a scenario's training data, never on its held-out data.

:func:`training_series` is what a forecaster may learn from for a scenario:

* real demand replayed (:class:`~druginv_gym.exogenous.ReplayDemand`, scenario ``pharma``):
  the weeks *before* the split date, whatever split the config plays (an evaluation config on
  the test weeks fits on the train weeks), one series per drug, in the config's units;
* any other demand process: ``episodes`` traces drawn from the process on training seeds
  (``TRAIN_SEED_BASE`` on, the seeds the tuned rules use; evaluation seeds stay below), one
  series per episode and drug, each ``horizon`` slots long.

:func:`fit_forecaster` fits a forecaster (a registered name or an instance) on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_forecaster", "training_series"]


def _config(scenario: Any, **options: Any) -> Any:
    from druginv_gym.config import ScenarioConfig
    from druginv_gym.scenarios import make_scenario

    if isinstance(scenario, ScenarioConfig):
        if options:
            raise TypeError(f"options {sorted(options)} given with a ScenarioConfig")
        return scenario
    return make_scenario(scenario, **options)


def training_series(
    scenario: Any = "pharma", *, episodes: int = 32, seed: int | None = None, **options: Any
) -> np.ndarray:
    """``(n_series, length)`` training demand of ``scenario`` (a name, with ``make_scenario``
    options, or a :class:`~druginv_gym.ScenarioConfig`); see the module."""
    from druginv_gym.exogenous import ReplayDemand
    from druginv_gym.seeds import TRAIN_SEED_BASE

    config = _config(scenario, **options)
    demand = config.demand
    if isinstance(demand, ReplayDemand):
        return np.ascontiguousarray(demand.training().series.T, dtype=np.float64)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes = {episodes!r} must be an integer >= 1")
    rng = np.random.default_rng(TRAIN_SEED_BASE if seed is None else seed)
    draws = np.asarray(demand.sample(rng, episodes, config.horizon, config.n_drugs), float)
    return np.ascontiguousarray(draws.transpose(0, 2, 1).reshape(-1, config.horizon))


def fit_forecaster(
    forecaster: Any, scenario: Any = "pharma", *, episodes: int = 32, **options: Any
) -> Any:
    """``forecaster`` (a name in :data:`~druginv_gym.forecasting.FORECASTERS`, built with its
    defaults, or an instance) fitted on :func:`training_series` of ``scenario``; returns it."""
    from druginv_gym.forecasting.base import FORECASTERS

    if isinstance(forecaster, str):
        if forecaster not in FORECASTERS:
            raise ValueError(f"unknown forecaster = {forecaster!r}; known: {sorted(FORECASTERS)}")
        forecaster = FORECASTERS[forecaster]()
    return forecaster.fit(training_series(scenario, episodes=episodes, **options))
