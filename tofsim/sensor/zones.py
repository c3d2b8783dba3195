"""Zone-sensor output (VL53L5-like): one distance, sigma and status per zone, as (rows, cols) maps.

Each zone is one "spot" whose footprint is the whole zone cell; its sub-ray returns form the zone's histogram
(`tofsim.sensor.mixing.dtof_strongest_peak`), so a zone that sees two surfaces reports the strongest one and is
flagged MIXED.

With ``zone_statistics`` the output also describes what each zone sees (the input that DELTAR-style methods read):
the mean, std, min and max of the true range over the zone's pixels, and a zone-index-per-pixel map.
"""

from __future__ import annotations

import math

import numpy as np

from tofsim.camera import Intrinsics, pixel_grid
from tofsim.frame import DenseFrame
from tofsim.spots import SpotPattern, angles_from_directions

__all__ = ["zone_maps", "zone_pixel_map", "zone_statistics"]


def zone_maps(spots: np.ndarray, grid_shape: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """Reshape a zone sensor's spot table (row-major zones) into (rows, cols) maps.

    Args:
        spots: (rows * cols,) `SPOT_DTYPE` records in row-major zone order.
        grid_shape: (rows, cols).

    Returns:
        ``{"distance_m": float32 range (0 = none), "sigma_m": float32, "status": uint8}``, each (rows, cols).
    """
    if grid_shape is None:
        raise ValueError("zone output needs a pattern with a grid shape")
    rows, cols = grid_shape
    return {
        "distance_m": spots["range_m"].reshape(rows, cols).astype(np.float32),
        "sigma_m": spots["sigma_m"].reshape(rows, cols).astype(np.float32),
        "status": spots["status"].reshape(rows, cols).astype(np.uint8),
    }


def zone_pixel_map(depth_m: np.ndarray, intr: Intrinsics, pattern: SpotPattern, baseline_m: np.ndarray) -> np.ndarray:
    """Zone index of every pixel: the zone whose cell (in projector angles) holds the surface the pixel sees.

    A pixel's point ``X = depth * ((u - cx) / fx, (v - cy) / fy, 1)`` is seen from the projector at ``b`` at the
    angles ``(atan2(X_x - b_x, X_z - b_z), atan2(X_y - b_y, X_z - b_z))``; pixels with invalid depth use their
    ray's direction (a point at infinity). A pixel belongs to zone ``k`` when both angles lie within half a cell
    of zone k's centre (the cell of the regular grid it falls in is the one tested).

    Args:
        depth_m: (H, W) z-depth in metres, 0 or NaN where invalid.
        intr: camera intrinsics.
        pattern: a zone pattern (``grid_shape`` and ``zone_size_deg`` set).
        baseline_m: (3,) projector position in the camera frame.

    Returns:
        (H, W) int16 row-major zone index, -1 where no zone covers the pixel.
    """
    rows, cols = pattern.grid_shape
    cell_x, cell_y = (math.radians(a) for a in pattern.zone_size_deg)
    u, v = pixel_grid(intr)
    x, y = (u - intr.cx_px) / intr.fx_px, (v - intr.cy_px) / intr.fy_px
    depth = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, 1.0)
    b = np.where(valid[..., None], np.asarray(baseline_m, dtype=np.float64), 0.0)
    ax = np.arctan2(x * z - b[..., 0], z - b[..., 2])
    ay = np.arctan2(y * z - b[..., 1], z - b[..., 2])
    centres = angles_from_directions(pattern.directions).reshape(rows, cols, 2)
    ax0 = centres[:, 0, 0].mean() - cell_x / 2  # left edge of the first column
    ay0 = centres[0, :, 1].mean() - cell_y / 2  # top edge of the first row
    col = np.floor((ax - ax0) / cell_x).astype(np.int64)
    row = np.floor((ay - ay0) / cell_y).astype(np.int64)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    k = np.where(inside, row * cols + col, 0)
    own = centres.reshape(-1, 2)[k]
    inside &= (np.abs(ax - own[..., 0]) <= cell_x / 2 + 1e-12) & (np.abs(ay - own[..., 1]) <= cell_y / 2 + 1e-12)
    return np.where(inside, k, -1).astype(np.int16)


def zone_statistics(frame: DenseFrame, pattern: SpotPattern, baseline_m: np.ndarray) -> dict[str, np.ndarray]:
    """Per-zone statistics of the true range over each zone's pixels, and the zone map (`zone_pixel_map`).

    Args:
        frame: the dense frame (its ``range_m`` is the true camera range; pixels with invalid depth are skipped).
        pattern: the zone pattern.
        baseline_m: (3,) projector position in the camera frame.

    Returns:
        ``range_mean_m``, ``range_std_m`` (population std), ``range_min_m``, ``range_max_m``: (rows, cols) float32
        metres, 0 for a zone without a valid pixel; ``pixel_count``: (rows, cols) int32 valid pixels per zone;
        ``zone_map``: (H, W) int16 from `zone_pixel_map`.
    """
    rows, cols = pattern.grid_shape
    n = rows * cols
    zmap = zone_pixel_map(frame.depth_m, frame.intrinsics, pattern, baseline_m)
    rng_m = np.asarray(frame.range_m, dtype=np.float64)
    use = (zmap >= 0) & frame.valid & np.isfinite(rng_m) & (rng_m > 0)
    k, r = zmap[use].astype(np.int64), rng_m[use]
    count = np.bincount(k, minlength=n)
    total = np.bincount(k, weights=r, minlength=n)
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    sq = np.bincount(k, weights=(r - mean[k]) ** 2, minlength=n)
    std = np.sqrt(np.divide(sq, count, out=np.zeros(n), where=count > 0))
    lo = np.full(n, np.inf)
    hi = np.zeros(n)
    np.minimum.at(lo, k, r)
    np.maximum.at(hi, k, r)
    lo = np.where(count > 0, lo, 0.0)

    def grid(a: np.ndarray, dtype: str) -> np.ndarray:
        return a.reshape(rows, cols).astype(dtype)

    return {
        "range_mean_m": grid(mean, "float32"),
        "range_std_m": grid(std, "float32"),
        "range_min_m": grid(lo, "float32"),
        "range_max_m": grid(hi, "float32"),
        "pixel_count": grid(count, "int32"),
        "zone_map": zmap,
    }
