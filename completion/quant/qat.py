"""Quantization-aware training models: BatchNorm folded into each convolution, LSQ fake quantizers around it.

`prepare_qat(model, plan)` returns a copy of a float model in which every ``nn.Conv2d`` (with the ``nn.BatchNorm2d``
that follows it inside a `ConvBNReLU` block folded in) is replaced by a `QuantConv2d`: per-output-channel LSQ
weight quantizer, per-tensor LSQ quantizer on its input, float bias. The rest of the network (ReLU, resize,
concat, add) is untouched, so the fake-quant model computes what an int8 runtime computes with QDQ pairs on
every convolution's input and weight.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from completion.models.layers import Resize2x
from completion.quant.bitwidths import LayerBits
from completion.quant.example import example_batch
from completion.quant.lsq import LsqQuantizer

__all__ = [
    "fold_bn",
    "QuantConv2d",
    "fold_all_bn",
    "quantizable_layers",
    "prepare_qat",
    "calibrate",
    "set_export_mode",
    "rebuild_qat",
    "ReluQuant",
    "TRACE_HW_PX",
]

#: Input size of the synthetic forward pass that finds which quantizer feeds which convolution.
TRACE_HW_PX = (32, 32)


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution computing ``bn(conv(x))`` with BatchNorm's running statistics (inference behaviour).

    ``w' = w * gamma / sqrt(var + eps)`` per output channel, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode,
    )  # fmt: skip
    folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    folded.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return folded.to(conv.weight.device)


def _conv_bn_pairs(model: nn.Module):
    # a module holding `.conv` (Conv2d) and `.bn` (BatchNorm2d) side by side: the ConvBNReLU convention
    for name, module in model.named_modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            yield name, module


def fold_all_bn(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every ``.conv``/``.bn`` pair folded; the BN becomes Identity."""
    model = copy.deepcopy(model).eval()
    for _, module in list(_conv_bn_pairs(model)):
        module.conv = fold_bn(module.conv, module.bn)
        module.bn = nn.Identity()
    return model


class QuantConv2d(nn.Module):
    """A convolution with an LSQ fake quantizer on its weight (per output channel, signed) and its input.

    Args:
        conv: the float convolution (BatchNorm already folded in).
        bits: weight and input-activation bits (None = float).
    """

    def __init__(self, conv: nn.Conv2d, bits: LayerBits, *, calibrate_weight: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.bits = bits
        self.w_quant = LsqQuantizer(bits.weight_bits, signed=True, per_channel=True, channels=conv.out_channels)
        self.a_quant = LsqQuantizer(bits.act_bits, signed=None)  # sign decided from the first input
        if self.w_quant.enabled and calibrate_weight:
            self.w_quant.calibrate(conv.weight)

    def quantized_weight(self) -> torch.Tensor:
        """The weight as the deployed model sees it (dequantized)."""
        return self.w_quant(self.conv.weight)

    @torch.no_grad()
    def integer_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(int32 weight values (C_out, C_in, k, k), per-channel steps (C_out,)); needs a weight quantizer."""
        step = self.w_quant.step.detach().reshape(-1)
        q_min, q_max = self.w_quant.range
        ints = torch.clamp(torch.round(self.conv.weight / step.view(-1, 1, 1, 1)), q_min, q_max)
        return ints.to(torch.int32), step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize the input and the weight, then convolve with the float bias."""
        c = self.conv
        if self.w_quant.export and self.w_quant.enabled:
            # integer weights times their step (buffers set by set_export_mode), through an 8-bit per-channel QDQ
            # pair: the exporter writes QuantizeLinear on a weight initializer, which completion.export turns
            # into stored integers
            step = self.export_step
            zero = torch.zeros_like(step, dtype=torch.int32)
            weight = torch.fake_quantize_per_channel_affine(self.export_weight, step, zero, 0, -128, 127)
        else:
            weight = self.quantized_weight()
        return F.conv2d(self.a_quant(x), weight, c.bias, c.stride, c.padding, c.dilation, c.groups)


class ReluQuant(nn.Sequential):
    """``Sequential(ReLU, LsqQuantizer)``, the output of a quantized Conv-BN-ReLU block (state-dict keys ``0``, ``1``).

    Once the quantizer's range is known to be unsigned, training and evaluation fuse the ReLU into it: the
    quantizer's clamp at 0 gives the ReLU's zeros, so one pass (and one saved tensor) replaces two. The values
    and gradients are those of the two modules in sequence; export runs them as two (ONNX ``Relu`` then the QDQ
    pair, which onnxruntime fuses into the integer convolution).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU then quantize-dequantize; (B, C, H, W) -> same shape."""
        act, quant = self[0], self[1]
        if isinstance(act, nn.ReLU):
            return quant(x, relu=True)
        return quant(act(x))


def _quantized_blocks(model: nn.Module):
    for name, module in model.named_modules():
        if isinstance(getattr(module, "conv", None), QuantConv2d) and hasattr(module, "act"):
            yield name, module


def set_export_mode(model: nn.Module, enabled: bool) -> None:
    """Switch every LSQ quantizer between training behaviour and ONNX QDQ emission."""
    for m in model.modules():
        if isinstance(m, LsqQuantizer):
            m.export = enabled
        if isinstance(m, QuantConv2d) and m.w_quant.enabled:
            if enabled:
                ints, step = m.integer_weight()
                m.register_buffer("export_weight", ints.float() * step.view(-1, 1, 1, 1))
                m.register_buffer("export_step", step.clone())
            else:
                for name in ("export_weight", "export_step"):
                    m._buffers.pop(name, None)


def quantizable_layers(model: nn.Module) -> list[str]:
    """Names (module paths) of every ``nn.Conv2d`` in execution-definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, new)


def prepare_qat(model: nn.Module, plan: Mapping[str, LayerBits], *, calibrate_weights: bool = True) -> nn.Module:
    """Fold BatchNorm and wrap every planned convolution in a `QuantConv2d` (returns a new model).

    Args:
        model: float model whose convolutions are named in `plan` (see `quantizable_layers`).
        plan: layer name -> bits. Convolutions not in the plan stay float.
        calibrate_weights: set each weight step from its weights (skipped when a state dict follows).

    Returns:
        The QAT model (train mode), with ``qat_plan`` attribute holding the plan as plain dicts.
    """
    qmodel = fold_all_bn(model)
    for name in quantizable_layers(qmodel):
        if name in plan:
            conv = qmodel.get_submodule(name)
            _set_module(qmodel, name, QuantConv2d(conv, plan[name], calibrate_weight=calibrate_weights))
    # Conv-BN-ReLU blocks also quantize their output, after the ReLU, so that an int8 runtime sees a
    # QuantizeLinear right after every convolution and runs it as one integer kernel (design.md pitfall).
    for _, block in list(_quantized_blocks(qmodel)):
        bits = block.conv.bits.act_bits
        if bits is not None and not isinstance(block.act, nn.Sequential):
            block.act = ReluQuant(block.act, LsqQuantizer(bits, signed=None))
    _link_quantizers(qmodel)
    qmodel.qat_plan = {k: {"weight_bits": v.weight_bits, "act_bits": v.act_bits} for k, v in plan.items()}
    return qmodel.train()


def _block_output_quantizers(model: nn.Module) -> dict[str, LsqQuantizer]:
    blocks = _quantized_blocks(model)
    return {f"{name}.act.1": block.act[1] for name, block in blocks if isinstance(block.act, ReluQuant)}


@torch.no_grad()
def _feeds(model: nn.Module) -> dict[str, str]:
    """Convolution name -> name of the block-output quantizer whose output is its input, unchanged or resized.

    Found by one float forward pass of a copy (quantizers off) at `TRACE_HW_PX` on a synthetic batch: a
    convolution's input tensor is the very tensor a block-output quantizer returned, or a nearest-neighbour
    `Resize2x` of it (which copies values, so they stay on the grid). Concatenations and additions are not
    followed: their values mix grids and need requantizing. Empty for a model that cannot run that input.
    """
    trace = copy.deepcopy(model).eval()
    for m in trace.modules():
        if isinstance(m, LsqQuantizer):
            m.bits = None
    made_by: dict[int, str] = {}  # id(tensor) -> producer name
    keep: list[torch.Tensor] = []  # holds the traced tensors so that their ids stay unique
    feeds: dict[str, str] = {}
    hooks = []

    def on_output(name):
        def hook(_module, _inputs, out):
            made_by[id(out)] = name
            keep.append(out)

        return hook

    def on_resize(module, inputs, out):
        if module.mode == "nearest" and id(inputs[0]) in made_by:
            made_by[id(out)] = made_by[id(inputs[0])]
            keep.append(out)

    def on_conv(name):
        def hook(_module, inputs):
            if id(inputs[0]) in made_by:
                feeds[name] = made_by[id(inputs[0])]

        return hook

    for name in _block_output_quantizers(trace):
        hooks.append(trace.get_submodule(name).register_forward_hook(on_output(name)))
    for name, m in trace.named_modules():
        if isinstance(m, Resize2x):
            hooks.append(m.register_forward_hook(on_resize))
        elif isinstance(m, QuantConv2d):
            hooks.append(m.register_forward_pre_hook(on_conv(name)))
    try:
        trace(example_batch(*TRACE_HW_PX))
    except Exception:  # noqa: BLE001 - a model that needs other inputs: every convolution quantizes its input
        return {}
    finally:
        for h in hooks:
            h.remove()
    return feeds


def _link_quantizers(qmodel: nn.Module) -> None:
    # A block-output quantizer takes the activation bits of the convolutions it feeds (e.g. 8 for the head of a
    # W4A4 plan whose first and last layers keep 8 bits), and each of those convolutions' input quantizer is
    # tied to it: re-quantizing a tensor already on a grid would round it a second time, on a second grid.
    producers = _block_output_quantizers(qmodel)
    consumers: dict[str, list[QuantConv2d]] = {}
    for conv_name, prod_name in _feeds(qmodel).items():
        conv = qmodel.get_submodule(conv_name)
        if conv.a_quant.enabled:
            consumers.setdefault(prod_name, []).append(conv)
    for prod_name, convs in consumers.items():
        producer = producers[prod_name]
        producer.bits = max(c.a_quant.bits for c in convs)
        for conv in convs:
            if conv.a_quant.bits == producer.bits:
                conv.a_quant.tie_to(producer)


def rebuild_qat(model: nn.Module, plan: Mapping[str, Mapping[str, int | None]]) -> nn.Module:
    """The QAT structure for `plan` (as saved in ``model.qat_plan``) around a float model, before loading weights."""
    bits = {name: LayerBits(b["weight_bits"], b["act_bits"]) for name, b in plan.items()}
    return prepare_qat(model, bits, calibrate_weights=False)  # the loaded state dict sets every step


@torch.no_grad()
def calibrate(qmodel: nn.Module, batch: Mapping[str, torch.Tensor]) -> None:
    """Initialise every activation quantizer's sign and step from one representative batch.

    Args:
        qmodel: a model from `prepare_qat`.
        batch: a collated batch (the model's input dict); several samples give steps that suit more than one
            image (`completion.quant.api` uses `CALIBRATION_SAMPLES` training samples).
    """
    for m in qmodel.modules():
        if isinstance(m, LsqQuantizer) and not m.per_channel and m.tied_to is None:
            m.initialized.fill_(False)
    was_training = qmodel.training
    qmodel.eval()
    qmodel(dict(batch))
    qmodel.train(was_training)
