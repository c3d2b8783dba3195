"""Per-pixel error terms and their row sums: errors, thresholds, EWMAE, RDS and the edge region."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CHUNK", "pixel_terms", "rds_term", "row_errors"]


@njit(cache=True, nogil=True, error_model="numpy")
def pixel_terms(a, pr, pv, va, pol0, clip_lo, clip_hi, valid_min_m):
    """Every per-pixel term of one pixel, exactly as the NumPy path computes it (no fastmath here).

    Args:
        a: GT (GT dtype); pr: prediction as given; pv: prediction to score (fill applied); va: GT valid.
        pol0: missing predictions score as 0 m (penalise, fill); else they are not scored (exclude).
        clip_lo, clip_hi: clip range in the prediction dtype (-inf, inf when not clipping).
        valid_min_m: predictions at or below it have inverse depth 0.

    Returns:
        ``(ok, missing, scored, v, ad, sq, isq, iabs, rel, sqrel, rmae, ratio)``: the flags (prediction
        present, valid GT without prediction, scored), the prediction as scored and the float64 terms
        (meaningless where not scored; the caller masks them with selects).
    """
    eps = 1e-8
    ok = (pr > 0) & (pr < np.inf)
    missing = va & ~ok
    scored = va & (pol0 | ok)
    # float64 holds the prediction dtype's values exactly; the caps arrive rounded to that dtype
    v = np.float64(pv)
    bad = ~((v > 0) & (v < np.inf))
    v = 0.0 if pol0 & bad else v
    v = min(max(v, clip_lo), clip_hi)  # identity for v not NaN when not clipping; NaN is never scored
    g = np.float64(a)
    d = v - g
    ad = abs(d)
    sq = d * d
    inv_p = 1.0 / (v + eps)
    inv_p = 0.0 if v <= valid_min_m else inv_p
    inv_g = 1.0 / (g + eps)
    di = inv_p - inv_g
    rel = ad * inv_g
    ratio = max(g / (v + eps), v * inv_g)
    return ok, missing, scored, v, ad, sq, di * di, abs(di), rel, sq * inv_g, ad / g, ratio


# `row_errors` counts in 12-bit fields of two int64 sums (one vector register each instead of ten), so it
# takes chunks of at most 4095 pixels
CHUNK = 4095
_F = 12


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def row_errors(
    gt_row,
    pr_row,
    pv_row,
    s_row,
    v_row,
    wt,
    edge,
    pol0,
    clip_lo,
    clip_hi,
    valid_min_m,
    thresholds,
    sq_b,
    ad_b,
    rel_b,
    code,
    acc,
    cnt,
):
    """Error, threshold, EWMAE, RDS and edge-region sums of (a piece of at most `CHUNK` pixels of) one row.

    ``reassoc`` lets LLVM keep each running sum as vector-lane partials (it changes the summation order, nothing
    else: the terms come from `pixel_terms` and `rds_term`, which have no fastmath flags).

    Args:
        gt_row, pr_row, pv_row: (W,) GT, prediction as given, prediction to score.
        s_row: (W,) sparse input depth (all 0 without one).
        v_row: (W,) bool GT validity; wt: (W,) float32 conduction weights G; edge: (W,) bool edge flags.
        pol0, clip_lo, clip_hi, valid_min_m: see `pixel_terms`.
        thresholds: (6,) float64 delta thresholds.
        sq_b, ad_b, rel_b: (W,) float64 written: squared, absolute, relative error (0 where not scored).
        code: (W,) uint8 written: 0 not scored, 1 scored, 3 scored with ratio < thresholds[0].
        acc: (13,) float64, sums added: sq, abs, isq, iabs, rel, sqrel, rmae, ew_num, ew_den, rds_sum, then
            the edge pixels' sq, abs, rel.
        cnt: (10,) int64, counts added: c_0 .. c_5, n_missing, rds_n, edge pixels, their d1 hits.

    W <= `CHUNK` (the counts' field width): the caller passes longer rows in pieces.
    """
    t0, t1, t2, t3, t4, t5 = thresholds[0], thresholds[1], thresholds[2], thresholds[3], thresholds[4], thresholds[5]
    s_sq = s_ad = s_isq = s_iabs = s_rel = s_sqrel = s_rmae = s_ewn = s_ewd = s_rds = 0.0
    e_sq = e_ad = e_rel = 0.0
    pack1 = np.int64(0)
    pack2 = np.int64(0)
    # indices from range(W) are provably >= 0, so numba's wraparound disappears and LLVM vectorises the loop
    for x in range(gt_row.size):
        ok, missing, scored, v, ad, sq, isq, iabs, rel, sqrel, rmae, ratio = pixel_terms(
            gt_row[x], pr_row[x], pv_row[x], v_row[x], pol0, clip_lo, clip_hi, valid_min_m
        )
        # masking the ratio once (rather than ANDing `scored` into every threshold flag) spares LLVM many
        # conversions between mask widths: ~10 % fewer instructions in the loop
        ad = ad if scored else 0.0
        sq = sq if scored else 0.0
        rel = rel if scored else 0.0
        ratio = ratio if scored else np.inf  # an unscored pixel meets no threshold
        hit = ratio < t0
        sq_b[x] = sq
        ad_b[x] = ad
        rel_b[x] = rel
        code[x] = scored + 2 * hit
        s_sq += sq
        s_ad += ad
        s_rel += rel
        s_isq += isq if scored else 0.0
        s_iabs += iabs if scored else 0.0
        s_sqrel += sqrel if scored else 0.0
        s_rmae += rmae if scored else 0.0
        g = np.float64(wt[x]) if scored else 0.0
        s_ewn += g * ad
        s_ewd += g
        use, rds = rds_term(s_row[x], v, pol0, ok)
        s_rds += rds if use else 0.0
        e = edge[x]  # the terms of unscored pixels are 0 already
        e_sq += sq if e else 0.0
        e_ad += ad if e else 0.0
        e_rel += rel if e else 0.0
        pack1 += (
            np.int64(hit)
            + (np.int64(ratio < t1) << _F)
            + (np.int64(ratio < t2) << 2 * _F)
            + (np.int64(ratio < t3) << 3 * _F)
            + (np.int64(ratio < t4) << 4 * _F)
        )
        pack2 += (
            np.int64(ratio < t5)
            + (np.int64(missing) << _F)
            + (np.int64(use) << 2 * _F)
            + (np.int64(e & scored) << 3 * _F)
            + (np.int64(e & hit) << 4 * _F)
        )
    for k in range(5):
        cnt[k] += (pack1 >> (k * _F)) & CHUNK
        cnt[5 + k] += (pack2 >> (k * _F)) & CHUNK
    acc[0] += s_sq
    acc[1] += s_ad
    acc[2] += s_isq
    acc[3] += s_iabs
    acc[4] += s_rel
    acc[5] += s_sqrel
    acc[6] += s_rmae
    acc[7] += s_ewn
    acc[8] += s_ewd
    acc[9] += s_rds
    acc[10] += e_sq
    acc[11] += e_ad
    acc[12] += e_rel


@njit(cache=True, nogil=True, error_model="numpy")
def rds_term(s_raw, v, pol0, ok):
    """Whether a pixel counts for RDS (a sparse input ``0 < s < inf`` and a scored prediction), and its term.

    `v` is the prediction as scored (`pixel_terms`); RDS sets a negative or non-finite one to 0
    (`mipi.rds_sums`). The term is meaningless where the pixel does not count.
    """
    s = np.float64(s_raw)
    use = (s > 0) & (s < np.inf) & (pol0 | ok)
    q = v if (v >= 0) & (v < np.inf) else 0.0
    return use, abs(q - s) / s
