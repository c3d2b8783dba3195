"""Bit-width plans: which weight and activation bits each quantizable layer gets.

A plan maps a layer name (the module path of its convolution, e.g. ``core.enc.1.0.conv``) to
``LayerBits(weight_bits, act_bits)``; ``act_bits`` quantizes that layer's input. Presets:

| preset | weights | activations |
|---|---|---|
| `fp32` | float | float |
| `w8a8` | 8 | 8 |
| `w4a8` | 4 | 8 |
| `w4a4` | 4 | 4 |
| `wstar` | 2, 4 or 8 per layer, chosen under a weight-memory budget (`completion.quant.wstar`) | 8 |

The first convolution (it sees raw depth) and the output head keep 8-bit weights in every preset: they hold
well under 1 % of the weights, and 4-bit depth input costs accuracy for no memory gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tofsim.registry import Registry

__all__ = ["LayerBits", "BIT_PRESETS", "uniform_plan", "preset_plan"]


@dataclass(frozen=True)
class LayerBits:
    """Bits of one layer: `weight_bits` (2, 4, 8 or None for float) and `act_bits` of its input (4, 8 or None)."""

    weight_bits: int | None
    act_bits: int | None


@dataclass(frozen=True)
class BitPreset:
    """A named uniform preset (W*, being searched, has no fixed weight bits)."""

    name: str
    weight_bits: int | None
    act_bits: int | None
    searched: bool = False


BIT_PRESETS: Registry[BitPreset] = Registry("bit-width preset")
for _p in (
    BitPreset("fp32", None, None),
    BitPreset("w8a8", 8, 8),
    BitPreset("w4a8", 4, 8),
    BitPreset("w4a4", 4, 4),
    BitPreset("wstar", None, 8, searched=True),
):
    BIT_PRESETS.register(_p.name)(lambda p=_p: p)


def uniform_plan(layer_names: Sequence[str], weight_bits: int | None, act_bits: int | None) -> dict[str, LayerBits]:
    """Same bits for every layer, except 8-bit weights for the first and last layer (see module docstring)."""
    plan = {}
    for i, name in enumerate(layer_names):
        edge = i in (0, len(layer_names) - 1) and weight_bits is not None
        plan[name] = LayerBits(max(weight_bits, 8) if edge else weight_bits, act_bits)
    return plan


def preset_plan(preset: str, layer_names: Sequence[str]) -> dict[str, LayerBits]:
    """The plan of a uniform preset (`fp32`, `w8a8`, `w4a8`, `w4a4`). W* plans come from `completion.quant.wstar`.

    Raises:
        RegistryError: unknown preset (lists the valid names).
        ValueError: for `wstar`, which needs a search.
    """
    p = BIT_PRESETS.create(preset)
    if p.searched:
        raise ValueError("the wstar plan is searched: use completion.quant.wstar.search_plan")
    return uniform_plan(layer_names, p.weight_bits, p.act_bits)
