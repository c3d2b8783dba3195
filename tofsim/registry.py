"""A tiny name -> factory registry used for every pluggable part (patterns, noise stages, presets, sources)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tofsim.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories.

    Example:
        >>> patterns = Registry("spot pattern")
        >>> @patterns.register("grid")
        ... def grid(rows=2): return rows
        >>> patterns.create("grid", rows=3)
        3
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory under `name` (names are unique)."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory for `name`.

        Raises:
            RegistryError: for an unknown name, listing the valid ones and close matches.
        """
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint}; valid names: {', '.join(sorted(self._entries))}"
            ) from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the entry `name` with keyword arguments."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
