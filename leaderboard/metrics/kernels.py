"""Fused numba kernels: every per-pixel sum of one frame in two passes over the pixels.

`frame_sums` computes, per frame, what the NumPy path (`leaderboard.metrics.frame_numpy`) builds from a dozen
array passes: pixel validity, the missing-prediction policy, the depth caps, the Perona-Malik conduction weights
(float32, as in `mipi.conduction_weights`), the edge flags (as in `regions.edge_mask`), the depth-bin labels and
every error, threshold, region and RDS sum. Each arithmetic step is the NumPy path's, in the same dtype and
order (``fastmath`` is off), so the per-pixel terms are bit-identical; the sums differ only in summation order
(float64 row partials here, NumPy's pairwise sums there: ~1e-14 relative). One exception: ``exp`` of the float32
conduction argument comes from the C library, which rounds correctly where NumPy's SIMD ``exp`` is off by an ulp
in about a third of the cases, so EWMAE differs from the NumPy path by ~1e-8 relative.

The kernels hold no Python object, so they release the GIL (``nogil``): worker threads score frames in parallel.
Compiled code is cached on disk (``cache=True``, in ``__pycache__`` or numba's user cache), so only the very
first call of an installation pays the compilation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["STAT_KEYS", "STAT", "frame_sums", "valid_max", "POLICY_CODES"]

#: Entries of the float64 ``stats`` vector `frame_sums` fills (counts are exact in float64).
STAT_KEYS = (
    "n_valid",
    "n_missing",
    "n_scored",
    "sq",
    "abs",
    "isq",
    "iabs",
    "rel",
    "sqrel",
    "rmae_sum",
    "ew_num",
    "ew_den",
    "rds_sum",
    "rds_n",
    "c_0",
    "c_1",
    "c_2",
    "c_3",
    "c_4",
    "c_5",
)
#: key -> index into the ``stats`` vector.
STAT = {k: i for i, k in enumerate(STAT_KEYS)}
#: missing-prediction policy -> code the kernel understands (fill is penalise on an already filled prediction).
POLICY_CODES = {"penalise": 0, "fill": 0, "exclude": 1}

_N_THR = 6  # len(THRESHOLDS); the first threshold (1.25) is the one the regions count
# numba freezes module-level ints (not dicts): the float sums sq .. rds_sum are stats[_FIRST_SUM + _R_*]
_FIRST_SUM = 3
_N_SUMS = 10
_R_SQ, _R_ABS, _R_ISQ, _R_IABS, _R_REL, _R_SQREL, _R_RMAE, _R_EWN, _R_EWD, _R_RDS = range(_N_SUMS)
_C3, _C4, _C5, _C6, _C7 = 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0
_I_NVALID, _I_NMISSING, _I_NSCORED, _I_RDSN, _I_C0 = 0, 1, 2, 13, 14


@njit(cache=True, nogil=True, error_model="numpy")
def _is_valid(g, vmin, vmax, capped):
    # comparisons in the GT dtype, as NumPy compares a float32 array with a Python float (NEP 50)
    if capped:
        return g > vmin and g <= vmax
    return g > vmin and g < np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def valid_max(gt, vmin, vmax, capped):
    """Number of valid GT pixels and their maximum depth.

    Args:
        gt: (H, W) float32/float64 GT depth in metres.
        vmin: lower bound (exclusive) in the GT dtype: ``max(valid_min_m, min_depth_m)``.
        vmax: upper cap (inclusive) in the GT dtype; used when `capped`.
        capped: whether a maximum depth applies (else the bound is ``< inf``).

    Returns:
        ``(n_valid, gmax_m)``: int and float64 (NaN when no pixel is valid).
    """
    n = 0
    gmax = -np.inf
    for y in range(gt.shape[0]):
        for x in range(gt.shape[1]):
            g = gt[y, x]
            if _is_valid(g, vmin, vmax, capped):
                n += 1
                if g > gmax:
                    gmax = g
    if n == 0:
        return 0, np.nan
    return n, np.float64(gmax)


@njit(cache=True, nogil=True, error_model="numpy")
def exp_f32(x):
    """exp of a float32 `x` <= 0, correctly rounded to float32 (computed in float64, as `mipi.exp_f32`).

    Near 0 (where almost every pixel's argument lies) a degree-7 Taylor polynomial, relative error < 6e-15, so
    no library call spills the loop's registers; further out the C library's float64 ``exp``.
    """
    t = np.float64(x)
    if t < -0.0625:
        return np.float32(math.exp(t))
    p = 1.0 + t * (1.0 + t * (0.5 + t * (_C3 + t * (_C4 + t * (_C5 + t * (_C6 + t * _C7))))))
    return np.float32(p)


@njit(cache=True, nogil=True, error_model="numpy")
def _conduction(ra, rb, neg_inv_k2):
    # 1 - exp(-((rb - ra) / kappa)^2), float32 step by step like mipi.conduction_weights
    d = rb - ra
    d = d * d
    d = d * neg_inv_k2
    return np.float32(1.0) - exp_f32(d)


@njit(cache=True, nogil=True, error_model="numpy")
def frame_sums(
    pred_raw,
    pred_val,
    gt,
    spot,
    has_spot,
    sparse,
    has_sparse,
    vmin,
    vmax,
    capped,
    policy,
    clip,
    clip_lo,
    clip_hi,
    valid_min_m,
    inv_gmax,
    neg_inv_k2,
    rel_jump,
    bins_m,
    thresholds,
    stats,
    regions,
):
    """Every sum of one frame; `stats` and `regions` are filled (they must arrive zeroed).

    Args:
        pred_raw: (H, W) float32/float64 prediction in metres as given (decides which pixels are missing:
            not ``0 < p < inf``).
        pred_val: (H, W) the values to score: `pred_raw`, or its nearest-neighbour fill.
        gt: (H, W) float32/float64 GT depth in metres.
        spot: (H, W) bool spot mask when `has_spot` (else any 2-D bool array).
        sparse: (H, W) float32/float64 sparse input depth in metres when `has_sparse` (for RDS).
        vmin, vmax, capped: GT validity (see `valid_max`), in the GT dtype.
        policy: 0 = a missing prediction scores as 0 m (penalise, fill), 1 = it is not scored (exclude).
        clip: clip the predictions into ``[clip_lo, clip_hi]`` (prediction dtype) after the policy.
        valid_min_m: float64; predictions at or below it have inverse depth 0 (NLSPN).
        inv_gmax: float32 ``1 / max valid GT`` (0 when no pixel is valid).
        neg_inv_k2: float32 ``-1 / kappa^2`` of the conduction weights.
        rel_jump: float32 relative jump of an edge pixel.
        bins_m: (n_bins + 1,) float64 increasing bin edges in metres.
        thresholds: (6,) float64 delta thresholds, 1.25 first.
        stats: (len(STAT_KEYS),) float64 output, see `STAT_KEYS` (``c_i`` counts ``ratio < thresholds[i]``).
        regions: (n_bins + 2, 5) float64 output: the depth bins, then edge, then at-spot pixels; columns
            ``n, sq, abs, rel, c_d1`` (`regions.REGION_SUM_KEYS`) over scored pixels.
    """
    h, w = gt.shape
    n_bins = bins_m.size - 1
    eps = 1e-8
    # terms of the pair (y - 1, x)-(y, x) from the previous row: weight and edge flag
    up_w = np.zeros(w, np.float32)
    up_j = np.zeros(w, np.bool_)
    n_valid = 0
    n_missing = 0
    n_scored = 0
    rds_n = 0
    c0 = c1 = c2 = c3 = c4 = c5 = 0
    t0, t1, t2, t3, t4, t5 = thresholds[0], thresholds[1], thresholds[2], thresholds[3], thresholds[4], thresholds[5]
    tot = np.zeros(_N_SUMS, np.float64)
    for y in range(h):
        # float sums of one row in scalars (registers), added to the totals per row: little rounding, no
        # store-to-load chains through memory
        r_sq = r_abs = r_isq = r_iabs = r_rel = r_sqrel = r_rmae = r_ewn = r_ewd = r_rds = 0.0
        left_w = np.float32(0.0)
        left_j = False
        has_down = y + 1 < h
        for x in range(w):
            a = gt[y, x]
            va = _is_valid(a, vmin, vmax, capped)
            ra32 = np.float32(a * inv_gmax)
            a32 = np.float32(a)
            down_w = np.float32(0.0)
            down_j = False
            if has_down:
                b = gt[y + 1, x]
                if va and _is_valid(b, vmin, vmax, capped):
                    down_w = _conduction(ra32, np.float32(b * inv_gmax), neg_inv_k2)
                    b32 = np.float32(b)
                    down_j = abs(b32 - a32) > min(a32, b32) * rel_jump
            right_w = np.float32(0.0)
            right_j = False
            if x + 1 < w:
                c = gt[y, x + 1]
                if va and _is_valid(c, vmin, vmax, capped):
                    right_w = _conduction(ra32, np.float32(c * inv_gmax), neg_inv_k2)
                    c32 = np.float32(c)
                    right_j = abs(c32 - a32) > min(a32, c32) * rel_jump
            # the NumPy path adds the vertical pairs first (as upper, then as lower pixel), then the horizontal
            wsum = down_w + up_w[x]
            wsum = wsum + right_w
            wsum = wsum + left_w
            weight = np.float64(wsum * np.float32(0.25))
            edge = down_j or up_j[x] or right_j or left_j
            up_w[x] = down_w
            up_j[x] = down_j
            left_w = right_w
            left_j = right_j

            pr = pred_raw[y, x]
            ok = pr > 0 and pr < np.inf
            scored = va
            if va:
                n_valid += 1
                if not ok:
                    n_missing += 1
                    if policy == 1:
                        scored = False
            # float64 holds the prediction dtype's values exactly; the caps arrive rounded to that dtype
            v = np.float64(pred_val[y, x])
            if policy == 0 and not (v > 0 and v < np.inf):
                v = 0.0
            if clip:
                v = min(max(v, clip_lo), clip_hi)
            if has_sparse:
                s = np.float64(sparse[y, x])
                if s > 0 and s < np.inf and (policy == 0 or ok):
                    q = v
                    if not (q >= 0 and q < np.inf):
                        q = 0.0
                    r_rds += abs(q - s) / s
                    rds_n += 1
            if not scored:
                continue
            n_scored += 1
            p = v
            g = np.float64(a)
            d = p - g
            ad = abs(d)
            sq = d * d
            inv_p = 1.0 / (p + eps)
            if p <= valid_min_m:
                inv_p = 0.0
            inv_g = 1.0 / (g + eps)
            di = inv_p - inv_g
            rel = ad * inv_g
            r_sq += sq
            r_abs += ad
            r_isq += di * di
            r_iabs += abs(di)
            r_rel += rel
            r_sqrel += sq * inv_g
            r_rmae += ad / g
            r_ewn += weight * ad
            r_ewd += weight
            ratio = max(g / (p + eps), p * inv_g)
            c0 += ratio < t0
            c1 += ratio < t1
            c2 += ratio < t2
            c3 += ratio < t3
            c4 += ratio < t4
            c5 += ratio < t5
            hit = 1.0 if ratio < t0 else 0.0
            label = 0
            for k in range(n_bins + 1):
                label += g >= bins_m[k]
            if 1 <= label <= n_bins:
                _add_region(regions, label - 1, sq, ad, rel, hit)
            if edge:
                _add_region(regions, n_bins, sq, ad, rel, hit)
            if has_spot and spot[y, x]:
                _add_region(regions, n_bins + 1, sq, ad, rel, hit)
        tot[_R_SQ] += r_sq
        tot[_R_ABS] += r_abs
        tot[_R_ISQ] += r_isq
        tot[_R_IABS] += r_iabs
        tot[_R_REL] += r_rel
        tot[_R_SQREL] += r_sqrel
        tot[_R_RMAE] += r_rmae
        tot[_R_EWN] += r_ewn
        tot[_R_EWD] += r_ewd
        tot[_R_RDS] += r_rds
    stats[_FIRST_SUM : _FIRST_SUM + _N_SUMS] += tot
    stats[_I_NVALID] = n_valid
    stats[_I_NMISSING] = n_missing
    stats[_I_NSCORED] = n_scored
    stats[_I_RDSN] = rds_n
    for k, c in enumerate((c0, c1, c2, c3, c4, c5)):
        stats[_I_C0 + k] = c


@njit(cache=True, nogil=True, error_model="numpy")
def _add_region(regions, i, sq, ad, rel, hit):
    regions[i, 0] += 1.0
    regions[i, 1] += sq
    regions[i, 2] += ad
    regions[i, 3] += rel
    regions[i, 4] += hit
