"""RGB shading by a scene's point lights with ray-cast shadows (numba kernels around one Open3D occlusion test).

A scene that lists lights in ``meta["lights"]`` (procedural rooms: ceiling lamps and daylight through a window,
see `tofsim.scene.lights`) is shaded per pixel as::

    shade = ambient + (1 - ambient) * min(sum_l visible_l * I_l * cos_l * d_ref^2 / (d_l^2 + d_ref^2), MAX_LIGHT)

with ``cos_l`` the cosine between the surface normal (facing the camera) and the direction to light ``l``,
``d_l`` the distance to it and ``visible_l`` from a shadow ray from the hit point (offset by `SHADOW_OFFSET_M`
along the normal) to the light, tested with ``RaycastingScene.test_occlusions``. Only pixels that face a light
cast a shadow ray. The NIR albedo, depth and
the ToF return are not affected: the sensor brings its own light.

Shadow rays are cast from one pixel in four (even rows and columns); every other pixel takes the mean
light term of its surrounding sample pixels on the same surface, which gives shadow edges a 2-pixel penumbra
(real lamps are not points either). Pixels with no such sample (thin legs, cables, object edges) cast their own
ray. A VGA frame costs about a quarter of an occlusion test per pixel and light, plus the stragglers.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["light_table", "sample_shadow_rays", "gather_light", "shade_lit", "D_REF_M", "MAX_LIGHT", "SHADOW_OFFSET_M"]

#: Distance at which a light's falloff d_ref^2 / (d^2 + d_ref^2) is one half (metres).
D_REF_M = 2.5
#: Upper bound of the summed light term (bright spots saturate, as a camera's auto-exposure lets them).
MAX_LIGHT = 1.3
#: Shadow rays start this far off the surface, along its normal (metres), so they do not hit their own surface.
SHADOW_OFFSET_M = 2e-3


def light_table(lights: list[dict]) -> np.ndarray:
    """(L, 4) float32 ``[x, y, z, intensity]`` of the ``meta["lights"]`` entries (``position_m``, ``intensity``)."""
    rows = [[*map(float, light["position_m"]), float(light["intensity"])] for light in lights]
    return np.asarray(rows, np.float32).reshape(-1, 4)


@numba.njit(cache=True, nogil=True, inline="always")
def _light_term(rays, t_hit, normals_cam, rot, lights, i, j):
    """(weight, ray origin x, y, z) of pixel i lit by light j; weight 0 when the surface faces away."""
    t = t_hit[i]
    px, py, pz = rays[i, 0] + t * rays[i, 3], rays[i, 1] + t * rays[i, 4], rays[i, 2] + t * rays[i, 5]
    a, b, c = normals_cam[i, 0], normals_cam[i, 1], normals_cam[i, 2]
    nx = rot[0, 0] * a + rot[0, 1] * b + rot[0, 2] * c
    ny = rot[1, 0] * a + rot[1, 1] * b + rot[1, 2] * c
    nz = rot[2, 0] * a + rot[2, 1] * b + rot[2, 2] * c
    lx, ly, lz = lights[j, 0] - px, lights[j, 1] - py, lights[j, 2] - pz
    d2 = lx * lx + ly * ly + lz * lz
    cos = (nx * lx + ny * ly + nz * lz) / np.sqrt(d2)
    d2_ref = np.float32(D_REF_M * D_REF_M)
    weight = lights[j, 3] * cos * d2_ref / (d2 + d2_ref) if cos > 0 else np.float32(0.0)
    off = np.float32(SHADOW_OFFSET_M)
    return weight, px + off * nx, py + off * ny, pz + off * nz


@numba.njit(cache=True, nogil=True, inline="always")
def _write_ray(out_rays, k, ox, oy, oz, lights, j):
    out_rays[k, 0], out_rays[k, 1], out_rays[k, 2] = ox, oy, oz
    out_rays[k, 3], out_rays[k, 4], out_rays[k, 5] = lights[j, 0] - ox, lights[j, 1] - oy, lights[j, 2] - oz


@numba.njit(cache=True, nogil=True)
def sample_shadow_rays(rays, t_hit, hit, normals_cam, rot, lights, width, out_rays, out_slot, out_weight) -> int:
    """Shadow rays of the sample pixels (even row, even column) towards every light they face.

    Args:
        rays: (N, 6) float32 primary rays, N = H * W; t_hit: (N,) float32 z-depth; hit: (N,) bool.
        normals_cam: (N, 3) float32 unit camera-frame normals facing the camera; rot: (3, 3) float32 camera to
            world rotation; lights: (L, 4) float32 `light_table`; width: W.
        out_rays: (>= N * L / 4, 6) float32, written: origin off the surface, direction to the light.
        out_slot: (>= N * L / 4,) int64, written: the ray's sample ``(row // 2) * ((W + 1) // 2) + col // 2``.
        out_weight: (>= N * L / 4,) float32, written: the ray's unshadowed light term.

    Returns:
        The number of rays written.
    """
    w2 = (width + 1) // 2
    count = 0
    for r in range(0, t_hit.shape[0] // width, 2):
        for c in range(0, width, 2):
            i = r * width + c
            if not hit[i]:
                continue
            for j in range(lights.shape[0]):
                weight, ox, oy, oz = _light_term(rays, t_hit, normals_cam, rot, lights, i, j)
                if weight > 0:
                    _write_ray(out_rays, count, ox, oy, oz, lights, j)
                    out_slot[count] = (r // 2) * w2 + c // 2
                    out_weight[count] = weight
                    count += 1
    return count


@numba.njit(cache=True, nogil=True)
def gather_light(
    rays, t_hit, hit, normals_cam, rot, lights, width, sample_light, light_sum, out_rays, out_pixel, out_weight, rows
):
    """Light term of every pixel: the mean over its 1-4 surrounding sample pixels that lie on the same surface.

    A neighbouring sample counts when it hit a surface with the same normal (dot > 0.98) at a depth within 5 %;
    a pixel without one (thin structures, edges) gets its own shadow rays, written to ``out_*`` for a second test.

    Args:
        rays, t_hit, hit, normals_cam, rot, lights, width: as `sample_shadow_rays`.
        sample_light: (samples,) float32 summed visible light term of each sample pixel.
        light_sum: (N,) float32, written: each pixel's light term (without its extra rays).
        out_rays: (M, 6) float32; out_pixel: (M,) int64; out_weight: (M,) float32: the extra rays (M >= the rows'
            pixels times L).
        rows: (first, stop) the image rows to do (two threads take one half each).

    Returns:
        The number of extra rays written.
    """
    w2 = (width + 1) // 2
    height = t_hit.shape[0] // width
    count = 0
    for r in range(rows[0], rows[1]):
        r0 = r - r % 2
        for c in range(width):
            i = r * width + c
            light_sum[i] = 0.0
            if not hit[i]:
                continue
            c0 = c - c % 2
            total, n_ok = np.float32(0.0), 0
            for rs in range(r0, r0 + 2 * (r % 2) + 1, 2):  # r0 (and r0 + 2 on an odd row)
                for cs in range(c0, c0 + 2 * (c % 2) + 1, 2):
                    if rs >= height or cs >= width:
                        continue
                    k = rs * width + cs
                    if k != i and not (hit[k] and abs(t_hit[k] - t_hit[i]) < np.float32(0.05) * t_hit[i]):
                        continue
                    dot = normals_cam[k, 0] * normals_cam[i, 0] + normals_cam[k, 1] * normals_cam[i, 1]
                    if dot + normals_cam[k, 2] * normals_cam[i, 2] > np.float32(0.98):
                        total += sample_light[(rs // 2) * w2 + cs // 2]
                        n_ok += 1
            if n_ok:
                light_sum[i] = total / np.float32(n_ok)
                continue
            for j in range(lights.shape[0]):
                weight, ox, oy, oz = _light_term(rays, t_hit, normals_cam, rot, lights, i, j)
                if weight > 0:
                    _write_ray(out_rays, count, ox, oy, oz, lights, j)
                    out_pixel[count] = i
                    out_weight[count] = weight
                    count += 1
    return count


@numba.njit(cache=True, nogil=True)
def shade_lit(rgb, pixel, weight, occluded, ambient, light_sum) -> None:
    """Add the extra rays' visible terms to ``light_sum`` (N,) and scale the unshaded colours (N, 3) uint8 in place.

    Shade: ``ambient + (1 - ambient) * min(light_sum, MAX_LIGHT)``, rounded to the nearest uint8.
    """
    for k in range(pixel.shape[0]):
        if not occluded[k]:
            light_sum[pixel[k]] += weight[k]
    lit = np.float32(1.0) - ambient
    for i in range(rgb.shape[0]):
        s = ambient + lit * min(light_sum[i], np.float32(MAX_LIGHT))
        for c in range(3):
            rgb[i, c] = np.uint8(min(np.float32(rgb[i, c]) * s + np.float32(0.5), np.float32(255.0)))
