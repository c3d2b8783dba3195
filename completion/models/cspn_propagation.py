"""CSPN's convolutional spatial propagation (Cheng, Wang, Yang, ECCV 2018) on plain torch: no CUDA, runs on CPU.

Each pixel p has the K = 8 neighbours q_k = p + g_k of a 3x3 kernel (g_k the kernel positions without the centre,
row-major, as in `completion.models.nlspn_propagation`). From 8 raw affinity maps k^_k(p) (the guidance head):

    k_k(p) = k^_k(p) / sum_j |k^_j(p)|,      k_ref(p) = 1 - sum_k k_k(p)
    H_{t+1}(p) = k_ref(p) H_0(p) + sum_k k_k(p) H_t(p + g_k)                                   (paper, Eq. 1)
    H_{t+1}(p) <- D_s(p) where D_s(p) > 0                                                      (paper, Eq. 3)

The centre term reads the initial depth H_0, not H_t (Eq. 1 and the released code's '8sum' normalisations; CSPN++
and PENet keep this form). H_0 is the initial depth with the sparse depth D_s written in, so the spots seed the
first step and every step ends with the spot pixels equal to D_s. A neighbour outside the image gets k^ = 0 before
the normalisation: the released code reaches the same by zero-padding the affinity maps it reads at the
neighbour's position, so the image border neither pulls towards 0 nor breaks a constant field. A pixel whose raw
affinities are all zero (below `EPS`) keeps H_0 (k = 0, k_ref = 1).

Since sum_k |k_k| = 1, a step never amplifies: H_{t+1} - H'_{t+1} = sum_k k_k (H_t - H'_t)(p + g_k) for two runs
from the same H_0. Affinity sign (`AFFINITIES`):
- "abs" (default; the released code's ``norm_type='8sum_abs'``): k^ is replaced by |k^| first. The k_k are then
  positive and sum to 1, k_ref = 0, and every step is a convex average of the 8 neighbours (values stay within the
  range of H_0; tested).
- "signed" (the released code's '8sum'): k_k may be negative, k_ref lies in [0, 2].

Not reproduced from the released code (github.com/XinJCheng/CSPN ``models/cspn.py``): there the affinity map of
channel k is read at the neighbour's position q_k instead of at p (a one-pixel shift per channel that a learned
head absorbs), and the spot pixels are reset to the initial prediction rather than to D_s (its issues #29, #49).
See docs/models.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from completion.errors import ConfigError, ShapeError
from completion.models.nlspn_propagation import KERNEL_DX, KERNEL_DY, NUM_NEIGHBOURS

__all__ = [
    "AFFINITIES",
    "EPS",
    "ConvSpatialPropagation",
    "cspn_propagate",
    "inside_mask",
    "neighbour_values",
    "normalize_affinity",
]

AFFINITIES = ("abs", "signed")
#: Below this sum of |raw affinities| a pixel keeps H_0 (no division by ~0).
EPS = 1e-8


def neighbour_values(x: torch.Tensor) -> torch.Tensor:
    """The 8 neighbours of every pixel, zeros outside the image.

    Args:
        x: (B, 1, H, W) map.

    Returns:
        (B, 8, H, W): channel k holds x(p + g_k), g_k = (KERNEL_DY[k], KERNEL_DX[k]).
    """
    h, w = x.shape[-2:]
    pad = F.pad(x, (1, 1, 1, 1))
    offsets = [(1 + int(dy), 1 + int(dx)) for dy, dx in zip(KERNEL_DY, KERNEL_DX, strict=True)]
    return torch.cat([pad[..., y : y + h, x0 : x0 + w] for y, x0 in offsets], dim=1)


def inside_mask(height: int, width: int, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """(1, 8, H, W): 1 where neighbour k of the pixel lies inside the H x W image, else 0."""
    return neighbour_values(torch.ones(1, 1, height, width, device=device, dtype=dtype))


def normalize_affinity(aff_raw: torch.Tensor, affinity: str = "abs") -> tuple[torch.Tensor, torch.Tensor]:
    """CSPN's affinity normalisation (module docstring, Eq. 1), neighbours outside the image dropped.

    Args:
        aff_raw: (B, 8, H, W) raw affinities k^ (any real values).
        affinity: "abs" (|k^| first, the released code's default) or "signed" (its '8sum').

    Returns:
        aff_nb: (B, 8, H, W) k_k, sum_k |k_k| = 1 (0 where every raw affinity is 0);
        aff_ref: (B, 1, H, W) centre weight 1 - sum_k k_k.
    """
    if affinity == "abs":
        aff_raw = aff_raw.abs()
    aff = aff_raw * inside_mask(*aff_raw.shape[-2:], device=aff_raw.device, dtype=aff_raw.dtype)
    aff = aff / aff.abs().sum(dim=1, keepdim=True).clamp_min(EPS)
    return aff, 1.0 - aff.sum(dim=1, keepdim=True)


def cspn_propagate(
    depth_init: torch.Tensor,
    aff_raw: torch.Tensor,
    sparse: torch.Tensor | None = None,
    *,
    num_iters: int,
    affinity: str = "abs",
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run `num_iters` CSPN steps (module docstring) from `depth_init`.

    Args:
        depth_init: (B, 1, H, W) initial depth, m.
        aff_raw: (B, 8, H, W) raw affinities.
        sparse: (B, 1, H, W) sparse depth in m, 0 = no spot; where > 0 it replaces H_0 and every step's output.
            None: no re-injection.
        num_iters: steps T (0 gives H_0).
        affinity: "abs" or "signed" (`AFFINITIES`).

    Returns:
        (H_T (B, 1, H, W), [H_1, ..., H_T]); H_T = H_0 for `num_iters` 0.
    """
    aff_nb, aff_ref = normalize_affinity(aff_raw, affinity)
    mask = None if sparse is None else (sparse > 0).to(depth_init.dtype)

    def inject(h: torch.Tensor) -> torch.Tensor:
        return h if mask is None else (1.0 - mask) * h + mask * sparse

    feat = inject(depth_init)
    centre = aff_ref * feat  # k_ref H_0, the same in every step
    steps = []
    for _ in range(num_iters):
        feat = inject(centre + (aff_nb * neighbour_values(feat)).sum(dim=1, keepdim=True))
        steps.append(feat)
    return feat, steps


class ConvSpatialPropagation(nn.Module):
    """CSPN's propagation layer (no parameters): `cspn_propagate` with stored settings.

    Args:
        num_iters: T propagation steps.
        affinity: "abs" or "signed" (`AFFINITIES`).
        preserve_input: write the sparse depth into H_0 and after every step (Eq. 3).

    Raises:
        ConfigError: a negative `num_iters` or an unknown `affinity`.
    """

    def __init__(self, *, num_iters: int = 24, affinity: str = "abs", preserve_input: bool = True) -> None:
        super().__init__()
        if num_iters < 0:
            raise ConfigError(f"num_iters must be >= 0, got {num_iters}")
        if affinity not in AFFINITIES:
            raise ConfigError(f"affinity must be one of {', '.join(AFFINITIES)}, got {affinity!r}")
        self.num_iters, self.affinity, self.preserve_input = num_iters, affinity, preserve_input

    def forward(
        self, depth_init: torch.Tensor, guidance: torch.Tensor, sparse: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 1, H, W) initial depth + (B, 8, H, W) raw affinities (+ sparse depth) -> (depth, the T steps).

        Raises:
            ShapeError: if `guidance` does not have 8 channels.
        """
        if guidance.shape[1] != NUM_NEIGHBOURS:
            raise ShapeError(f"guidance: CSPN needs {NUM_NEIGHBOURS} affinity maps, got {guidance.shape[1]} channels")
        fixed = sparse if self.preserve_input else None
        return cspn_propagate(depth_init, guidance, fixed, num_iters=self.num_iters, affinity=self.affinity)
