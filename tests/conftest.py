"""Shared fixtures: small scenarios that keep the suite fast."""

from __future__ import annotations

import os
import sys


def _share_the_cores_between_xdist_workers() -> None:
    """Under pytest-xdist (``make test`` runs two workers), give each worker its share of the
    cores for torch's and the BLAS's thread pools, before numpy or torch is imported. Left to
    their default (a thread per core in every worker), the OpenMP threads of two workers
    fight over two cores and the LSTM tests run ten to fifty times slower. A value set in the
    environment is kept; subprocesses started by tests inherit it."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if not os.environ.get("PYTEST_XDIST_WORKER") or workers < 1:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = str(max(1, (cores or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    if "torch" in sys.modules:  # imported already (by a plugin): set its pool directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


_share_the_cores_between_xdist_workers()

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import druginv_gym  # noqa: E402, F401  (registers the ids)
from druginv_gym.config import ScenarioConfig  # noqa: E402
from druginv_gym.scenarios import make_scenario  # noqa: E402

from .helpers import missing  # noqa: E402

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ENV_IDS = ("DrugRefill-v0", "DrugRefillDiscrete-v0", "DrugRefillSequential-v0")


@pytest.fixture
def small_config() -> ScenarioConfig:
    """Paper scenario with 5 drugs over 8 slots."""
    return make_scenario("paper", n_drugs=5, horizon=8)


@pytest.fixture(params=["numpy", "numba"])
def each_backend(request):
    """Run the test on each backend of the dynamics (the numba one only where numba is
    installed, which CI requires), restoring the default afterwards."""
    from druginv_gym import dynamics

    if request.param == "numba" and not dynamics.numba_available():
        missing(
            "CI installs the `fast` extra, but numba is not installed",
            'numba not installed (pip install "druginv-gym[fast]")',
        )
    before = dynamics.get_backend()
    dynamics.set_backend(request.param)
    yield request.param
    dynamics.set_backend(before)
