"""NLSPN's non-local spatial propagation (Park et al., ECCV 2020) with `grid_sample` instead of a CUDA DCN.

Each pixel p has K = 8 neighbours, one per position g_k of the 3x3 kernel minus its centre, moved by a learned
sub-pixel offset o_k(p). One propagation step is

    f'(p) = a_ref(p) f(p) + sum_k a_k(p) f(p + c_prop g_k + o_k(p)),   a_ref = 1 - sum_k a_k,

with bilinear sampling and zeros outside the image (exactly what a modulated deformable convolution with unit
weights computes: DCNv2 samples at p + g_k + o_k with zero padding = `grid_sample(align_corners=True,
padding_mode="zeros")` in pixel coordinates). Affinities are normalised as NLSPN's TGASS: tanh(a) / gamma, times
the confidence sampled at the neighbour (p + c_conf g_k + o_k, offsets detached), divided by
max(1, sum_k |a_k| + 1e-4).

Sampling geometry (c_prop, c_conf), see docs/models.md:
- "consistent" (1, 1): the confidence is read where the depth is read (our default).
- "official" (1, 0): the released code after its Jan. 2021 fix (confidence read at p + o_k, issue #46).
- "legacy" (2, 1): the released ECCV20 checkpoints (`--legacy`): the grid shift meant for the confidence was
  added in place to a view of the offset tensor, so DCN later added g_k a second time.

Offset layout as in the official code: the 3x3 conv's first 16 channels, read as (K, 2) = (dy, dx) per neighbour;
neighbour k sits at kernel position k (k < 4) or k + 1 (k >= 4), row-major in the 3x3 kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from completion.errors import ConfigError

__all__ = [
    "GEOMETRIES",
    "KERNEL_DX",
    "KERNEL_DY",
    "NUM_NEIGHBOURS",
    "NonLocalPropagation",
    "neighbour_grid",
    "normalize_affinity",
    "propagate",
    "sample_neighbours",
]

NUM_NEIGHBOURS = 8
KERNEL_DY = (-1.0, -1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0)
KERNEL_DX = (-1.0, 0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 1.0)
GEOMETRIES = {"consistent": (1.0, 1.0), "official": (1.0, 0.0), "legacy": (2.0, 1.0)}


def neighbour_grid(offsets_px: torch.Tensor, grid_scale: float) -> torch.Tensor:
    """Sampling grid for `grid_sample` at p + grid_scale * g_k + o_k(p).

    Args:
        offsets_px: (B, K, 2, H, W) offsets in pixels, (dy, dx) per neighbour.
        grid_scale: multiplier of the 3x3 kernel position g_k (see `GEOMETRIES`).

    Returns:
        (B, K * H, W, 2) normalised (x, y) coordinates for `grid_sample(..., align_corners=True)`.
    """
    b, k, _, h, w = offsets_px.shape
    dev, dt = offsets_px.device, offsets_px.dtype
    ys = torch.arange(h, device=dev, dtype=dt).view(1, 1, h, 1)
    xs = torch.arange(w, device=dev, dtype=dt).view(1, 1, 1, w)
    ky = torch.tensor(KERNEL_DY[:k], device=dev, dtype=dt).view(1, k, 1, 1)
    kx = torch.tensor(KERNEL_DX[:k], device=dev, dtype=dt).view(1, k, 1, 1)
    pos_y = ys + grid_scale * ky + offsets_px[:, :, 0]
    pos_x = xs + grid_scale * kx + offsets_px[:, :, 1]
    gx = 2.0 * pos_x / max(w - 1, 1) - 1.0
    gy = 2.0 * pos_y / max(h - 1, 1) - 1.0
    return torch.stack([gx, gy], dim=-1).reshape(b, k * h, w, 2)


def sample_neighbours(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a one-channel map at every neighbour position, zeros outside the image.

    Args:
        x: (B, 1, H, W) map.
        grid: (B, K * H, W, 2) from `neighbour_grid`.

    Returns:
        (B, K, H, W) samples.
    """
    b, _, h, w = x.shape
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.view(b, -1, h, w)


def normalize_affinity(
    aff_raw: torch.Tensor, gamma: torch.Tensor, confidence_nb: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """NLSPN's TGASS affinity normalisation.

    Args:
        aff_raw: (B, K, H, W) raw affinities.
        gamma: scalar tensor, the learnable normaliser (initialised to affinity_gamma * K).
        confidence_nb: (B, K, H, W) confidence at each neighbour, or None.

    Returns:
        aff_nb: (B, K, H, W) neighbour affinities, sum_k |a_k| <= 1.
        aff_ref: (B, 1, H, W) centre affinity 1 - sum_k a_k.
    """
    aff = torch.tanh(aff_raw) / (gamma + 1e-8)
    if confidence_nb is not None:
        aff = aff * confidence_nb
    abs_sum = torch.clamp(aff.abs().sum(dim=1, keepdim=True) + 1e-4, min=1.0)
    aff = aff / abs_sum
    return aff, 1.0 - aff.sum(dim=1, keepdim=True)


def propagate(
    depth_init: torch.Tensor,
    grid: torch.Tensor,
    aff_nb: torch.Tensor,
    aff_ref: torch.Tensor,
    num_iters: int,
    fixed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run `num_iters` propagation steps.

    Args:
        depth_init: (B, 1, H, W) initial depth.
        grid: (B, K * H, W, 2) neighbour grid.
        aff_nb: (B, K, H, W) and aff_ref (B, 1, H, W) normalised affinities.
        num_iters: T.
        fixed: (B, 1, H, W) sparse depth, 0 = none; where > 0 it replaces the depth before every step
            (NLSPN's `--preserve_input` in its released code).

    Returns:
        (final depth (B, 1, H, W), list of the T intermediate depths).
    """
    feat = depth_init
    mask = None if fixed is None else (fixed > 0).to(depth_init.dtype)
    steps = []
    for _ in range(num_iters):
        if mask is not None:
            feat = (1.0 - mask) * feat + mask * fixed
        feat = aff_ref * feat + (aff_nb * sample_neighbours(feat, grid)).sum(dim=1, keepdim=True)
        steps.append(feat)
    return feat, steps


class NonLocalPropagation(nn.Module):
    """NLSPN's propagation layer (official attribute names `conv_offset_aff`, `aff_scale_const`).

    Args:
        guide_ch: channels of the guidance feature (K in NLSPN).
        num_iters: T propagation steps.
        affinity_gamma: gamma initialised to affinity_gamma * K (learnable).
        geometry: "consistent", "official" or "legacy" (see module docstring).
        preserve_input: replace the depth by the sparse input where it is > 0 before every step.
        conf_prop: weight the affinities by the neighbour's confidence.
    """

    def __init__(
        self,
        guide_ch: int = NUM_NEIGHBOURS,
        *,
        num_iters: int = 18,
        affinity_gamma: float = 0.5,
        geometry: str = "consistent",
        preserve_input: bool = True,
        conf_prop: bool = True,
    ) -> None:
        super().__init__()
        if geometry not in GEOMETRIES:
            raise ConfigError(f"geometry must be one of {', '.join(GEOMETRIES)}, got {geometry!r}")
        if num_iters < 0:
            raise ConfigError(f"num_iters must be >= 0, got {num_iters}")
        self.num_iters, self.geometry = num_iters, geometry
        self.preserve_input, self.conf_prop = preserve_input, conf_prop
        self.conv_offset_aff = nn.Conv2d(guide_ch, 3 * NUM_NEIGHBOURS, 3, padding=1, bias=True)
        nn.init.zeros_(self.conv_offset_aff.weight)
        nn.init.zeros_(self.conv_offset_aff.bias)
        self.aff_scale_const = nn.Parameter(torch.tensor([affinity_gamma * NUM_NEIGHBOURS]))

    def offsets_affinity(
        self, guidance: torch.Tensor, confidence: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Offsets, propagation grid and normalised affinities from the guidance feature.

        Returns:
            offsets (B, K, 2, H, W) px, grid (B, K*H, W, 2), aff_nb (B, K, H, W), aff_ref (B, 1, H, W).
        """
        b, _, h, w = guidance.shape
        out = self.conv_offset_aff(guidance)
        offsets = out[:, : 2 * NUM_NEIGHBOURS].reshape(b, NUM_NEIGHBOURS, 2, h, w)
        aff_raw = out[:, 2 * NUM_NEIGHBOURS :]
        c_prop, c_conf = GEOMETRIES[self.geometry]
        conf_nb = None
        if self.conf_prop:
            if confidence is None:
                raise ConfigError("conf_prop=True needs a confidence map")
            conf_nb = sample_neighbours(confidence, neighbour_grid(offsets.detach(), c_conf))
        aff_nb, aff_ref = normalize_affinity(aff_raw, self.aff_scale_const, conf_nb)
        return offsets, neighbour_grid(offsets, c_prop), aff_nb, aff_ref

    def forward(
        self,
        depth_init: torch.Tensor,
        guidance: torch.Tensor,
        confidence: torch.Tensor | None = None,
        sparse: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 1, H, W) initial depth + (B, guide_ch, H, W) guidance -> (refined depth, intermediates)."""
        _, grid, aff_nb, aff_ref = self.offsets_affinity(guidance, confidence)
        fixed = sparse if self.preserve_input else None
        return propagate(depth_init, grid, aff_nb, aff_ref, self.num_iters, fixed)
