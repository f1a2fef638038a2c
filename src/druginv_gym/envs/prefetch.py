"""The next episodes' traces, drawn on a background thread while a vector env steps.

A native vector env autoresets all its episodes at once, and drawing ``num_envs x horizon x
n_drugs`` values of five processes at the reset would stall the step that resets. With
``prefetch`` the draw for the next episodes starts on a background thread as soon as the
current ones begin, from a *copy* of the env's generator, and the autoreset takes it only when
the result is exactly what the env would have drawn itself (see :class:`TracePrefetch`).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np

from druginv_gym.config import ScenarioConfig
from druginv_gym.envs.core import slot_major
from druginv_gym.exogenous import sample_exogenous, trace_fields

__all__ = ["PREFETCH_MIN_DRUG_SLOTS", "TracePrefetch", "wants_prefetch"]

#: Batches of at least this many drug-slots (``num_envs * horizon * n_drugs``) draw their next
#: episodes' traces in the background by default (``prefetch=None``).
PREFETCH_MIN_DRUG_SLOTS = 100_000


class TracePrefetch:
    """The next episodes' traces, drawn on a background thread from a copy of the env's
    generator while the env steps (numpy releases the GIL while it fills large arrays, so the
    draws use another core).

    :meth:`take` hands them over only when the env's generator is the one that was copied and
    has not drawn since: then they are exactly what the env would have drawn itself, and the
    generator is moved on as if it had. Otherwise (``reset(seed=...)``, a new ``np_random``, a
    draw from ``env.np_random`` in between, or an error in the draw) nothing is taken and the env
    draws as usual, so seeded episodes never depend on the prefetch.
    """

    def __init__(self, config: ScenarioConfig, generator: np.random.Generator, batch: int):
        self.owner = generator
        self.before = generator.bit_generator.state
        self._copy = copy.deepcopy(generator)
        self._traces: dict[str, np.ndarray] | None = None
        self._after: dict[str, Any] | None = None
        self._thread = threading.Thread(
            target=self._draw, args=(config, batch), name="druginv-trace-prefetch", daemon=True
        )
        self._thread.start()

    def _draw(self, config: ScenarioConfig, batch: int) -> None:
        fields = trace_fields(config)
        try:
            # stored slot by slot here, on this thread, so the reset need not copy them
            self._traces = slot_major(sample_exogenous(config, self._copy, batch), fields)
            self._after = self._copy.bit_generator.state
        except Exception:  # the env draws again in its own thread, and raises there
            self._traces = None

    def take(self, generator: np.random.Generator) -> dict[str, np.ndarray] | None:
        """The traces ``generator`` would draw next, advancing it past them; ``None`` (and
        ``generator`` untouched) when they are not that."""
        self._thread.join()
        if (
            self._traces is None
            or generator is not self.owner
            or generator.bit_generator.state != self.before
        ):
            return None
        generator.bit_generator.state = self._after
        return self._traces

    def wait(self) -> None:
        self._thread.join()


def wants_prefetch(prefetch: bool | None, num_envs: int, config: ScenarioConfig) -> bool:
    """Whether a vector env of ``num_envs`` episodes of ``config`` prefetches: ``prefetch``
    itself, or for ``None`` whether a batch has at least :data:`PREFETCH_MIN_DRUG_SLOTS`
    drug-slots (below that the thread costs more than the draw). ``ValueError`` for any
    other value."""
    if prefetch is not None and not isinstance(prefetch, bool):
        raise ValueError(f"prefetch = {prefetch!r} must be True, False or None")
    if prefetch is None:
        return num_envs * config.horizon * config.n_drugs >= PREFETCH_MIN_DRUG_SLOTS
    return prefetch
