"""Integer tofnet on PyTorch's quantized CPU engine, built from the learned LSQ steps of a fake-quant model.

`convert_int8(qat_model)` turns a quantized tofnet (`completion.quant.qat.prepare_qat`, e.g. the shipped
``tofnet-sds-w8a8``) into `Int8TofNet`, which computes what the fake-quant model computes with real 8-bit tensors:

- the input (6 channels, signed range) is quantized with the first convolution's input step (zero point 128 for a
  signed range, so the integer values are those of the fake-quant model's signed grid);
- every Conv-BN-ReLU block is one integer convolution with fused ReLU (`torch.ao` ``ConvReLU2d``): per-channel int8
  weights ``clamp(round(w / s_w))`` with the learned steps, float bias, output quantized with the block's ReLU
  quantizer step; activations narrower than 8 bits are clamped to their range afterwards;
- nearest resizes run on the integer tensors (they copy values); a concat skip is re-quantized to the step of the
  convolution that reads it (``quantized::cat``), as the fake-quant model's untied input quantizer does;
- the head (16 -> 1 channel) runs in float on the dequantized features with its dequantized integer weights, so
  the correction keeps its float precision, exactly like the fake-quant model's head.

Tensors are channels-last (NHWC) throughout: fbgemm's and oneDNN's int8 convolutions work in that layout and
would otherwise convert every layer's input. The engine (``x86``: fbgemm or oneDNN per shape, VNNI where the CPU
has it) is process-wide torch state, set when the model is built and again before each call.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from completion.errors import CompletionError
from completion.models.layers import ConvBNReLU, pad_to_multiple
from completion.models.tofnet import TofNet, tofnet_inputs
from completion.quant.lsq import LsqQuantizer
from completion.quant.qat import QuantConv2d, ReluQuant

__all__ = ["Int8TofNet", "convert_int8", "default_engine", "ENGINES"]

#: torch quantized engines in order of preference for this runtime (first one the build supports wins)
ENGINES = ("x86", "fbgemm", "onednn", "qnnpack")


def default_engine() -> str | None:
    """The first of `ENGINES` this torch build supports on this CPU, or None."""
    supported = torch.backends.quantized.supported_engines
    return next((e for e in ENGINES if e in supported), None)


@contextlib.contextmanager
def _quiet():
    # torch 2.1x warns that quantized tensor constructors are deprecated; they are what the engine runs on
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        yield


def _grid(q: LsqQuantizer) -> tuple[float, int, float | None, float | None]:
    """(step, quint8 zero point, float lower clamp, float upper clamp) of an activation quantizer."""
    step = float(q.step.detach().reshape(()))
    q_min, q_max = q.range
    zero = 128 if q.signed else 0
    narrow = (q_min, q_max) != ((-128, 127) if q.signed else (0, 255))
    return step, zero, (q_min * step if narrow else None), (q_max * step if narrow else None)


def quantize_input(x: torch.Tensor, q: LsqQuantizer) -> torch.Tensor:
    """A float tensor on `q`'s grid as a quint8 tensor (zero point 128 for a signed range)."""
    step, zero, lo, hi = _grid(q)
    if lo is not None:
        x = torch.clamp(x, lo, hi)
    return torch.quantize_per_tensor(x, step, zero, torch.quint8)


def _clamp_narrow(y: torch.Tensor, grid: tuple[float, int, float | None, float | None]) -> torch.Tensor:
    _, _, lo, hi = grid
    return y if lo is None else torch.clamp(y, lo, hi)


def _check_quantized(conv: nn.Module, name: str) -> QuantConv2d:
    if not (isinstance(conv, QuantConv2d) and conv.w_quant.enabled and conv.a_quant.enabled):
        raise CompletionError(
            f"the torch int8 runtime needs every convolution quantized; {name} is float: use --runtime torch"
        )
    if conv.w_quant.bits > 8 or conv.a_quant.bits > 8:
        raise CompletionError(f"the torch int8 runtime needs <= 8-bit layers; {name} has more: use --runtime torch")
    return conv


class Int8ConvBlock(nn.Module):
    """A quantized Conv-BN-ReLU block as one integer convolution: quint8 (B, C, H, W) -> quint8 (B, C', H', W').

    Args:
        block: a `ConvBNReLU` of a QAT model (``.conv`` a `QuantConv2d`, ``.act`` a `ReluQuant`).
        name: its module path, for messages.
    """

    def __init__(self, block: ConvBNReLU, name: str) -> None:
        super().__init__()
        from torch.ao.nn.intrinsic.quantized import ConvReLU2d

        qc = _check_quantized(block.conv, f"{name}.conv")
        if not isinstance(block.act, ReluQuant):
            raise CompletionError(f"the torch int8 runtime needs quantized ReLU outputs; {name} has none")
        c = qc.conv
        ints, step = qc.integer_weight()
        out = block.act[1]
        self.in_grid, self.out_grid = _grid(qc.a_quant), _grid(out)
        self.tied = qc.a_quant.tied_to is not None
        self.a_quant = qc.a_quant  # for inputs that are not on its grid yet (float or another step)
        with _quiet():
            self.conv = ConvReLU2d(c.in_channels, c.out_channels, c.kernel_size, stride=c.stride, padding=c.padding)
            weight = torch._make_per_channel_quantized_tensor(
                ints.to(torch.int8), step.double(), torch.zeros_like(step, dtype=torch.long), 0
            )
            self.conv.set_weight_bias(weight, c.bias.detach().float().clone())
        self.conv.scale, self.conv.zero_point = self.out_grid[0], 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Integer convolution + ReLU; a float input, or one on another grid, is (re)quantized first."""
        step, zero, _, _ = self.in_grid
        if not x.is_quantized:
            x = quantize_input(x, self.a_quant)
        elif not self.tied and (x.q_scale() != step or x.q_zero_point() != zero):
            x = quantize_input(x.dequantize(), self.a_quant)
        return _clamp_narrow(self.conv(x), self.out_grid)


class Int8TofNet(nn.Module):
    """tofnet on integer tensors: `forward(batch) -> depth (B, 1, H, W)` float32 metres, like the model it came from.

    Build it with `convert_int8`. Reads the batch keys of the source model (`input_keys`).
    """

    def __init__(self, model: TofNet, engine: str) -> None:
        super().__init__()
        core = model.core
        self.engine = engine
        self.cfg = model.cfg
        self.name = f"{getattr(model, 'name', 'tofnet')}-int8-torch"
        self.config = {**dict(getattr(model, "config", {}) or {}), "runtime": "torch-int8", "engine": engine}
        self.prefill = model.prefill
        self.input_keys = model.input_keys
        self.stride = core.stride
        self.enc = nn.ModuleList(
            nn.Sequential(*[Int8ConvBlock(b, f"core.enc.{s}.{i}") for i, b in enumerate(blocks)])
            for s, blocks in enumerate(core.enc)
        )
        self.up_mode = [u.up.mode for u in core.up]
        self.up = nn.ModuleList(Int8ConvBlock(u.block, f"core.up.{i}.block") for i, u in enumerate(core.up))
        self.merge_mode = [m.mode for m in core.merge]
        self.dec = nn.ModuleList(
            nn.Sequential(*[Int8ConvBlock(b, f"core.dec.{s}.{i}") for i, b in enumerate(blocks)])
            for s, blocks in enumerate(core.dec)
        )
        head = _check_quantized(core.head, "core.head")
        self.register_buffer("head_weight", head.quantized_weight().detach().clone())
        self.register_buffer("head_bias", head.conv.bias.detach().clone())
        self.head_padding = head.conv.padding

    def _merge(self, i: int, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # the result goes to dec[i][0], whose input quantizer is untied: re-quantize straight onto its grid
        step, zero, _, _ = self.dec[i][0].in_grid
        if self.merge_mode[i] == "concat":
            y = torch.ops.quantized.cat([up, skip], dim=1, scale=step, zero_point=zero)
        else:
            y = torch.ops.quantized.add(up, skip, step, zero)
        return _clamp_narrow(y, self.dec[i][0].in_grid)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float normalised input, H and W multiples of `stride` -> (B, 1, H, W) float correction."""
        x = self.enc[0][0](x.contiguous(memory_format=torch.channels_last))
        skips = []
        for s, blocks in enumerate(self.enc):
            x = blocks[1:](x) if s == 0 else blocks(x)
            if s < len(self.enc) - 1:
                skips.append(x)
        for i, (up, dec) in enumerate(zip(self.up, self.dec, strict=True)):
            if self.up_mode[i] == "nearest":
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            else:  # bilinear mixes values: float, then the block quantizes the result with its own step
                x = F.interpolate(x.dequantize(), scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(self._merge(i, up(x), skips.pop()))
        return F.conv2d(x.dequantize(), self.head_weight, self.head_bias, padding=self.head_padding)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Depth (B, 1, H, W) float32 metres = clamp(prefill + R * correction, min=0), on the CPU."""
        torch.backends.quantized.engine = self.engine
        c = self.cfg
        x = tofnet_inputs(batch, c.max_depth_m, c.max_dist_px, c.nearest_channel, c.residual_scale_m, c.status_channels)
        x, h, w = pad_to_multiple(x, self.stride)
        with torch.inference_mode(), _quiet():
            correction = self.core(x)[..., :h, :w].contiguous()
        return torch.clamp(batch["prefill"] + c.residual_scale_m * correction, min=0.0)


def convert_int8(model: nn.Module, *, engine: str | None = None) -> Int8TofNet:
    """An `Int8TofNet` computing what the fake-quant tofnet `model` computes, with integer convolutions.

    Args:
        model: a quantized tofnet (every convolution a `QuantConv2d` of at most 8 bits, Conv-BN-ReLU blocks with
            quantized outputs), e.g. ``load_model("tofnet-sds-w8a8")``.
        engine: torch quantized engine (default: `default_engine`, ``x86`` on x86-64 builds).

    Returns:
        The integer model (CPU, eval mode).

    Raises:
        CompletionError: for a model that is not a quantized tofnet, or an engine this torch does not support.
    """
    if not isinstance(model, TofNet):
        raise CompletionError(f"the torch int8 runtime supports tofnet only, got {getattr(model, 'name', model)!r}")
    engine = engine or default_engine()
    supported = torch.backends.quantized.supported_engines
    if engine is None or engine not in supported:
        raise CompletionError(
            f"torch quantized engine {engine!r} is not available in this build (it has {', '.join(supported)})"
        )
    torch.backends.quantized.engine = engine
    return Int8TofNet(model.eval().cpu(), engine).eval()
