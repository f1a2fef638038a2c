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


def _build(
    cls: type,
    vector: bool,
    /,
    forecaster: Any = None,
    forecast_horizon: int = 3,
    flat_info: bool = False,
    **kwargs: Any,
) -> Any:
    """``cls(**kwargs)``, with a forecast in its observation and then flat infos on request
    (the single env's wrappers, or the vector env's with ``vector``)."""
    flat = _check_flat(flat_info)
    env = cls(**kwargs)
    if forecaster is None and not flat:
        return env
    from druginv_gym import wrappers

    if forecaster is not None:
        forecast = wrappers.ForecastObservationVector if vector else wrappers.ForecastObservation
        env = forecast(env, forecaster, forecast_horizon)
    if flat:
        env = (wrappers.FlatInfoVector if vector else wrappers.FlatInfo)(env)
    return env


def make_box(**kwargs: Any) -> Any:
    return _build(DrugRefillEnv, False, **kwargs)


def make_discrete(**kwargs: Any) -> Any:
    return _build(DrugRefillDiscreteEnv, False, **kwargs)


def make_sequential(**kwargs: Any) -> Any:
    return _build(DrugRefillSequentialEnv, False, **kwargs)


def make_box_vector(**kwargs: Any) -> Any:
    return _build(DrugRefillVectorEnv, True, **kwargs)


def make_discrete_vector(**kwargs: Any) -> Any:
    return _build(DrugRefillDiscreteVectorEnv, True, **kwargs)


def make_sequential_vector(**kwargs: Any) -> Any:
    return _build(DrugRefillSequentialVectorEnv, True, **kwargs)


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
