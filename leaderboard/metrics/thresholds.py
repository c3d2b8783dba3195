"""Threshold accuracies: the fraction of pixels with max(p/g, g/p) below a threshold (higher is better).

NLSPN's ratio is ``max(g / (p + 1e-8), p / (g + 1e-8))`` and counts ``ratio < t`` (strict), so a zero
prediction always fails. ``d1, d2, d3`` use 1.25, 1.25^2, 1.25^3 (NLSPN, KITTI); ``d102, d105, d110`` use the
tighter 1.02, 1.05, 1.10 that indoor ToF completion needs.
"""

from __future__ import annotations

import math

import numpy as np

from leaderboard.metrics.base import EPS, NLSPN_T_VALID_M, Workspace, prepare, scratch
from leaderboard.metrics.catalog import THRESHOLDS, register_metric

__all__ = ["THRESHOLDS", "THRESHOLD_SUM_KEYS", "delta_ratio", "threshold_counts"]

#: The count sums, one per threshold (``c_d1`` ...).
THRESHOLD_SUM_KEYS = tuple(f"c_{k}" for k in THRESHOLDS)


def delta_ratio(
    p: np.ndarray, g: np.ndarray, inv_g: np.ndarray | None = None, *, work: Workspace | None = None
) -> np.ndarray:
    """NLSPN's ratio max(g / (p + 1e-8), p / (g + 1e-8)) of (N,) float64 arrays.

    ``inv_g`` may pass a precomputed ``1 / (g + 1e-8)``; ``work`` optional scratch buffers.
    """
    if inv_g is None:
        inv_g = 1.0 / (g + EPS)
    r1 = np.add(p, EPS, out=scratch(work, "ratio", p.size))
    np.divide(g, r1, out=r1)
    r2 = np.multiply(p, inv_g, out=scratch(work, "ratio2", p.size))
    return np.maximum(r1, r2, out=r1)


def threshold_counts(ratio: np.ndarray) -> dict[str, int]:
    """Number of pixels with ``ratio < t`` for every threshold (keys `THRESHOLD_SUM_KEYS`)."""
    return {f"c_{k}": int(np.count_nonzero(ratio < t)) for k, t in THRESHOLDS.items()}


def _make(name: str, t: float):
    def fn(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
        p, g = prepare(pred_m, gt_m, valid, valid_min_m=valid_min_m)
        if p.size == 0:
            return math.nan
        return float(np.count_nonzero(delta_ratio(p, g) < t)) / p.size

    fn.__name__ = name
    fn.__doc__ = f"Fraction of scored pixels with max(p/g, g/p) < {t:g} (one image)."
    return register_metric(name)(fn)


d1 = _make("d1", THRESHOLDS["d1"])
d2 = _make("d2", THRESHOLDS["d2"])
d3 = _make("d3", THRESHOLDS["d3"])
d102 = _make("d102", THRESHOLDS["d102"])
d105 = _make("d105", THRESHOLDS["d105"])
d110 = _make("d110", THRESHOLDS["d110"])
