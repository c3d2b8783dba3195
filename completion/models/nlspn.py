"""NLSPN (Park et al., ECCV 2020) re-implemented on plain torch: runs on CPU, no CUDA extension, no torchvision.

Encoder-decoder as in the official `NLSPNModel` (same attribute names, so the structure of its checkpoints maps
one to one): conv1_rgb (3 -> 3c/4) and conv1_dep (1 -> c/4) at full resolution, ResNet layer1..layer4 as
conv2..conv5, conv6 (stride 2, 1/16), a transposed-conv decoder dec5..dec2 with encoder skips, and three heads:
initial depth (id_dec*), guidance for offsets/affinities (gd_dec*) and confidence (cf_dec*, sigmoid). Then
`NonLocalPropagation` refines the initial depth. Conv-BN-LeakyReLU(0.2) blocks as in the official code.
c = `width` (64 in NLSPN). Odd sizes work: decoder features are cropped to the encoder's size (official `_concat`).
`NlspnEncoderDecoder` holds everything up to the guidance head; `completion.models.cspn` reuses it with CSPN's
propagation, so the two models differ only in their propagation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn

from completion.errors import ConfigError
from completion.models.nlspn_propagation import NUM_NEIGHBOURS, NonLocalPropagation
from completion.models.resnet import RESNET_LAYERS, ResNet

__all__ = ["Nlspn", "NlspnConfig", "NlspnEncoderDecoder", "check_encoder_width", "load_torchvision_resnet"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONFIDENCE_AT = ("neighbour", "offset")


def check_encoder_width(encoder: str, width: int) -> None:
    """Check the encoder-decoder's settings (NLSPN's and CSPN's configs).

    Raises:
        ConfigError: an unknown encoder, or a width that is not a positive multiple of 4.
    """
    if encoder not in RESNET_LAYERS:
        raise ConfigError(f"encoder must be one of {', '.join(RESNET_LAYERS)}, got {encoder!r}")
    if width < 4 or width % 4:
        raise ConfigError(f"width must be a positive multiple of 4, got {width}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NlspnConfig:
    """Hyper-parameters of NLSPN (names of the official flags in brackets).

    Attributes:
        encoder: "resnet34" or "resnet18" [--network].
        width: c, channels of layer1 (64 in NLSPN and torchvision; a multiple of 4).
        num_iters: propagation steps T [--prop_time].
        affinity_gamma: initial gamma / K [--affinity_gamma]; affinity type is TGASS.
        preserve_input: keep the sparse depth before every step [--preserve_input].
        conf_prop: confidence-weighted affinities [--conf_prop].
        legacy: the sampling geometry of the released ECCV20 checkpoints [--legacy]; overrides `confidence_at`.
        confidence_at: where the confidence of a neighbour is read without legacy: "neighbour" (where its depth is
            read; default) or "offset" (p + o_k, the released code after its 2021 fix).
        normalize_rgb: ImageNet mean/std on the [0, 1] RGB (NLSPN's data loaders do this).
        init_fill: the initial depth is the batch's ``prefill`` (the linear fill of the spots) plus a learned
            correction that starts at zero, instead of a depth the decoder predicts from nothing (not in the
            official model; lets a small NLSPN start where interpolation is and spend its training on the rest).
    """

    encoder: str = "resnet34"
    width: int = 64
    num_iters: int = 18
    affinity_gamma: float = 0.5
    preserve_input: bool = True
    conf_prop: bool = True
    legacy: bool = False
    confidence_at: str = "neighbour"
    normalize_rgb: bool = True
    init_fill: bool = False

    def __post_init__(self) -> None:
        check_encoder_width(self.encoder, self.width)
        if self.num_iters < 0:
            raise ConfigError(f"num_iters must be >= 0, got {self.num_iters}")
        if self.confidence_at not in CONFIDENCE_AT:
            raise ConfigError(f"confidence_at must be one of {', '.join(CONFIDENCE_AT)}, got {self.confidence_at!r}")

    @property
    def geometry(self) -> str:
        """Key of `nlspn_propagation.GEOMETRIES`."""
        if self.legacy:
            return "legacy"
        return "consistent" if self.confidence_at == "neighbour" else "official"


def _conv(ch_in: int, ch_out: int, stride: int = 1, *, bn: bool = True, relu: bool = True) -> nn.Sequential:
    """Official `conv_bn_relu`: 3x3 conv (bias only without BN), BN, LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(ch_in, ch_out, 3, stride, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(ch_out))
    if relu:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _convt(ch_in: int, ch_out: int) -> nn.Sequential:
    """Official `convt_bn_relu`: 3x3 stride-2 transposed conv (output_padding 1), BN, LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.ConvTranspose2d(ch_in, ch_out, 3, 2, 1, output_padding=1, bias=False),
        nn.BatchNorm2d(ch_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _concat(fd: torch.Tensor, fe: torch.Tensor) -> torch.Tensor:
    """Crop the decoder feature to the encoder feature's size and concatenate (official `_concat`)."""
    return torch.cat([fd[..., : fe.shape[-2], : fe.shape[-1]], fe], dim=1)


class NlspnEncoderDecoder(nn.Module):
    """NLSPN's encoder-decoder with its initial-depth and guidance heads, without a propagation (shared with CSPN).

    Builds the official attribute names (``conv1_rgb`` ... ``gd_dec0``) directly on the module, so the state-dict
    keys of a subclass are the official ones. `encode_decode` runs it; a subclass adds its propagation.

    Args:
        encoder: "resnet34" or "resnet18"; width: c (a multiple of 4); guide_ch: channels of ``gd_dec0``;
        normalize_rgb: ImageNet mean/std on the [0, 1] RGB inside the model.
    """

    def __init__(self, *, encoder: str, width: int, guide_ch: int, normalize_rgb: bool) -> None:
        super().__init__()
        c = width
        self.normalize_rgb = normalize_rgb
        self.conv1_rgb = _conv(3, 3 * c // 4, bn=False)
        self.conv1_dep = _conv(1, c // 4, bn=False)
        net = ResNet(RESNET_LAYERS[encoder], width=c)
        self.conv2, self.conv3, self.conv4, self.conv5 = net.layer1, net.layer2, net.layer3, net.layer4
        del net
        self.conv6 = _conv(8 * c, 8 * c, stride=2)
        self.dec5 = _convt(8 * c, 4 * c)
        self.dec4 = _convt(4 * c + 8 * c, 2 * c)
        self.dec3 = _convt(2 * c + 4 * c, c)
        self.dec2 = _convt(c + 2 * c, c)
        self.id_dec1 = _conv(2 * c, c)
        self.id_dec0 = _conv(2 * c, 1, bn=False, relu=True)
        self.gd_dec1 = _conv(2 * c, c)
        self.gd_dec0 = _conv(2 * c, guide_ch, bn=False, relu=False)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def encode_decode(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """(pred_init (B,1,H,W) m, guidance (B,guide_ch,H,W), decoder feature fd2e2 (B,2c,H,W), stem fe1 (B,c,H,W))."""
        rgb, dep = batch["rgb"], batch["sparse"]
        if self.normalize_rgb:
            rgb = (rgb - self.rgb_mean) / self.rgb_std
        fe1 = torch.cat([self.conv1_rgb(rgb), self.conv1_dep(dep)], dim=1)
        fe2 = self.conv2(fe1)
        fe3 = self.conv3(fe2)
        fe4 = self.conv4(fe3)
        fe5 = self.conv5(fe4)
        fe6 = self.conv6(fe5)
        fd5 = self.dec5(fe6)
        fd4 = self.dec4(_concat(fd5, fe5))
        fd3 = self.dec3(_concat(fd4, fe4))
        fd2 = self.dec2(_concat(fd3, fe3))
        fd2e2 = _concat(fd2, fe2)
        pred_init = self.id_dec0(_concat(self.id_dec1(fd2e2), fe1))
        guide = self.gd_dec0(_concat(self.gd_dec1(fd2e2), fe1))
        return pred_init, guide, fd2e2, fe1


class Nlspn(NlspnEncoderDecoder):
    """NLSPN: `forward(batch) -> depth (B, 1, H, W)` metres, float32.

    Reads batch keys `rgb`, `sparse`, and `prefill` with ``init_fill``.
    """

    name = "nlspn"

    def __init__(self, cfg: NlspnConfig) -> None:
        super().__init__(encoder=cfg.encoder, width=cfg.width, guide_ch=NUM_NEIGHBOURS, normalize_rgb=cfg.normalize_rgb)
        self.cfg = cfg
        self.config = dataclasses.asdict(cfg)
        c = cfg.width
        if cfg.conf_prop:
            self.cf_dec1 = _conv(2 * c, c // 2)
            self.cf_dec0 = nn.Sequential(nn.Conv2d(c // 2 + c, 1, 3, 1, 1), nn.Sigmoid())
        self.prop_layer = NonLocalPropagation(
            NUM_NEIGHBOURS,
            num_iters=cfg.num_iters,
            affinity_gamma=cfg.affinity_gamma,
            geometry=cfg.geometry,
            preserve_input=cfg.preserve_input,
            conf_prop=cfg.conf_prop,
        )
        if cfg.init_fill:  # a signed correction of the fill (no ReLU), zero at the start: pred_init = prefill
            self.id_dec0 = _conv(2 * c, 1, bn=False, relu=False)
            nn.init.zeros_(self.id_dec0[0].weight)
            nn.init.zeros_(self.id_dec0[0].bias)

    def forward_all(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Every output: `pred` (B,1,H,W) m, `pred_init`, `confidence` (or None), `guidance`, `pred_inter` (list)."""
        pred_init, guide, fd2e2, fe1 = self.encode_decode(batch)
        if self.cfg.init_fill:
            pred_init = batch["prefill"] + pred_init
        confidence = self.cf_dec0(_concat(self.cf_dec1(fd2e2), fe1)) if self.cfg.conf_prop else None
        pred, inter = self.prop_layer(pred_init, guide, confidence, batch["sparse"])
        return {
            "pred": torch.clamp(pred, min=0.0),
            "pred_init": pred_init,
            "pred_inter": inter,
            "confidence": confidence,
            "guidance": guide,
        }

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Depth (B, 1, H, W) metres after propagation, clamped at 0 (as the official model)."""
        return self.forward_all(batch)["pred"]  # type: ignore[return-value]


def load_torchvision_resnet(model: Nlspn, state_dict: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """Load a torchvision-style ResNet state dict (`layer1.*` .. `layer4.*`) into NLSPN's encoder conv2..conv5.

    Like the official code, the stem (`conv1`, `bn1`) and `fc` are not used (NLSPN has its own full-resolution stem).

    Args:
        model: an `Nlspn` whose encoder and width match the state dict (width 64 for torchvision weights).
        state_dict: torchvision names, e.g. `layer1.0.conv1.weight`; a `module.` prefix is stripped.

    Returns:
        {"loaded": keys copied into the model, "ignored": keys of the state dict that NLSPN does not use}.

    Raises:
        ConfigError: if an encoder parameter is missing from the state dict or a shape differs.
    """
    if not isinstance(model, Nlspn):
        raise ConfigError(f"load_torchvision_resnet needs an Nlspn model, got {type(model).__name__}")
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    own = model.state_dict()
    mapped, ignored = {}, []
    for key, value in sd.items():
        stage = key.split(".", 1)[0]
        if stage in ("layer1", "layer2", "layer3", "layer4"):
            mapped[f"conv{int(stage[-1]) + 1}.{key.split('.', 1)[1]}"] = (key, value)
        else:
            ignored.append(key)
    targets = [k for k in own if k.split(".", 1)[0] in ("conv2", "conv3", "conv4", "conv5")]
    missing = [k for k in targets if k not in mapped]
    unexpected = [src for k, (src, _) in mapped.items() if k not in own]
    if missing or unexpected:
        raise ConfigError(
            f"ResNet state dict does not match the {model.cfg.encoder} encoder (width {model.cfg.width}): "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        )
    for k, (src, value) in mapped.items():
        if own[k].shape != value.shape:
            raise ConfigError(f"shape of {src} is {tuple(value.shape)}, encoder expects {tuple(own[k].shape)}")
    with torch.no_grad():
        for k, (_, value) in mapped.items():
            own[k].copy_(value)
    return {"loaded": sorted(src for src, _ in mapped.values()), "ignored": sorted(ignored)}
