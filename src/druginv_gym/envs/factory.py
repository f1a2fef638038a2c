"""Entry points of the registered ids: the env, optionally wrapped with a demand forecast.

``gym.make("DrugRefill-v0", forecaster="moving_average", forecast_horizon=3)`` returns the env
wrapped in :class:`druginv_gym.wrappers.ForecastObservation`; without ``forecaster`` it is the
plain env. The same holds for ``gym.make_vec`` and the native vector envs.
"""

from __future__ import annotations

from typing import Any

from druginv_gym.envs.drug_refill import (
    DrugRefillDiscreteEnv,
    DrugRefillDiscreteVectorEnv,
    DrugRefillEnv,
    DrugRefillSequentialEnv,
    DrugRefillSequentialVectorEnv,
    DrugRefillVectorEnv,
)


def _single(cls: type, forecaster: Any = None, forecast_horizon: int = 3, **kwargs: Any) -> Any:
    env = cls(**kwargs)
    if forecaster is None:
        return env
    from druginv_gym.wrappers import ForecastObservation

    return ForecastObservation(env, forecaster, forecast_horizon)


def _vector(cls: type, forecaster: Any = None, forecast_horizon: int = 3, **kwargs: Any) -> Any:
    env = cls(**kwargs)
    if forecaster is None:
        return env
    from druginv_gym.wrappers import ForecastObservationVector

    return ForecastObservationVector(env, forecaster, forecast_horizon)


def make_box(**kwargs: Any) -> Any:
    return _single(DrugRefillEnv, **kwargs)


def make_discrete(**kwargs: Any) -> Any:
    return _single(DrugRefillDiscreteEnv, **kwargs)


def make_sequential(**kwargs: Any) -> Any:
    return _single(DrugRefillSequentialEnv, **kwargs)


def make_box_vector(**kwargs: Any) -> Any:
    return _vector(DrugRefillVectorEnv, **kwargs)


def make_discrete_vector(**kwargs: Any) -> Any:
    return _vector(DrugRefillDiscreteVectorEnv, **kwargs)


def make_sequential_vector(**kwargs: Any) -> Any:
    return _vector(DrugRefillSequentialVectorEnv, **kwargs)


# gym.make reads an entry point's ``metadata`` to handle render modes as for any Gymnasium
# env (a warning for an unsupported one, ``"human"`` and ``"rgb_array_list"`` through its
# wrappers); the factories show their classes'.
for _factory, _cls in (
    (make_box, DrugRefillEnv),
    (make_discrete, DrugRefillDiscreteEnv),
    (make_sequential, DrugRefillSequentialEnv),
    (make_box_vector, DrugRefillVectorEnv),
    (make_discrete_vector, DrugRefillDiscreteVectorEnv),
    (make_sequential_vector, DrugRefillSequentialVectorEnv),
):
    _factory.metadata = _cls.metadata  # type: ignore[attr-defined]
