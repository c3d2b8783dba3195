"""Temporal stability of a predicted depth sequence: MIPI's RTSD and a pose-warped variant.

- **RTSD** (MIPI 2022/2023 RGB+ToF challenge, "relative temporal standard deviation"): for the T frames of one
  sequence, ``RTSD = mean_u( std_t p_t(u) / mean_t p_t(u) )`` with the population standard deviation
  (``np.std``, ddof = 0) over time at each pixel u, then the plain mean over pixels. This is the formula of
  the challenge's scoring code (``RTSD(pred_deps) = mean(std(pred_deps, axis=0) / mean(pred_deps, axis=0))``),
  which applies it to *static* scenes (its ``iPhone_static`` sets, 25 frames each): without camera motion every
  change of a pixel is flicker. Here the pixels are those with a finite positive prediction in every frame (all
  pixels for a dense prediction, as in the challenge).
- **RTSD-warp** (this project's optical-flow-free variant for moving cameras): the previous prediction is
  forward-warped into the current frame with the known poses and intrinsics (`warp_depth`: back-project with K
  and the previous pose, transform, project, z-buffer: the nearest point wins), and each pair contributes, at the
  pixels where both the warped and the current prediction are valid, ``std{a, b} / mean{a, b} = |a - b| / (a + b)``
  with ``a`` the warped previous depth and ``b`` the current prediction: RTSD over a two-frame window after
  motion compensation. A sequence's value is the mean over all its pairs' valid pixels. For a static camera
  the warp is the identity.
"""

from __future__ import annotations

import math

import numpy as np

from leaderboard.errors import ShapeError
from leaderboard.metrics.catalog import METRIC_INFO

__all__ = ["rtsd", "warp_depth", "rtsd_warp_sums", "rtsd_warp"]


def _valid(depth_m: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth_m) & (depth_m > 0)


def rtsd(preds_m: np.ndarray) -> float:
    """MIPI RTSD of one sequence (see the module docstring); NaN when no pixel is valid in every frame.

    Args:
        preds_m: (T, H, W) predicted z-depth in metres of the frames in time order; 0, NaN or negative = invalid.

    Raises:
        ShapeError: not a (T, H, W) stack with T >= 2.
    """
    p = np.asarray(preds_m)
    if p.ndim != 3 or p.shape[0] < 2:
        raise ShapeError(f"preds_m: expected (T, H, W) with T >= 2 frames, got shape {p.shape}")
    use = _valid(p).all(axis=0)
    if not use.any():
        return math.nan
    x = p[:, use].astype(np.float64)
    return float(np.mean(np.std(x, axis=0) / np.mean(x, axis=0)))


rtsd.info = METRIC_INFO["rtsd"]  # type: ignore[attr-defined]


def warp_depth(
    depth_m: np.ndarray,
    K: np.ndarray,  # noqa: N803
    T_world_from_prev: np.ndarray,  # noqa: N803
    T_world_from_cur: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """Forward-warp a z-depth map from the previous camera into the current one (same intrinsics).

    Each valid pixel (u, v) is back-projected to ``X = z K^-1 [u, v, 1]``, moved by
    ``T_cur_from_prev = inv(T_world_from_cur) @ T_world_from_prev``, and projected to the nearest pixel of the
    current camera; where several land on one pixel the nearest (smallest z) wins.

    Args:
        depth_m: (H, W) z-depth in metres of the previous frame, 0 (or NaN) where invalid.
        K: (3, 3) pinhole intrinsics of both frames.
        T_world_from_prev, T_world_from_cur: (4, 4) camera-to-world poses, metres.

    Returns:
        (H, W) float64 z-depth in metres in the current camera, 0 where nothing lands.
    """
    d = np.asarray(depth_m, dtype=np.float64)
    h, w = d.shape
    K = np.asarray(K, dtype=np.float64)  # noqa: N806
    v, u = np.nonzero(_valid(d))
    z = d[v, u]
    x = (u - K[0, 2]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    T = np.linalg.inv(np.asarray(T_world_from_cur, np.float64)) @ np.asarray(T_world_from_prev, np.float64)  # noqa: N806
    pts = T[:3, :3] @ np.vstack([x, y, z]) + T[:3, 3:4]
    zc = pts[2]
    front = zc > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        uc = np.floor(K[0, 0] * pts[0] / zc + K[0, 2] + 0.5)
        vc = np.floor(K[1, 1] * pts[1] / zc + K[1, 2] + 0.5)
    keep = front & (uc >= 0) & (uc < w) & (vc >= 0) & (vc < h)
    flat = (vc[keep] * w + uc[keep]).astype(np.int64)
    out = np.full(h * w, np.inf)
    np.minimum.at(out, flat, zc[keep])  # z-buffer: the nearest surface wins
    out[~np.isfinite(out)] = 0.0
    return out.reshape(h, w)


def rtsd_warp_sums(
    pred_prev_m: np.ndarray,
    pred_cur_m: np.ndarray,
    K: np.ndarray,  # noqa: N803
    T_world_from_prev: np.ndarray,  # noqa: N803
    T_world_from_cur: np.ndarray,  # noqa: N803
) -> tuple[float, int]:
    """Sum of ``|a - b| / (a + b)`` over one pair's valid pixels, and their number (see the module docstring).

    Args:
        pred_prev_m, pred_cur_m: (H, W) predicted z-depth in metres of the previous and the current frame.
        K: (3, 3) intrinsics; T_world_from_prev, T_world_from_cur: (4, 4) camera-to-world poses.

    Raises:
        ShapeError: the two predictions differ in shape.
    """
    if np.shape(pred_prev_m) != np.shape(pred_cur_m):
        raise ShapeError(f"pred_prev_m {np.shape(pred_prev_m)} and pred_cur_m {np.shape(pred_cur_m)} differ in shape")
    a = warp_depth(pred_prev_m, K, T_world_from_prev, T_world_from_cur)
    b = np.asarray(pred_cur_m, dtype=np.float64)
    use = (a > 0) & _valid(b)
    return float(np.sum(np.abs(a[use] - b[use]) / (a[use] + b[use]))), int(use.sum())


def rtsd_warp(preds_m: np.ndarray, K: np.ndarray, poses: np.ndarray) -> float:  # noqa: N803
    """RTSD-warp of one sequence: pooled over every consecutive pair; NaN when no pixel overlaps.

    Args:
        preds_m: (T, H, W) predicted z-depth in metres, frames in time order.
        K: (3, 3) intrinsics (shared by the frames).
        poses: (T, 4, 4) camera-to-world poses.

    Raises:
        ShapeError: fewer than 2 frames, or a pose per frame missing.
    """
    p = np.asarray(preds_m)
    if p.ndim != 3 or p.shape[0] < 2 or np.shape(poses) != (p.shape[0], 4, 4):
        raise ShapeError(
            f"preds_m: expected (T, H, W) with T >= 2 and poses (T, 4, 4), got {p.shape} and {np.shape(poses)}"
        )
    total, n = 0.0, 0
    for t in range(1, p.shape[0]):
        s, c = rtsd_warp_sums(p[t - 1], p[t], K, poses[t - 1], poses[t])
        total, n = total + s, n + c
    return total / n if n else math.nan


rtsd_warp.info = METRIC_INFO["rtsd_warp"]  # type: ignore[attr-defined]
