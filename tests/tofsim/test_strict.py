"""tofsim.strict: the one strict dict -> config dataclass conversion."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tofsim.errors import ConfigError
from tofsim.strict import check_types, deep_merge, from_dict, merged_value, to_plain


@dataclass(frozen=True, kw_only=True)
class Inner:
    size_px: tuple[int, int] = (4, 3)
    gain: float = 1.0

    def __post_init__(self) -> None:
        check_types(self, "inner")
        if self.gain <= 0:
            raise ConfigError("inner.gain: must be > 0")


@dataclass(frozen=True, kw_only=True)
class Outer:
    seed: int = 0
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=lambda: {"a": 1.0})
    name: str | None = None

    def __post_init__(self) -> None:
        check_types(self, "outer")


def test_defaults_nested_merge_and_tuples():
    cfg = from_dict(Outer, {"seed": 3, "inner": {"size_px": [8, 6]}, "weights": {"b": 2.0}}, where="outer")
    assert cfg == Outer(seed=3, inner=Inner(size_px=(8, 6)), weights={"b": 2.0})
    over = from_dict(Outer, {"inner": {"gain": 2.0}}, where="outer", base=cfg)
    assert over.inner == Inner(size_px=(8, 6), gain=2.0) and over.seed == 3  # merged key by key over the base
    assert from_dict(Outer, to_plain(over), where="outer") == over  # round trip


def test_unknown_keys_are_listed_with_the_valid_ones_in_order():
    with pytest.raises(ConfigError, match=r"outer: unknown key\(s\) sed; valid keys: seed, inner, weights, name"):
        from_dict(Outer, {"sed": 1}, where="outer")
    with pytest.raises(ConfigError, match=r"outer.inner: unknown key\(s\) size; valid keys: size_px, gain"):
        from_dict(Outer, {"inner": {"size": 1}}, where="outer")


def test_bad_values_and_shapes():
    with pytest.raises(ConfigError, match="outer: expected a table of keys, got list"):
        from_dict(Outer, [1], where="outer")
    with pytest.raises(ConfigError, match="outer.weights: expected a table of keys"):
        from_dict(Outer, {"weights": 3}, where="outer")
    with pytest.raises(ConfigError, match="outer.seed: expected <class 'int'>, got str"):
        from_dict(Outer, {"seed": "x"}, where="outer")
    with pytest.raises(ConfigError, match="inner.gain: must be > 0"):  # the class's own check, unchanged
        from_dict(Outer, {"inner": {"gain": 0.0}}, where="outer")


def test_helpers():
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == {"a": {"b": 1, "c": 3}, "d": 4}
    assert merged_value((1, 2), [3, [4, 5]], where="x") == (3, (4, 5))
    assert to_plain(Outer()) == {"seed": 0, "inner": {"size_px": [4, 3], "gain": 1.0}, "weights": {"a": 1.0},
                                 "name": None}  # fmt: skip
