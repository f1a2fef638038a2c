"""Entry points of the registered ids: the env, optionally wrapped with a demand forecast and
flat infos.

``gym.make("DrugRefill-v0", forecaster="moving_average", forecast_horizon=3)`` returns the env
wrapped in :class:`druginv_gym.wrappers.ForecastObservation`; without ``forecaster`` it is the
plain env. ``flat_info=True`` wraps it (outermost) in :class:`druginv_gym.wrappers.FlatInfo`:
the info without nested dicts (``costs_total``), for clients that build the envs themselves
and read infos as flat tables (TorchRL's ``GymEnv(..., num_envs=k)``). The same holds for
``gym.make_vec`` and the native vector envs (:class:`~druginv_gym.wrappers.FlatInfoVector`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from druginv_gym.envs.drug_refill import (
    DrugRefillDiscreteEnv,
    DrugRefillDiscreteVectorEnv,
    DrugRefillEnv,
    DrugRefillSequentialEnv,
    DrugRefillSequentialVectorEnv,
    DrugRefillVectorEnv,
)


def _check_flat(flat_info: Any) -> bool:
    if not isinstance(flat_info, (bool, np.bool_)):
        raise ValueError(f"flat_info = {flat_info!r} must be True or False")
    return bool(flat_info)


def _single(
    cls: type,
    forecaster: Any = None,
    forecast_horizon: int = 3,
    flat_info: bool = False,
    **kwargs: Any,
) -> Any:
    flat = _check_flat(flat_info)
    env = cls(**kwargs)
    if forecaster is not None:
        from druginv_gym.wrappers import ForecastObservation

        env = ForecastObservation(env, forecaster, forecast_horizon)
    if flat:
        from druginv_gym.wrappers import FlatInfo

        env = FlatInfo(env)
    return env


def _vector(
    cls: type,
    forecaster: Any = None,
    forecast_horizon: int = 3,
    flat_info: bool = False,
    **kwargs: Any,
) -> Any:
    flat = _check_flat(flat_info)
    env = cls(**kwargs)
    if forecaster is not None:
        from druginv_gym.wrappers import ForecastObservationVector

        env = ForecastObservationVector(env, forecaster, forecast_horizon)
    if flat:
        from druginv_gym.wrappers import FlatInfoVector

        env = FlatInfoVector(env)
    return env


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
