"""First-order global multipath of a spot iToF sensor: light of the other lit spots scattered once onto a spot.

With a spot projector only the spot footprints are lit, so the one-bounce light that reaches the pixels of spot
``i`` (surface point ``P_i``) comes from the other footprints ``Q_j``: projector -> ``Q_j`` -> ``P_i`` -> camera.
(Paths projector -> ``P_i`` -> ``Q_j`` end at ``Q_j``'s pixels: they are the same term seen from spot ``j``.)
Both surfaces are Lambertian; spot ``j`` puts the flux of its ``n_j`` visible sub-rays (``n_j / R`` of its power)
on ``Q_j``, and spot ``i``'s measurement integrates the surface patch within a receiver cone of solid angle
``Omega``. In photo-electrons, with the sensor's ``power`` (a white surface facing the beam at 1 m):

```
S_ij = power * (n_j / R) * rho_i * rho_j * Omega * cos_j * cos_i / (pi * d_ij**2) * V_ij
L_ij = |Q_j - b| + d_ij + |P_i|  - (|P_i - b| - |P_i|)       [path length; projector offset calibrated out]
Z_i += C * sum_j S_ij * exp(i 2 pi f L_ij / c)                [added to the direct phasor of spot i]
```

``d_ij = |P_i - Q_j|``; ``cos_j``, ``cos_i`` are the angles between each surface normal and the segment (a pair
facing away from each other gives nothing, so coplanar spots never couple); ``V_ij`` is 1 when the segment is
free. Visibility comes from a callable ``visible(a, b) -> bool`` on camera-frame points: `depth_map_visibility`
(default; works on real frames: a segment is blocked where the depth map shows a surface in front of it, and
unknown space counts as free) or `renderer_visibility` (shadow rays through a `tofsim.render.Renderer`).
Derivation and the effect on the error maps: ``docs/sensor-model.md`` ("Global multipath").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.sensor.config import SPEED_OF_LIGHT_M_PER_S

__all__ = [
    "Visibility", "VISIBILITY_SAMPLES", "cone_solid_angle_sr", "depth_map_visibility", "indirect_phasor",
    "rectangle_solid_angle_sr", "renderer_visibility",
]  # fmt: skip

#: ``visible(a, b)``: (M, 3) and (M, 3) camera-frame points in metres -> (M,) bool, True where the segment is free.
Visibility = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Points tested along each segment by `depth_map_visibility`.
VISIBILITY_SAMPLES = 12

_PAIR_BLOCK = 1 << 18  # receiver-sender pairs per block (bounds memory: ~2 MB per float64 array)


def cone_solid_angle_sr(full_angle_deg: float) -> float:
    """Solid angle of a circular cone of full angle `full_angle_deg`: ``2 pi (1 - cos(angle / 2))``."""
    return 2.0 * math.pi * (1.0 - math.cos(math.radians(full_angle_deg) / 2.0))


def rectangle_solid_angle_sr(width_deg: float, height_deg: float) -> float:
    """Solid angle of a rectangular pyramid (a zone cell): ``4 asin(sin(w / 2) sin(h / 2))``."""
    return 4.0 * math.asin(math.sin(math.radians(width_deg) / 2.0) * math.sin(math.radians(height_deg) / 2.0))


def depth_map_visibility(depth_m: np.ndarray, intr: Intrinsics, *, samples: int = VISIBILITY_SAMPLES) -> Visibility:
    """Screen-space visibility: a segment is blocked where the depth map shows a surface in front of it.

    `samples` interior points ``a + t (b - a)``, ``t = (k + 0.5) / samples``, are projected; a point is blocked
    when the depth at its pixel is more than ``2 % z + 1 cm`` nearer than the point. Points off the image, behind
    the camera or on invalid depth count as free (the map does not know what is there); space hidden behind a
    visible surface counts as blocked.
    """
    h, w = depth_m.shape
    flat = np.ascontiguousarray(depth_m, dtype=np.float32).reshape(-1)
    t = (np.arange(samples, dtype=np.float64) + 0.5) / samples

    def visible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        blocked = np.zeros(len(a), dtype=bool)
        for tk in t:
            x = a + tk * (b - a)
            z = x[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.floor(intr.cx_px + intr.fx_px * x[:, 0] / z + 0.5)
                v = np.floor(intr.cy_px + intr.fy_px * x[:, 1] / z + 0.5)
            inside = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            idx = np.where(inside, v * w + u, 0).astype(np.int64)
            d = flat.take(idx).astype(np.float64)
            with np.errstate(invalid="ignore"):
                blocked |= inside & (d > 0) & (d < z - 0.02 * z - 0.01)
        return ~blocked

    return visible


def renderer_visibility(renderer, pose: np.ndarray, *, offset_m: float = 1e-3) -> Visibility:
    """Visibility by shadow rays through the mesh (`tofsim.render.Renderer.cast_rays`).

    Args:
        renderer: a `tofsim.render.Renderer` (anything with its ``cast_rays(origins_world, dirs_world)``).
        pose: (4, 4) ``T_world_from_cam`` of the frame.
        offset_m: the ray starts this far from ``a`` and must reach within this of ``b`` (self-hits).
    """
    pose = np.asarray(pose, dtype=np.float64)
    rot, trans = pose[:3, :3], pose[:3, 3]

    def visible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        seg = (b - a) @ rot.T
        length = np.linalg.norm(seg, axis=1)
        unit = seg / np.maximum(length, 1e-12)[:, None]
        origins = a @ rot.T + trans + offset_m * unit
        hits = renderer.cast_rays(origins, unit)
        return ~(hits["hit"] & (hits["t_hit"].astype(np.float64) < length - 2.0 * offset_m))

    return visible


def indirect_phasor(
    points: np.ndarray,
    normals: np.ndarray,
    albedo: np.ndarray,
    lit_fraction: np.ndarray,
    *,
    baseline_m: np.ndarray,
    power: float,
    receiver_sr: float,
    modulation_frequency_hz: float,
    contrast: float,
    visible: Visibility,
) -> tuple[np.ndarray, np.ndarray]:
    """One-bounce light from every lit spot onto every other spot, as iToF phasors.

    Args:
        points: (N, 3) float64 camera-frame surface point of each spot (its centre ray's hit), metres; NaN where
            the spot hits nothing (it then neither sends nor receives).
        normals: (N, 3) unit normals at `points`, facing the camera.
        albedo: (N,) albedo at `points`.
        lit_fraction: (N,) fraction ``n_j / R`` of the spot's power that lands on its surface (0 = unlit).
        baseline_m: (3,) projector position in the camera frame.
        power: the sensor's ``power`` (e- from a white surface facing the beam at 1 m, whole spot).
        receiver_sr: solid angle ``Omega`` integrated by each spot's measurement, steradians.
        modulation_frequency_hz, contrast: f and C of the iToF sensor.
        visible: segment visibility (`depth_map_visibility` or `renderer_visibility`).

    Returns:
        (phasor (N,) complex128 ``C * sum_j S_ij exp(i 2 pi f L_ij / c)``, signal_e (N,) float64 ``sum_j S_ij``).
    """
    n = len(points)
    phasor = np.zeros(n, dtype=np.complex128)
    signal = np.zeros(n, dtype=np.float64)
    ok = np.isfinite(points).all(axis=1)
    senders = np.flatnonzero(ok & (lit_fraction > 0) & (albedo > 0))
    receivers = np.flatnonzero(ok & (albedo > 0))
    if len(senders) == 0 or len(receivers) == 0 or receiver_sr <= 0:
        return phasor, signal
    q, nq = points[senders], normals[senders]
    weight_q = power * lit_fraction[senders] * albedo[senders]
    q_from_proj = np.linalg.norm(q - baseline_m, axis=1)
    k_phase = 2.0 * np.pi * modulation_frequency_hz / SPEED_OF_LIGHT_M_PER_S
    block = max(1, _PAIR_BLOCK // len(senders))
    for start in range(0, len(receivers), block):
        rec = receivers[start : start + block]
        p = points[rec]
        seg = p[:, None, :] - q[None, :, :]  # (r, s, 3): Q_j -> P_i
        d2 = np.einsum("rsk,rsk->rs", seg, seg)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos_q = np.einsum("rsk,sk->rs", seg, nq) / np.sqrt(d2)
            cos_p = -np.einsum("rsk,rk->rs", seg, normals[rec]) / np.sqrt(d2)
        pair = (cos_q > 0) & (cos_p > 0) & (d2 > 0) & (rec[:, None] != senders[None, :])
        ri, si = np.nonzero(pair)
        if len(ri) == 0:
            continue
        free = visible(q[si], p[ri])
        ri, si = ri[free], si[free]
        dd2 = d2[ri, si]
        s_ij = weight_q[si] * albedo[rec[ri]] * receiver_sr * cos_q[ri, si] * cos_p[ri, si] / (np.pi * dd2)
        r_p = np.linalg.norm(p[ri], axis=1)
        path = q_from_proj[si] + np.sqrt(dd2) + 2.0 * r_p - np.linalg.norm(p[ri] - baseline_m, axis=1)
        phase = k_phase * path
        re = np.bincount(ri, weights=s_ij * np.cos(phase), minlength=len(rec))
        im = np.bincount(ri, weights=s_ij * np.sin(phase), minlength=len(rec))
        phasor[rec] = contrast * (re + 1j * im)
        signal[rec] = np.bincount(ri, weights=s_ij, minlength=len(rec))
    return phasor, signal
