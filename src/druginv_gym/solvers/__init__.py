"""Offline solvers: the hindsight-optimal plan (Ipopt or Clarabel), the two-stage stochastic
program over sampled futures, and the policies that replay a hindsight plan."""

from druginv_gym.solvers.hindsight import HindsightSolution, solve_hindsight
from druginv_gym.solvers.policy import HindsightOracle, HindsightPolicy
from druginv_gym.solvers.stochastic import TwoStageSolution, solve_two_stage

__all__ = [
    "HindsightOracle",
    "HindsightPolicy",
    "HindsightSolution",
    "TwoStageSolution",
    "solve_hindsight",
    "solve_two_stage",
]
