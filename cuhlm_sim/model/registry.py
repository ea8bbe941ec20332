"""Registries of plug-ins keyed by the scenario's kind strings (after Vidur's base_registry).

Every choice a scenario makes between implementations (``policy.kind``, ``uplink.scheduler``,
``server.discipline``, ``server.latency_model``, ``channel.model``, ``channel.rate_model``,
``channel.fading``, ``channel.mobility``) is looked up in one :class:`Registry`, next to the
implementations it holds. Lookups happen when a run is set up, never per token.
``tests/unit/test_plugin_kinds.py`` checks that each registry holds exactly the kinds the schema
accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Maps a kind string to what builds a ``T`` (a class or a factory function); registering
    a kind twice is a bug."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Callable[..., T]] = {}

    def add(self, kind: str, entry: E) -> E:
        if kind in self._entries:
            raise ValueError(f"{self.what} {kind!r} registered twice")
        self._entries[kind] = entry
        return entry

    def register(self, kind: str) -> Callable[[E], E]:
        """Decorator form of :meth:`add`, so a kind's name stands on its implementation."""
        return lambda entry: self.add(kind, entry)

    def get(self, kind: str) -> Callable[..., T]:
        try:
            return self._entries[kind]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.what} {kind!r} (known: {known})") from None

    def create(self, kind: str, *args: Any, **kwargs: Any) -> T:
        return self.get(kind)(*args, **kwargs)

    def kinds(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, kind: object) -> bool:
        return kind in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds())
