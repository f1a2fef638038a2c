"""Demand forecasters sharing one protocol: ``fit(series)`` and ``predict(history, horizon)``.

``series`` and ``history`` are ``(n_series, length)`` arrays of demand (units/slot);
``predict`` returns ``(n_series, horizon)``. Statistical forecasters need nothing but numpy
(statsmodels to fit Holt-Winters); the neural ones import torch only when built.

Forecasters are found by name in one registry, :data:`FORECASTERS` (read-only), which
:func:`make_forecaster`, ``gym.make(..., forecaster=name)`` (the ``ForecastObservation``
wrappers) and ``druginv forecast`` all read; :func:`register_forecaster` adds one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from druginv_gym.forecasting import metrics
from druginv_gym.forecasting.base import (
    CHECKPOINT_SUFFIXES,
    FORECASTERS,
    Forecaster,
    _seal_built_ins,
    register_forecaster,
    unregister_forecaster,
)
from druginv_gym.forecasting.fitting import fit_forecaster, training_series
from druginv_gym.forecasting.neural import (
    CNNLSTMForecaster,
    LSTMForecaster,
    MLPForecaster,
    NeuralConfig,
    NeuralForecaster,
    load_forecaster,
)
from druginv_gym.forecasting.statistical import (
    ExponentialSmoothing,
    MovingAverage,
    Naive,
    SeasonalNaive,
)

__all__ = [
    "FORECASTERS",
    "CNNLSTMForecaster",
    "ExponentialSmoothing",
    "Forecaster",
    "LSTMForecaster",
    "MLPForecaster",
    "MovingAverage",
    "Naive",
    "NeuralConfig",
    "NeuralForecaster",
    "SeasonalNaive",
    "fit_forecaster",
    "load_forecaster",
    "make_forecaster",
    "metrics",
    "register_forecaster",
    "training_series",
    "unregister_forecaster",
]

# The statistical forecasters register themselves (decorators in statistical.py); the neural
# ones here, after the four, so FORECASTERS lists them in the same order as always.
register_forecaster("mlp", MLPForecaster)
register_forecaster("lstm", LSTMForecaster)
register_forecaster("cnn_lstm", CNNLSTMForecaster)
_seal_built_ins()


def make_forecaster(spec: Any, **kwargs: Any) -> Any:
    """A forecaster from a name in :data:`FORECASTERS`, a checkpoint path, or an instance.

    A name builds ``FORECASTERS[name](**kwargs)`` (an unknown keyword is the class's
    ``TypeError``). Untrained neural forecasters are refused here (they would predict nothing
    sensible): train one, ``save`` it, and pass the path.
    """
    if isinstance(spec, (str, os.PathLike)):
        name = str(spec)
        cls = FORECASTERS.get(name)
        if cls is not None:
            if issubclass(cls, NeuralForecaster):
                raise ValueError(
                    f"forecaster = {name!r} must be trained first: fit one, save it, and pass "
                    "the checkpoint path (or the trained instance)"
                )
            forecaster = cls(**kwargs)
            if not hasattr(forecaster, "min_history"):
                raise TypeError(
                    f"forecaster = {name!r}: {cls.__name__}() has no min_history (the shortest "
                    "history its predict accepts)"
                )
            return forecaster
        if Path(name).suffix == ".json":
            return ExponentialSmoothing.load(name)
        if Path(name).suffix in CHECKPOINT_SUFFIXES or Path(name).is_file():
            return load_forecaster(name)
        raise ValueError(
            f"unknown forecaster = {name!r}; known: {sorted(FORECASTERS)} or a path "
            "(add one with druginv_gym.forecasting.register_forecaster)"
        )
    if hasattr(spec, "predict") and hasattr(spec, "min_history"):
        if isinstance(spec, NeuralForecaster) and not spec.fitted:
            raise ValueError(f"{type(spec).__name__} is not trained: call fit() first")
        return spec
    raise ValueError(f"forecaster must be a name, a path or a forecaster, got {spec!r}")
