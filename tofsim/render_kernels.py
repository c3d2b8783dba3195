"""Fused per-pixel passes of `tofsim.render` (numba): ray generation and the per-triangle table lookups.

The NumPy version of the same work is a dozen full-frame passes (a matmul, four ``np.take`` gathers, the shading
arithmetic, a float -> uint8 cast) that cost ~10 ms of one core per VGA frame, as much as a third of the raycast;
these kernels make one pass each (~3.5 ms together). `in_halves` runs them on two threads; numba's own
parallel layers either spin (OpenMP, which then slows Open3D's raycasting threads) or abort on concurrent calls
(workqueue). They compute exactly what the NumPy
expressions in the docstrings compute, in float32 (a test checks them against those expressions).

Compiled on first use and cached on disk (``cache=True``); ``nogil`` so that other threads run meanwhile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from tofsim.scene.types import GLOSS_EXPONENT
from tofsim.textures import surface_at
from tofsim.threads import thread_budget

__all__ = ["make_rays", "shade_pixels", "in_halves"]


@numba.njit(cache=True, nogil=True, parallel=False)
def make_rays(dirs_cam: np.ndarray, rot_t: np.ndarray, centre: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Open3D rays ``[origin, world direction]`` for camera-frame directions.

    Args:
        dirs_cam: (N, 3) float32 camera-frame directions (z = 1).
        rot_t: (3, 3) float32 ``R^T`` of the camera-to-world rotation (world direction = ``d @ R^T``).
        centre: (3,) float32 camera centre in world metres.
        out: (N, 6) float32, written and returned.
    """
    for i in range(dirs_cam.shape[0]):
        x, y, z = dirs_cam[i, 0], dirs_cam[i, 1], dirs_cam[i, 2]
        out[i, 0] = centre[0]
        out[i, 1] = centre[1]
        out[i, 2] = centre[2]
        for j in range(3):
            out[i, 3 + j] = x * rot_t[0, j] + y * rot_t[1, j] + z * rot_t[2, j]
    return out


@numba.njit(cache=True, nogil=True, parallel=False)
def shade_pixels(
    t_hit: np.ndarray,
    tri: np.ndarray,
    n_tri: int,
    ray_norm: np.ndarray,
    normals_tab: np.ndarray,
    cos_tab: np.ndarray,
    rgb_tab: np.ndarray,
    albedo_tab: np.ndarray,
    ambient: np.float32,
    lit: np.float32,
    surface: tuple,
    depth_m: np.ndarray,
    range_m: np.ndarray,
    normals_cam: np.ndarray,
    rgb: np.ndarray,
    albedo: np.ndarray,
) -> None:
    """Per-pixel z-depth, range, camera normal, shaded colour and albedo from the raycast's triangle ids.

    Every table has one extra all-zero row (index ``n_tri``) that misses use, so a miss is 0 everywhere.
    With ``k = tri[i]`` and ``hit = k < n_tri`` the pixel gets (all float32)::

        depth_m = t_hit if hit else 0;   range_m = depth_m * ray_norm
        shade = min(cos_tab[k] / range_m if hit else 0, 1) * (1 - ambient) + ambient
        rgb = uint8(rgb_tab[k] * shade);   normals_cam = normals_tab[k];   albedo = albedo_tab[k]

    where the material of triangle ``k`` has no pattern; otherwise `tofsim.textures.surface_at` gives the
    patterned colour (clipped to 255) and albedo that replace ``rgb_tab[k]`` and ``albedo_tab[k]``.

    Args:
        t_hit: (N,) float32 ray parameter (z-depth for z = 1 directions), inf on a miss.
        tri: (N,) uint32 triangle index, ``n_tri`` on a miss.
        n_tri: number of triangles.
        ray_norm: (N,) float32 length of each pixel's z = 1 direction (range / z).
        normals_tab: (T + 1, 3) float32 unit camera-frame normals facing the camera.
        cos_tab: (T + 1,) float32 distance of the camera centre to each triangle's plane (cos(incidence) x range).
        rgb_tab: (T + 1, 3) float32 material colour.
        albedo_tab: (T + 1,) float32 NIR albedo.
        ambient: fraction of the colour an unlit surface keeps; lit: ``float32(1 - ambient)`` (rounded once).
        surface: ``(rays, normals_world, mat_row, kind_tab, seed_tab, par_tab, gloss_tab)``: the (N, 6) rays,
            the pattern tables of `tofsim.textures.surface_at` and the (T + 1,) float32 NIR gloss of each
            triangle (the albedo becomes ``min(albedo + gloss * min(cos_tab[k] / range_m, 1) ** 16, 1)``).
        depth_m, range_m, albedo: (N,) float32 outputs; normals_cam: (N, 3) float32; rgb: (N, 3) uint8.
    """
    one = np.float32(1.0)
    rays, normals_world, mat_row, kind_tab, seed_tab, par_tab, gloss_tab = surface
    for i in range(t_hit.shape[0]):
        k = tri[i]
        hit = k < n_tri
        d = t_hit[i] if hit else np.float32(0.0)
        r = d * ray_norm[i]
        depth_m[i] = d
        range_m[i] = r
        s = cos_tab[k] / r if hit else np.float32(0.0)
        s = min(s, one) * lit + ambient  # two roundings, as NumPy's in-place passes
        for c in range(3):
            normals_cam[i, c] = normals_tab[k, c]
        if not hit or kind_tab[mat_row[k]] == 0:
            for c in range(3):
                rgb[i, c] = np.uint8(rgb_tab[k, c] * s)
            a = albedo_tab[k]
        else:
            cr, cg, cb, a = surface_at(
                i, k, n_tri, rays, t_hit, normals_world, mat_row, kind_tab, seed_tab, par_tab, rgb_tab, albedo_tab
            )
            rgb[i, 0], rgb[i, 1], rgb[i, 2] = np.uint8(cr * s), np.uint8(cg * s), np.uint8(cb * s)
        if gloss_tab[k] > 0:
            a = min(a + gloss_tab[k] * min(cos_tab[k] / r, one) ** GLOSS_EXPONENT, one)
        albedo[i] = a


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tofsim-kernel")


def in_halves(kernel: Callable[[int, int], None], n: int) -> None:
    """Run ``kernel(start, stop)`` over ``[0, n)``: in two halves on two threads when two cores are available.

    The kernels are ``nogil``, so the halves really run at once; each writes only its own rows.
    """
    if thread_budget() < 2 or n < 4096:
        kernel(0, n)
        return
    half = n // 2
    other = _pool().submit(kernel, half, n)
    kernel(0, half)
    other.result()
