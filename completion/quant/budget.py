"""Exact per-layer bit allocation under a weight-memory budget (the W* preset).

Each layer ``i`` picks a bit width ``b`` from its options with a cost ``c_i(b)`` (measured sensitivity: the
quality loss when that layer alone is quantized at ``b`` bits) and a size ``m_i(b)`` in bytes. The solver
minimises ``sum_i c_i(b_i)`` subject to ``sum_i m_i(b_i) <= budget`` exactly, by dynamic programming over the
byte budget (a multiple-choice knapsack). Sizes are divided by their greatest common divisor first, so the table
stays small for real networks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from completion.errors import ConfigError

__all__ = ["LayerOptions", "allocate_bits"]


@dataclass(frozen=True)
class LayerOptions:
    """The choices for one layer.

    Attributes:
        name: layer name.
        cost: bit width -> cost (lower is better; e.g. RMSE increase in metres).
        size_bytes: bit width -> bytes stored at that width (same keys as `cost`).
    """

    name: str
    cost: Mapping[int, float]
    size_bytes: Mapping[int, int]


def allocate_bits(layers: Sequence[LayerOptions], budget_bytes: int) -> tuple[dict[str, int], float, int]:
    """Choose one bit width per layer minimising total cost within the byte budget.

    Args:
        layers: options per layer.
        budget_bytes: the largest allowed total size in bytes.

    Returns:
        (bits per layer name, total cost, total bytes). Ties in cost go to the smaller total size.

    Raises:
        ConfigError: if even the smallest choice of every layer exceeds the budget.
    """
    smallest = sum(min(opt.size_bytes.values()) for opt in layers)
    if smallest > budget_bytes:
        raise ConfigError(
            f"weight budget {budget_bytes} bytes is below the smallest possible size {smallest} bytes; raise the budget"
        )
    sizes = [int(s) for opt in layers for s in opt.size_bytes.values()]
    unit = math.gcd(*sizes) if sizes else 1
    capacity = budget_bytes // unit
    inf = np.inf
    # best[c] = min cost of the layers so far using at most c units
    best = np.zeros(capacity + 1)
    choices: list[np.ndarray] = []
    for opt in layers:
        bits_list = sorted(opt.size_bytes)
        new = np.full(capacity + 1, inf)
        pick = np.full(capacity + 1, -1, dtype=np.int64)
        for k, bits in enumerate(bits_list):
            w = opt.size_bytes[bits] // unit
            if w > capacity:
                continue
            cand = np.full(capacity + 1, inf)
            cand[w:] = best[: capacity + 1 - w] + float(opt.cost[bits])
            better = cand < new
            new[better] = cand[better]
            pick[better] = k
        best = new
        choices.append(pick)
    # cheapest cost, then smallest capacity achieving it (best is non-increasing in capacity)
    c = int(np.argmin(best))
    total_cost = float(best[c])
    result: dict[str, int] = {}
    for opt, pick in zip(reversed(layers), reversed(choices), strict=True):
        bits = sorted(opt.size_bytes)[int(pick[c])]
        result[opt.name] = bits
        c -= opt.size_bytes[bits] // unit
    total_bytes = sum(opt.size_bytes[result[opt.name]] for opt in layers)
    return {opt.name: result[opt.name] for opt in layers}, total_cost, total_bytes
