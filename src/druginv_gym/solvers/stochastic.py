"""A two-stage stochastic program on the hindsight QP: one order for K sampled futures.

:func:`solve_two_stage` takes a scenario and K exogenous traces of the same horizon (sampled
futures of demand and prices: the *scenarios*), builds the hindsight QP of
:func:`~druginv_gym.solvers.solve_hindsight` for each, and solves them together with the first
slot's orders shared (non-anticipativity, ``x_0^k = x_0^1`` for every scenario ``k``) while each
scenario keeps its own later orders, service and expiry (the recourse: in the two-stage
approximation, each scenario plans its later slots knowing its own future). The objective is
the scenarios' mean cost: the sample-average approximation (SAA) of the expected cost of the
first decision followed by the best recourse.

Its value lies between the mean of the K hindsight optima (the wait-and-see value, each
scenario free to choose its own first orders) and the mean cost of any fixed first order; on
the same scenarios it is never below the wait-and-see value (tested). Used slot by slot, it is
the rolling-horizon stochastic MPC of :class:`druginv_gym.baselines.StochasticMPC`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from druginv_gym.config import ScenarioConfig
from druginv_gym.exogenous import ExogenousTrace, as_trace
from druginv_gym.solvers.hindsight import (
    _FORMULATIONS,
    _QP,
    SUCCESS,
    _check_history,
    _check_in_transit,
    _check_solve,
    _mumps_pivtol,
    _run_solver,
    _warm_start,
)

__all__ = ["TwoStageSolution", "solve_two_stage"]


@dataclass(frozen=True, eq=False)
class TwoStageSolution:
    """The result of :func:`solve_two_stage`.

    Attributes:
        orders: ``(N,)`` the first slot's orders (units), the same in every scenario.
        objective: the scenarios' mean planned cost (USD), the SAA value.
        scenario_costs: ``(K,)`` each scenario's planned cost (USD).
        plans: ``(K, T, N)`` each scenario's planned orders (row 0 is ``orders``).
        status: as :class:`~druginv_gym.solvers.HindsightSolution` (``"optimal"``, ...).
        message: the solver's message.
        iterations: the solver's iterations.
        solve_seconds: wall time, the QPs' assembly included (s).
        solver: ``"ipopt"`` or ``"clarabel"``.
        n_variables, n_constraints: size of the stacked QP.
    """

    orders: np.ndarray
    objective: float
    scenario_costs: np.ndarray
    plans: np.ndarray
    status: str
    message: str
    iterations: int
    solve_seconds: float
    solver: str
    n_variables: int
    n_constraints: int

    @property
    def success(self) -> bool:
        """True when the solver found an optimal (or acceptable) point."""
        return self.status in SUCCESS

    @property
    def n_scenarios(self) -> int:
        return len(self.scenario_costs)


class _StackedQP(_QP):
    """K scenario QPs side by side (block-diagonal rows), each objective weighted ``1/K``, and
    ``(K - 1) N`` equality rows tying every scenario's first-slot orders to the first one's."""

    def __init__(self, qps: Sequence[_QP]) -> None:
        # The callbacks of _QP read only n, m, g, q, const, jac, jvals, jrows, jcols and hidx:
        # they are set here, not by _QP.__init__ (which builds one scenario's matrices).
        self.parts = list(qps)
        self.iterations = 0
        k = len(self.parts)
        sizes = [qp.n for qp in self.parts]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.n = int(sum(sizes))
        n_drugs = self.parts[0].N
        # x_0 of each scenario is the first block of its variables (row t = 0 of ``ix``).
        first = [off + qp.blocks[0][0] for off, qp in zip(self.offsets, self.parts, strict=True)]
        ties = [
            sp.csr_matrix(
                (
                    np.tile([1.0, -1.0], n_drugs),
                    (np.repeat(np.arange(n_drugs), 2), np.column_stack([cols, first[0]]).ravel()),
                ),
                shape=(n_drugs, self.n),
            )
            for cols in first[1:]
        ]
        self.jac = sp.vstack([sp.block_diag([qp.jac for qp in self.parts]), *ties]).tocsr()
        self.m = self.jac.shape[0]
        coo = self.jac.tocoo()
        self.jrows, self.jcols, self.jvals = (
            coo.row.astype(np.int64),
            coo.col.astype(np.int64),
            coo.data,
        )
        zeros = np.zeros((k - 1) * n_drugs)
        self.cl = np.concatenate([qp.cl for qp in self.parts] + [zeros])
        self.cu = np.concatenate([qp.cu for qp in self.parts] + [zeros])
        self.lb = np.concatenate([qp.lb for qp in self.parts])
        self.ub = np.concatenate([qp.ub for qp in self.parts])
        self.g = np.concatenate([qp.g for qp in self.parts]) / k
        self.q = np.concatenate([qp.q for qp in self.parts]) / k
        self.const = float(sum(qp.const for qp in self.parts)) / k
        self.hidx = np.flatnonzero(self.q)

    def split(self, z: np.ndarray) -> list[np.ndarray]:
        """Each scenario's part of ``z``."""
        return [z[off : off + qp.n] for off, qp in zip(self.offsets, self.parts, strict=True)]


def solve_two_stage(
    config: ScenarioConfig,
    scenarios: Sequence[ExogenousTrace | dict[str, Any]],
    *,
    solver: str = "ipopt",
    tol: float = 1e-10,
    max_iter: int = 500,
    max_wall_time: float | None = None,
    print_level: int = 0,
    options: dict[str, Any] | None = None,
    in_transit: np.ndarray | None = None,
    service_history: tuple[Any, Any] | None = None,
) -> TwoStageSolution:
    """Solve the two-stage SAA of the module over ``scenarios`` (K traces of ``config``'s
    horizon and drugs).

    The first slot's order price bounds the shared orders (per-drug budget): it is known when
    the decision is made, so every scenario should carry the same one (the caller's task; each
    scenario's own bound applies otherwise).

    Args:
        config: the scenario (its horizon is the planning horizon).
        scenarios: the sampled futures, each an :class:`~druginv_gym.exogenous.ExogenousTrace`
            or a mapping of its four fields, ``(T, N)`` arrays.
        solver: ``"ipopt"`` (default) or ``"clarabel"`` (faster).
        tol: Ipopt's tolerance (Clarabel's are settings in ``options``).
        max_iter, max_wall_time, print_level, options, in_transit, service_history: as
            :func:`solve_hindsight` (the pipeline and the history are the same in every
            scenario; each scenario meets the class targets on its own demand).

    Returns:
        A :class:`TwoStageSolution`; a hard instance or a solver failure is reported through
        ``status`` (check ``success``), never raised. Bad input raises ``ValueError``; a
        missing solver package ``ImportError``.
    """
    if isinstance(scenarios, (ExogenousTrace, dict)) or not len(scenarios):
        raise ValueError("scenarios must be a non-empty sequence of exogenous traces")
    _check_solve(tol, max_iter, solver)
    traces = [as_trace(s) for s in scenarios]
    for k, trace in enumerate(traces):
        try:
            trace.check_shape(config.horizon, config.n_drugs)
        except ValueError as exc:
            raise ValueError(f"scenario {k}: {exc}") from None
    if in_transit is not None:
        in_transit = _check_in_transit(in_transit, config)
    start = time.perf_counter()
    history = _check_history(service_history, config)
    qp = _StackedQP(
        [_FORMULATIONS["balance"](config, trace, in_transit, history) for trace in traces]
    )
    # Ipopt starts from each scenario's own order-up-to-band plan (Clarabel takes no start).
    z0 = np.concatenate([_warm_start(p) for p in qp.parts]) if solver == "ipopt" else None
    run = _run_solver(
        qp, solver, tol=tol, max_iter=max_iter, max_wall_time=max_wall_time, z0=z0,
        print_level=print_level, options=options, obj_scale=config.reward_scale * config.horizon,
        pivtol=_mumps_pivtol(config),
    )  # fmt: skip
    T, N, K = config.horizon, config.n_drugs, len(traces)
    if run.z is None:
        plans, costs, objective = np.zeros((K, T, N)), np.full(K, np.nan), float("nan")
    else:
        plans = np.empty((K, T, N))
        costs = np.empty(K)
        for k, (part, z) in enumerate(zip(qp.parts, qp.split(run.z), strict=True)):
            plans[k] = part.plan(z)[0]
            costs[k] = part.model_cost(z)
        objective = float(costs.mean())
    return TwoStageSolution(
        orders=plans[:, 0].mean(axis=0) if run.z is not None else np.zeros(N),
        objective=objective,
        scenario_costs=costs,
        plans=plans,
        status=run.status,
        message=run.message,
        iterations=run.iterations,
        solve_seconds=time.perf_counter() - start,
        solver=solver,
        n_variables=qp.n,
        n_constraints=qp.m,
    )
