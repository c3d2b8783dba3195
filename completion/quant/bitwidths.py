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

The first convolution (it sees raw depth) and the output head are kept at 8 bits, weights and input
activations, in every uniform preset: the usual practice of LSQ (Esser et al., ICLR 2020) and most QAT work. They
hold well under 1 % of the weights, and a 4-bit depth input (a 0.7 m step over 10 m) or a 4-bit input to the
head that writes the depth correction costs accuracy for almost no memory; the memory report counts these
tensors at 8 bits.
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
    """Same bits for every layer, except at least 8 bits (weights and input) for the first and last layer.

    Args:
        layer_names: quantizable layers in execution-definition order (first = the input layer, last = the head).
        weight_bits, act_bits: bits of every other layer (None = float).

    Returns:
        layer name -> `LayerBits` (see the module docstring for the first/last-layer rule).
    """
    plan = {}
    for i, name in enumerate(layer_names):
        edge = i in (0, len(layer_names) - 1)
        w = max(weight_bits, 8) if edge and weight_bits is not None else weight_bits
        a = max(act_bits, 8) if edge and act_bits is not None else act_bits
        plan[name] = LayerBits(w, a)
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
