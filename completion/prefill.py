"""Pre-filled dense depth from sparse spots: nearest-neighbour fill and the distance transform of the spot mask.

These two maps are what the paper's network sees besides RGB (design.md, "Network input"); the nearest-neighbour
baseline is the fill itself. numpy only, so it can run in data-loading workers.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from completion.errors import ShapeError

__all__ = ["check_sparse", "nearest_fill"]


def check_sparse(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a sparse map and its mask: (H, W) float32 and (H, W) bool (default ``sparse_m > 0``, finite).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m = np.asarray(sparse_m, dtype=np.float32)
    if sparse_m.ndim != 2:
        raise ShapeError(f"sparse_m: expected shape (H, W), got {sparse_m.shape}")
    if mask is None:
        mask = np.isfinite(sparse_m) & (sparse_m > 0)
    elif np.shape(mask) != sparse_m.shape:
        raise ShapeError(f"mask has shape {np.shape(mask)} but sparse_m has shape {sparse_m.shape}; they must match")
    return sparse_m, np.asarray(mask, dtype=bool)


def nearest_fill(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill every pixel with the depth of the nearest valid spot and give the distance to it.

    Args:
        sparse_m: (H, W) float32 sparse z-depth in metres, 0 where there is no measurement.
        mask: (H, W) bool validity; default ``sparse_m > 0``.

    Returns:
        fill_m: (H, W) float32 nearest-neighbour filled depth in metres (all zeros if there is no spot).
        dist_px: (H, W) float32 Euclidean distance in pixels to the nearest valid spot (0 at spots;
            ``hypot(H, W)`` everywhere if there is no spot).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m, mask = check_sparse(sparse_m, mask)
    if not mask.any():
        h, w = sparse_m.shape
        return np.zeros_like(sparse_m), np.full(sparse_m.shape, np.hypot(h, w), dtype=np.float32)
    dist, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    return sparse_m[iy, ix].astype(np.float32), dist.astype(np.float32)
