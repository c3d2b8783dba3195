"""Learned step size quantization (LSQ, Esser et al., ICLR 2020) on plain torch.

Quantize-dequantize ``x_q = clamp(round(x / s), q_min, q_max) * s`` with a straight-through estimator for the
rounding and the LSQ gradient scale ``g = 1 / sqrt(numel * q_max)`` applied to the step's gradient. The
forward pass and both gradients equal torch's ``_fake_quantize_learnable_per_*_affine`` with zero point 0
(a test checks it). `lsq_fake_quant` is one autograd Function with a hand-written backward (about ten passes over
the tensor, mostly in place); `lsq_fake_quant_reference` is the composite plain-autograd definition it is tested
against.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["qrange", "lsq_fake_quant", "lsq_fake_quant_reference", "mse_step", "max_abs_step", "LsqQuantizer"]


def qrange(bits: int, *, signed: bool) -> tuple[int, int]:
    """Integer range of a `bits`-bit quantizer: signed [-2^(b-1), 2^(b-1)-1], unsigned [0, 2^b - 1]."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    # value of x, gradient of x * factor
    scaled = x * factor
    return (x - scaled).detach() + scaled


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return (torch.round(x) - x).detach() + x


def lsq_fake_quant_reference(
    x: torch.Tensor, step: torch.Tensor, q_min: int, q_max: int, grad_factor: float
) -> torch.Tensor:
    """The composite (plain autograd) LSQ fake quantizer: the definition `lsq_fake_quant` is tested against.

    Same arguments and result as `lsq_fake_quant`; about ten autograd nodes, each a pass over `x`.
    """
    s = _scale_grad(step, grad_factor)
    return torch.clamp(_round_ste(x / s), q_min, q_max) * s


def _quantize_dequantize(x: torch.Tensor, step: torch.Tensor, q_min: int, q_max: int) -> torch.Tensor:
    # step * clamp(round(x / step), q_min, q_max) in one buffer; x / step (not x * (1 / step)) rounds as
    # onnxruntime's QuantizeLinear does, so the exported graph lands on the same integers
    return torch.div(x, step).round_().clamp_(q_min, q_max).mul_(step)


class _LsqFakeQuant(torch.autograd.Function):
    """LSQ quantize-dequantize with a hand-written backward (see `lsq_fake_quant`).

    Saves only the input (the composite version keeps several full-size intermediates) and recomputes the
    rounding in the backward pass, which is cheaper on CPU than storing and reloading it.
    """

    @staticmethod
    def forward(ctx, x, step, q_min, q_max, grad_factor, relu):  # noqa: D102
        ctx.save_for_backward(x, step)
        ctx.q = (q_min, q_max, grad_factor, relu)
        return _quantize_dequantize(x, step.detach(), q_min, q_max)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        x, step = ctx.saved_tensors
        q_min, q_max, grad_factor, relu = ctx.q
        v = x / step  # as in the forward pass
        r = torch.round(v)
        # inside the range, round's straight-through gradient passes; a fused ReLU also cuts x <= 0, where its
        # output (0) has no gradient to x or the step (there x > 0 already gives r >= 0 = q_min)
        if relu:
            inside = r <= q_max
            inside &= x > 0
            c = r.clamp_(q_min, q_max)
        else:
            c = r.clamp(q_min, q_max)
            inside = c == r
        grad_x = grad * inside if ctx.needs_input_grad[0] else None
        grad_s = None
        if ctx.needs_input_grad[1]:
            # d(step * c)/d step = c - v inside the range, c outside it, 0 where the ReLU cuts (c = 0 there):
            # w = c - v * inside, in c's buffer
            w = c.sub_(v.mul_(inside))
            if step.numel() == 1:  # per tensor (or one channel): one multiply-add pass, no product tensor
                grad_s = torch.dot(grad.reshape(-1), w.reshape(-1)).reshape(step.shape)
            else:
                grad_s = (grad * w).sum_to_size(step.shape)
            grad_s = grad_s * grad_factor
        return grad_x, grad_s, None, None, None, None


def lsq_fake_quant(
    x: torch.Tensor, step: torch.Tensor, q_min: int, q_max: int, grad_factor: float, *, relu: bool = False
) -> torch.Tensor:
    """Quantize-dequantize `x` with a learnable step (one autograd node).

    Forward ``step * clamp(round(x / step), q_min, q_max)``; backward: the straight-through gradient to `x`
    inside the range, LSQ's gradient to the step scaled by `grad_factor`. Equal in value and both gradients to
    `lsq_fake_quant_reference` and to torch's ``_fake_quantize_learnable_per_*_affine`` with zero point 0.

    Args:
        x: float32 tensor of any shape.
        step: positive step size: one element (per tensor, any shape) or (C, 1, ..., 1) (per output channel, dim 0).
        q_min, q_max: integer range (see `qrange`).
        grad_factor: LSQ gradient scale for the step, ``1 / sqrt(elements per step * q_max)``.
        relu: apply a ReLU first (unsigned ranges only: q_min = 0, so the clamp already gives relu's zeros;
            only the gradient at x <= 0 needs masking). Saves the ReLU's own pass and saved tensor.

    Returns:
        Tensor like `x` whose values lie on the grid ``step * {q_min, ..., q_max}``.
    """
    if relu and q_min != 0:
        raise ValueError("a fused ReLU needs an unsigned range (q_min = 0)")
    return _LsqFakeQuant.apply(x, step, q_min, q_max, grad_factor, relu)


def _max_abs_bound(flat: torch.Tensor, q_min: int, q_max: int) -> torch.Tensor:
    """(C,) smallest step per row of a (C, N) tensor that keeps the row's extremes in ``[q_min, q_max]``, >= 1e-8."""
    pos = flat.amax(1).clamp_min(0) / max(q_max, 1)
    neg = (-flat.amin(1)).clamp_min(0) / max(-q_min, 1)
    return torch.maximum(pos, neg).clamp_min(1e-8)


@torch.no_grad()
def mse_step(x: torch.Tensor, q_min: int, q_max: int, *, per_channel: bool, grid: int = 40) -> torch.Tensor:
    """Step minimising the mean squared quantize-dequantize error over clipping ratios in (0, 1].

    Args:
        x: tensor to quantize (per channel along dim 0 when `per_channel`).
        q_min, q_max: integer range.
        per_channel: one step per slice along dim 0.
        grid: number of clipping ratios tried.

    Returns:
        Step of shape (C, 1, ..., 1) when per channel, else a scalar tensor.
    """
    flat = x.detach().float().flatten(1) if per_channel else x.detach().float().reshape(1, -1)
    if flat.shape[1] > 65536:  # activations: a fixed strided subsample keeps this fast and deterministic
        flat = flat[:, :: flat.shape[1] // 65536 + 1]
    bound = _max_abs_bound(flat, q_min, q_max)
    best_err = torch.full_like(bound, torch.inf)
    best = bound.clone()
    for k in range(grid):
        step = bound * (1.0 - k / grid)
        q = torch.clamp(torch.round(flat / step[:, None]), q_min, q_max) * step[:, None]
        err = ((q - flat) ** 2).mean(1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, step, best)
    if per_channel:
        return best.view(-1, *([1] * (x.dim() - 1)))
    return best[0]


def max_abs_step(x: torch.Tensor, q_min: int, q_max: int) -> torch.Tensor:
    """Per-channel step (along dim 0) that maps each channel's extremes inside ``[q_min, q_max]`` without clipping.

    Args:
        x: (C, ...) tensor, e.g. a convolution weight (C_out, C_in, k, k).
        q_min, q_max: integer range.

    Returns:
        Step of shape (C, 1, ..., 1), at least 1e-8.
    """
    return _max_abs_bound(x.detach().float().flatten(1), q_min, q_max).view(-1, *([1] * (x.dim() - 1)))


class LsqQuantizer(nn.Module):
    """A fake quantizer with a learned step: per output channel for weights, per tensor for activations.

    Args:
        bits: bit width (2, 4 or 8; 32 or None disables quantization and passes values through).
        signed: signed range (weights, pre-activation tensors) or unsigned (after ReLU).
        per_channel: one step per slice along dim 0 (weights).
        channels: number of output channels when `per_channel`.

    The step is initialised from the first tensor seen, unless set explicitly, by the step that minimises the
    mean squared quantization error over a grid of clipping ratios (LSQ's ``2 mean|x| / sqrt(q_max)`` rule
    clips 8-bit weights far too hard for a short fine-tune). `signed=None` decides the sign from that tensor.
    """

    def __init__(self, bits: int | None, *, signed: bool | None, per_channel: bool = False, channels: int = 1) -> None:
        super().__init__()
        self.bits = bits
        self.per_channel = per_channel
        shape = (channels, 1, 1, 1) if per_channel else ()
        # the step is learned as its logarithm: Adam's updates are of a fixed size, which for a step of 1e-3 would
        # be a 20 % change per iteration; in log space they are relative changes, the same for every step size
        self.log_step = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(False))
        # the sign is state (decided from data when None), so it travels with the state dict: -1 = undecided
        self.register_buffer("signed_state", torch.tensor(-1 if signed is None else int(signed), dtype=torch.int8))
        self.export = False  # True while exporting to ONNX: emit QuantizeLinear/DequantizeLinear

    @property
    def step(self) -> torch.Tensor:
        """The (positive) step size, ``exp(log_step)``: a scalar, or (C, 1, 1, 1) per output channel."""
        return self.log_step.exp()

    @torch.no_grad()
    def set_step(self, step: torch.Tensor) -> None:
        """Set the step size explicitly (marks the quantizer initialised)."""
        self.log_step.copy_(torch.as_tensor(step, dtype=self.log_step.dtype).log().reshape(self.log_step.shape))
        self.initialized.fill_(True)

    @property
    def signed(self) -> bool | None:
        """Signed range (True), unsigned (False) or not yet decided (None)."""
        state = int(self.signed_state)
        return None if state < 0 else bool(state)

    @signed.setter
    def signed(self, value: bool) -> None:
        self.signed_state.fill_(int(value))

    @property
    def enabled(self) -> bool:
        """False when the quantizer passes values through (float)."""
        return self.bits is not None and self.bits < 32

    @property
    def range(self) -> tuple[int, int]:
        """Integer range (q_min, q_max)."""
        return qrange(self.bits, signed=self.signed)

    @property
    def tied_to(self) -> LsqQuantizer | None:
        """The quantizer whose output this one receives unchanged (same bits and sign), or None.

        A tied quantizer is a pass-through in training and evaluation: its input already lies on the producer's
        grid, where quantizing again with that grid changes nothing (and gives the producer's step no gradient).
        In export it emits the producer's QDQ pair, so every convolution input still has its QuantizeLinear.
        Set by `completion.quant.qat.prepare_qat`; a plain attribute, not a submodule (not in the state dict).
        """
        return self.__dict__.get("_tied_to")

    def tie_to(self, producer: LsqQuantizer | None) -> None:
        """Receive `producer`'s output unchanged (see `tied_to`); None unties."""
        self.__dict__["_tied_to"] = producer

    def forward(self, x: torch.Tensor, *, relu: bool = False) -> torch.Tensor:
        """Quantize-dequantize `x` (identity when disabled); `relu` applies a ReLU first, fused when unsigned."""
        if not self.enabled:
            return torch.relu(x) if relu else x
        producer = self.tied_to
        if producer is not None:
            return producer._export_forward(x) if self.export else x
        if relu and (self.export or self.signed is not False):
            x, relu = torch.relu(x), False  # a separate ReLU (export keeps it as an ONNX node; signed ranges)
        if not bool(self.initialized):
            self.calibrate(torch.relu(x) if relu else x)
        if self.export:
            return self._export_forward(x)
        q_min, q_max = self.range
        per_step = x[0].numel() if self.per_channel else x.numel()
        return lsq_fake_quant(x, self.step, q_min, q_max, 1.0 / math.sqrt(per_step * q_max), relu=relu)

    def _export_forward(self, x: torch.Tensor) -> torch.Tensor:
        # Activations only (weights are exported by QuantConv2d): an 8-bit QDQ pair with this step; narrower
        # ranges become a Clip to the range followed by the 8-bit pair, which gives the same values.
        q_min, q_max = self.range
        step = float(self.step.detach().reshape(()))
        lo8, hi8 = (-128, 127) if self.signed else (0, 255)
        if (q_min, q_max) != (lo8, hi8):
            x = torch.clamp(x, q_min * step, q_max * step)
        return torch.fake_quantize_per_tensor_affine(x, step, 0, lo8, hi8)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Set the sign (if undecided) and the step from a representative tensor.

        Weights of 8 bits or more get the step that just covers each channel's largest magnitude (no clipping);
        everything else the MSE-optimal step (`mse_step`). At 8 bits the rounding error is already small, and
        the few weights that MSE clipping cuts matter more than the finer grid it buys: on the standard study's
        validation frames, 8-bit weights stepped by max-abs gave W8A8 +0.54 % RMSE after calibration against
        +0.81 % with MSE steps (W4A8, whose first and last layers are 8-bit: +1.7 % against +2.2 %).
        """
        if self.signed is None:
            self.signed = bool((x < 0).any())
        q_min, q_max = self.range
        if self.per_channel and self.bits >= 8:
            step = max_abs_step(x, q_min, q_max)
        else:
            step = mse_step(x, q_min, q_max, per_channel=self.per_channel)
        self.log_step.copy_(step.log().reshape(self.log_step.shape))
        self.initialized.fill_(True)

    def extra_repr(self) -> str:
        """Shown in the module's repr."""
        tied = ", tied" if self.tied_to is not None else ""
        return f"bits={self.bits}, signed={self.signed}, per_channel={self.per_channel}{tied}"
