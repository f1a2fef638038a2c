"""The seed ranges that keep training and evaluation apart.

Evaluation in this project uses small seeds (``0, 1, ...``: the benchmarks' held-out episodes);
everything fitted to a scenario (the tuned rules, the forecasters' training series) uses seeds
from :data:`TRAIN_SEED_BASE` on, so the two never meet.
"""

from __future__ import annotations

__all__ = ["TRAIN_SEED_BASE"]

#: First training seed; evaluation seeds stay below it.
TRAIN_SEED_BASE = 1_000_000
