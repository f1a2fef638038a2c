"""Registration of the DR2O env ids, done once on ``import druginv_gym`` (idempotent)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

_MODULE = "druginv_gym.envs.factory"

#: id -> (single-env entry point, native vector-env entry point) in ``druginv_gym.envs.factory``.
#: Both build the env classes of ``druginv_gym.envs.drug_refill`` and add the forecast wrapper
#: when ``forecaster=`` is given.
ENV_IDS: dict[str, tuple[str, str]] = {
    "DrugRefill-v0": ("make_box", "make_box_vector"),
    "DrugRefillDiscrete-v0": ("make_discrete", "make_discrete_vector"),
    "DrugRefillSequential-v0": ("make_sequential", "make_sequential_vector"),
}


def register_envs() -> None:
    """Register every id with string entry points; ids already registered are left alone."""
    for env_id, (single, vector) in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=f"{_MODULE}:{single}",
            vector_entry_point=f"{_MODULE}:{vector}",
        )
