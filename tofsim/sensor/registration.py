"""Register a ToF frame's spots into a colour camera's frame, as RGB-D pipelines do: `register_spots`.

Each measured (VALID or MIXED) spot is lifted to its 3-D point from its measured z-depth,
``X_tof = z_m * K_tof^-1 [u, v, 1]^T``, moved by the believed extrinsics, ``X_rgb = R X_tof + t``, and projected
with the colour camera's intrinsics; its z-depth, range and pixel then describe the colour frame. A point that the
ToF camera sees but the colour camera does not (behind a nearer surface) is still registered where it projects:
real frames show the same spots "through" occluders. Spots that land off the colour image (or behind the camera)
become OUT_OF_RANGE, the status for "outside the image". Spots without a measurement keep their status and are
moved as if at the frame's nominal depth (the median measured z), so their pixels (used for status maps) stay
near where the beam lit the scene. Equations: ``docs/scenes-and-rendering.md`` ("A separate colour camera").
"""

from __future__ import annotations

import numpy as np

from tofsim.camera import Intrinsics, ray_norm
from tofsim.checks import check_finite, check_shape
from tofsim.errors import ShapeError
from tofsim.frame import SPOT_DTYPE, SpotStatus
from tofsim.sensor.model import SensorOutput

__all__ = ["register_spots", "nominal_depth_m", "sparse_map"]


def _measured(status: np.ndarray) -> np.ndarray:
    return (status == SpotStatus.VALID) | (status == SpotStatus.MIXED)


def nominal_depth_m(spots: np.ndarray) -> float | None:
    """Median z-depth (m) of the VALID and MIXED spots of a spot table, or None when no spot measured anything."""
    z = np.asarray(spots["z_m"], dtype=np.float64)[_measured(np.asarray(spots["status"]))]
    return float(np.median(z)) if z.size else None


def sparse_map(u: np.ndarray, v: np.ndarray, z_m: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 sparse z-depth map (0 = none) of spots at float pixels `u`, `v` with z-depth `z_m` (N,).

    Each spot goes to its rounded pixel ``(floor(v + 0.5), floor(u + 0.5))``, which must be on the image; when two
    spots land on one pixel the nearer z is kept (as the sensor model does).
    """
    h, w = shape_hw
    idx = (np.floor(v + 0.5) * w + np.floor(u + 0.5)).astype(np.int64)
    z = np.asarray(z_m, dtype=np.float32)
    order = np.lexsort((z, idx))  # by pixel, then nearest first
    pix, first = np.unique(idx[order], return_index=True)
    sparse = np.zeros(h * w, dtype=np.float32)
    sparse[pix] = z[order][first]
    return sparse.reshape(h, w)


def register_spots(
    out: SensorOutput,
    tof: Intrinsics,
    rgb: Intrinsics,
    T_rgb_from_tof: np.ndarray,  # noqa: N803
) -> SensorOutput:
    """The sensor output `out` of the ToF camera (`tof`), registered into the colour camera (`rgb`).

    Args:
        out: the sensor model's output for the ToF camera's frame (`tofsim.sensor.simulate`).
        tof: the ToF camera's intrinsics (those of the frame `out` was simulated on).
        rgb: the colour camera's intrinsics; the registered maps have its image size.
        T_rgb_from_tof: (4, 4) float64 rigid transform from the ToF to the colour camera frame, metres: the
            extrinsics the pipeline *believes* (with any calibration error), not necessarily the true ones.

    Returns:
        A new `SensorOutput`: the spot table (same spots, same order) with u, v, z_m and range_m (the range from
        the colour camera's centre) in the colour frame, and the sparse map and mask at the colour camera's rounded
        pixels. Spots off the colour image or behind it become OUT_OF_RANGE with zero measurements; amplitude and
        sigma_m of the others are kept; ``zones`` are passed through unchanged (they live on the sensor's grid).

    Raises:
        ShapeError: a spot table of another dtype, or a transform that is not a finite (4, 4) matrix.

    Example:
        >>> reg = register_spots(out, frame.intrinsics, rgb_intr, T_rgb_from_tof)  # doctest: +SKIP
    """
    spots = np.asarray(out.spots)
    if spots.ndim != 1 or spots.dtype.names != SPOT_DTYPE.names:
        raise ShapeError(f"out.spots: expected a 1-D SPOT_DTYPE table, got {spots.dtype} {spots.shape}")
    T = np.asarray(T_rgb_from_tof, dtype=np.float64)  # noqa: N806
    check_shape(T, (4, 4), name="T_rgb_from_tof")
    check_finite(T, name="T_rgb_from_tof")
    rot, t = T[:3, :3], T[:3, 3]

    status = spots["status"].copy()
    measured = _measured(status)
    ray = np.stack(
        [
            (spots["u"].astype(np.float64) - tof.cx_px) / tof.fx_px,
            (spots["v"].astype(np.float64) - tof.cy_px) / tof.fy_px,
            np.ones(len(spots)),
        ],
        axis=1,
    )
    z_nominal = nominal_depth_m(spots)
    z_tof = np.where(measured, spots["z_m"].astype(np.float64), np.nan if z_nominal is None else z_nominal)
    at_depth = np.isfinite(z_tof)
    # a point at depth z moves by R and t; with no depth at all (nothing measured) only the rotation acts
    p = np.where(at_depth[:, None], (ray * np.where(at_depth, z_tof, 1.0)[:, None]) @ rot.T + t, ray @ rot.T)
    z = p[:, 2]
    front = z > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(front, rgb.fx_px * p[:, 0] / z + rgb.cx_px, np.nan)
        v = np.where(front, rgb.fy_px * p[:, 1] / z + rgb.cy_px, np.nan)
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    with np.errstate(invalid="ignore"):
        inside = front & (ui >= 0) & (ui < rgb.width_px) & (vi >= 0) & (vi < rgb.height_px)
    status[~inside] = SpotStatus.OUT_OF_RANGE
    ok = measured & inside

    reg = np.zeros(len(spots), dtype=SPOT_DTYPE)
    reg["u"], reg["v"] = u, v
    reg["z_m"] = np.where(ok, z, 0.0)
    reg["range_m"] = np.where(ok, z * ray_norm(rgb, np.nan_to_num(u), np.nan_to_num(v)), 0.0)
    reg["amplitude"] = np.where(ok, spots["amplitude"], 0.0)
    reg["sigma_m"] = np.where(ok, spots["sigma_m"], 0.0)
    reg["status"] = status
    sparse = sparse_map(u[ok], v[ok], reg["z_m"][ok], rgb.shape)
    return SensorOutput(spots=reg, sparse_m=sparse, mask=sparse > 0, zones=out.zones, saturated=out.saturated)
