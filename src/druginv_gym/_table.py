"""The mechanics every registry of the library shares: a table of named entries.

The registries of exogenous processes (``druginv_gym.exogenous``), forecasters
(``druginv_gym.forecasting``), metrics (``druginv_gym.evaluation``), and policies and trainers
(``druginv_gym.registry``) each keep a :class:`NameTable`: entries in registration order, a
read-only view for readers, built-in names that keep their meaning, and the same errors
everywhere (a taken name, a built-in name, an unknown name).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

V = TypeVar("V")

__all__ = ["NameTable"]


class NameTable(Generic[V]):
    """Entries by name, in registration order.

    Args:
        what: what an entry is, for messages (``"forecaster"``, ``"process kind"``, ...).

    Replacing an entry (``overwrite=True``) keeps its place in the order. Names marked with
    :meth:`seal` (the library's own entries) can be neither replaced nor removed.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, V] = {}
        self._built_in: set[str] = set()
        self._lock = threading.RLock()
        #: The entries as a read-only mapping (it follows later registrations).
        self.view: Mapping[str, V] = MappingProxyType(self._items)

    def add(self, name: str, value: V, *, overwrite: bool = False) -> V:
        """Register ``value`` as ``name`` and return it. ``ValueError`` when ``name`` is built
        in, or taken by another entry and ``overwrite`` is false (registering the same entry
        again is a no-op)."""
        with self._lock:
            old = self._items.get(name)
            if old is value:
                return value
            if name in self._built_in:
                raise ValueError(f"{self.what} {name!r} is built in and cannot be replaced")
            if old is not None and not overwrite:
                label = getattr(old, "__name__", None)
                raise ValueError(
                    f"{self.what} {name!r} is already registered"
                    + (f" ({label})" if label else "")
                    + "; pass overwrite=True to replace it"
                )
            self._items[name] = value
            return value

    def remove(self, name: str) -> V:
        """Unregister ``name`` and return its entry. ``ValueError`` for a built-in name or one
        that is not registered (listing those that are)."""
        with self._lock:
            if name in self._built_in:
                raise ValueError(f"{self.what} {name!r} is built in and cannot be unregistered")
            if name not in self._items:
                raise ValueError(self.unknown(name))
            return self._items.pop(name)

    def unknown(self, name: object) -> str:
        """The message for a name that is not registered."""
        return f"unknown {self.what} {name!r}; registered: {list(self._items)}"

    def seal(self) -> None:
        """Mark every entry registered so far as built in."""
        with self._lock:
            self._built_in.update(self._items)

    def is_built_in(self, name: str) -> bool:
        return name in self._built_in

    def snapshot(self) -> dict[str, V]:
        """A copy of the entries, for :meth:`restore`."""
        with self._lock:
            return dict(self._items)

    def restore(self, snapshot: Mapping[str, V]) -> None:
        """Put back the entries of an earlier :meth:`snapshot` (undoing what came since)."""
        with self._lock:
            self._items.clear()
            self._items.update(snapshot)

    def get(self, name: str) -> V | None:
        return self._items.get(name)

    def __getitem__(self, name: str) -> V:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> tuple[V, ...]:
        return tuple(self._items.values())
