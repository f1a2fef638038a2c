"""The DR2O environments: single envs, native vector envs, registration."""

from druginv_gym.envs.core import RefillCore
from druginv_gym.envs.drug_refill import (
    DrugRefillDiscreteEnv,
    DrugRefillDiscreteVectorEnv,
    DrugRefillEnv,
    DrugRefillSequentialEnv,
    DrugRefillSequentialVectorEnv,
    DrugRefillVectorEnv,
    resolve_config,
)
from druginv_gym.envs.registration import ENV_IDS, register_envs
from druginv_gym.observation import DRUG_FEATURES, GLOBAL_FEATURES

__all__ = [
    "DRUG_FEATURES",
    "ENV_IDS",
    "GLOBAL_FEATURES",
    "DrugRefillDiscreteEnv",
    "DrugRefillDiscreteVectorEnv",
    "DrugRefillEnv",
    "DrugRefillSequentialEnv",
    "DrugRefillSequentialVectorEnv",
    "DrugRefillVectorEnv",
    "RefillCore",
    "register_envs",
    "resolve_config",
]
