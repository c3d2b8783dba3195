"""Classical depth-completion baselines that need no training (numpy/scipy, one (H, W) image at a time).

- `nearest_depth`: the nearest-neighbour fill of the spots (`completion.prefill.nearest_fill`).
- `linear_depth`: linear interpolation over a Delaunay triangulation of the spots, nearest fill outside the hull.
- `ipbasic_depth`: a morphological filler after IP-Basic (Ku, Harakeh, Waslander, CRV 2018): invert the depth so
  near surfaces win, dilate with a diamond kernel, close small holes, fill with growing full kernels, fill what is
  left with the nearest value, median and Gaussian blur, re-invert, and put the measured spots back.

Every function: `sparse_m` (H, W) float32 metres, 0 = no spot; optional `mask` (H, W) bool (default sparse_m > 0);
returns (H, W) float32 metres, all zeros when there is no spot.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from completion.errors import ConfigError
from completion.prefill import check_sparse, linear_fill, nearest_fill

__all__ = ["IpBasicConfig", "diamond_kernel", "ipbasic_depth", "linear_depth", "nearest_depth"]


def nearest_depth(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Nearest-neighbour fill: every pixel takes the depth of the closest spot.

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m, mask = check_sparse(sparse_m, mask)
    return nearest_fill(sparse_m, mask)[0]


def linear_depth(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Piecewise-linear interpolation over the Delaunay triangulation of the spot pixels (x = column, y = row).

    Pixels outside the convex hull of the spots, or every pixel when fewer than 3 non-collinear spots exist,
    take the nearest-neighbour fill (`completion.prefill.linear_fill`).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    return linear_fill(sparse_m, mask)


def diamond_kernel(size: int) -> np.ndarray:
    """(size, size) bool diamond (|dy| + |dx| <= size // 2), IP-Basic's DIAMOND_KERNEL for size 5 or 7."""
    r = size // 2
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    return (np.abs(dy) + np.abs(dx)) <= r


@dataclasses.dataclass(frozen=True, kw_only=True)
class IpBasicConfig:
    """Kernel sizes of the IP-Basic-style filler (pixels; odd).

    Attributes:
        dilate_px: diamond dilation of the spots.
        close_px: full-kernel closing of small holes.
        fill_px: full-kernel dilation filling medium holes.
        large_fill_px: full-kernel dilation filling large holes (spot pitch is ~15-20 px at VGA).
        median_px: median blur size.
        blur_sigma_px: Gaussian blur sigma (0 = none); 1.1 is OpenCV's sigma for a 5x5 kernel.
        keep_input: write the measured spots back after blurring.
    """

    dilate_px: int = 5
    close_px: int = 5
    fill_px: int = 7
    large_fill_px: int = 31
    median_px: int = 5
    blur_sigma_px: float = 1.1
    keep_input: bool = True

    def __post_init__(self) -> None:
        for name in ("dilate_px", "close_px", "fill_px", "large_fill_px", "median_px"):
            v = getattr(self, name)
            if v < 1 or v % 2 == 0:
                raise ConfigError(f"{name} must be a positive odd number of pixels, got {v}")
        if self.blur_sigma_px < 0:
            raise ConfigError(f"blur_sigma_px must be >= 0, got {self.blur_sigma_px}")


def ipbasic_depth(sparse_m: np.ndarray, mask: np.ndarray | None = None, cfg: IpBasicConfig | None = None) -> np.ndarray:
    """IP-Basic-style morphological fill (see module docstring for the steps).

    Args:
        sparse_m: (H, W) float32 metres, 0 = no spot.
        mask: (H, W) bool validity, default sparse_m > 0.
        cfg: kernel sizes; default `IpBasicConfig()`.

    Returns:
        (H, W) float32 metres; equals sparse_m at the spots when cfg.keep_input.

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    cfg = cfg or IpBasicConfig()
    sparse_m, mask = check_sparse(sparse_m, mask)
    if not mask.any():
        return np.zeros_like(sparse_m)
    # invert so that near depth is large and wins every max-filter (IP-Basic uses 100 m - depth); offset >= 1
    ref_m = float(sparse_m[mask].max()) + 1.0
    inv = np.where(mask, ref_m - sparse_m, 0.0).astype(np.float64)
    inv = ndimage.grey_dilation(inv, footprint=diamond_kernel(cfg.dilate_px))
    inv = ndimage.grey_closing(inv, size=(cfg.close_px, cfg.close_px))
    for size in (cfg.fill_px, cfg.large_fill_px):
        empty = inv < 0.5
        if empty.any():
            grown = ndimage.grey_dilation(inv, size=(size, size))
            inv[empty] = grown[empty]
    empty = inv < 0.5
    if empty.any():  # what the large fill did not reach: nearest filled value (IP-Basic extends to the top instead)
        _, (iy, ix) = ndimage.distance_transform_edt(empty, return_indices=True)
        inv = inv[iy, ix]
    inv = ndimage.median_filter(inv, size=cfg.median_px, mode="nearest")
    if cfg.blur_sigma_px > 0:
        inv = ndimage.gaussian_filter(inv, cfg.blur_sigma_px, mode="nearest", truncate=2.0 / cfg.blur_sigma_px)
    out = (ref_m - inv).astype(np.float32)
    if cfg.keep_input:
        out[mask] = sparse_m[mask]
    return out
