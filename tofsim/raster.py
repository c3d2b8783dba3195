"""Dense first hits by rasterisation: the pixel rays' (t_hit, triangle) of `tofsim.render` without raycasting.

`Rasterizer.hits` returns what ``Renderer._cast`` returns for the rays through every pixel centre, computed by a
z-buffer over the scene's triangles (`tofsim.raster_kernels`): per pixel the z-depth (= the ray parameter, as
every direction has camera z = 1) and the index of the nearest triangle that the centre's ray meets. It agrees
with Open3D's raycast to float rounding, except where a ray grazes an edge or two surfaces lie within rounding of
each other. Spot footprints, shadow and clearance rays keep Open3D's exact raycasts.

`raster_problem` says why a scene cannot be rasterised (the renderer then falls back to raycasting with a
one-line warning): more than `MAX_TRIANGLES` triangles, or coordinates too large for the edge functions.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, RasterFallbackWarning
from tofsim.raster_kernels import camera_vertices, raster_rows, triangle_boxes
from tofsim.render_kernels import _pool
from tofsim.scene.types import Scene
from tofsim.threads import thread_budget

__all__ = [
    "Rasterizer", "RasterFallbackWarning", "choose_dense", "raster_problem", "MAX_TRIANGLES", "MAX_COORD_M",
    "DENSE_RENDERERS",
]  # fmt: skip

#: The dense renderers `tofsim.render.Renderer` knows: Open3D's raycast of every pixel, or this z-buffer.
DENSE_RENDERERS = ("raycast", "raster")
#: Above this many triangles the scene is raycast instead (a one-line warning says so).
MAX_TRIANGLES = 10_000_000
#: Largest |coordinate| in metres that the float64 edge functions take without losing millimetres.
MAX_COORD_M = 1e5


# Per-thread scratch (camera vertices, boxes, the float64 z-buffer): fresh multi-MB arrays every frame cost
# page faults (as in `tofsim.render`). Never handed to callers.
_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype)
        setattr(_SCRATCH, name, buf)
    return buf


def raster_problem(scene: Scene) -> str | None:
    """Why `scene` cannot be rasterised (a short phrase), or None when it can."""
    if scene.n_triangles > MAX_TRIANGLES:
        return f"{scene.n_triangles:,} triangles (more than {MAX_TRIANGLES:,})"
    vertices = np.asarray(scene.vertices)
    if not np.isfinite(vertices).all():
        return "non-finite vertex coordinates"
    if len(vertices) and float(np.abs(vertices).max()) > MAX_COORD_M:
        return f"vertex coordinates beyond {MAX_COORD_M:g} m"
    tris = np.asarray(scene.triangles)
    if len(tris) and (tris.min() < 0 or tris.max() >= len(vertices)):
        return "triangle indices out of range"
    return None


def choose_dense(scene: Scene, dense: str) -> str:
    """The dense renderer to use for `scene`: `dense`, or "raycast" (with a warning) where raster cannot go.

    Raises:
        ConfigError: `dense` is not one of `DENSE_RENDERERS`.
    """
    if dense not in DENSE_RENDERERS:
        raise ConfigError(f"renderer: one of {', '.join(DENSE_RENDERERS)}, got {dense!r}")
    problem = raster_problem(scene) if dense == "raster" else None
    if problem is None:
        return dense
    warnings.warn(f"scene {scene.scene_id!r}: raycasting instead of rasterising: {problem}", RasterFallbackWarning,
                  stacklevel=3)  # fmt: skip
    return "raycast"


class Rasterizer:
    """Z-buffer of one scene's triangles; thread-safe (every call has its own buffers).

    Args:
        scene: the scene (check `raster_problem` first).
    """

    def __init__(self, scene: Scene) -> None:
        self._vertices = np.ascontiguousarray(scene.vertices, dtype=np.float32)
        self._tris = np.ascontiguousarray(scene.triangles, dtype=np.int32)

    def hits(self, intrinsics: Intrinsics, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First hits of the rays through every pixel centre.

        Args:
            intrinsics: pinhole intrinsics (pixel centres at integer coordinates).
            pose: (4, 4) float64 camera-to-world pose (OpenCV camera axes), already checked.

        Returns:
            t_hit: (H * W,) float32 z-depth in metres (the ray parameter of a z = 1 direction), ``inf`` on a miss;
            tri: (H * W,) uint32 triangle index, T (the number of triangles) on a miss. Row-major pixels.
        """
        h, w = intrinsics.height_px, intrinsics.width_px
        n_tri = len(self._tris)
        rot = np.ascontiguousarray(pose[:3, :3], dtype=np.float64)
        centre = np.ascontiguousarray(pose[:3, 3], dtype=np.float64)
        k = np.array([intrinsics.fx_px, intrinsics.fy_px, intrinsics.cx_px, intrinsics.cy_px], np.float64)
        cam = _scratch("cam", (len(self._vertices), 3), np.float64)
        box = _scratch("box", (n_tri, 4), np.int32)
        zbuf = _scratch("zbuf", (h * w,), np.float64)
        tri = np.empty(h * w, np.uint32)
        two = thread_budget() >= 2 and h >= 2
        camera_vertices(self._vertices, rot, centre, cam)
        half_t = n_tri // 2 if two else n_tri
        other = _pool().submit(triangle_boxes, cam, self._tris, k, w, h, half_t, n_tri, box) if two else None
        triangle_boxes(cam, self._tris, k, w, h, 0, half_t, box)
        if other is not None:
            other.result()
        step = 2 if two else 1
        other = _pool().submit(raster_rows, cam, self._tris, box, k, w, h, 1, step, zbuf, tri) if two else None
        raster_rows(cam, self._tris, box, k, w, h, 0, step, zbuf, tri)
        if other is not None:
            other.result()
        return zbuf.astype(np.float32), tri
