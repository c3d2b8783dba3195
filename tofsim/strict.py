"""Strict conversion between plain dicts (TOML, JSON) and frozen keyword-only config dataclasses.

`from_dict` is the one strict constructor of the project's configs: an unknown key raises `ConfigError` listing
the valid ones; a nested table is merged key by key over the field's current value (a dataclass or a dict); a
list becomes a tuple where the field holds a tuple; the dataclass's own ``__post_init__`` validates the values
(`check_types` checks them against the field annotations). `to_plain` is the way back.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True)
    ... class Lens:
    ...     f_mm: float = 4.0
    ...     size_px: tuple[int, int] = (640, 480)
    >>> from_dict(Lens, {"size_px": [320, 240]}, where="lens")
    Lens(f_mm=4.0, size_px=(320, 240))
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from tofsim.errors import ConfigError, TofsimError

__all__ = ["from_dict", "merged_value", "to_plain", "check_keys", "check_types", "deep_merge"]

T = TypeVar("T")


def check_keys(d: Mapping[str, object], valid: Collection[str], where: str) -> None:
    """Raise `ConfigError` naming the keys of `d` not in `valid`, and listing the valid ones (in their order)."""
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")


def deep_merge(base: Mapping[str, object], over: Mapping[str, object]) -> dict[str, object]:
    """`over` merged into a copy of `base`; nested dicts merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def to_plain(value: object) -> Any:
    """Dataclasses, tuples, numpy scalars -> JSON/TOML-friendly plain values (dicts, lists, numbers, strings)."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_plain(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalar
        return item()
    return value


def _type_allows(annotation: object, value: object) -> bool:
    """Loose runtime check of a plain value against a field annotation (int, float, str, bool, Optional, dict)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_allows(a, value) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is dict or annotation is dict:
        return isinstance(value, Mapping)
    return True


def check_types(obj: object, where: str) -> None:
    """Raise `ConfigError` for a field of dataclass `obj` whose value does not fit its annotation.

    Checks int, float, str, bool, Optional and dict annotations; others pass. For a ``__post_init__``.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if f.name in hints and not _type_allows(hints[f.name], value):
            raise ConfigError(f"{where}.{f.name}: expected {hints[f.name]}, got {type(value).__name__} {value!r}")


def _tuples(value: object) -> object:
    return tuple(_tuples(v) if isinstance(v, list) else v for v in value) if isinstance(value, list) else value


def merged_value(current: object, value: object, *, where: str) -> object:
    """The new value of a field whose current value is `current`, given the plain `value`.

    A table over a dataclass is merged key by key and built strictly (by the class's own ``from_dict`` when it
    has one); a table over a dict replaces it; a list over a tuple becomes a tuple; anything else is kept.

    Raises:
        ConfigError: a nested key that is not a field, a value the nested class rejects, or a non-table for a dict.
    """
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        if not isinstance(value, Mapping):
            return value  # an already built object, or a bad value that the class rejects
        merged = deep_merge(to_plain(current), value)
        own = getattr(type(current), "from_dict", None)
        if own is None:
            return from_dict(type(current), merged, where=where)
        try:
            return own(merged)
        except TofsimError as err:
            raise ConfigError(f"{where}: {err}") from None
    if isinstance(current, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of keys, got {type(value).__name__} {value!r}")
        return dict(value)
    if isinstance(current, tuple):
        return _tuples(value)
    return value


def from_dict(cls: type[T], d: object, *, where: str, base: T | None = None) -> T:
    """Strictly build config dataclass `cls` from a plain dict, over `base` (default: the field defaults).

    Args:
        cls: a (frozen, keyword-only) dataclass.
        d: the plain dict, e.g. a parsed TOML table.
        where: the config's name in error messages (``generate``, ``generate.camera``, ...).
        base: the values a key of `d` overrides; None builds from the field defaults.

    Returns:
        The new `cls` instance (validated by its ``__post_init__``).

    Raises:
        ConfigError: `d` is not a table, or has a key that is not a field (the message lists the valid ones).
        Whatever the class's ``__post_init__`` raises for a bad value.
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected a table of keys, got {type(d).__name__} {d!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(d, fields, where)
    kwargs = {}
    for key, value in d.items():
        if base is not None:
            current = getattr(base, key)
        else:
            f = fields[key]
            current = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        kwargs[key] = merged_value(current, value, where=f"{where}.{key}")
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)  # type: ignore[type-var]
    except TypeError as err:  # the class's own checks raise their own errors
        raise ConfigError(f"{where}: {err}") from None
