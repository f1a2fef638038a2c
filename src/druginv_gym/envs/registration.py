"""Registration of the DR2O env ids, done once on ``import druginv_gym`` (idempotent)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

_MODULE = "druginv_gym.envs.drug_refill"

#: id -> (single-env class, native vector-env class), both in ``druginv_gym.envs.drug_refill``.
ENV_IDS: dict[str, tuple[str, str]] = {
    "DrugRefill-v0": ("DrugRefillEnv", "DrugRefillVectorEnv"),
    "DrugRefillDiscrete-v0": ("DrugRefillDiscreteEnv", "DrugRefillDiscreteVectorEnv"),
    "DrugRefillSequential-v0": ("DrugRefillSequentialEnv", "DrugRefillSequentialVectorEnv"),
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
