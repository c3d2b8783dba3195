"""MIPI 2022 RGB+ToF depth completion metrics: RMAE, edge-weighted EWMAE and RDS (fidelity at the input spots).

Definitions follow the challenge's scoring code:

- RMAE = mean(|p - g| / g) over valid GT (a fraction; like REL without NLSPN's 1e-8 guard).
- EWMAE = sum(G |p - g|) / (max(g) sum(G)): the absolute error weighted by the Perona-Malik "edginess"
  G = 1 - mean of exp(-(grad/kappa)^2) over the 4 neighbours of the GT normalised by its maximum
  (kappa = 0.5), so errors at depth edges weigh most. A unit-less fraction of the frame's maximum depth.
  The challenge's GT was dense; here gradients towards an invalid GT pixel are 0 and the sums run over the
  scored pixels, which is identical when every GT pixel is valid. The conduction weights are float32 (as in
  the challenge's code); the error sums are float64.
- RDS = mean(|p - s| / s) over the input spots s > 0 (how far the output drifts from the measurements).
- MIPI score without RTSD = 1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS (column ``mipi_score_no_rtsd``). The challenge's
  full score also subtracts its temporal-stability term RTSD, which needs video sequences; it is left out, so
  this is not the challenge's full score.
"""

from __future__ import annotations

import math

import numpy as np

from leaderboard.errors import ShapeError
from leaderboard.metrics.base import NLSPN_T_VALID_M, Workspace, prepare, scratch
from leaderboard.metrics.catalog import mipi_score, register_metric

__all__ = ["conduction_weights", "ewmae", "rmae", "rds", "rds_sums", "mipi_score"]


def conduction_weights(
    gt_m: np.ndarray,
    valid: np.ndarray,
    *,
    kappa: float = 0.5,
    work: Workspace | None = None,
    gmax_m: float | None = None,
) -> tuple[np.ndarray, float]:
    """Perona-Malik edge weights G of the GT depth (MIPI 2022 EWMAE).

    Args:
        gt_m: (H, W) GT depth in metres.
        valid: (H, W) bool, valid GT pixels (gradients to invalid neighbours are 0).
        kappa: conduction constant on depth / max depth.
        work: optional scratch buffers (the result is a view into them until the next call).
        gmax_m: the maximum valid GT depth when the caller knows it already.

    Returns:
        ``(G, gmax_m)``: (H, W) float32 weights in [0, 1) and the maximum valid GT depth (NaN if none).
    """
    h, w = gt_m.shape
    weights = scratch(work, "G", (h, w), np.float32)
    weights.fill(0.0)
    if not valid.any():
        return weights, math.nan
    gmax = float(gt_m[valid].max()) if gmax_m is None else float(gmax_m)
    r = np.multiply(gt_m, np.float32(1.0 / gmax), out=scratch(work, "G_r", (h, w), np.float32), casting="unsafe")
    inv_k2 = np.float32(1.0 / (kappa * kappa))
    for axis, shape in ((0, (h - 1, w)), (1, (h, w - 1))):
        lo = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        hi = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        with np.errstate(invalid="ignore"):  # inf - inf at invalid GT; zeroed just below
            g = np.subtract(r[hi], r[lo], out=scratch(work, f"G_g{axis}", shape, np.float32))
        invalid_pair = np.logical_and(valid[hi], valid[lo], out=scratch(work, f"G_b{axis}", shape, bool))
        np.logical_not(invalid_pair, out=invalid_pair)
        np.putmask(g, invalid_pair, 0.0)  # not g *= valid: NaN or inf GT would give NaN
        np.square(g, out=g)
        g *= -inv_k2
        np.exp(g, out=g)
        np.subtract(np.float32(1.0), g, out=g)  # 1 - conduction, 0 on flat ground
        weights[lo] += g
        weights[hi] += g
    weights *= np.float32(0.25)
    return weights, gmax


@register_metric("rmae")
def rmae(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """RMAE (MIPI 2022) of one image, a fraction."""
    p, g = prepare(pred_m, gt_m, valid, valid_min_m=valid_min_m)
    return float(np.mean(np.abs(p - g) / g)) if p.size else math.nan


@register_metric("ewmae")
def ewmae(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M, kappa: float = 0.5) -> float:
    """EWMAE (MIPI 2022) of one image: a fraction of the maximum GT depth; NaN when the GT is flat everywhere."""
    gt_m = np.asarray(gt_m)
    if valid is None:
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(gt_m) & (gt_m > valid_min_m)
    p, g = prepare(pred_m, gt_m, valid, valid_min_m=valid_min_m)
    weights, gmax = conduction_weights(gt_m, valid, kappa=kappa)
    w = weights[valid].astype(np.float64)
    den = w.sum()
    return float(np.dot(w, np.abs(p - g)) / (gmax * den)) if den > 0 else math.nan


def rds_sums(pred_m: np.ndarray, sparse_m: np.ndarray, use: np.ndarray | None = None) -> tuple[float, int]:
    """Sum of |p - s| / s over the spots ``sparse_m > 0`` (and `use`), and their number."""
    with np.errstate(invalid="ignore"):
        spots = np.isfinite(sparse_m) & (sparse_m > 0)
    if use is not None:
        spots &= use
    s = sparse_m[spots].astype(np.float64)
    p = pred_m[spots].astype(np.float64)
    p[~np.isfinite(p) | (p < 0)] = 0.0
    return float(np.sum(np.abs(p - s) / s)), int(s.size)


@register_metric("rds")
def rds(pred_m, sparse_m) -> float:
    """RDS (MIPI 2022): mean |p - s| / s over the input spots s > 0 of one image; NaN without spots.

    Args:
        pred_m: (H, W) predicted depth in metres.
        sparse_m: (H, W) sparse input depth in metres, 0 where no spot.

    Raises:
        ShapeError: if the shapes differ.
    """
    if np.shape(pred_m) != np.shape(sparse_m):
        raise ShapeError(f"pred_m has shape {np.shape(pred_m)} but sparse_m has shape {np.shape(sparse_m)}")
    total, n = rds_sums(np.asarray(pred_m), np.asarray(sparse_m))
    return total / n if n else math.nan
