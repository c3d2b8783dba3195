"""Error maps and depth maps as RGB arrays: pure numpy, colours from lookup tables (LUTs).

Conventions (the paper's figures):

- **Signed error** = prediction - ground truth, in millimetres, through matplotlib's ``seismic`` over
  ``[-range_mm, +range_mm]`` (default 500 mm), saturating outside. ``seismic`` runs from dark blue
  ``(0, 0, 0.3)`` at its low end through blue ``(0, 0, 1)`` and white ``(1, 1, 1)`` at the centre to red
  ``(1, 0, 0)`` and dark red ``(0.5, 0, 0)`` at its high end. So **red = predicted too far** (positive error),
  **blue = predicted too near**, **white = exact**; ``+range_mm`` and beyond is dark red ``(128, 0, 0)``,
  ``-range_mm`` and beyond is dark blue ``(0, 0, 76)``.
- **Absolute error** |prediction - ground truth| uses the upper half of the same ``seismic`` map over
  ``[0, range_mm]``: white = exact, dark red = ``range_mm`` or more.
- **Depth** uses ``magma`` with **dark = near**, light yellow = far, over one range shared by every panel
  of a figure (see `shared_depth_range`).
- Pixels with **invalid ground truth** (``gt <= 0`` or not finite) are black ``(0, 0, 0)`` in error maps;
  pixels with valid ground truth but a **missing prediction** (``pred <= 0`` or not finite) are mid grey
  ``(128, 128, 128)``; invalid depth pixels are black in depth maps.

The LUTs are sampled from matplotlib once (matplotlib is imported inside `colormap_lut`, so importing this
module stays cheap); everything else is numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from leaderboard.errors import ConfigError, ShapeError

__all__ = [
    "DEFAULT_ERR_RANGE_MM",
    "INVALID_RGB",
    "MISSING_RGB",
    "colormap_lut",
    "apply_lut",
    "signed_error_mm",
    "signed_error_rgb",
    "abs_error_rgb",
    "depth_rgb",
    "shared_depth_range",
    "valid_depth",
]

DEFAULT_ERR_RANGE_MM = 500.0
"""Half-width of the signed-error colour scale in millimetres (the paper's figures)."""

INVALID_RGB = (0, 0, 0)
"""Colour of pixels whose ground truth is invalid (error maps) or whose depth is invalid (depth maps)."""

MISSING_RGB = (128, 128, 128)
"""Colour of pixels with valid ground truth but no prediction (prediction 0, negative, NaN or inf)."""

# An odd LUT length puts an entry exactly at the centre of a diverging map (error 0 -> exactly white).
_LUT_SIZE = 511


@lru_cache(maxsize=16)
def _lut_cached(name: str, n: int) -> np.ndarray:
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as exc:
        raise ConfigError(f"unknown matplotlib colormap {name!r}; try 'seismic', 'magma', 'viridis'") from exc
    # resampled(n) re-evaluates a segmented map at n evenly spaced points (exact ends and centre);
    # a listed map (magma) is resampled by nearest entry.
    rgba = cmap.resampled(n)(np.linspace(0.0, 1.0, n))
    lut = np.round(np.asarray(rgba)[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colormap_lut(name: str, n: int = _LUT_SIZE) -> np.ndarray:
    """The colours of a matplotlib colormap as a lookup table.

    Args:
        name: a matplotlib colormap name (``"seismic"``, ``"magma"``, ...).
        n: number of entries, at least 2; odd puts an entry exactly at the centre.

    Returns:
        (n, 3) uint8 RGB, entry 0 = the map's low end, entry n - 1 = its high end (read-only, cached).

    Raises:
        ConfigError: if the colormap name is unknown or ``n < 2``.

    Example:
        >>> colormap_lut("seismic", 3).tolist()
        [[0, 0, 76], [255, 255, 255], [128, 0, 0]]
    """
    if int(n) < 2:
        raise ConfigError(f"n: a colormap LUT needs at least 2 entries, got {n}")
    return _lut_cached(str(name), int(n))


def apply_lut(values: np.ndarray, lo: float, hi: float, lut: np.ndarray) -> np.ndarray:
    """Map values linearly from ``[lo, hi]`` onto a LUT, saturating outside (inner helper, trusts inputs).

    Args:
        values: (H, W) float array; non-finite values are mapped to entry 0 (mask them afterwards).
        lo: value that gets LUT entry 0.
        hi: value that gets the last LUT entry (``hi > lo``).
        lut: (n, 3) uint8 colours.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    n = lut.shape[0]
    t = (np.asarray(values, dtype=np.float64) - lo) / (hi - lo)
    t = np.nan_to_num(t, nan=0.0, posinf=1.0, neginf=0.0)
    idx = np.rint(np.clip(t, 0.0, 1.0) * (n - 1)).astype(np.intp)
    return lut[idx]


def valid_depth(depth_m: np.ndarray) -> np.ndarray:
    """Validity mask of a depth map: (H, W) bool, True where ``depth_m`` is finite and > 0."""
    d = np.asarray(depth_m)
    with np.errstate(invalid="ignore"):
        return np.isfinite(d) & (d > 0)


def _check_depth(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected an (H, W) depth map in metres, got shape {tuple(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ShapeError(f"{name}: expected a float depth map in metres, got dtype {x.dtype}")
    return x


def _check_pair(pred_m: np.ndarray, gt_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred_m = _check_depth(pred_m, "pred_m")
    gt_m = _check_depth(gt_m, "gt_m")
    if pred_m.shape != gt_m.shape:
        raise ShapeError(
            f"pred_m has shape {pred_m.shape} but gt_m has shape {gt_m.shape}; they must match "
            "(resize the prediction to the ground truth's resolution first)"
        )
    return pred_m, gt_m


def _check_range(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}: must be a positive finite number, got {value}")
    return value


def signed_error_mm(pred_m: np.ndarray, gt_m: np.ndarray) -> np.ndarray:
    """Signed error prediction - ground truth in millimetres.

    Args:
        pred_m: (H, W) float predicted z-depth in metres, 0 or NaN where missing.
        gt_m: (H, W) float ground-truth z-depth in metres, 0 where invalid.

    Returns:
        (H, W) float32 error in mm; NaN where the ground truth is invalid or the prediction is missing.

    Raises:
        ShapeError: if either input is not (H, W) or the shapes differ.
    """
    pred_m, gt_m = _check_pair(pred_m, gt_m)
    ok = valid_depth(gt_m) & valid_depth(pred_m)
    err = np.full(gt_m.shape, np.nan, dtype=np.float32)
    err[ok] = ((pred_m[ok].astype(np.float64) - gt_m[ok].astype(np.float64)) * 1000.0).astype(np.float32)
    return err


def _paint_invalid(rgb: np.ndarray, pred_m: np.ndarray, gt_m: np.ndarray) -> np.ndarray:
    gt_ok = valid_depth(gt_m)
    rgb[gt_ok & ~valid_depth(pred_m)] = MISSING_RGB
    rgb[~gt_ok] = INVALID_RGB
    return rgb


def signed_error_rgb(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    range_mm: float = DEFAULT_ERR_RANGE_MM,
    cmap: str = "seismic",
) -> np.ndarray:
    """Colour the signed error prediction - ground truth (the paper's error maps).

    Args:
        pred_m: (H, W) float predicted z-depth in metres, 0 or NaN where missing.
        gt_m: (H, W) float ground-truth z-depth in metres, 0 where invalid.
        range_mm: half-width of the colour scale; errors beyond +-range_mm saturate.
        cmap: diverging matplotlib colormap; with ``seismic`` red = too far, blue = too near, white = exact.

    Returns:
        (H, W, 3) uint8 RGB; invalid ground truth black, missing prediction grey (`MISSING_RGB`).

    Raises:
        ShapeError: if either input is not (H, W) or the shapes differ.
        ConfigError: if ``range_mm`` is not positive or the colormap is unknown.

    Example:
        >>> gt = np.array([[1.0, 1.0, 0.0]], np.float32)
        >>> signed_error_rgb(np.array([[1.5, 1.0, 2.0]], np.float32), gt).tolist()
        [[[128, 0, 0], [255, 255, 255], [0, 0, 0]]]
    """
    range_mm = _check_range(range_mm, "range_mm")
    err = signed_error_mm(pred_m, gt_m)
    rgb = apply_lut(err, -range_mm, range_mm, colormap_lut(cmap))
    return _paint_invalid(rgb, pred_m, gt_m)


def abs_error_rgb(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    range_mm: float = DEFAULT_ERR_RANGE_MM,
    cmap: str = "seismic",
) -> np.ndarray:
    """Colour the absolute error |prediction - ground truth| with the upper half of a diverging map.

    With ``seismic``: 0 mm white, ``range_mm`` and beyond dark red ``(128, 0, 0)``.

    Args:
        pred_m: (H, W) float predicted z-depth in metres, 0 or NaN where missing.
        gt_m: (H, W) float ground-truth z-depth in metres, 0 where invalid.
        range_mm: error that reaches the end of the scale.
        cmap: diverging matplotlib colormap whose upper half is used.

    Returns:
        (H, W, 3) uint8 RGB; invalid ground truth black, missing prediction grey (`MISSING_RGB`).

    Raises:
        ShapeError: if either input is not (H, W) or the shapes differ.
        ConfigError: if ``range_mm`` is not positive or the colormap is unknown.
    """
    range_mm = _check_range(range_mm, "range_mm")
    err = np.abs(signed_error_mm(pred_m, gt_m))
    lut = colormap_lut(cmap)
    rgb = apply_lut(err, 0.0, range_mm, lut[lut.shape[0] // 2 :])
    return _paint_invalid(rgb, pred_m, gt_m)


def shared_depth_range(
    depth_maps_m: Sequence[np.ndarray], *, percentiles: tuple[float, float] = (0.0, 100.0)
) -> tuple[float, float]:
    """One depth range for several depth maps, from their valid pixels pooled.

    Pass only the ground truth to keep a method's outliers from stretching the scale.

    Args:
        depth_maps_m: (H, W) float depth maps in metres, 0 where invalid (shapes may differ).
        percentiles: lower and upper percentile of the pooled valid depths (``(0, 100)`` = min and max).

    Returns:
        ``(lo_m, hi_m)`` with ``hi_m > lo_m`` (widened by 1 mm each side when all depths are equal).

    Raises:
        ShapeError: if a map is not (H, W).
        ConfigError: if no map has a valid pixel or the percentiles are not ``0 <= lo < hi <= 100``.
    """
    lo_pct, hi_pct = (float(p) for p in percentiles)
    if not 0.0 <= lo_pct < hi_pct <= 100.0:
        raise ConfigError(f"percentiles: need 0 <= lo < hi <= 100, got {percentiles}")
    vals = [np.asarray(d, dtype=np.float64)[valid_depth(d)] for d in (_check_depth(d, "depth_m") for d in depth_maps_m)]
    pooled = np.concatenate(vals) if vals else np.empty(0)
    if pooled.size == 0:
        raise ConfigError("shared_depth_range: no valid depth pixel (> 0 and finite) in the given maps; pass a range")
    lo, hi = np.percentile(pooled, [lo_pct, hi_pct])
    if hi - lo < 1e-3:
        lo, hi = lo - 1e-3, hi + 1e-3
    return float(lo), float(hi)


def depth_rgb(
    depth_m: np.ndarray,
    *,
    range_m: tuple[float, float],
    cmap: str = "magma",
) -> np.ndarray:
    """Colour a depth map with a fixed range (use one range for every panel you compare).

    Args:
        depth_m: (H, W) float z-depth in metres, 0 or NaN where invalid.
        range_m: ``(near_m, far_m)``; near gets the map's low end (``magma``: dark), far its high end (light).
        cmap: matplotlib colormap name.

    Returns:
        (H, W, 3) uint8 RGB; invalid pixels black.

    Raises:
        ShapeError: if ``depth_m`` is not (H, W).
        ConfigError: if ``range_m`` is not ``near < far`` (finite) or the colormap is unknown.
    """
    depth_m = _check_depth(depth_m, "depth_m")
    near, far = (float(v) for v in range_m)
    if not (np.isfinite(near) and np.isfinite(far) and far > near):
        raise ConfigError(f"range_m: need finite (near_m, far_m) with far > near, got {range_m}")
    rgb = apply_lut(depth_m, near, far, colormap_lut(cmap))
    rgb[~valid_depth(depth_m)] = INVALID_RGB
    return rgb
