"""Registries of plug-ins keyed by the YAML ``kind`` string (after Vidur's base_registry)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a kind string to an implementation class; registering a kind twice is a bug."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._classes: dict[str, type[T]] = {}

    def add(self, kind: str, cls: type[T]) -> type[T]:
        if kind in self._classes:
            raise ValueError(f"{self.what} {kind!r} registered twice")
        self._classes[kind] = cls
        return cls

    def get(self, kind: str) -> type[T]:
        try:
            return self._classes[kind]
        except KeyError:
            known = ", ".join(sorted(self._classes))
            raise KeyError(f"unknown {self.what} {kind!r} (known: {known})") from None

    def create(self, kind: str, *args: Any, **kwargs: Any) -> T:
        return self.get(kind)(*args, **kwargs)

    def kinds(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, kind: object) -> bool:
        return kind in self._classes
