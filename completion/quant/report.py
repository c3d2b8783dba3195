"""The memory report of `completion memory RUN`: weight bytes per layer as stored, and activation memory.

Activation memory below 8 bits is computed from tensor liveness, not measured (no CPU runtime stores 4-bit
activations); at 8 bits it is what an int8 runtime needs for the same schedule, before allocator overheads.
"""

from __future__ import annotations

from torch import nn

from completion.quant.example import example_batch
from completion.quant.lsq import LsqQuantizer
from completion.quant.memory import activation_summary, trace_activations, weight_bytes
from completion.quant.qat import QuantConv2d

__all__ = ["memory_report", "format_memory_report"]


def _act_bits(model: nn.Module) -> tuple[int | None, int | None]:
    # (narrowest, widest) activation bits of the quantized layers' inputs; None for a float model
    bits = {m.bits.act_bits for m in model.modules() if isinstance(m, QuantConv2d)}
    bits.discard(None)
    return (min(bits), max(bits)) if bits else (None, None)


def _activation_quantizers(model: nn.Module) -> list[tuple[nn.Module, int]]:
    return [(m, m.bits) for m in model.modules() if isinstance(m, LsqQuantizer) and not m.per_channel and m.enabled]


def memory_report(model: nn.Module, *, height_px: int = 480, width_px: int = 640) -> dict:
    """Weights and activations of a float or QAT model, beside float32.

    Args:
        model: a model (float or from `prepare_qat`).
        height_px, width_px: input size for the activation count.

    Returns:
        JSON-ready dict: ``layers`` (name, weight_bits, weights, channels, bytes, fp32_bytes), ``weights``
        (bytes, fp32_bytes, ratio_vs_fp32), ``activations`` (``bits``: the narrowest activation bits of the
        quantized layers, ``max_bits``: the widest; peak/max/sum bytes with each tensor at the bits it is stored at,
        and in float32; ``computed_not_measured``), ``input_hw``.
    """
    layers = []
    wrapped = {id(m.conv) for m in model.modules() if isinstance(m, QuantConv2d)}
    for name, m in model.named_modules():
        if isinstance(m, QuantConv2d):
            conv, bits = m.conv, m.bits.weight_bits
        elif isinstance(m, nn.Conv2d) and id(m) not in wrapped:
            conv, bits = m, None
        else:
            continue
        n, c = conv.weight.numel(), conv.out_channels
        layers.append(
            {
                "name": name,
                "weight_bits": bits or 32,
                "weights": n,
                "channels": c,
                "bytes": weight_bytes(n, c, bits),
                "fp32_bytes": weight_bytes(n, c, None),
            }
        )
    total = sum(row["bytes"] for row in layers)
    fp32 = sum(row["fp32_bytes"] for row in layers)
    act_bits, widest = _act_bits(model)
    model = model.eval()
    batch = example_batch(height_px, width_px)
    # one forward pass serves both counts; each tensor a quantizer reads is stored at that quantizer's bits
    # (8 for the first and last layers of W4A4), any other tensor at the widest activation bits of the model
    nodes = trace_activations(model, batch, quantizers=_activation_quantizers(model))
    at_bits = activation_summary(nodes, widest or 32)
    at_fp32 = activation_summary(nodes, 32, node_bits=False)
    return {
        "input_hw": [height_px, width_px],
        "layers": layers,
        "weights": {"bytes": total, "fp32_bytes": fp32, "ratio_vs_fp32": fp32 / total if total else float("nan")},
        "activations": {
            "bits": act_bits or 32,
            "max_bits": widest or 32,
            "peak_bytes": at_bits["peak_bytes"],
            "max_tensor_bytes": at_bits["max_tensor_bytes"],
            "sum_bytes": at_bits["sum_bytes"],
            "fp32_peak_bytes": at_fp32["peak_bytes"],
            "fp32_max_tensor_bytes": at_fp32["max_tensor_bytes"],
            "fp32_sum_bytes": at_fp32["sum_bytes"],
            "num_tensors": at_bits["num_tensors"],
            "computed_not_measured": (act_bits or 32) < 8,
        },
    }


def _bits_text(acts: dict) -> str:
    lo, hi = acts["bits"], acts.get("max_bits", acts["bits"])
    return f"{lo} bits" if lo == hi else f"{lo} bits ({hi} at the first and last layers)"


def format_memory_report(report: dict) -> str:
    """A plain-text table of `memory_report`."""
    lines = [f"{'layer':<34} {'bits':>4} {'weights':>9} {'bytes':>10} {'fp32 bytes':>11}"]
    for row in report["layers"]:
        lines.append(
            f"{row['name']:<34} {row['weight_bits']:>4} {row['weights']:>9} {row['bytes']:>10} {row['fp32_bytes']:>11}"
        )
    w, a = report["weights"], report["activations"]
    h, wd = report["input_hw"]
    lines += [
        f"{'total weights':<34} {'':>4} {'':>9} {w['bytes']:>10} {w['fp32_bytes']:>11}"
        f"   ({w['ratio_vs_fp32']:.2f}x smaller)",
        f"activations at {h}x{wd}, {_bits_text(a)}: peak (liveness) {a['peak_bytes']:,} B "
        f"(float32 {a['fp32_peak_bytes']:,} B); largest tensor {a['max_tensor_bytes']:,} B; "
        f"sum over tensors {a['sum_bytes']:,} B",
    ]
    if a["computed_not_measured"]:
        lines.append(f"note: {a['bits']}-bit activation memory is computed from tensor liveness, not measured.")
    return "\n".join(lines)
