"""Training-time sensor holes: spots that return nothing where a real RGB-D or ToF sensor returns nothing.

A converted real frame loses spots wherever its depth camera has a hole: the shadow beside a depth edge (the
projector and the camera see different things), and patches of dark, shiny or transparent material (7-Scenes
kitchen: 7 % of spots NO_HIT, against 1-5 % in generated rooms, mostly through windows). `drop_spots` turns a
random share of a training sample's measured spots into NO_HIT, half in patches and half weighted towards depth
edges, so the network learns to fill the gaps they leave. The ground truth stays dense: the network is told the
right answer under the hole (the scores of a real frame skip its invalid pixels anyway).

A converted real frame is also dimmer to the sensor than a generated one: its NIR albedo comes from the RGB
(`tofsim.sources.albedo`), and real rooms are darker than the procedural materials. The valid spots of three real
validation frames return a median 350-720 e- against ~2,000 e- in generated rooms, and 7-32 % of their spots are
DROPOUT (too little signal) against 1-3 %. `dim_spots` dims a sample's spots by a random gain, as if its surfaces
were darker: the spots that fall below the detection edge become DROPOUT and the others get the extra noise of a
weaker return.

numpy only, runs in data-loading workers.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from tofsim.frame import SpotStatus, spot_pixels

__all__ = ["dim_spots", "drop_spots"]

#: Mean number of spots per hole patch (a dark monitor or a window pane at the sds spot pitch).
_PATCH_SPOTS = 6.0


def _edge_weight(depth_m: np.ndarray, row: np.ndarray, col: np.ndarray, radius_px: int = 4) -> np.ndarray:
    """Relative depth range of the ground truth in a (2r+1)^2 window around each spot: ~0 on a plane, ~1 at an edge."""
    h, w = depth_m.shape
    lo = np.full(len(row), np.inf)
    hi = np.zeros(len(row))
    for dy in (-radius_px, 0, radius_px):
        for dx in (-radius_px, 0, radius_px):
            z = depth_m[np.clip(row + dy, 0, h - 1), np.clip(col + dx, 0, w - 1)]
            ok = z > 0
            lo = np.where(ok, np.minimum(lo, z), lo)
            hi = np.where(ok, np.maximum(hi, z), hi)
    rel = np.where(np.isfinite(lo) & (lo > 0), (hi - lo) / np.maximum(lo, 1e-6), 0.0)
    return np.clip(rel / 0.1, 0.0, 1.0)  # a 10 % jump counts as a full edge


def drop_spots(
    sparse_m: np.ndarray,
    mask: np.ndarray,
    spots: np.ndarray,
    depth_m: np.ndarray,
    *,
    max_fraction: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn a random share (uniform in [0, max_fraction]) of the measured spots into NO_HIT.

    Half of the dropped spots come in patches (a seed spot and its nearest neighbours), half one by one with a
    probability that grows with the ground truth's depth range around the spot (sensor shadows sit on edges).

    Args:
        sparse_m: (H, W) float32 measured z-depth at spot pixels, 0 elsewhere.
        mask: (H, W) bool, True at measured spots.
        spots: the sample's spot table (`tofsim.frame.SPOT_DTYPE`; needs u, v, status).
        depth_m: (H, W) float32 ground-truth z-depth (0 invalid), for the edge weighting only.
        max_fraction: largest share of the measured spots to drop, in [0, 1].
        rng: the sample's generator.

    Returns:
        (sparse_m, mask, spots): new arrays; dropped spots have status NO_HIT, zero measurements, and their
        pixel is 0 / False. Spots outside the image or not measured are untouched.
    """
    shape_hw = np.shape(mask)
    row, col, inside = spot_pixels(spots, shape_hw)
    measured = np.isin(spots["status"], (SpotStatus.VALID, SpotStatus.MIXED)) & inside
    measured &= np.asarray(mask)[row, col]
    candidates = np.flatnonzero(measured)
    n_drop = int(round(rng.uniform(0.0, max_fraction) * len(candidates)))
    if n_drop == 0:
        return sparse_m, mask, spots
    drop = np.zeros(len(spots), dtype=bool)
    # patches: seed spots, each taking its k nearest measured neighbours
    tree = cKDTree(np.c_[row[candidates], col[candidates]])
    n_patch = n_drop // 2
    while drop.sum() < n_patch:
        seed = candidates[rng.integers(len(candidates))]
        k = min(len(candidates), 1 + int(rng.poisson(_PATCH_SPOTS - 1)))
        _, nearest = tree.query([row[seed], col[seed]], k=k)
        drop[candidates[np.atleast_1d(nearest)[: n_patch - int(drop.sum())]]] = True
    # single spots, weighted towards depth edges (plus a floor so flat rooms lose some too)
    rest = candidates[~drop[candidates]]
    n_single = min(n_drop - int(drop.sum()), len(rest))
    if n_single > 0:
        weight = 0.1 + _edge_weight(np.asarray(depth_m, dtype=np.float64), row[rest], col[rest])
        drop[rng.choice(rest, size=n_single, replace=False, p=weight / weight.sum())] = True
    spots = spots.copy()
    spots["status"][drop] = SpotStatus.NO_HIT
    for name in ("range_m", "z_m", "amplitude", "sigma_m"):
        if name in spots.dtype.names:
            spots[name][drop] = 0.0
    sparse_m = np.array(sparse_m, dtype=np.float32, copy=True)
    mask = np.array(mask, dtype=bool, copy=True)
    sparse_m[row[drop], col[drop]] = 0.0
    mask[row[drop], col[drop]] = False
    return sparse_m, mask, spots


def dim_spots(
    sparse_m: np.ndarray,
    mask: np.ndarray,
    spots: np.ndarray,
    *,
    gain: float,
    floor_e: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dim the measured spots by ``gain``: weak ones become DROPOUT, the rest get the noise of a weaker return.

    A spot's signal scales with its surface's albedo, so a darker room returns ``gain * amplitude`` (times a 10 %
    log-normal jitter: the measured amplitude is itself noisy). Spots whose dimmed amplitude falls below
    ``floor_e`` (the sensor's detection edge) are reported DROPOUT. The survivors' range noise grows as for a
    shot-noise-limited return, sigma / sqrt(gain): their z-depth gets extra Gaussian noise of standard deviation
    ``sigma_m * sqrt(1 / gain - 1) * z / range`` (the spot's own sigma, from its table).

    Args:
        sparse_m: (H, W) float32 measured z-depth at spot pixels, 0 elsewhere.
        mask: (H, W) bool, True at measured spots.
        spots: the sample's spot table (`tofsim.frame.SPOT_DTYPE`; needs u, v, status, amplitude, z_m, range_m,
            sigma_m).
        gain: signal factor in (0, 1]; 1 changes nothing.
        floor_e: smallest amplitude (photo-electrons) a detected spot has; the sds preset's valid spots never
            fall below 82-88 e- (detection threshold 6 x noise).
        rng: the sample's generator.

    Returns:
        (sparse_m, mask, spots): new arrays; dimmed-out spots have status DROPOUT, zero measurements and an empty
        pixel; the other measured spots carry their noisier z-depth, range, sigma and dimmed amplitude.
    """
    if not 0.0 < gain <= 1.0:
        raise ValueError(f"gain must be in (0, 1], got {gain}")
    shape_hw = np.shape(mask)
    row, col, inside = spot_pixels(spots, shape_hw)
    measured = np.isin(spots["status"], (SpotStatus.VALID, SpotStatus.MIXED)) & inside
    measured &= np.asarray(mask)[row, col]
    if gain == 1.0 or not measured.any():
        return sparse_m, mask, spots
    amp = spots["amplitude"].astype(np.float64) * gain * np.exp(0.1 * rng.standard_normal(len(spots)))
    out = measured & (amp < floor_e)
    keep = measured & ~out
    spots = spots.copy()
    sparse_m = np.array(sparse_m, dtype=np.float32, copy=True)
    mask = np.array(mask, dtype=bool, copy=True)
    # survivors: the extra noise of a weaker return (range noise ~ 1 / sqrt(signal))
    extra_m = spots["sigma_m"][keep].astype(np.float64) * np.sqrt(1.0 / gain - 1.0)
    z_m = spots["z_m"][keep].astype(np.float64)
    range_m = spots["range_m"][keep].astype(np.float64)
    range_m = np.where(range_m > 0, range_m, z_m)  # a table without ranges: treat the ray as on-axis
    step_m = extra_m * rng.standard_normal(int(keep.sum()))
    new_range = np.maximum(range_m + step_m, 1e-3)
    new_z = z_m * new_range / np.maximum(range_m, 1e-6)  # along the ray: z / range stays
    spots["range_m"][keep] = new_range
    spots["z_m"][keep] = new_z
    spots["sigma_m"][keep] = spots["sigma_m"][keep] / np.sqrt(gain)
    spots["amplitude"][keep] = amp[keep]
    sparse_m[row[keep], col[keep]] = new_z
    # the dimmed-out spots: too little signal
    spots["status"][out] = SpotStatus.DROPOUT
    for name in ("range_m", "z_m", "amplitude", "sigma_m"):
        spots[name][out] = 0.0
    sparse_m[row[out], col[out]] = 0.0
    mask[row[out], col[out]] = False
    return sparse_m, mask, spots
