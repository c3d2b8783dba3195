"""Strict construction of a model's frozen keyword-only config dataclass from keyword arguments."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, TypeVar

from completion.errors import ConfigError

C = TypeVar("C")

__all__ = ["config_from_kwargs"]


def config_from_kwargs(cls: type[C], model_name: str, kwargs: dict[str, Any]) -> C:
    """Build `cls(**kwargs)`, rejecting unknown keys with the list of valid ones.

    Raises:
        ConfigError: for an unknown key (with close matches) or a value the dataclass rejects.
    """
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=2)
            hints.append(f"{key!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(
            f"unknown config key(s) for model {model_name!r}: {', '.join(hints)}; valid keys: {', '.join(valid)}"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"bad config for model {model_name!r}: {exc}") from exc
