"""Post-training steps that run between `prepare_qat` and fine-tuning: activation equalization and step refinement.

Both aim at the per-tensor activation grids, which carried almost all of W8A8's loss on the standard study (8-bit
weights alone cost +0.07 % RMSE):

- `equalize_activations` rescales the output channels of each Conv-BN-ReLU block and divides the matching input
  channels of the convolutions that read them, so that the channels sharing one activation step have closer
  ranges (cross-layer equalization, Nagel et al., ICCV 2019; the square-root balance of SmoothQuant, Xiao et al.,
  ICML 2023). ReLU(s * y) = s * ReLU(y) for s > 0, and resizing and concatenation act per channel, so the float
  network computes the same function. Without it, tofnet's full-resolution skip (channel ranges about 2-6) shared
  one 8-bit step with the upsampled decoder features it is concatenated with (ranges up to 60).
- `refine_activation_steps` then adjusts each activation step by coordinate search, keeping a change only when
  the quantized network's depth moves closer to the float network's on the calibration batch. The MSE steps of
  `LsqQuantizer.calibrate` minimise each tensor's own rounding error, which is not the error that reaches the
  output.

Equalization is tofnet-specific (it needs the graph: which block feeds which convolution, and at which channel
offset of a concatenation); other models pass through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from completion.quant.bitwidths import LayerBits
from completion.quant.lsq import LsqQuantizer

__all__ = [
    "BlockNode",
    "EQUALIZATION_STRENGTH",
    "REFINE_FACTORS",
    "equalization_graph",
    "equalize_activations",
    "depth_error_m",
    "refine_activation_steps",
]

#: alpha in s_c = (R / r_c) ** alpha: 0.5 moves half of each channel's range gap (in log) into the weights. On the
#: standard study's validation frames W8A8 gave per-image RMSE +0.99 % with alpha = 0, +0.49 % at 0.5, +0.69 % at 1.
EQUALIZATION_STRENGTH = 0.5
#: Largest factor by which one channel is scaled, either way: a nearly dead channel would otherwise get a huge one.
MAX_CHANNEL_SCALE = 32.0
#: Step multipliers tried for each activation quantizer by `refine_activation_steps`.
REFINE_FACTORS = (0.7, 0.85, 1.15, 1.3)


@dataclass(frozen=True)
class BlockNode:
    """One Conv-BN-ReLU block's output and the convolutions that read it (at a channel offset of their input).

    Nodes of one `scale_group` get one scale vector (an "add" skip sums them channel by channel); nodes of one
    `step_group` share one activation step (a concatenation is requantized as one tensor), hence one target R.
    """

    block: str  # module path of the block, e.g. "core.enc.0.2"
    readers: tuple[tuple[str, int], ...]  # (convolution path, first input channel)
    scale_group: str
    step_group: str


def equalization_graph(model: nn.Module) -> list[BlockNode]:
    """The blocks of a tofnet whose output channels can be rescaled, with their readers; [] for other models.

    Args:
        model: a `TofNet`, float or BatchNorm-folded (module paths are the same).

    Returns:
        One `BlockNode` per Conv-BN-ReLU block, encoder first, then per decoder scale its upsampling block and
        its merge blocks.
    """
    from completion.models.tofnet import TofNet

    if not isinstance(model, TofNet):
        return []
    core = model.core
    n_scales = len(core.enc)
    concat = all(m.mode == "concat" for m in core.merge)
    nodes = []

    def merge_node(block: str, readers: tuple[tuple[str, int], ...], i: int) -> BlockNode:
        return BlockNode(block, readers, scale_group=block if concat else f"merge.{i}", step_group=f"merge.{i}")

    for s in range(n_scales):
        last = len(core.enc[s]) - 1
        for j in range(last + 1):
            block = f"core.enc.{s}.{j}"
            if j < last:
                nodes.append(BlockNode(block, ((f"core.enc.{s}.{j + 1}.conv", 0),), block, block))
            elif s < n_scales - 1:  # a skip: the next scale's first block and, across the U, a decoder merge
                i = n_scales - 2 - s
                offset = core.up[i].block.conv.out_channels if concat else 0
                nodes.append(merge_node(block, ((f"core.enc.{s + 1}.0.conv", 0), (f"core.dec.{i}.0.conv", offset)), i))
            else:
                nodes.append(BlockNode(block, (("core.up.0.block.conv", 0),), block, block))
    for i in range(n_scales - 1):
        nodes.append(merge_node(f"core.up.{i}.block", ((f"core.dec.{i}.0.conv", 0),), i))
        last = len(core.dec[i]) - 1
        for j in range(last + 1):
            block = f"core.dec.{i}.{j}"
            if j < last:
                reader = f"core.dec.{i}.{j + 1}.conv"
            elif i < n_scales - 2:
                reader = f"core.up.{i + 1}.block.conv"
            else:
                reader = "core.head"
            nodes.append(BlockNode(block, ((reader, 0),), block, block))
    return nodes


def _conv(model: nn.Module, path: str) -> nn.Conv2d:
    module = model.get_submodule(path)
    return module.conv if hasattr(module, "conv") else module


@torch.no_grad()
def _channel_maxima(model: nn.Module, batch: Mapping[str, torch.Tensor], blocks: list[str]) -> dict[str, torch.Tensor]:
    found: dict[str, torch.Tensor] = {}
    hooks = []
    for name in blocks:

        def hook(_module, _inputs, out, name=name):
            found[name] = out.detach().transpose(0, 1).flatten(1).amax(1).double()

        hooks.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        model.eval()(dict(batch))
    finally:
        for h in hooks:
            h.remove()
    return found


def _eligible(node: BlockNode, plan: Mapping[str, LayerBits]) -> bool:
    # The block's output must be quantized, and every reader keep 8-bit weights: dividing a reader's input-channel
    # weights costs them precision within their output channel's step, harmless at 8 bits, but with 4-bit weights
    # it made W4A8 worse (per-image validation RMSE +3.7 % instead of +2.6 % before fine-tuning).
    own = plan.get(f"{node.block}.conv")
    if own is None or own.act_bits is None:
        return False
    for conv, _ in node.readers:
        bits = plan.get(conv)
        if bits is None or bits.weight_bits is None or bits.weight_bits < 8:
            return False
    return True


@torch.no_grad()
def equalize_activations(
    folded: nn.Module,
    batch: Mapping[str, torch.Tensor],
    plan: Mapping[str, LayerBits],
    *,
    strength: float = EQUALIZATION_STRENGTH,
) -> list[str]:
    """Rescale activation channels of a BatchNorm-folded tofnet in place; the float function is unchanged.

    For each block output whose readers all keep 8-bit weights and whose activations are quantized, channel c is
    multiplied by ``s_c = clip((R / r_c) ** strength, 1/32, 32)`` (the block's weight and bias rows) and divided
    back in every reader's input channel c. ``r_c`` is the channel's largest value on `batch`, ``R`` the largest
    ``r_c`` among all channels that share one quantization step: the block's own, and for a decoder merge those
    of both merged tensors.

    Args:
        folded: a model from `completion.quant.qat.fold_all_bn` (convolutions with bias, BatchNorm removed).
        batch: a collated calibration batch.
        plan: convolution path -> bits (the QAT plan); decides which blocks are touched.
        strength: alpha above; 0 leaves the model as it is.

    Returns:
        The block paths that were rescaled.
    """
    nodes = equalization_graph(folded)
    if not nodes or strength <= 0:
        return []
    maxima = _channel_maxima(folded, batch, [n.block for n in nodes])
    target: dict[str, float] = {}
    for n in nodes:
        target[n.step_group] = max(target.get(n.step_group, 0.0), float(maxima[n.block].max()))
    groups: dict[str, list[BlockNode]] = {}
    for n in nodes:
        groups.setdefault(n.scale_group, []).append(n)
    done = []
    for members in groups.values():
        if not all(_eligible(m, plan) for m in members):
            continue
        r = torch.stack([maxima[m.block] for m in members]).amax(0)
        top = max(target[m.step_group] for m in members)
        scale = torch.where(r > 0, (top / r.clamp_min(1e-30)) ** strength, torch.ones_like(r))
        scale = scale.clamp(1.0 / MAX_CHANNEL_SCALE, MAX_CHANNEL_SCALE)
        readers = dict.fromkeys(r for m in members for r in m.readers)  # a summed pair's reader divides once
        for m in members:
            conv = _conv(folded, m.block)
            conv.weight.mul_(scale.to(conv.weight.dtype).view(-1, 1, 1, 1))
            conv.bias.mul_(scale.to(conv.bias.dtype))
            done.append(m.block)
        for path, offset in readers:
            weight = _conv(folded, path).weight
            weight[:, offset : offset + len(scale)] /= scale.to(weight.dtype).view(1, -1, 1, 1)
    return done


@torch.no_grad()
def depth_error_m(model: nn.Module, reference: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> float:
    """Mean over the batch's images of the RMSE (m) between `model`'s depth and `reference` on valid GT pixels.

    Args:
        model: maps the batch to depth (B, 1, H, W) metres.
        reference: (B, 1, H, W) depth in metres to compare with (the float model's).
        batch: a collated batch; its ``depth`` (B, 1, H, W) ground truth marks the valid pixels (> 0).

    Returns:
        The mean per-image RMSE in metres; images without a valid pixel are left out (0.0 when none has one).
    """
    pred = model(dict(batch)).double()
    valid = batch["depth"] > 0
    errors = [
        float((pred[i] - reference[i].double())[valid[i]].pow(2).mean().sqrt())
        for i in range(pred.shape[0])
        if bool(valid[i].any())
    ]
    return float(np.mean(errors)) if errors else 0.0


def _free_activation_quantizers(model: nn.Module) -> list[LsqQuantizer]:
    return [
        m
        for m in model.modules()
        if isinstance(m, LsqQuantizer) and m.enabled and not m.per_channel and m.tied_to is None and bool(m.initialized)
    ]


@torch.no_grad()
def refine_activation_steps(
    qmodel: nn.Module,
    reference: torch.Tensor,
    batch: Mapping[str, torch.Tensor],
    *,
    factors: tuple[float, ...] = REFINE_FACTORS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[float, float]:
    """Coordinate search over the activation steps of a calibrated QAT model, against the float model's depth.

    Each per-tensor activation step in turn is multiplied by every factor in `factors`; the best value of
    `depth_error_m` on `batch` is kept (the current step included, so the error never grows). One pass, in
    execution-definition order: ``len(factors)`` forward passes per quantizer.

    Args:
        qmodel: a calibrated model from `prepare_qat` (its steps change in place).
        reference: the float model's depth on `batch`, (B, 1, H, W).
        batch: the calibration batch.
        factors: step multipliers tried.
        progress: optional ``callable(done, total)``.

    Returns:
        (error before, error after) in metres.
    """
    was_training = qmodel.training
    qmodel.eval()
    quantizers = _free_activation_quantizers(qmodel)
    start = best = depth_error_m(qmodel, reference, batch)
    for k, q in enumerate(quantizers):
        original = q.log_step.detach().clone()
        chosen = original
        for f in factors:
            q.log_step.copy_(original + math.log(f))
            err = depth_error_m(qmodel, reference, batch)
            if err < best:
                best, chosen = err, q.log_step.detach().clone()
        q.log_step.copy_(chosen)
        if progress is not None:
            progress(k + 1, len(quantizers))
    qmodel.train(was_training)
    return start, best
