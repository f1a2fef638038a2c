"""druginv_gym: Gymnasium environments for hospital drug refilling (the DR2O problem).

Importing the package registers ``DrugRefill-v0``, ``DrugRefillDiscrete-v0`` and
``DrugRefillSequential-v0`` (idempotently). It never imports torch.

>>> import gymnasium as gym
>>> import druginv_gym
>>> env = gym.make("DrugRefill-v0", n_drugs=30)
"""

from druginv_gym.config import ScenarioConfig
from druginv_gym.envs import (
    ENV_IDS,
    DrugRefillDiscreteEnv,
    DrugRefillEnv,
    DrugRefillSequentialEnv,
    DrugRefillVectorEnv,
    register_envs,
)
from druginv_gym.evaluation import compare, evaluate, summarize
from druginv_gym.exogenous import ExogenousTrace, SeasonalDemand, UniformDemand
from druginv_gym.scenarios import SCENARIOS, make_scenario, register_scenario

__version__ = "0.1.0"

register_envs()

__all__ = [
    "ENV_IDS",
    "SCENARIOS",
    "DrugRefillDiscreteEnv",
    "DrugRefillEnv",
    "DrugRefillSequentialEnv",
    "DrugRefillVectorEnv",
    "ExogenousTrace",
    "ScenarioConfig",
    "SeasonalDemand",
    "UniformDemand",
    "__version__",
    "compare",
    "evaluate",
    "make_scenario",
    "register_envs",
    "register_scenario",
    "summarize",
]
