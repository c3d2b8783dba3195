"""The fused scoring engine: one frame through the numba kernels of `leaderboard.metrics.kernels`.

Same inputs, same `FrameStats` as the NumPy engine (`frame_numpy`): equal counts, sums to ~1e-15 relative
(EWMAE's sums ~1e-8, up to ~1e-4 on smooth GT, where NumPy's float32 ``exp`` is the less accurate one: see
`kernels`). numba is imported on the first call, not with the package, so commands that do not score do not pay
for it.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from leaderboard.metrics.base import Workspace
from leaderboard.metrics.catalog import SUM_KEYS, THRESHOLDS
from leaderboard.metrics.frame_numpy import check_frame, fill_missing
from leaderboard.metrics.regions import REGION_SUM_KEYS
from leaderboard.metrics.rows import FrameStats, assemble
from leaderboard.metrics.thresholds import THRESHOLD_SUM_KEYS
from leaderboard.protocol import Protocol

__all__ = ["frame_stats_fused", "kernels_available"]

_NO_SPOTS = np.zeros((1, 1), bool)
_NO_SPARSE = np.zeros((1, 1), np.float32)
_THRESHOLDS = np.array(list(THRESHOLDS.values()), np.float64)
assert next(iter(THRESHOLDS)) == "d1", "the kernel counts the regions' hits with the first threshold"
#: Where the kernels' stats row keeps each declared sum (the kernel numbers its threshold counts ``c_0 ...``).
_STAT_NAME = {"n": "n_scored", **{key: f"c_{i}" for i, key in enumerate(THRESHOLD_SUM_KEYS)}}


@cache
def _sum_stat() -> tuple[tuple[str, int], ...]:
    """(sum key, index in the kernels' stats row) for every declared sum; a sum no kernel makes is an error."""
    stat = _kernels().STAT
    missing = [key for key in SUM_KEYS if _STAT_NAME.get(key, key) not in stat]
    if missing:
        raise ImportError(f"the fused kernels do not compute the declared sums {missing}")
    return tuple((key, stat[_STAT_NAME.get(key, key)]) for key in SUM_KEYS)


@cache
def _kernels():
    from leaderboard.metrics import kernels

    return kernels


@cache
def kernels_available() -> bool:
    """Whether numba imports (the fused engine can run)."""
    try:
        _kernels()
    except ImportError:
        return False
    return True


def _floats(a: np.ndarray) -> np.ndarray:
    """C-contiguous float32 or float64 (other dtypes become float64): a few kernel specialisations only."""
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


def _in_dtype(value: float, dtype: np.dtype) -> float:
    """`value` rounded to `dtype`: NumPy compares a float32 array with a Python float in float32 (NEP 50)."""
    return float(dtype.type(value))


def frame_stats_fused(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    protocol: Protocol,
    spot_mask: np.ndarray | None = None,
    sparse_m: np.ndarray | None = None,
    work: Workspace | None = None,
) -> FrameStats:
    """Score one frame with the full metric set in two fused passes (see `accumulate.frame_stats`).

    `work` is accepted for a uniform signature; the kernels keep their few row buffers themselves.
    """
    check_frame(pred_m, gt_m, spot_mask, sparse_m)
    k = _kernels()
    pr = protocol
    gt = _floats(gt_m)
    pred = _floats(pred_m)
    capped = pr.max_depth_m is not None
    vmin = _in_dtype(max(pr.valid_min_m, pr.min_depth_m), gt.dtype)
    # without a cap, ``g <= largest finite value`` is ``g < inf``: one comparison for both cases
    vmax = _in_dtype(pr.max_depth_m, gt.dtype) if capped else float(np.finfo(gt.dtype).max)
    n_valid, gmax = k.valid_max(gt, vmin, vmax)

    pred_val = pred
    if pr.missing == "fill":
        with np.errstate(invalid="ignore"):
            missing = ~((pred > 0) & (pred < np.inf))
        if missing.any():
            pred_val = fill_missing(pred, missing)
    clip_lo = _in_dtype(pr.min_depth_m, pred.dtype)
    clip_hi = _in_dtype(pr.max_depth_m, pred.dtype) if capped else math.inf
    spots = _NO_SPOTS if spot_mask is None else np.ascontiguousarray(spot_mask, dtype=bool)
    sparse = _NO_SPARSE if sparse_m is None else _floats(sparse_m)
    n_bins = len(pr.bins_m) - 1
    stats = np.zeros(len(k.STAT_KEYS), np.float64)
    regions = np.zeros((n_bins + 2, len(REGION_SUM_KEYS)), np.float64)
    k.frame_sums(
        pred,
        pred_val,
        gt,
        spots,
        spot_mask is not None,
        sparse,
        sparse_m is not None,
        vmin,
        vmax,
        k.POLICY_CODES[pr.missing],
        bool(pr.clip_pred_to_caps),
        clip_lo,
        clip_hi,
        float(pr.valid_min_m),
        np.float32(1.0 / gmax) if n_valid else np.float32(0.0),
        -np.float32(1.0 / (pr.ewmae_kappa * pr.ewmae_kappa)),
        np.float32(pr.edge_rel_jump),
        np.asarray(pr.bins_m, np.float64),
        _THRESHOLDS,
        stats,
        regions,
    )
    n_scored = int(stats[k.STAT["n_scored"]])
    sums = {key: float(stats[i]) for key, i in _sum_stat()}
    if n_scored:
        sums["ew_num"] /= gmax
    return assemble(
        int(n_valid),
        n_scored,
        int(stats[k.STAT["n_missing"]]),
        sums,
        regions[:n_bins].copy(),
        regions[n_bins].copy(),
        regions[n_bins + 1].copy() if spot_mask is not None else None,
    )
