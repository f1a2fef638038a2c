"""Baseline policies: the paper's three online rules, base-stock, (s, S), rolling-horizon MPC
and its two-stage stochastic version, random.

All follow the policy protocol (``reset()``, ``act(obs)``) and work on every DR2O id.
"""

from druginv_gym.baselines.mpc import MPC, StochasticMPC, TrueFuture
from druginv_gym.baselines.rules import SS, BaseStock, MaxMin, OverProvisioning, SkiRental
from druginv_gym.baselines.tuning import TRAIN_SEED_BASE, grid_search, tune_base_stock, tune_ss
from druginv_gym.policies import RandomPolicy

__all__ = [
    "MPC",
    "SS",
    "TRAIN_SEED_BASE",
    "BaseStock",
    "MaxMin",
    "OverProvisioning",
    "RandomPolicy",
    "SkiRental",
    "StochasticMPC",
    "TrueFuture",
    "grid_search",
    "tune_base_stock",
    "tune_ss",
]
