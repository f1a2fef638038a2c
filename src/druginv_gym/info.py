"""The levels of a DR2O env's ``info``, and the check that a reader gets the level it needs.

They live here, below :mod:`druginv_gym.envs` and :mod:`druginv_gym.wrappers`, so that the
wrappers that read the per-drug info arrays can refuse the summary info without importing the
envs (no import cycle between the two subpackages).
"""

from __future__ import annotations

from typing import Any

__all__ = ["INFO_LEVELS", "TOTAL_SUFFIX", "check_info_level", "require_full_info"]

#: The levels of ``info``: ``"full"`` (default) every per-drug array, ``"summary"`` per-env
#: costs and totals only (each per-drug array summed over drugs, named ``<key>_total``).
INFO_LEVELS: tuple[str, ...] = ("full", "summary")
#: The summary info's name for the per-env total of the per-drug info array ``key``.
TOTAL_SUFFIX = "_total"


def check_info_level(level: Any) -> str:
    """``level`` if it is one of :data:`INFO_LEVELS`, else ``ValueError`` naming it."""
    if not isinstance(level, str) or level not in INFO_LEVELS:
        raise ValueError(f"info_level = {level!r}; expected one of {INFO_LEVELS}")
    return level


def require_full_info(env: Any, who: str) -> None:
    """``ValueError`` when ``env`` (any wrapper of a DR2O env) reports the summary info:
    ``who`` reads the per-drug info arrays."""
    level = getattr(env.unwrapped, "info_level", "full")
    if level != "full":
        raise ValueError(
            f"{who} reads the per-drug info arrays: it needs info_level='full', not {level!r} "
            "(set env.unwrapped.info_level = 'full')"
        )
