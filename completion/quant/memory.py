"""Exact memory accounting: weight bytes as stored and peak activation bytes from tensor liveness.

Weights: ``ceil(n_weights * bits / 8)`` bytes of packed integers, plus one float32 scale per output channel,
plus a float32 bias per output channel (BatchNorm folded into the convolution gives every conv a bias).
Float32 layers store ``4 * (n_weights + n_bias)`` bytes.

Activations: the network is run once on an example input while every aten op is recorded in execution order.
Each activation tensor (one derived from the inputs, not from parameters) is live from the op that produces it
to the last op that reads it; the peak is the largest sum of live tensor sizes at any op, with each element
stored at the bit width of the quantizer that reads it (the default activation width otherwise). Element-wise
ops with one activation input (ReLU, BatchNorm, scaling, fake quantization) are counted as in place, as a fused
int8 runtime runs them. Below 8 bits this memory is
computed, not measured: no CPU runtime stores 4-bit activations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "weight_bytes",
    "ActivationNode",
    "peak_live_bytes",
    "trace_activations",
    "activation_memory",
    "activation_summary",
]

FLOAT32_BITS = 32


def weight_bytes(n_weights: int, n_channels: int, bits: int | None, *, has_bias: bool = True) -> int:
    """Bytes to store one layer's weights as deployed.

    Args:
        n_weights: number of weight elements.
        n_channels: output channels (one scale and one bias each).
        bits: weight bit width; None or 32 means float32 (no scales).
        has_bias: whether the layer carries a bias (always true after BatchNorm folding).

    Returns:
        Exact byte count: packed integer weights rounded up to whole bytes, float32 scales and biases.
    """
    bias = 4 * n_channels if has_bias else 0
    if bits is None or bits >= FLOAT32_BITS:
        return 4 * n_weights + bias
    return math.ceil(n_weights * bits / 8) + 4 * n_channels + bias


@dataclass
class ActivationNode:
    """One activation tensor in execution order.

    Attributes:
        name: op that produced it (aten op name or "input:<key>").
        elements: number of elements.
        inputs: indices of the activation nodes this op read.
        last_use: index of the last op (node index) that reads it; set by `trace_activations`.
        bits: bits per stored element when a quantizer stores it at its own width (None: the default width).
    """

    name: str
    elements: int
    inputs: list[int] = field(default_factory=list)
    last_use: int = -1
    bits: int | None = None


def _node_bytes(node: ActivationNode, bits: int, node_bits: bool) -> int:
    width = node.bits if node_bits and node.bits is not None else bits
    return math.ceil(node.elements * width / 8)


def peak_live_bytes(nodes: Sequence[ActivationNode], bits: int, *, node_bits: bool = True) -> tuple[int, int]:
    """Peak of the summed sizes of live tensors over the execution order.

    A node ``i`` is live at step ``j`` when ``i <= j <= max(i, last_use_i)``; at each step the op's inputs and
    its output are live together.

    Args:
        nodes: activation nodes in execution order (inputs first), with `last_use` set.
        bits: bits per stored element of a node without its own `bits`.
        node_bits: use each node's own `bits` where set (False: every element at `bits`, e.g. float32).

    Returns:
        (peak bytes, index of the node at which the peak occurs).
    """
    if not nodes:
        return 0, -1
    delta = [0] * (len(nodes) + 1)
    for i, node in enumerate(nodes):
        size = _node_bytes(node, bits, node_bits)
        delta[i] += size
        delta[max(i, node.last_use) + 1] -= size
    live, peak, at = 0, 0, 0
    for j in range(len(nodes)):
        live += delta[j]
        if live > peak:
            peak, at = live, j
    return peak, at


# Ops that, with a single activation input, are fused into the producer (counted in place).
_INPLACE_OPS = {
    "relu", "relu_", "clamp", "clamp_", "clamp_min", "hardtanh", "native_batch_norm", "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training", "batch_norm", "mul", "div", "add", "sub", "round", "neg", "sigmoid",
    "tanh", "detach", "alias", "view", "_unsafe_view", "reshape", "clone", "contiguous", "_to_copy", "expand",
    "slice", "squeeze", "unsqueeze", "permute", "t", "transpose", "abs", "rsub", "where", "lift_fresh",
    "constant_pad_nd", "copy_", "select", "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine",
}  # fmt: skip


class _Recorder(TorchDispatchMode):
    def __init__(self, inputs: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.nodes: list[ActivationNode] = []
        self.owner: dict[int, int] = {}  # id(tensor) -> node index
        self.keep: list[torch.Tensor] = []  # keeps tensors alive so ids are never reused
        for key, t in inputs.items():
            if isinstance(t, torch.Tensor) and t.dim() == 4:  # image tensors, not K
                self._new(f"input:{key}", t, [])

    def _new(self, name: str, t: torch.Tensor, inputs: list[int]) -> int:
        self.nodes.append(ActivationNode(name, t.numel(), inputs))
        self.owner[id(t)] = len(self.nodes) - 1
        self.keep.append(t)
        for i in inputs:
            self.nodes[i].last_use = len(self.nodes) - 1
        return len(self.nodes) - 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat_in = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        act_in = sorted({self.owner[id(a)] for a in flat_in if id(a) in self.owner})
        if not act_in:
            return out  # parameter math (e.g. weight fake quantization)
        outs = [o for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor)]
        if not outs:
            return out
        name = func.__name__.split(".")[0]
        if len(act_in) == 1 and name in _INPLACE_OPS:
            src = act_in[0]
            self.nodes[src].last_use = len(self.nodes) - 1
            for o in outs:
                self.owner[id(o)] = src
                self.keep.append(o)
            return out
        idx = self._new(name, outs[0], act_in)
        for o in outs[1:]:
            self.owner[id(o)] = idx
            self.keep.append(o)
        return out

    def tag(self, t: torch.Tensor, bits: int) -> None:
        """Store the node holding `t` at `bits` (the widest of the quantizers that read it)."""
        idx = self.owner.get(id(t))
        if idx is not None:
            node = self.nodes[idx]
            node.bits = bits if node.bits is None else max(node.bits, bits)


def trace_activations(
    model: nn.Module, batch: Mapping[str, torch.Tensor], *, quantizers: Sequence[tuple[nn.Module, int]] = ()
) -> list[ActivationNode]:
    """Run `model(batch)` once and return its activation tensors in execution order with last uses.

    Args:
        model: any model taking the batch dict.
        batch: its input.
        quantizers: (activation quantizer module, bits): the tensor each one reads is stored at its bits
            (`ActivationNode.bits`); e.g. the 8-bit first and last layers of a W4A4 plan.

    The network's output is kept live to the end.
    """
    hooks = []
    with torch.inference_mode(), _Recorder(batch) as rec:
        for module, bits in quantizers:
            hooks.append(module.register_forward_pre_hook(lambda _m, inputs, b=bits: rec.tag(inputs[0], b)))
        try:
            model(dict(batch))
        finally:
            for h in hooks:
                h.remove()
    nodes = rec.nodes
    if nodes:
        nodes[-1].last_use = len(nodes) - 1
    return nodes


def activation_summary(nodes: Sequence[ActivationNode], bits: int, *, node_bits: bool = True) -> dict[str, int]:
    """Activation memory of traced nodes at `bits` per element (nodes with their own `bits` at those if `node_bits`).

    Returns:
        ``peak_bytes`` (tensor liveness over execution order), ``max_tensor_bytes`` (largest single tensor:
        the "maximum over layers" count of Uhlich et al.), ``sum_bytes`` (all activation tensors: their "sum over
        layers" count) and ``num_tensors``.
    """
    sizes = [_node_bytes(n, bits, node_bits) for n in nodes]
    peak, _ = peak_live_bytes(nodes, bits, node_bits=node_bits)
    return {
        "peak_bytes": peak,
        "max_tensor_bytes": max(sizes, default=0),
        "sum_bytes": sum(sizes),
        "num_tensors": len(nodes),
    }


def activation_memory(model: nn.Module, batch: Mapping[str, torch.Tensor], bits: int) -> dict[str, int]:
    """Activation memory of one forward pass at `bits` per element (see `activation_summary`)."""
    return activation_summary(trace_activations(model, batch), bits)
