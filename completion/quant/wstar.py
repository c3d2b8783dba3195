"""W*: per-layer weight bits chosen under a weight-memory budget from measured layer sensitivities.

1. Sensitivity: for each layer and each candidate bit width, quantize that layer's weights alone (everything
   else float) and measure the quality loss ``evaluate(model) - evaluate(float model)`` (e.g. validation RMSE).
2. Allocation: `completion.quant.budget.allocate_bits` picks the bits minimising the summed sensitivity within
   the budget, exactly. The default budget is float32 weight memory / 14 (scales and biases counted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from completion.quant.bitwidths import LayerBits
from completion.quant.budget import LayerOptions, allocate_bits
from completion.quant.memory import weight_bytes
from completion.quant.qat import fold_all_bn, prepare_qat, quantizable_layers

__all__ = ["layer_sizes", "layer_sensitivity", "search_plan", "DEFAULT_COMPRESSION"]

DEFAULT_COMPRESSION = 14.0
CANDIDATE_BITS = (2, 4, 8)


def layer_sizes(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Layer name -> (weight elements, output channels) for every convolution."""
    return {name: (m.weight.numel(), m.out_channels) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def float_weight_bytes(model: nn.Module) -> int:
    """float32 bytes of all convolution weights and (folded) biases."""
    return sum(weight_bytes(n, c, None) for n, c in layer_sizes(model).values())


def layer_sensitivity(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    *,
    bits: Sequence[int] = CANDIDATE_BITS,
    act_bits: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[int, float]]:
    """Quality loss of quantizing each layer alone at each bit width.

    Args:
        model: the float model.
        evaluate: model -> error to minimise (lower is better), evaluated in eval mode.
        bits: candidate weight bit widths.
        act_bits: input-activation bits applied to every layer while measuring (None = float).
        progress: called with (done, total) after each evaluation.

    Returns:
        layer name -> {bits: evaluate(one layer quantized) - evaluate(float)}; never negative (clipped at 0).
    """
    folded = fold_all_bn(model)
    names = quantizable_layers(folded)
    base = evaluate(folded.eval())
    out: dict[str, dict[int, float]] = {}
    total, done = len(names) * len(bits), 0
    for name in names:
        out[name] = {}
        for b in bits:
            plan = {n: LayerBits(b if n == name else None, act_bits) for n in names}
            out[name][b] = max(0.0, evaluate(prepare_qat(folded, plan).eval()) - base)
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def search_plan(
    model: nn.Module,
    sensitivity: dict[str, dict[int, float]],
    *,
    budget_bytes: int | None = None,
    act_bits: int | None = 8,
) -> tuple[dict[str, LayerBits], dict]:
    """The W* plan: the allocation of weight bits that minimises summed sensitivity within the budget.

    Args:
        model: the float model (for layer sizes).
        sensitivity: from `layer_sensitivity`.
        budget_bytes: weight-memory budget; default float32 weight bytes / 14 (or, for a network too small to
            get there, its smallest size, with a note in the summary).
        act_bits: activation bits of every layer.

    Returns:
        (plan, summary with budget, chosen bytes, float bytes, ratio and predicted cost).
    """
    sizes = layer_sizes(model)
    fp32 = sum(weight_bytes(n, c, None) for n, c in sizes.values())
    options = [
        LayerOptions(name, sensitivity[name], {b: weight_bytes(n, c, b) for b in sensitivity[name]})
        for name, (n, c) in sizes.items()
    ]
    note = None
    if budget_bytes is None:
        budget = int(fp32 / DEFAULT_COMPRESSION)
        smallest = sum(min(o.size_bytes.values()) for o in options)
        if budget < smallest:  # tiny networks: per-channel scales and biases make 14x unreachable
            note = f"{DEFAULT_COMPRESSION:g}x is out of reach for this network; used its smallest size"
            budget = smallest
    else:
        budget = int(budget_bytes)
    bits, cost, total = allocate_bits(options, budget)
    plan = {name: LayerBits(b, act_bits) for name, b in bits.items()}
    summary = {
        "budget_bytes": budget,
        "weight_bytes": total,
        "fp32_weight_bytes": fp32,
        "ratio_vs_fp32": fp32 / total,
        "predicted_cost": cost,
        "bits": bits,
        "note": note,
    }
    return plan, summary
