"""Therapeutic substitution: drugs of one group serve each other's unmet demand from stock.

A :class:`Substitution` is an option of the scenario (``ScenarioConfig.substitution``);
``None``, the default of every scenario but ``hospital`` and ``pharma-atc``, means no drug can
stand in for another, as in the paper. With one, per drug ``i`` (``docs/model.md``,
"Substitution"):

* ``group_i`` names the drug's substitution group (drugs of one therapeutic class, for example
  one ATC pharmacological subgroup); ``-1``: the drug has no substitute.
* When the drug's own stock cannot serve its demand ``A_i(t)``, the unmet part can be served by
  the other drugs of its group from the stock *they* have left after serving their own demand
  (each drug serves its own patients first). Serving one unit of drug ``i``'s demand takes
  ``ratio_i`` units of the substitute (the dose conversion, > 0) and costs ``cost_i`` USD on
  top (the switch: a pharmacist's review, a more expensive regimen), counted in the shortage
  cost term. Substitutes are taken first-in-first-out from the donors' stock, so units that
  would expire at the end of the slot go first.
* **The rule inside a slot** (after each drug's own FIFO service, before a supply model's
  alternative source and before expiry): the recipients of a group are served in criticality
  order (vital, then essential, then non-essential: ``ScenarioConfig.criticality``; all at once
  without classes). At each level the group's spare stock ``P`` (units the donors have left)
  meets the level's need ``Q = sum ratio_i * unmet_i``: every recipient of the level gets the
  same share ``min(1, P / Q)`` of its unmet demand (proportional rationing), and every donor
  gives the same share of its spare stock. A drug with unmet demand has no stock left, so no
  drug serves itself.

The arrays a slot reports (``info``): ``substituted`` (units of each drug's demand served by a
substitute), ``donated`` (units each drug gave to the others) and ``substitution_cost`` (USD).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from druginv_gym._checks import check_array, check_fields, fail

__all__ = ["SUBSTITUTION_INFO", "Substitution"]

#: The per-drug arrays a slot with substitution reports, in order: units of the drug's demand
#: served by a substitute, units it gave to the other drugs of its group, and the cost of its
#: substitutions (USD, part of the shortage cost).
SUBSTITUTION_INFO = ("substituted", "donated", "substitution_cost")


@dataclass(frozen=True, eq=False)
class Substitution:
    """Which drugs can stand in for which (see the module docstring for the rule).

    Attributes:
        group: ``(N,)`` integers, the substitution group of each drug (``-1``: none). A group
            needs at least two drugs to matter; a drug alone in its group has no substitute.
        ratio: units of a substitute that serve one unit of the drug's demand (> 0), scalar or
            ``(N,)`` (default 1: doses are counted in one unit within a group).
        cost: USD per unit of the drug's demand served by a substitute (>= 0), scalar or
            ``(N,)``.
    """

    group: Any
    ratio: Any = 1.0
    cost: Any = 0.0

    def __post_init__(self) -> None:
        group = np.array(self.group, dtype=object)
        if group.ndim != 1 or len(group) == 0:
            fail("substitution.group", None, self.group, "must be a non-empty 1-D array")
        for i, v in enumerate(group.tolist()):
            try:
                ok = not isinstance(v, bool) and float(v).is_integer() and v >= -1
            except (TypeError, ValueError):
                ok = False
            if not ok:
                fail("substitution.group", i, v, "must be an integer >= -1 (-1: no group)")
        n = len(group)
        object.__setattr__(self, "group", group.astype(np.int64))
        for name, positive in (("ratio", True), ("cost", False)):
            value = getattr(self, name)
            try:
                arr = np.array(value, dtype=np.float64)
            except (TypeError, ValueError):
                fail(f"substitution.{name}", None, value, "is not a numeric array")
            if arr.ndim == 0:
                arr = np.full(n, float(arr))
            if arr.shape != (n,):
                raise ValueError(
                    f"substitution.{name} has shape {arr.shape}; expected a scalar or ({n},), "
                    "one per drug of substitution.group"
                )
            check_array(f"substitution.{name}", arr, positive=positive)
            object.__setattr__(self, name, arr)
        for arr in (self.group, self.ratio, self.cost):
            arr.setflags(write=False)
        # the groups with at least two drugs, as (G, N) 0/1 membership (the rule's sums)
        ids, counts = np.unique(self.group[self.group >= 0], return_counts=True)
        live = ids[counts >= 2]
        member = (self.group[None, :] == live[:, None]).astype(np.float64)
        member.setflags(write=False)
        object.__setattr__(self, "_member", member)
        substitutable = member.sum(axis=0) > 0
        substitutable.setflags(write=False)
        object.__setattr__(self, "_substitutable", substitutable)

    @property
    def members(self) -> np.ndarray:
        """``(G, N)`` 0/1: row ``g`` marks the drugs of the ``g``-th group of two or more."""
        return self._member

    @property
    def substitutable(self) -> np.ndarray:
        """``(N,)`` bool: the drugs that have at least one substitute."""
        return self._substitutable

    def check(self, n_drugs: int) -> None:
        """``ValueError`` unless the arrays are one per drug of an ``n_drugs``-drug scenario."""
        if len(self.group) != n_drugs:
            raise ValueError(
                f"substitution.group has {len(self.group)} entries for {n_drugs} drugs: "
                "one group per drug (-1: none)"
            )

    def serve(
        self, unmet: np.ndarray, spare: np.ndarray, rank: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rule of one slot: ``(substituted, donated)``, each ``(B, N)`` units.

        Args:
            unmet: ``(B, N)`` demand the drug's own stock could not serve (units).
            spare: ``(B, N)`` stock each drug has left after serving its own demand (units).
            rank: ``(N,)`` integers, the criticality level of each drug (0 served first;
                ``None``: one level).
        """
        member = self._member
        substituted = np.zeros_like(unmet)
        donated = np.zeros_like(spare)
        if member.shape[0] == 0:
            return substituted, donated
        levels = np.zeros(unmet.shape[-1], dtype=np.int64) if rank is None else rank
        for level in np.unique(levels):
            take = (levels == level) & self.substitutable
            need = self.ratio * unmet * take  # (B, N) substitute units asked for
            need_g = need @ member.T  # (B, G)
            pool_g = spare @ member.T
            share = np.divide(
                np.minimum(pool_g, need_g), need_g, out=np.zeros_like(need_g), where=need_g > 0
            )
            given = np.divide(
                share * need_g, pool_g, out=np.zeros_like(pool_g), where=pool_g > 0
            )  # share of each donor's spare stock the level takes
            got = (share @ member) * unmet * take
            gave = np.minimum((given @ member) * spare, spare)
            substituted += got
            donated += gave
            spare = spare - gave
        return substituted, donated

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (:meth:`from_dict` inverts it)."""
        return {f.name: getattr(self, f.name).tolist() for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Substitution:
        """Inverse of :meth:`to_dict`; ``ValueError`` on unknown fields."""
        check_fields(cls, data, "substitution")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"invalid substitution: {exc}") from None
