"""Offline solvers: the Ipopt hindsight-optimal plan and the policies that replay it."""

from druginv_gym.solvers.hindsight import HindsightSolution, solve_hindsight
from druginv_gym.solvers.policy import HindsightOracle, HindsightPolicy

__all__ = ["HindsightOracle", "HindsightPolicy", "HindsightSolution", "solve_hindsight"]
