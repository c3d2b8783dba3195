"""Where projector rays meet the surface that the camera sees, using only a dense z-depth map.

All functions are vectorised over rays (no per-spot Python loops). Conventions as in `tofsim.camera`: camera frame
z forward, pixel centres at integer (u, v); a ray lands on pixel ``(floor(u + 0.5), floor(v + 0.5))``.

Parallax: a ray from the projector at ``b`` with direction ``d`` reaches camera depth ``z`` at
``u(z) = u_inf + fx * Bx / z`` with ``u_inf = cx + fx dx/dz`` and ``Bx = bx - bz dx/dz`` (likewise v): the image
point moves linearly in inverse depth ``s = 1/z``. `march` samples ``s`` at <= 1 px steps along this epipolar
segment and takes the first sample where the ray is at or behind the visible surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tofsim.camera import Intrinsics

__all__ = [
    "RayHits", "cone_offsets", "epipolar_params", "fixed_point", "march", "normals_at", "refine", "subray_directions",
    "zone_subray_directions",
]  # fmt: skip

_GOLDEN_ANGLE_RAD = math.pi * (3.0 - math.sqrt(5.0))


def cone_offsets(rays_per_spot: int, divergence_deg: float) -> np.ndarray:
    """(R, 2) float64 (polar angle, azimuth) in radians of R sub-rays filling a cone of full angle `divergence_deg`.

    One ray is the axis; more rays follow a sunflower (Vogel) spiral, equal area each (a top-hat beam).
    """
    if rays_per_spot == 1 or divergence_deg == 0:
        return np.zeros((rays_per_spot, 2))
    k = np.arange(rays_per_spot, dtype=np.float64)
    radius = np.sqrt((k + 0.5) / rays_per_spot) * np.deg2rad(divergence_deg) / 2.0
    return np.stack([radius, k * _GOLDEN_ANGLE_RAD], axis=-1)


def subray_directions(directions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rotate each spot direction by each cone offset.

    Args:
        directions: (N, 3) unit spot directions.
        offsets: (R, 2) (polar angle, azimuth) radians from `cone_offsets`.

    Returns:
        (N, R, 3) float64 unit sub-ray directions.
    """
    d = directions
    e1 = np.stack([d[:, 2], np.zeros_like(d[:, 0]), -d[:, 0]], axis=-1)
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(d, e1)
    alpha, beta = offsets[:, 0], offsets[:, 1]
    ca, sa = np.cos(alpha)[None, :, None], np.sin(alpha)[None, :, None]
    cb, sb = np.cos(beta)[None, :, None], np.sin(beta)[None, :, None]
    return ca * d[:, None, :] + sa * (cb * e1[:, None, :] + sb * e2[:, None, :])


def zone_subray_directions(
    directions: np.ndarray, zone_size_deg: tuple[float, float], rays_per_spot: int
) -> np.ndarray:
    """(N, g*g, 3) sub-rays on a g x g grid of cell centres inside each zone (g = ceil(sqrt(rays_per_spot))).

    The zone is the square ``ax ± w/2, ay ± h/2`` in the pattern's angles (``d ∝ (tan ax, tan ay, 1)``).
    """
    g = math.ceil(math.sqrt(rays_per_spot))
    w, h = np.deg2rad(zone_size_deg[0]), np.deg2rad(zone_size_deg[1])
    cells = (np.arange(g) + 0.5) / g - 0.5
    oy, ox = np.meshgrid(cells * h, cells * w, indexing="ij")
    ax = np.arctan2(directions[:, 0], directions[:, 2])[:, None] + ox.ravel()[None, :]
    ay = np.arctan2(directions[:, 1], directions[:, 2])[:, None] + oy.ravel()[None, :]
    d = np.stack([np.tan(ax), np.tan(ay), np.ones_like(ax)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@dataclass
class RayHits:
    """Per-ray intersection results, each (M,).

    Attributes:
        points: (M, 3) float64 hit points in the camera frame (metres); NaN where no visible hit.
        visible: bool, the ray meets a surface that the camera sees.
        shadowed: bool, the ray passes behind a nearer surface (the camera cannot see where it lands).
        ui, vi: int64 pixel of the hit (clipped into the image; meaningless where not visible).
        normals: (M, 3) float64 unit surface normals at the hit pixels (facing the camera).
    """

    points: np.ndarray
    visible: np.ndarray
    shadowed: np.ndarray
    ui: np.ndarray
    vi: np.ndarray
    normals: np.ndarray


def epipolar_params(origin: np.ndarray, dirs: np.ndarray, intr: Intrinsics):
    """Per-ray epipolar parameters: u_inf, v_inf, fx*Bx, fy*By (pixels, pixels*metres)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = dirs[:, 0] / dirs[:, 2]
        ty = dirs[:, 1] / dirs[:, 2]
    u_inf = intr.cx_px + intr.fx_px * tx
    v_inf = intr.cy_px + intr.fy_px * ty
    bu = intr.fx_px * (origin[0] - origin[2] * tx)
    bv = intr.fy_px * (origin[1] - origin[2] * ty)
    return u_inf, v_inf, bu, bv


def _lookup(depth_m: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Depth at the pixel each (u, v) rounds to; 0 outside the image or where the map is invalid."""
    h, w = depth_m.shape
    ui = np.floor(u + 0.5)
    vi = np.floor(v + 0.5)
    inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)  # False for NaN
    uc = np.where(inside, ui, 0).astype(np.int64)
    vc = np.where(inside, vi, 0).astype(np.int64)
    d = depth_m.reshape(-1).take(vc * w + uc).astype(np.float64)
    ok = inside & np.isfinite(d) & (d > 0)
    return np.where(ok, d, 0.0), uc, vc, ok


def _unit(x, y, z):
    norm = np.sqrt(x * x + y * y + z * z)
    good = np.isfinite(norm) & (norm > 0)
    inv = np.where(good, 1.0 / np.where(good, norm, 1.0), 0.0)
    return x * inv, y * inv, z * inv, good


def normals_at(depth_m, intr: Intrinsics, ui, vi, normals_cam=None) -> np.ndarray:
    """(M, 3) float64 unit normals at pixels (ui, vi), facing the camera.

    From `normals_cam` when given; otherwise from the depth map by finite differences, choosing per axis the
    one-sided difference with the smaller depth jump (so depth edges do not tilt the normals of either side).
    Pixels without a usable neighbour get the normal facing the camera along the pixel ray.
    """
    h, w = depth_m.shape
    rx = (ui - intr.cx_px) / intr.fx_px
    ry = (vi - intr.cy_px) / intr.fy_px
    if normals_cam is not None:
        n = normals_cam[vi, ui].astype(np.float64)
        nx, ny, nz, good = _unit(n[:, 0], n[:, 1], n[:, 2])
    else:
        flat = depth_m.reshape(-1)

        def z_at(uu, vv):
            z = flat.take(vv * w + uu).astype(np.float64)
            return np.where(np.isfinite(z) & (z > 0), z, np.nan)

        zc = z_at(ui, vi)

        def one_sided(z_plus, z_minus, step_x, step_y):
            # tangent (X(p + step) - X(p)) from z-depths; the side with the smaller |dz| wins
            jp = np.abs(z_plus - zc)
            jm = np.abs(zc - z_minus)
            use_plus = np.nan_to_num(jp, nan=np.inf) <= np.nan_to_num(jm, nan=np.inf)
            z_other = np.where(use_plus, z_plus, z_minus)
            sign = np.where(use_plus, 1.0, -1.0)
            tx = sign * ((rx + sign * step_x) * z_other - rx * zc)
            ty = sign * ((ry + sign * step_y) * z_other - ry * zc)
            tz = sign * (z_other - zc)
            return tx, ty, tz

        ax, ay, az = one_sided(
            z_at(np.minimum(ui + 1, w - 1), vi), z_at(np.maximum(ui - 1, 0), vi), 1.0 / intr.fx_px, 0.0
        )
        bx, by, bz = one_sided(
            z_at(ui, np.minimum(vi + 1, h - 1)), z_at(ui, np.maximum(vi - 1, 0)), 0.0, 1.0 / intr.fy_px
        )
        nx, ny, nz, good = _unit(ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)
    qx, qy, qz, _ = _unit(rx, ry, np.ones_like(rx))
    nx, ny, nz = np.where(good, nx, -qx), np.where(good, ny, -qy), np.where(good, nz, -qz)
    flip = np.where(nx * qx + ny * qy + nz * qz > 0, -1.0, 1.0)
    return np.stack([nx * flip, ny * flip, nz * flip], axis=-1)


def refine(origin, dirs, depth_m, intr, s, normals_cam=None):
    """Intersect each ray with the surface near inverse depth `s` (one step).

    The ray's pixel at depth ``1/s`` gives a surface point X (depth map) and normal n; the hit is the ray's
    intersection with that tangent plane when it projects back within one pixel, else the ray point at depth
    ``D(pixel)``.

    Returns:
        (points (M, 3), ok (M,) bool, ui, vi, normals (M, 3)).
    """
    u_inf, v_inf, bu, bv = epipolar_params(origin, dirs, intr)
    d, ui, vi, ok = _lookup(depth_m, u_inf + bu * s, v_inf + bv * s)
    n = normals_at(depth_m, intr, ui, vi, normals_cam)
    nx, ny, nz = n[:, 0], n[:, 1], n[:, 2]
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    ox, oy, oz = (float(c) for c in origin)
    xx = (ui - intr.cx_px) / intr.fx_px * d - ox
    xy = (vi - intr.cy_px) / intr.fy_px * d - oy
    denom = nx * dx + ny * dy + nz * dz
    with np.errstate(divide="ignore", invalid="ignore"):
        t_plane = (nx * xx + ny * xy + nz * (d - oz)) / denom
        t_depth = (d - oz) / dz
        zp = oz + t_plane * dz
        up = intr.cx_px + intr.fx_px * (ox + t_plane * dx) / zp
        vp = intr.cy_px + intr.fy_px * (oy + t_plane * dy) / zp
    use_plane = (denom < -0.05) & (t_plane > 0) & (np.abs(up - ui) <= 1.0) & (np.abs(vp - vi) <= 1.0)
    t = np.where(use_plane, t_plane, t_depth)
    ok = ok & (t > 0)
    t = np.where(ok, t, np.nan)
    points = np.stack([ox + t * dx, oy + t * dy, oz + t * dz], axis=-1)
    return points, ok, ui, vi, n


def march(origin, dirs, depth_m, intr, s_near: float, s_far: float, normals_cam=None) -> RayHits:
    """First visible intersection of rays from `origin` with the depth map, by an epipolar search.

    Args:
        origin: (3,) ray origin in the camera frame (the projector), metres.
        dirs: (M, 3) unit directions with z > 0.
        depth_m: (H, W) z-depth, 0 or NaN where invalid.
        intr: camera intrinsics.
        s_near, s_far: inverse-depth search interval (1/m), s_near > s_far > 0 (nearest and farthest depth).
        normals_cam: optional (H, W, 3) normals.

    Returns:
        `RayHits` for the M rays.
    """
    u_inf, v_inf, bu, bv = epipolar_params(origin, dirs, intr)
    disparity_px = float(np.nanmax(np.hypot(bu, bv))) if len(dirs) else 0.0
    n_steps = max(2, math.ceil(disparity_px * (s_near - s_far)) + 1)
    if disparity_px == 0.0:  # no parallax: the pixel does not depend on depth
        n_steps = 1
    s = np.linspace(s_near, s_far, n_steps)[:, None]  # near -> far
    d, _, _, ok = _lookup(depth_m, u_inf + bu * s, v_inf + bv * s)
    z = 1.0 / s
    behind = ok & (z >= d) if n_steps > 1 else ok
    crossed = behind.any(axis=0)
    k = np.argmax(behind, axis=0)
    cols = np.arange(dirs.shape[0])
    d_hit = d[k, cols]
    z_prev = np.where(k > 0, z[np.maximum(k - 1, 0), 0], 0.0)
    # a real crossing: the surface depth lies within the ray's last step (not far in front of it: occluder)
    visible = crossed & (d_hit >= z_prev - 0.02 * z[k, 0])
    shadowed = crossed & ~visible
    s_hit = np.where(visible, 1.0 / np.where(visible, d_hit, 1.0), s_far)
    points = np.full((dirs.shape[0], 3), np.nan)
    ui = np.zeros(dirs.shape[0], dtype=np.int64)
    vi = np.zeros(dirs.shape[0], dtype=np.int64)
    normals = np.zeros((dirs.shape[0], 3))
    if visible.any():
        idx = np.flatnonzero(visible)
        p, ok2, u2, v2, n2 = refine(origin, dirs[idx], depth_m, intr, s_hit[idx], normals_cam)
        points[idx] = p
        ui[idx], vi[idx], normals[idx] = u2, v2, n2
        visible[idx] = ok2
    return RayHits(points=points, visible=visible, shadowed=shadowed, ui=ui, vi=vi, normals=normals)


def fixed_point(origin, dirs, depth_m, intr, s_start, normals_cam=None, iterations: int = 2) -> RayHits:
    """Sub-ray hits from a starting inverse depth (the spot centre's): ``iterations - 1`` depth look-ups
    (``s <- 1 / D(pixel(s))``) and one tangent-plane refinement, accepted when the hit lands on the pixel it was
    computed from (within one pixel); otherwise the sub-ray is treated as shadowed.
    """  # noqa: D205
    s = np.asarray(s_start, dtype=np.float64)
    u_inf, v_inf, bu, bv = epipolar_params(origin, dirs, intr)
    for _ in range(iterations - 1):
        d, _, _, ok = _lookup(depth_m, u_inf + bu * s, v_inf + bv * s)
        s = np.where(ok, 1.0 / np.where(ok, d, 1.0), s)
    p, ok, ui, vi, n = refine(origin, dirs, depth_m, intr, s, normals_cam)
    s = np.where(ok, 1.0 / np.where(ok, p[:, 2], 1.0), s)
    uf, vf = u_inf + bu * s, v_inf + bv * s
    consistent = ok & (np.abs(uf - ui) <= 1.0) & (np.abs(vf - vi) <= 1.0)
    p = np.where(consistent[:, None], p, np.nan)
    return RayHits(points=p, visible=consistent, shadowed=ok & ~consistent, ui=ui, vi=vi, normals=n)
