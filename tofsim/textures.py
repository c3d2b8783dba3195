"""Image-like procedural surface patterns, evaluated per pixel at the 3-D hit point (numba).

Every `tofsim.scene.types.Pattern` kind is a pure function of the hit point's surface coordinates ``(u, v)`` in
metres, the pattern's parameters and its integer seed: hash-based value noise and hashed cells, no random state,
so the same scene and pose give the same image on any worker. Surface coordinates come from the triangle's world
normal: on horizontal surfaces ``(u, v) = (x, y)``; elsewhere ``u`` runs horizontally along the surface and
``v = z`` (a per-normal planar projection, continuous across the triangles of one planar face).

A pattern changes the colour (many strong colour edges inside one flat surface: plank gaps, grout, poster
rectangles, stripes) and, through ``nir_gain``, mildly the NIR albedo: the albedo is scaled by
``1 + nir_gain * (luminance ratio - 1)``.
"""

from __future__ import annotations

import numba
import numpy as np

from tofsim.scene.types import PATTERN_KINDS, Material

__all__ = ["PatternTables", "pattern_tables", "texel", "surface_uv", "surface_at", "surface_colours", "N_PARAMS"]

#: Columns of the parameter table: scale_m, contrast, accent r, g, b, line_m, variant, nir_gain.
N_PARAMS = 8

(NONE, PLASTER, WOOD, FABRIC, TILES, SPECKLE, POSTER, STRIPES, BOOKS, BRUSHED) = range(len(PATTERN_KINDS))


class PatternTables:
    """Per-material pattern tables with one extra "none" row (index M) for misses.

    Attributes:
        kind: (M + 1,) int32 index into `PATTERN_KINDS`.
        seed: (M + 1,) int64 hash seed.
        params: (M + 1, N_PARAMS) float64 (see `N_PARAMS`).
    """

    def __init__(self, materials: tuple[Material, ...]) -> None:
        m = len(materials)
        self.kind = np.zeros(m + 1, np.int32)
        self.seed = np.zeros(m + 1, np.int64)
        self.params = np.zeros((m + 1, N_PARAMS), np.float64)
        for i, mat in enumerate(materials):
            p = mat.pattern
            self.kind[i] = PATTERN_KINDS.index(p.kind)
            self.seed[i] = p.seed
            self.params[i] = (p.scale_m, p.contrast, *p.accent_rgb, p.line_m, p.variant, p.nir_gain)
        self.any = bool(self.kind.any())


def pattern_tables(materials: tuple[Material, ...]) -> PatternTables:
    """The renderer's `PatternTables` of a material table."""
    return PatternTables(materials)


@numba.njit(cache=True, nogil=True, inline="always")
def _hash(ix: int, iy: int, seed: int) -> float:
    """A uniform float in [0, 1) from two integer cell coordinates and a seed (integer mixing only)."""
    h = (ix * 374761393 + iy * 668265263 + seed * 1442695041) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return (h & 0xFFFFFF) * (1.0 / 16777216.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _noise(x: float, y: float, seed: int) -> float:
    """Smooth value noise in [0, 1): hashed lattice values, smoothstep-interpolated."""
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = np.int64(fx), np.int64(fy)
    tx, ty = x - fx, y - fy
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    a, b = _hash(ix, iy, seed), _hash(ix + 1, iy, seed)
    c, d = _hash(ix, iy + 1, seed), _hash(ix + 1, iy + 1, seed)
    return a + (b - a) * tx + (c - a + (d - c - b + a) * tx) * ty


@numba.njit(cache=True, nogil=True, inline="always")
def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV in [0, 1] -> RGB in [0, 255]."""
    h6 = (h - np.floor(h)) * 6.0
    i = int(h6)
    f = h6 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    if i == 0:
        r, g, b = v, t, p
    elif i == 1:
        r, g, b = q, v, p
    elif i == 2:
        r, g, b = p, v, t
    elif i == 3:
        r, g, b = p, q, v
    elif i == 4:
        r, g, b = t, p, v
    else:
        r, g, b = v, p, q
    return 255.0 * r, 255.0 * g, 255.0 * b


@numba.njit(cache=True, nogil=True, inline="always")
def surface_uv(nx: float, ny: float, nz: float, px: float, py: float, pz: float) -> tuple[float, float]:
    """Surface coordinates in metres of world point p on a surface with unit world normal n."""
    if abs(nz) > 0.7:
        return px, py
    h = np.sqrt(nx * nx + ny * ny)
    return (nx * py - ny * px) / h, pz


@numba.njit(cache=True, nogil=True, inline="always")
def texel(
    kind: int, seed: int, s: float, c: float, ar: float, ag: float, ab: float, line: float, variant: int,
    nir_gain: float, u: float, v: float, r: float, g: float, b: float,
) -> tuple[float, float, float, float]:  # fmt: skip
    """Patterned colour and NIR albedo factor at surface coordinates (u, v) metres.

    Scalars only (an array row per pixel would cost reference counting in the hot loop).

    Args:
        kind: index into `PATTERN_KINDS` (0 = none: the colour unchanged).
        seed: the pattern's hash seed.
        s, c, ar, ag, ab, line, variant, nir_gain: the `PatternTables.params` row (see `N_PARAMS`).
        u, v: surface coordinates in metres (`surface_uv`).
        r, g, b: base colour in [0, 255].

    Returns:
        (r, g, b, albedo_factor): the colour (not clipped) and the factor for the NIR albedo.
    """
    r0, g0, b0 = r, g, b
    f = 1.0  # multiplicative shade of the (possibly replaced) colour
    if kind == PLASTER:
        n = 0.65 * _noise(u / s, v / s, seed) + 0.35 * _noise(u / (0.3 * s), v / (0.3 * s), seed + 1)
        f = 1.0 + 2.0 * c * (n - 0.5)
    elif kind == WOOD:
        x = u / s
        fi = np.floor(x)
        i = np.int64(fi)
        w = x - fi  # across the plank, 0..1
        length = s * (4.0 + 8.0 * _hash(i, 1, seed))
        y = v + length * _hash(i, 2, seed)
        fj = np.floor(y / length)
        f = 1.0 + c * (2.0 * _hash(i, 0, seed) - 1.0) + 0.5 * c * (2.0 * _hash(i, np.int64(fj), seed + 3) - 1.0)
        grain = 7.0 * w + 2.0 * _noise(u / (0.6 * s), v / (5.0 * s), seed + 4) + 1.7 * fi
        grain -= np.floor(grain)
        if grain < 0.3:
            f *= 0.72 + 0.28 * grain / 0.3  # a dark grain line, sharp on one side
        if w * s < line or (y - fj * length) < line:
            f *= 0.45  # gap between planks and board ends
    elif kind == FABRIC:
        n = _noise(u / s, v / s, seed)
        if variant == 1:  # plaid: accent stripes both ways
            fu, fv = u / s - np.floor(u / s), v / s - np.floor(v / s)
            k = int(fu < 0.3) + int(fv < 0.3)
            if k == 2:
                r, g, b = ar, ag, ab
            elif k == 1:
                r, g, b = 0.5 * (r + ar), 0.5 * (g + ag), 0.5 * (b + ab)
            f = 1.0 + 0.5 * c * (n - 0.5)
        elif variant == 2:  # blobs (prints)
            if n > 0.64:
                r, g, b = ar, ag, ab
            elif n > 0.6:
                f = 0.6
        else:  # heather
            f = 1.0 + 2.0 * c * (0.6 * n + 0.4 * _noise(u / (0.2 * s), v / (0.2 * s), seed + 1) - 0.5)
    elif kind == TILES:
        fu, fv = u / s, v / s
        iu, iv = np.floor(fu), np.floor(fv)
        if (fu - iu) * s < line or (fv - iv) * s < line:
            r, g, b = ar, ag, ab
        else:
            h = _hash(np.int64(iu), np.int64(iv), seed)
            f = 1.0 + c * (2.0 * h - 1.0) + c * (_noise(u / (0.3 * s), v / (0.3 * s), seed + 1) - 0.5)
    elif kind == SPECKLE:
        h = _hash(np.int64(np.floor(u / s)), np.int64(np.floor(v / s)), seed)
        f = 1.0 + c * (2.0 * h - 1.0) + c * (2.0 * _noise(u / (25.0 * s), v / (25.0 * s), seed + 1) - 1.0)
    elif kind == POSTER:
        fu, fv = u / s, v / s
        iu, iv = np.floor(fu), np.floor(fv)
        i, j = np.int64(iu), np.int64(iv)
        split = 0.2 + 0.6 * _hash(i, j, seed + 1)
        side = (fu - iu) < split if _hash(i, j, seed) < 0.5 else (fv - iv) < split
        k = 2 * i + (1 if side else 0)
        r, g, b = _hsv(_hash(k, j, seed + 2), 0.25 + 0.75 * _hash(k, j, seed + 3), 0.2 + 0.8 * _hash(k, j, seed + 4))
        if _noise(u / (0.7 * s), v / (0.7 * s), seed + 5) > 0.68:
            bu, bv = np.int64(np.floor(fu / 0.7)), np.int64(np.floor(fv / 0.7))
            r, g, b = _hsv(_hash(bu, bv, seed + 6), 0.8, 0.3 + 0.7 * _hash(bu, bv, seed + 7))
    elif kind == STRIPES:
        x = u / s - np.floor(u / s)
        if x < 0.5:
            r, g, b = ar, ag, ab
        elif x < 0.5 + line / s:
            f = 1.0 - c
    elif kind == BOOKS:
        fi = np.floor(u / s)
        i = np.int64(fi)
        y = v / 0.23 - np.floor(v / 0.23)  # position along a book's height (spines ~23 cm)
        a0 = 0.15 + 0.5 * _hash(i, 0, seed)
        if a0 < y < a0 + 0.06 + 0.12 * _hash(i, 1, seed):
            r, g, b = _hsv(_hash(i, 2, seed), 0.4 * _hash(i, 3, seed), 0.15 + 0.85 * _hash(i, 4, seed))
        elif abs(y - 0.9) < 0.02:
            r, g, b = ar, ag, ab
        f = 1.0 + c * (2.0 * _hash(i, 5, seed) - 1.0)
    elif kind == BRUSHED:
        f = 1.0 + 2.0 * c * (_noise(u / (30.0 * s), v / s, seed) - 0.5)
    r, g, b = r * f, g * f, b * f
    lum0 = 0.3 * r0 + 0.59 * g0 + 0.11 * b0
    gain = 1.0
    if lum0 > 1.0:
        ratio = min(max((0.3 * r + 0.59 * g + 0.11 * b) / lum0, 0.2), 3.0)
        gain = 1.0 + nir_gain * (ratio - 1.0)
    return r, g, b, gain


@numba.njit(cache=True, nogil=True, inline="always")
def surface_at(
    i: int,
    k: int,
    n_tri: int,
    rays: np.ndarray,
    t_hit: np.ndarray,
    normals_world: np.ndarray,
    mat_row: np.ndarray,
    kind_tab: np.ndarray,
    seed_tab: np.ndarray,
    par_tab: np.ndarray,
    rgb_tab: np.ndarray,
    albedo_tab: np.ndarray,
) -> tuple[np.float32, np.float32, np.float32, np.float32]:
    """Unshaded patterned colour (clipped to 255) and NIR albedo of pixel ``i`` that hit triangle ``k``."""  # fmt: skip
    m = mat_row[k]
    kind = kind_tab[m]
    if kind == 0 or k >= n_tri:
        return rgb_tab[k, 0], rgb_tab[k, 1], rgb_tab[k, 2], albedo_tab[k]
    t = t_hit[i]
    u, v = surface_uv(
        normals_world[k, 0], normals_world[k, 1], normals_world[k, 2],
        rays[i, 0] + t * rays[i, 3], rays[i, 1] + t * rays[i, 4], rays[i, 2] + t * rays[i, 5],
    )  # fmt: skip
    r, g, b, gain = texel(
        kind_tab[m], seed_tab[m], par_tab[m, 0], par_tab[m, 1], par_tab[m, 2], par_tab[m, 3], par_tab[m, 4],
        par_tab[m, 5], int(par_tab[m, 6]), par_tab[m, 7], u, v, rgb_tab[k, 0], rgb_tab[k, 1], rgb_tab[k, 2],
    )  # fmt: skip
    return (
        np.float32(min(r, 255.0)), np.float32(min(g, 255.0)), np.float32(min(b, 255.0)),
        np.float32(min(albedo_tab[k] * gain, 1.0)),
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def surface_colours(
    rays: np.ndarray, t_hit: np.ndarray, tri: np.ndarray, n_tri: int, normals_world: np.ndarray, mat_row: np.ndarray,
    kind_tab: np.ndarray, seed_tab: np.ndarray, par_tab: np.ndarray, rgb_tab: np.ndarray, albedo_tab: np.ndarray,
    rgb_out: np.ndarray, albedo_out: np.ndarray,
) -> None:  # fmt: skip
    """Unshaded patterned colour and NIR albedo of every pixel (the per-pixel rendering path).

    Args:
        rays: (N, 6) float32 rays (origin, direction with camera z = 1).
        t_hit: (N,) float32 ray parameter (inf on a miss); tri: (N,) uint32 triangle (``n_tri`` on a miss).
        n_tri: number of triangles T.
        normals_world: (T + 1, 3) float32 unit winding normals; mat_row: (T + 1,) int32 pattern-table row.
        kind_tab, seed_tab, par_tab: `PatternTables` arrays.
        rgb_tab: (T + 1, 3) float32 baked colour; albedo_tab: (T + 1,) float32 NIR albedo.
        rgb_out: (N, 3) float32 and albedo_out: (N,) float32, written (0 on a miss).
    """
    for i in range(t_hit.shape[0]):
        k = tri[i]
        if k >= n_tri or kind_tab[mat_row[k]] == 0:
            for c in range(3):
                rgb_out[i, c] = rgb_tab[k, c]
            albedo_out[i] = albedo_tab[k]
            continue
        r, g, b, a = surface_at(
            i, k, n_tri, rays, t_hit, normals_world, mat_row, kind_tab, seed_tab, par_tab, rgb_tab, albedo_tab
        )
        rgb_out[i, 0], rgb_out[i, 1], rgb_out[i, 2] = r, g, b
        albedo_out[i] = a
