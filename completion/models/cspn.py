"""CSPN (Cheng, Wang, Yang, ECCV 2018) on NLSPN's encoder-decoder: plain torch, runs on CPU.

The network is `NlspnEncoderDecoder` unchanged (the same ResNet encoder, transposed-conv decoder, initial-depth
head ``id_dec*`` and guidance head ``gd_dec*``), whose 8 guidance channels are CSPN's raw affinities; there is no
confidence head and no offset conv. `ConvSpatialPropagation` then refines the initial depth with the sparse depth
written back after every step (`completion.models.cspn_propagation`). With the same encoder, width and training,
a comparison with `nlspn` therefore isolates the propagation: fixed 3x3 neighbours and abs-sum-normalised
affinities (CSPN) against learned non-local neighbours, TGASS affinities and confidence (NLSPN).

The released CSPN (github.com/XinJCheng/CSPN) has a ResNet-50 encoder with up-projection blocks and 24 steps;
its encoder is not reproduced here, on purpose (see docs/models.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from completion.errors import ConfigError
from completion.models.cspn_propagation import AFFINITIES, ConvSpatialPropagation
from completion.models.nlspn import NlspnEncoderDecoder, check_encoder_width
from completion.models.nlspn_propagation import NUM_NEIGHBOURS

__all__ = ["Cspn", "CspnConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CspnConfig:
    """Hyper-parameters of CSPN on NLSPN's encoder-decoder.

    Attributes:
        encoder: "resnet34" or "resnet18" (as `NlspnConfig.encoder`).
        width: c, channels of layer1 (a multiple of 4; as `NlspnConfig.width`).
        num_iters: propagation steps T (24 in the released CSPN).
        affinity: "abs" (|raw affinity| before the normalisation, the released code's default '8sum_abs') or
            "signed" (Eq. 1 with signed raw affinities, its '8sum'); see `completion.models.cspn_propagation`.
        preserve_input: write the sparse depth into the initial depth and after every step (the paper's Eq. 3).
        normalize_rgb: ImageNet mean/std on the [0, 1] RGB (as NLSPN).
    """

    encoder: str = "resnet34"
    width: int = 64
    num_iters: int = 24
    affinity: str = "abs"
    preserve_input: bool = True
    normalize_rgb: bool = True

    def __post_init__(self) -> None:
        check_encoder_width(self.encoder, self.width)
        if not isinstance(self.num_iters, int) or isinstance(self.num_iters, bool) or self.num_iters < 0:
            raise ConfigError(f"num_iters must be an integer >= 0, got {self.num_iters!r}")
        if self.affinity not in AFFINITIES:
            raise ConfigError(f"affinity must be one of {', '.join(AFFINITIES)}, got {self.affinity!r}")


class Cspn(NlspnEncoderDecoder):
    """CSPN: `forward(batch) -> depth (B, 1, H, W)` metres, float32. Reads batch keys `rgb`, `sparse`."""

    name = "cspn"

    def __init__(self, cfg: CspnConfig) -> None:
        super().__init__(encoder=cfg.encoder, width=cfg.width, guide_ch=NUM_NEIGHBOURS, normalize_rgb=cfg.normalize_rgb)
        self.cfg = cfg
        self.config = dataclasses.asdict(cfg)
        self.prop_layer = ConvSpatialPropagation(
            num_iters=cfg.num_iters, affinity=cfg.affinity, preserve_input=cfg.preserve_input
        )

    def forward_all(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Every output: `pred` (B,1,H,W) m, `pred_init`, `guidance` (raw affinities), `pred_inter` (list)."""
        pred_init, guide, _, _ = self.encode_decode(batch)
        pred, inter = self.prop_layer(pred_init, guide, batch["sparse"])
        return {"pred": torch.clamp(pred, min=0.0), "pred_init": pred_init, "pred_inter": inter, "guidance": guide}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Depth (B, 1, H, W) metres after propagation, clamped at 0 (as NLSPN)."""
        return self.forward_all(batch)["pred"]  # type: ignore[return-value]
