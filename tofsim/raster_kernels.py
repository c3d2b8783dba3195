"""Numba kernels of `tofsim.raster`: a scanline z-buffer that gives each pixel's ray its first triangle.

Homogeneous rasterisation (Olano & Greer 1997) in camera coordinates, so that a pixel is covered exactly when
the raycast's ray through its centre hits the triangle. With the triangle's camera-frame corners ``p0, p1, p2``
(metres, OpenCV axes) and the pixel's ray direction ``d = ((u - cx) / fx, (v - cy) / fy, 1)`` (pixel centres at
integer ``u, v``, as `tofsim.render` builds its rays), write ``D = p0 . (p1 x p2)`` and the edge functions
``e0 = (p1 x p2) . d``, ``e1 = (p2 x p0) . d``, ``e2 = (p0 x p1) . d``. The ray ``t d`` (t > 0) meets the
triangle iff ``e0, e1, e2`` all have the sign of ``D``; its barycentrics are ``e_k / (e0 + e1 + e2)`` and its
z-depth (= the ray parameter, as d has z = 1) is ``D / (e0 + e1 + e2)``. Each ``e_k`` is linear in ``(u, v)``,
so a row's covered pixels are one interval. No near-plane clipping of the geometry is needed: corners behind
the camera only widen the screen box (clipped at ``z = Z_NEAR_M`` to bound it), and the edge test is exact for
them. Triangles with ``D = 0`` (zero area, or edge-on through the camera centre) are never hit.

Everything is float64 inside; ``nogil`` so that two threads rasterise the two halves of the rows at once.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["Z_NEAR_M", "camera_vertices", "triangle_boxes", "raster_rows"]

#: Corners nearer than this (metres of camera z) are clipped away when bounding a triangle's screen box.
Z_NEAR_M = 1e-4


@numba.njit(cache=True, nogil=True)
def camera_vertices(vertices: np.ndarray, rot: np.ndarray, centre: np.ndarray, out: np.ndarray) -> None:
    """World vertices (V, 3) float32 -> camera frame ``R^T (v - c)`` into ``out`` (V, 3) float64 (metres).

    Args:
        vertices: (V, 3) float32 world metres. rot: (3, 3) float64 camera-to-world rotation R.
        centre: (3,) float64 camera centre c in world metres. out: (V, 3) float64, written.
    """
    for i in range(vertices.shape[0]):
        x = vertices[i, 0] - centre[0]
        y = vertices[i, 1] - centre[1]
        z = vertices[i, 2] - centre[2]
        for j in range(3):
            out[i, j] = x * rot[0, j] + y * rot[1, j] + z * rot[2, j]


@numba.njit(cache=True, nogil=True)
def _project(x: float, y: float, z: float, k: np.ndarray) -> tuple[float, float]:
    return k[0] * x / z + k[2], k[1] * y / z + k[3]


@numba.njit(cache=True, nogil=True)
def triangle_boxes(
    cam: np.ndarray, tris: np.ndarray, k: np.ndarray, width: int, height: int, start: int, stop: int, box: np.ndarray
) -> None:
    """Screen boxes of triangles ``start:stop``: ``box[t] = (u0, u1, v0, v1)`` int32 inclusive pixel bounds.

    An empty box (``u0 > u1`` or ``v0 > v1``) means off screen, entirely behind the camera or degenerate.

    Args:
        cam: (V, 3) float64 camera-frame vertices. tris: (T, 3) int32/int64 vertex indices.
        k: (4,) float64 ``(fx, fy, cx, cy)``. width, height: image size in pixels.
        start, stop: the triangle range to do. box: (T, 4) int32, rows ``start:stop`` written.
    """
    us = np.empty(6)
    vs = np.empty(6)
    for t in range(start, stop):
        n = 0
        for a in range(3):
            pa = cam[tris[t, a]]
            if pa[2] >= Z_NEAR_M:
                us[n], vs[n] = _project(pa[0], pa[1], pa[2], k)
                n += 1
            pb = cam[tris[t, (a + 1) % 3]]
            if (pa[2] - Z_NEAR_M) * (pb[2] - Z_NEAR_M) < 0.0:  # the edge crosses the near plane: clip it there
                s = (Z_NEAR_M - pa[2]) / (pb[2] - pa[2])
                us[n], vs[n] = _project(pa[0] + s * (pb[0] - pa[0]), pa[1] + s * (pb[1] - pa[1]), Z_NEAR_M, k)
                n += 1
        if n == 0:
            box[t, 0], box[t, 1], box[t, 2], box[t, 3] = 1, 0, 1, 0
            continue
        umin, umax, vmin, vmax = us[0], us[0], vs[0], vs[0]
        for i in range(1, n):
            umin, umax = min(umin, us[i]), max(umax, us[i])
            vmin, vmax = min(vmin, vs[i]), max(vmax, vs[i])
        # One pixel of margin: the exact edge test decides; the box only has to contain the covered centres.
        box[t, 0] = np.int32(max(math.floor(max(umin, -2.0)), 0))
        box[t, 1] = np.int32(min(math.ceil(min(umax, width + 2.0)), width - 1))
        box[t, 2] = np.int32(max(math.floor(max(vmin, -2.0)), 0))
        box[t, 3] = np.int32(min(math.ceil(min(vmax, height + 2.0)), height - 1))


@numba.njit(cache=True, nogil=True)
def _span(a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
    """[lo, hi] cut to where ``a u + b >= 0``, widened by one pixel (the exact test is per pixel)."""
    if a > 0.0:
        return max(lo, -b / a - 1.0), hi
    if a < 0.0:
        return lo, min(hi, -b / a + 1.0)
    return (lo, hi) if b >= 0.0 else (lo, -1.0)


@numba.njit(cache=True, nogil=True)
def raster_rows(
    cam: np.ndarray,
    tris: np.ndarray,
    box: np.ndarray,
    k: np.ndarray,
    width: int,
    height: int,
    parity: int,
    step: int,
    zbuf: np.ndarray,
    tri_id: np.ndarray,
) -> None:
    """Z-buffer the rows ``parity::step``: each pixel's nearest triangle (the first hit of its centre's ray).

    Interleaved rows balance two threads' work whatever the scene's layout.

    Args:
        cam, tris, k: as for `triangle_boxes`; box: (T, 4) int32 from it.
        width, height: image size; parity, step: the rows to do (another thread may do the others).
        zbuf: (H * W,) float64 z-depth in metres, ``inf`` where nothing is hit; written for the rows.
        tri_id: (H * W,) uint32 triangle index, T (the number of triangles) where nothing is hit; written.
    """
    n_tri = tris.shape[0]
    for v in range(parity, height, step):
        for i in range(v * width, (v + 1) * width):
            zbuf[i] = np.inf
            tri_id[i] = n_tri
    fx, fy, cx, cy = k[0], k[1], k[2], k[3]
    for t in range(n_tri):
        v0, v1 = box[t, 2], box[t, 3]
        v0 += (parity - v0) % step  # the first of this thread's rows in the box
        if v0 > v1 or box[t, 0] > box[t, 1]:
            continue
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        x0, y0, z0 = cam[i0, 0], cam[i0, 1], cam[i0, 2]
        x1, y1, z1 = cam[i1, 0], cam[i1, 1], cam[i1, 2]
        x2, y2, z2 = cam[i2, 0], cam[i2, 1], cam[i2, 2]
        # c_k = p_i x p_j for the edge opposite corner k (scalars: no per-triangle allocation); e_k(d) = c_k . d
        c00, c01, c02 = y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2
        c10, c11, c12 = y2 * z0 - z2 * y0, z2 * x0 - x2 * z0, x2 * y0 - y2 * x0
        c20, c21, c22 = y0 * z1 - z0 * y1, z0 * x1 - x0 * z1, x0 * y1 - y0 * x1
        det = x0 * c00 + y0 * c01 + z0 * c02
        if det == 0.0 or not math.isfinite(det):
            continue
        sgn = 1.0 if det > 0.0 else -1.0
        # e_k = A_k u + B_k v + C_k (times sign(D), so covered means all >= 0)
        a0, b0, k0 = sgn * c00 / fx, sgn * c01 / fy, sgn * (c02 - c00 * cx / fx - c01 * cy / fy)
        a1, b1, k1 = sgn * c10 / fx, sgn * c11 / fy, sgn * (c12 - c10 * cx / fx - c11 * cy / fy)
        a2, b2, k2 = sgn * c20 / fx, sgn * c21 / fy, sgn * (c22 - c20 * cx / fx - c21 * cy / fy)
        abs_det = abs(det)
        u_lo, u_hi = box[t, 0], box[t, 1]
        for v in range(v0, v1 + 1, step):
            lo, hi = float(u_lo), float(u_hi)
            lo, hi = _span(a0, b0 * v + k0, lo, hi)  # the interval of u where e_k >= 0
            lo, hi = _span(a1, b1 * v + k1, lo, hi)
            lo, hi = _span(a2, b2 * v + k2, lo, hi)
            if lo > hi:
                continue
            row, r0, r1, r2 = v * width, b0 * v + k0, b1 * v + k1, b2 * v + k2
            for u in range(int(math.ceil(lo)), int(math.floor(hi)) + 1):
                e0 = a0 * u + r0
                e1 = a1 * u + r1
                e2 = a2 * u + r2
                if e0 < 0.0 or e1 < 0.0 or e2 < 0.0:
                    continue
                w = e0 + e1 + e2
                if w <= 0.0:
                    continue
                z = abs_det / w
                if z < zbuf[row + u]:
                    zbuf[row + u] = z
                    tri_id[row + u] = t
