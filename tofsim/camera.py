"""Pinhole camera: intrinsics, pixel rays, and the one place where z-depth and range are converted.

Conventions (OpenCV): x right, y down, z forward; pixel (u, v) = (column, row) with pixel centres at integer
coordinates, so the centre of the top-left pixel is (0, 0). ``depth_m`` is always z along the optical axis;
``range_m`` is the length along the ray from the camera centre. Both use 0 for "invalid".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tofsim.checks import check_finite, check_shape
from tofsim.errors import ShapeError

__all__ = ["Intrinsics", "ray_norm", "z_to_range", "range_to_z", "backproject", "project"]


@dataclass(frozen=True, kw_only=True)
class Intrinsics:
    """Pinhole intrinsics of a depth camera (no distortion).

    Attributes:
        fx_px, fy_px: focal lengths in pixels.
        cx_px, cy_px: principal point in pixels.
        width_px, height_px: image size.
    """

    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float
    width_px: int
    height_px: int

    def __post_init__(self) -> None:
        values = np.array([self.fx_px, self.fy_px, self.cx_px, self.cy_px], dtype=np.float64)
        check_finite(values, name="intrinsics")
        if self.fx_px <= 0 or self.fy_px <= 0:
            raise ShapeError(f"intrinsics: focal lengths must be positive, got fx={self.fx_px}, fy={self.fy_px}")
        if self.width_px <= 0 or self.height_px <= 0:
            raise ShapeError(f"intrinsics: image size must be positive, got {self.width_px}x{self.height_px}")

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - K is the universal name
        """(3, 3) float64 intrinsic matrix."""
        return np.array(
            [[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) image shape."""
        return (self.height_px, self.width_px)

    @classmethod
    def from_K(cls, K: np.ndarray, width_px: int, height_px: int) -> Intrinsics:  # noqa: N802,N803
        """Build from a (3, 3) matrix. Raises `ShapeError` for a wrong shape or NaN entries."""
        K = np.asarray(K, dtype=np.float64)
        check_shape(K, (3, 3), name="K")
        check_finite(K, name="K")
        return cls(
            fx_px=float(K[0, 0]),
            fy_px=float(K[1, 1]),
            cx_px=float(K[0, 2]),
            cy_px=float(K[1, 2]),
            width_px=int(width_px),
            height_px=int(height_px),
        )

    @classmethod
    def from_fov(cls, width_px: int, height_px: int, hfov_deg: float) -> Intrinsics:
        """Square pixels, centred principal point, horizontal field of view `hfov_deg`."""
        f = (width_px / 2.0) / np.tan(np.deg2rad(hfov_deg) / 2.0)
        return cls(
            fx_px=f, fy_px=f, cx_px=(width_px - 1) / 2.0, cy_px=(height_px - 1) / 2.0,
            width_px=width_px, height_px=height_px,
        )  # fmt: skip

    def scaled(self, factor: float) -> Intrinsics:
        """Intrinsics for the image resized by `factor` (pixel-centre convention preserved)."""
        return Intrinsics(
            fx_px=self.fx_px * factor,
            fy_px=self.fy_px * factor,
            cx_px=(self.cx_px + 0.5) * factor - 0.5,
            cy_px=(self.cy_px + 0.5) * factor - 0.5,
            width_px=round(self.width_px * factor),
            height_px=round(self.height_px * factor),
        )


def pixel_grid(intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float64 arrays u (column) and v (row) of every pixel centre."""
    v, u = np.mgrid[0 : intr.height_px, 0 : intr.width_px].astype(np.float64)
    return u, v


def ray_norm(intr: Intrinsics, u: np.ndarray | None = None, v: np.ndarray | None = None) -> np.ndarray:
    """Length of the ray direction with z = 1 through pixel (u, v): ``range = z * ray_norm``.

    Args:
        intr: intrinsics.
        u, v: pixel coordinates (any matching shape); default every pixel centre, (H, W).

    Returns:
        float64 array of the same shape as u, >= 1.
    """
    if u is None or v is None:
        return _full_ray_norm(intr)
    x = (np.asarray(u, dtype=np.float64) - intr.cx_px) / intr.fx_px
    y = (np.asarray(v, dtype=np.float64) - intr.cy_px) / intr.fy_px
    return np.sqrt(x * x + y * y + 1.0)


@functools.lru_cache(maxsize=16)
def _full_ray_norm(intr: Intrinsics) -> np.ndarray:
    # cached per intrinsics (frozen, hashable): the full grid is rebuilt for every frame otherwise
    u, v = pixel_grid(intr)
    norm = ray_norm(intr, u, v)
    norm.setflags(write=False)
    return norm


def z_to_range(depth_m: np.ndarray, intr: Intrinsics, u=None, v=None) -> np.ndarray:
    """Convert z-depth to range along the ray. 0 (invalid) stays 0.

    Args:
        depth_m: (H, W) z-depth in metres (or any shape matching `u`, `v` when given).
        intr: intrinsics.
        u, v: pixel coordinates of each value; default the full pixel grid.

    Returns:
        range in metres, same shape and dtype as `depth_m`.
    """
    depth_m = np.asarray(depth_m)
    return (depth_m * ray_norm(intr, u, v)).astype(depth_m.dtype, copy=False)


def range_to_z(range_m: np.ndarray, intr: Intrinsics, u=None, v=None) -> np.ndarray:
    """Convert range along the ray to z-depth. 0 (invalid) stays 0. Shapes as `z_to_range`."""
    range_m = np.asarray(range_m)
    return (range_m / ray_norm(intr, u, v)).astype(range_m.dtype, copy=False)


def backproject(depth_m: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(H, W) z-depth -> (H, W, 3) float64 camera-frame points in metres (invalid pixels give z = 0)."""
    check_shape(depth_m, (intr.height_px, intr.width_px), name="depth_m")
    u, v = pixel_grid(intr)
    z = depth_m.astype(np.float64)
    return np.stack([(u - intr.cx_px) / intr.fx_px * z, (v - intr.cy_px) / intr.fy_px * z, z], axis=-1)


def project(points_cam: np.ndarray, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) camera-frame points -> (u, v, z) each (N,) float64. Points with z <= 0 get NaN u, v."""
    p = np.asarray(points_cam, dtype=np.float64)
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 0, intr.fx_px * p[:, 0] / z + intr.cx_px, np.nan)
        v = np.where(z > 0, intr.fy_px * p[:, 1] / z + intr.cy_px, np.nan)
    return u, v, z
