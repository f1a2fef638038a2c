"""Demand forecasters sharing one protocol: ``fit(series)`` and ``predict(history, horizon)``.

``series`` and ``history`` are ``(n_series, length)`` arrays of demand (units/slot);
``predict`` returns ``(n_series, horizon)``. Statistical forecasters need nothing but numpy
(statsmodels to fit Holt-Winters); the neural ones import torch only when built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from druginv_gym.forecasting import metrics
from druginv_gym.forecasting.base import Forecaster
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
    "load_forecaster",
    "make_forecaster",
    "metrics",
]

#: Names accepted by :func:`make_forecaster` (and ``gym.make(..., forecaster=name)``).
FORECASTERS = {
    "naive": Naive,
    "seasonal_naive": SeasonalNaive,
    "moving_average": MovingAverage,
    "exponential_smoothing": ExponentialSmoothing,
    "mlp": MLPForecaster,
    "lstm": LSTMForecaster,
    "cnn_lstm": CNNLSTMForecaster,
}


def make_forecaster(spec: Any, **kwargs: Any) -> Any:
    """A forecaster from a name in :data:`FORECASTERS`, a checkpoint path, or an instance.

    Untrained neural forecasters are refused here (they would predict nothing sensible):
    train one, ``save`` it, and pass the path.
    """
    if isinstance(spec, (str, os.PathLike)):
        name = str(spec)
        if name in FORECASTERS:
            if issubclass(FORECASTERS[name], NeuralForecaster):
                raise ValueError(
                    f"forecaster = {name!r} must be trained first: fit one, save it, and pass "
                    "the checkpoint path (or the trained instance)"
                )
            return FORECASTERS[name](**kwargs)
        if Path(name).suffix in (".pt", ".pth") or Path(name).is_file():
            return load_forecaster(name)
        raise ValueError(f"unknown forecaster = {name!r}; known: {sorted(FORECASTERS)} or a path")
    if hasattr(spec, "predict") and hasattr(spec, "min_history"):
        if isinstance(spec, NeuralForecaster) and not spec.fitted:
            raise ValueError(f"{type(spec).__name__} is not trained: call fit() first")
        return spec
    raise ValueError(f"forecaster must be a name, a path or a forecaster, got {spec!r}")
