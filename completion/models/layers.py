"""Quantization-friendly building blocks: Conv-BN-ReLU, resize-then-conv upsampling, explicit skip merges.

Every block is made of `nn.Conv2d`, `nn.BatchNorm2d`, `nn.ReLU`, `F.interpolate`, `torch.cat` and `+` only, and
keeps its parts under fixed attribute names (`.conv`, `.bn`, `.act`), so a quantizer can find every convolution
with `model.modules()`, fold `bn` into `conv`, and wrap the input and output of each block with fake-quant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from completion.errors import ConfigError

__all__ = ["ConvBNReLU", "Merge", "Resize2x", "UpConv", "pad_to_multiple"]

UPSAMPLE_MODES = ("nearest", "bilinear")
MERGE_MODES = ("concat", "add")


class ConvBNReLU(nn.Module):
    """3x3 (or k x k) convolution without bias, BatchNorm, ReLU.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel_size: odd kernel size; padding keeps the size for stride 1 and gives ceil(H/2) for stride 2.
        stride: 1 or 2 (stride 2 is the network's downsampling).
        relu: apply the ReLU (False gives Conv-BN only).

    Shapes:
        (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, *, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=False) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, BN and activation."""
        return self.act(self.bn(self.conv(x)))


class Resize2x(nn.Module):
    """Upsample by exactly 2 with nearest or bilinear (align_corners=False) interpolation; no learned weights.

    Args:
        mode: "nearest" or "bilinear".

    Raises:
        ConfigError: for another mode.
    """

    def __init__(self, mode: str = "nearest") -> None:
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ConfigError(f"upsample mode {mode!r} is not one of {', '.join(UPSAMPLE_MODES)}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 2H, 2W)."""
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        """Shown in the module's repr."""
        return f"mode={self.mode!r}"


class UpConv(nn.Module):
    """Resize by 2, then a 3x3 Conv-BN-ReLU (instead of a transposed convolution, which int8 runtimes keep float).

    Shapes:
        (B, in_ch, H, W) -> (B, out_ch, 2H, 2W).
    """

    def __init__(self, in_ch: int, out_ch: int, mode: str = "nearest") -> None:
        super().__init__()
        self.up = Resize2x(mode)
        self.block = ConvBNReLU(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample, then convolve."""
        return self.block(self.up(x))


class Merge(nn.Module):
    """A skip connection: concatenate along channels or add (a module so quantizers can observe its output).

    Args:
        mode: "concat" (channels add up) or "add" (shapes must be equal).

    Raises:
        ConfigError: for another mode.
    """

    def __init__(self, mode: str = "concat") -> None:
        super().__init__()
        if mode not in MERGE_MODES:
            raise ConfigError(f"skip mode {mode!r} is not one of {', '.join(MERGE_MODES)}")
        self.mode = mode

    def forward(self, decoder: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Merge a decoder feature with the encoder feature of the same scale."""
        if self.mode == "concat":
            return torch.cat([decoder, skip], dim=1)
        return decoder + skip

    def out_channels(self, decoder_ch: int, skip_ch: int) -> int:
        """Channels after merging."""
        return decoder_ch + skip_ch if self.mode == "concat" else decoder_ch

    def extra_repr(self) -> str:
        """Shown in the module's repr."""
        return f"mode={self.mode!r}"


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> tuple[torch.Tensor, int, int]:
    """Pad the bottom and right of a (B, C, H, W) tensor so H and W become multiples of `multiple`.

    Returns:
        (padded tensor, original H, original W); crop back with `y[..., :H, :W]`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w
