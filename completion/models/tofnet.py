"""tofnet: the paper's compact U-Net that corrects a dense fill of the ToF spots.

Input (design.md, "What the paper shows"): 5 channels = prefill / D_max, min(dist, E_max) / E_max, RGB in [0, 1],
plus (nearest fill - prefill) / R as a 6th when ``nearest_channel`` (default): the two fills differ most where a
linear fill crosses a depth edge, and as a difference in metres the cue keeps its centimetres (depth / D_max in
bfloat16 training or 8-bit activations resolves only 2-4 cm). With ``status_channels`` two more: the Voronoi
maps of the nearest spot's "far" (out of range, no hit) and "dropout" flags (`completion.prefill.spot_status_maps`):
the fills only see valid spots, and the pixels beside a spot that saw nothing in range are where they fail most.
The paper's prefill is the nearest-neighbour fill; ours defaults to the linear (Delaunay) fill, so the residual
starts at the strongest classical baseline (``prefill``, docs/results.md has the ablation).
A U-Net of Conv-BN-ReLU blocks (base width n_f, n_s scales, stride-2 conv downsampling, resize + 3x3 conv
upsampling, concat or add skips) predicts a correction; output = prefill + R * correction (global residual, R =
``residual_scale_m``), clamped at 0. Only Conv2d, BatchNorm2d, ReLU, interpolate, cat and add: every layer can
be quantized.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from completion.errors import ConfigError
from completion.models.layers import MERGE_MODES, UPSAMPLE_MODES, ConvBNReLU, Merge, UpConv, pad_to_multiple
from completion.prefill import PREFILL_KINDS, SPOT_STATUS_CHANNELS

__all__ = ["TofNet", "TofNetConfig", "TofUNet", "tofnet_inputs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TofNetConfig:
    """Hyper-parameters of tofnet.

    Attributes:
        base_width: n_f, channels at full resolution; scale s has base_width * 2**s channels.
        num_scales: n_s, number of resolutions (1 = no downsampling); H, W are padded to a multiple of 2**(n_s-1).
        max_depth_m: D_max, prefill is divided by it and the correction multiplied by it.
        max_dist_px: E_max, the spot distance is clipped at it and divided by it.
        skip: "concat" or "add" skip connections.
        upsample: "nearest" or "bilinear" resize before each decoder 3x3 conv.
        convs_per_scale: Conv-BN-ReLU blocks after each downsampling / merge (>= 1).
        prefill: the fill the network corrects, "linear" or "nearest" (`completion.prefill.PREFILL_KINDS`); the
            data pipeline builds it (``make_inputs(..., prefill=model.prefill)``).
        nearest_channel: also feed (nearest fill - prefill) / R (batch key ``nearest``) as a 6th input channel.
        residual_scale_m: R, the correction (network output) is multiplied by it. Corrections are centimetres
            to decimetres: with R = D_max = 10 m a unit of output is 10 m and training learned a zero correction
            (docs/results.md, ablation); 1 m keeps the head's outputs of order 0.01-0.5.
        status_channels: also feed the two spot-status maps (batch key ``spot_status``, (B, 2, H, W)).
    """

    base_width: int = 8
    num_scales: int = 4
    max_depth_m: float = 10.0
    max_dist_px: float = 32.0
    skip: str = "concat"
    upsample: str = "nearest"
    convs_per_scale: int = 2
    prefill: str = "linear"
    nearest_channel: bool = True
    residual_scale_m: float = 1.0
    status_channels: bool = False

    @property
    def in_channels(self) -> int:
        """Input channels of the U-Net: 5, + 1 with the nearest channel, + 2 with the status channels."""
        return 5 + int(self.nearest_channel) + len(SPOT_STATUS_CHANNELS) * int(self.status_channels)

    def __post_init__(self) -> None:
        if self.base_width < 1 or self.num_scales < 1 or self.convs_per_scale < 1:
            raise ConfigError(
                f"tofnet needs base_width, num_scales and convs_per_scale >= 1, got "
                f"{self.base_width}, {self.num_scales}, {self.convs_per_scale}"
            )
        if not (self.max_depth_m > 0 and self.max_dist_px > 0):
            raise ConfigError(f"max_depth_m and max_dist_px must be > 0, got {self.max_depth_m}, {self.max_dist_px}")
        if self.prefill not in PREFILL_KINDS:
            raise ConfigError(f"prefill must be one of {', '.join(PREFILL_KINDS)}, got {self.prefill!r}")
        if not self.residual_scale_m > 0:
            raise ConfigError(f"residual_scale_m must be > 0, got {self.residual_scale_m}")
        if self.skip not in MERGE_MODES:
            raise ConfigError(f"skip must be one of {', '.join(MERGE_MODES)}, got {self.skip!r}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {self.upsample!r}")


def tofnet_inputs(
    batch: dict[str, torch.Tensor],
    max_depth_m: float,
    max_dist_px: float,
    nearest_channel: bool = False,
    residual_scale_m: float = 1.0,
    status_channels: bool = False,
) -> torch.Tensor:
    """The 5- to 8-channel network input.

    Args:
        batch: needs `prefill` (B, 1, H, W) metres, `dist` (B, 1, H, W) pixels, `rgb` (B, 3, H, W) in [0, 1],
            `nearest` (B, 1, H, W) metres when `nearest_channel`, `spot_status` (B, 2, H, W) when `status_channels`
            (zeros when absent: every spot valid).
        max_depth_m: D_max.
        max_dist_px: E_max.
        nearest_channel: append (nearest - prefill) / R.
        residual_scale_m: R.
        status_channels: append the two spot-status maps.

    Returns:
        (B, 5 to 8, H, W) float32: prefill / D_max, clip(dist, 0, E_max) / E_max, rgb[, (nearest - prefill) / R]
        [, spot_status].
    """
    dist = torch.clamp(batch["dist"], 0.0, max_dist_px) / max_dist_px
    parts = [batch["prefill"] / max_depth_m, dist, batch["rgb"]]
    if nearest_channel:
        parts.append((batch["nearest"] - batch["prefill"]) / residual_scale_m)
    if status_channels:
        status = batch.get("spot_status")
        if status is None:  # a hand-made batch without spot flags: as if every spot were valid
            prefill = batch["prefill"]
            status = prefill.new_zeros((prefill.shape[0], len(SPOT_STATUS_CHANNELS), *prefill.shape[-2:]))
        parts.append(status.to(batch["prefill"].dtype))
    return torch.cat(parts, dim=1)


class TofUNet(nn.Module):
    """The U-Net core: (B, in_ch, H, W) -> correction (B, 1, H, W); H and W must be multiples of `stride`.

    Layer names, for quantization: `enc[s]` (a Sequential of ConvBNReLU; `enc[s][0]` has stride 2 for s > 0),
    `up[i]` (UpConv: `.up` resize + `.block` ConvBNReLU), `merge[i]` (Merge), `dec[i]` (Sequential of
    ConvBNReLU), `head` (a plain Conv2d with bias, the only layer without BN/ReLU).
    """

    def __init__(self, cfg: TofNetConfig, in_ch: int = 5) -> None:
        super().__init__()
        widths = [cfg.base_width * 2**s for s in range(cfg.num_scales)]
        self.stride = 2 ** (cfg.num_scales - 1)
        enc = []
        for s, w in enumerate(widths):
            first = ConvBNReLU(in_ch if s == 0 else widths[s - 1], w, stride=1 if s == 0 else 2)
            enc.append(nn.Sequential(first, *[ConvBNReLU(w, w) for _ in range(cfg.convs_per_scale)]))
        self.enc = nn.ModuleList(enc)
        up, merge, dec = [], [], []
        for s in range(cfg.num_scales - 1, 0, -1):  # from the coarsest scale up to full resolution
            up.append(UpConv(widths[s], widths[s - 1], cfg.upsample))
            m = Merge(cfg.skip)
            merge.append(m)
            ch = m.out_channels(widths[s - 1], widths[s - 1])
            dec.append(
                nn.Sequential(
                    *[ConvBNReLU(ch if i == 0 else widths[s - 1], widths[s - 1]) for i in range(cfg.convs_per_scale)]
                )
            )
        self.up, self.merge, self.dec = nn.ModuleList(up), nn.ModuleList(merge), nn.ModuleList(dec)
        self.head = nn.Conv2d(widths[0], 1, 3, padding=1, bias=True)
        nn.init.zeros_(self.head.weight)  # start exactly at the prefill; the head learns first
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) normalised input -> (B, 1, H, W) correction in units of D_max."""
        skips = []
        for s, block in enumerate(self.enc):
            x = block(x)
            if s < len(self.enc) - 1:
                skips.append(x)
        for up, merge, dec in zip(self.up, self.merge, self.dec, strict=True):
            x = dec(merge(up(x), skips.pop()))
        return self.head(x)


class TofNet(nn.Module):
    """tofnet: `forward(batch) -> depth (B, 1, H, W)` metres, float32, for any H, W.

    Reads batch keys `input_keys` (`prefill`, `dist`, `rgb`, `nearest` when ``nearest_channel``, `spot_status` when
    ``status_channels``). Pads
    (replicate) to a multiple of `core.stride`, crops back.
    `prefill` says which fill the batch's ``prefill`` must hold (``make_inputs(..., prefill=model.prefill)``).
    """

    name = "tofnet"

    def __init__(self, cfg: TofNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.config = dataclasses.asdict(cfg)
        self.core = TofUNet(cfg, in_ch=cfg.in_channels)
        self.prefill = cfg.prefill
        #: batch keys the forward pass reads (the ONNX graph's inputs, in order)
        self.input_keys = (
            "rgb",
            "prefill",
            "dist",
            *(("nearest",) if cfg.nearest_channel else ()),
            *(("spot_status",) if cfg.status_channels else ()),
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Depth (B, 1, H, W) metres = clamp(prefill + R * correction, min=0)."""
        prefill = batch["prefill"]
        c = self.cfg
        x = tofnet_inputs(batch, c.max_depth_m, c.max_dist_px, c.nearest_channel, c.residual_scale_m, c.status_channels)
        x, h, w = pad_to_multiple(x, self.core.stride)
        correction = self.core(x)[..., :h, :w]
        return torch.clamp(prefill + self.cfg.residual_scale_m * correction, min=0.0)
