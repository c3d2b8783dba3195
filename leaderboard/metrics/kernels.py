"""Fused numba kernels: every per-pixel sum of one frame, row by row, in loops that LLVM vectorises.

`frame_sums` computes, per frame, what the NumPy path (`leaderboard.metrics.frame_numpy`) builds from a dozen
array passes: pixel validity, the missing-prediction policy, the depth caps, the Perona-Malik conduction weights
(float32, as in `mipi.conduction_weights`), the edge flags (as in `regions.edge_mask`), the depth-bin labels and
every error, threshold, region and RDS sum. One long branchy loop per pixel cannot be vectorised (it took
~45 ns per pixel); each row goes through three short loops instead (~17 ns per pixel together):

1. `_row_weights`: conduction weights and edge flags of the row's pixel pairs, branch-free (selects, not
   branches, and an ``exp`` without a library call), vectorised (AVX2: 8 float32 / 4 float64 lanes).
2. `_row_errors`: every error, threshold, EWMAE and RDS term, the edge region, and their sums, branch-free:
   pixels that do not count add 0 through selects. Only this loop is compiled with ``fastmath={"reassoc"}``,
   which lets LLVM keep each running sum as vector-lane partials; the terms themselves come from
   `_pixel_terms` and `_rds_term`, compiled without fastmath (inlining keeps each instruction's own flags),
   so the NaN/inf checks and every rounding are exact. It stores the terms the regions need in row buffers.
3. `_row_regions`: a scalar pass over those buffers for the depth bins (a scatter by label does not
   vectorise: a running sum per run of equal labels) and the spot pixels.

Exactness: every per-pixel term is the NumPy path's, in the same dtype and order, so every count (valid,
missing, scored, threshold hits, region pixels and hits, RDS spots) is exact and the float sums differ only in
summation order (vector-lane partials per row here, NumPy's pairwise sums there: ~1e-15 relative; the tests
allow 1e-12). One exception: ``exp`` of the float32 conduction argument is computed in float64 and rounded once
(`exp_f32`, correctly rounded but within ~1e-16 of a rounding tie), while NumPy's SIMD float32 ``exp`` is off by
an ulp in about 45 % of the cases. Where the GT is nearly flat, ``1 - exp(t)`` cancels and those ulps are
relative errors of the weight, so EWMAE's sums differ from the NumPy path's by ~1e-8 on typical frames and up
to ~1e-4 on smooth GT (a capped slanted wall); the tests compare them with a correctly rounded reference.

The kernels hold no Python object, so they release the GIL (``nogil``): worker threads score frames in parallel.
Compiled code is cached on disk (``cache=True``, in ``__pycache__`` or numba's user cache), so only the very
first call of an installation pays the compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["STAT_KEYS", "STAT", "frame_sums", "valid_max", "exp_f32", "POLICY_CODES"]

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
# numba freezes module-level ints (not dicts): indices into `stats`
_I_NVALID, _I_NMISSING, _I_NSCORED = 0, 1, 2
_I_SQ, _I_ABS, _I_ISQ, _I_IABS, _I_REL, _I_SQREL, _I_RMAE, _I_EWN, _I_EWD, _I_RDS, _I_RDSN, _I_C0 = range(3, 15)

# exp: Cody-Waite reduction t = k ln2 + r (ln2 split so that k * _LN2_HI is exact), Taylor polynomial of degree
# 12 on |r| <= ln2 / 2 (truncation < 2e-16 relative), scaled by 2^k through the exponent bits
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -120.0  # exp(-120) rounds to 0 in float32; 2^k stays a normal float64
_E = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(13))
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12 = _E[2:]


#: Each type and the type of the same width whose IEEE-754 bits `_bitcast` reads it as.
_BITCAST_TYPE = {
    types.int32: types.float32,
    types.float32: types.int32,
    types.int64: types.float64,
    types.float64: types.int64,
}


@intrinsic
def _bitcast(typingctx, x):
    """The same bits read as the other type of its width: int32 <-> float32, int64 <-> float64 (vectorises)."""
    target = _BITCAST_TYPE.get(x)
    if target is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(x), codegen


# ``contract`` (FMA) only changes the rounding of float64 intermediates, ~1e-16: the float32 result is the same
@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def exp_f32(x):
    """Exp of a float32 `x` <= 0 (or NaN), rounded once to float32 from a float64 result accurate to ~3e-16.

    Branch-free and without a library call, so loops over it vectorise. Arguments below -120 (and NaN, which
    only occurs in lanes the callers discard) give 0, which is also float32's rounding of exp(-120).
    """
    t = np.float64(x)
    t = t if t > _EXP_MIN else _EXP_MIN  # also maps NaN, so the integer conversion below is always defined
    k = np.floor(t * _LOG2E + 0.5)
    r = (t - k * _LN2_HI) - k * _LN2_LO
    p = _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _bitcast((np.int64(np.int32(k)) + 1023) << 52)  # via int32: AVX2 converts 4 at once
    return np.float32(p * scale)


@njit(cache=True, nogil=True, error_model="numpy")
def valid_max(gt, vmin, vmax):
    """Number of valid GT pixels and their maximum depth.

    Args:
        gt: (H, W) float32/float64 GT depth in metres.
        vmin: lower bound (exclusive), a value of the GT dtype, >= 0: ``max(valid_min_m, min_depth_m)``.
        vmax: upper bound (inclusive), a value of the GT dtype: the depth cap, or the dtype's largest finite
            value when there is no cap (then ``g <= vmax`` is ``g < inf``).

    Returns:
        ``(n_valid, gmax_m)``: int and float64 (NaN when no pixel is valid).
    """
    n = 0
    # valid depths are > vmin >= 0, and positive floats order like their bit patterns as integers: an integer
    # maximum vectorises, a float one (NaN semantics) does not
    zero = _bitcast(np.zeros(1, gt.dtype)[0])
    top = zero
    for y in range(gt.shape[0]):
        row = gt[y]
        for x in range(row.size):
            g = row[x]
            ok = (np.float64(g) > vmin) & (np.float64(g) <= vmax)  # False for NaN
            n += ok
            top = max(top, _bitcast(g) if ok else zero)
    if n == 0:
        return 0, np.nan
    return n, np.float64(_bitcast(top))


@njit(cache=True, nogil=True, error_model="numpy")
def _pair(a, b, va, vb, inv_gmax, neg_inv_k2, rel_jump):
    """Conduction weight (float32) and edge flag of the neighbouring GT pixels `a`, `b` (0 / False unless both valid).

    Float32 step by step like `mipi.conduction_weights` (``1 - exp(-((rb - ra) / kappa)^2)`` on depth / max
    depth) and `regions.edge_mask` (``|b - a| > min(a, b) * rel_jump``).
    """
    ra = np.float32(a * inv_gmax)
    rb = np.float32(b * inv_gmax)
    d = rb - ra
    d = d * d
    d = d * neg_inv_k2
    wgt = np.float32(1.0) - exp_f32(d)
    a32 = np.float32(a)
    b32 = np.float32(b)
    jump = abs(b32 - a32) > min(a32, b32) * rel_jump
    both = va & vb
    return (wgt if both else np.float32(0.0)), jump & both


@njit(cache=True, nogil=True, error_model="numpy")
def _row_weights(g0, g1, v0, v1, up_w, up_j, dn_w, dn_j, h_w, h_j, wt, edge, inv_gmax, neg_inv_k2, rel_jump):
    """Conduction weights and edge flags of one row (vectorised loops).

    Args:
        g0, g1: (W,) GT of this row and of the next one (g1 is ignored where `v1` is False).
        v0, v1: (W,) bool validity of the two rows (`v1` all False for the last row).
        up_w, up_j: (W,) float32 weight and bool flag of the pairs with the row above (0 / False on row 0).
        dn_w, dn_j: (W,) written: the same for the pairs with the next row.
        h_w, h_j: (W + 1,) scratch: the pair (x, x + 1) goes to index x + 1, so both ends hold 0 / False.
        wt: (W,) float32 written: G = (sum of the four pairs' weights) / 4, summed in `conduction_weights`'
            order (as upper pixel, as lower pixel, as left pixel, as right pixel).
        edge: (W,) bool written: a jump to any valid 4-neighbour.
    """
    w = g0.size
    for x in range(w):
        dn_w[x], dn_j[x] = _pair(g0[x], g1[x], v0[x], v1[x], inv_gmax, neg_inv_k2, rel_jump)
    for x in range(w - 1):
        h_w[x + 1], h_j[x + 1] = _pair(g0[x], g0[x + 1], v0[x], v0[x + 1], inv_gmax, neg_inv_k2, rel_jump)
    quarter = np.float32(0.25)
    for x in range(w):
        s = dn_w[x] + up_w[x]
        s = s + h_w[x + 1]
        s = s + h_w[x]
        wt[x] = s * quarter
        edge[x] = dn_j[x] | up_j[x] | h_j[x + 1] | h_j[x]


@njit(cache=True, nogil=True, error_model="numpy")
def _pixel_terms(a, pr, pv, va, pol0, clip_lo, clip_hi, valid_min_m):
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


# `_row_errors` counts in 12-bit fields of two int64 sums (one vector register each instead of ten), so it
# takes chunks of at most 4095 pixels
_CHUNK = 4095
_F = 12


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_errors(
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
    """Error, threshold, EWMAE, RDS and edge-region sums of (a piece of at most `_CHUNK` pixels of) one row.

    ``reassoc`` lets LLVM keep each running sum as vector-lane partials (it changes the summation order, nothing
    else: the terms come from `_pixel_terms` and `_rds_term`, which have no fastmath flags).

    Args:
        gt_row, pr_row, pv_row: (W,) GT, prediction as given, prediction to score.
        s_row: (W,) sparse input depth (all 0 without one).
        v_row: (W,) bool GT validity; wt: (W,) float32 conduction weights G; edge: (W,) bool edge flags.
        pol0, clip_lo, clip_hi, valid_min_m: see `_pixel_terms`.
        thresholds: (6,) float64 delta thresholds.
        sq_b, ad_b, rel_b: (W,) float64 written: squared, absolute, relative error (0 where not scored).
        code: (W,) uint8 written: 0 not scored, 1 scored, 3 scored with ratio < thresholds[0].
        acc: (13,) float64, sums added: sq, abs, isq, iabs, rel, sqrel, rmae, ew_num, ew_den, rds_sum, then
            the edge pixels' sq, abs, rel.
        cnt: (10,) int64, counts added: c_0 .. c_5, n_missing, rds_n, edge pixels, their d1 hits.

    W <= `_CHUNK` (the counts' field width): the caller passes longer rows in pieces.
    """
    t0, t1, t2, t3, t4, t5 = thresholds[0], thresholds[1], thresholds[2], thresholds[3], thresholds[4], thresholds[5]
    s_sq = s_ad = s_isq = s_iabs = s_rel = s_sqrel = s_rmae = s_ewn = s_ewd = s_rds = 0.0
    e_sq = e_ad = e_rel = 0.0
    pack1 = np.int64(0)
    pack2 = np.int64(0)
    # indices from range(W) are provably >= 0, so numba's wraparound disappears and LLVM vectorises the loop
    for x in range(gt_row.size):
        ok, missing, scored, v, ad, sq, isq, iabs, rel, sqrel, rmae, ratio = _pixel_terms(
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
        use, rds = _rds_term(s_row[x], v, pol0, ok)
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
        cnt[k] += (pack1 >> (k * _F)) & _CHUNK
        cnt[5 + k] += (pack2 >> (k * _F)) & _CHUNK
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
def _rds_term(s_raw, v, pol0, ok):
    """Whether a pixel counts for RDS (a sparse input ``0 < s < inf`` and a scored prediction), and its term.

    `v` is the prediction as scored (`_pixel_terms`); RDS sets a negative or non-finite one to 0
    (`mipi.rds_sums`). The term is meaningless where the pixel does not count.
    """
    s = np.float64(s_raw)
    use = (s > 0) & (s < np.inf) & (pol0 | ok)
    q = v if (v >= 0) & (v < np.inf) else 0.0
    return use, abs(q - s) / s


@njit(cache=True, nogil=True, error_model="numpy")
def _row_regions(gt_row, code, sq_b, ad_b, rel_b, spot_row, bins_m, bin_acc, spot_acc):
    """Depth-bin and spot sums of one row (a scalar loop: a scatter by label does not vectorise).

    Args:
        gt_row, code, sq_b, ad_b, rel_b: (W,) GT and `_row_errors`' outputs of the row.
        spot_row: (W,) bool spot mask (all False without one).
        bins_m: (n_bins + 1,) float64 increasing bin edges.
        bin_acc: (n_bins + 2, 5) float64, sums ``n, sq, abs, rel, c_d1`` added per bin label (0 and n_bins + 1
            are under- and overflow).
        spot_acc: (5,) float64, the same for the scored spot pixels.
    """
    n_edges = bins_m.size
    # the current run's label and its bin [lo, hi): a pixel in the same bin needs two comparisons, not n_edges
    cur = 0
    lo = -np.inf
    hi = bins_m[0]
    r_n = r_hit = 0
    r_sq = r_ad = r_rel = 0.0
    for x in range(gt_row.size):
        c = code[x]
        if c == 0:  # not scored (unscored pixels do not interrupt a run of equal labels)
            continue
        g = np.float64(gt_row[x])
        if not (g >= lo and g < hi):  # another bin (rare along a row): the run's sums go to its bin
            _add_sums(bin_acc[cur], r_n, r_sq, r_ad, r_rel, r_hit)
            r_n = r_hit = 0
            r_sq = r_ad = r_rel = 0.0
            cur = 0  # label = number of edges <= g (bins are half-open, [lo, hi), as in `regions.bin_labels`)
            for k in range(n_edges):
                cur += g >= bins_m[k]
            lo = bins_m[cur - 1] if cur > 0 else -np.inf
            hi = bins_m[cur] if cur < n_edges else np.inf
        hit = c >> 1
        r_n += 1
        r_hit += hit
        r_sq += sq_b[x]
        r_ad += ad_b[x]
        r_rel += rel_b[x]
        if spot_row[x]:  # a few pixels
            _add_sums(spot_acc, 1, sq_b[x], ad_b[x], rel_b[x], hit)
    _add_sums(bin_acc[cur], r_n, r_sq, r_ad, r_rel, r_hit)


@njit(cache=True, nogil=True, error_model="numpy")
def _add_sums(acc, n, sq, ad, rel, hit):
    acc[0] += n
    acc[1] += sq
    acc[2] += ad
    acc[3] += rel
    acc[4] += hit


@njit(cache=True, nogil=True, error_model="numpy")
def _valid_row(g, vmin, vmax, out):
    """GT validity ``vmin < g <= vmax`` of one (W,) row into the (W,) bool `out`; returns the number of valid pixels."""
    n = 0
    for x in range(g.size):
        # comparisons in float64 hold the GT dtype's values and bounds exactly (as NumPy compares in that dtype)
        v = np.float64(g[x])
        ok = (v > vmin) & (v <= vmax)
        out[x] = ok
        n += ok
    return n


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
        sparse: (H, W) float32/float64 sparse input depth in metres when `has_sparse` (for RDS; else any 2-D
            array of that dtype).
        vmin, vmax: GT validity ``vmin < g <= vmax`` (see `valid_max`), values of the GT dtype.
        policy: 0 = a missing prediction scores as 0 m (penalise, fill), 1 = it is not scored (exclude).
        clip: clip the predictions into ``[clip_lo, clip_hi]`` (values of the prediction dtype) after the policy.
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
    pol0 = policy == 0
    lo = clip_lo if clip else -np.inf
    hi = clip_hi if clip else np.inf
    # row buffers: validity of this and the next row, the vertical pairs with the rows above and below, the
    # horizontal pairs (both ends stay 0), and the per-pixel outputs of the row passes
    v_cur = np.zeros(w, np.bool_)
    v_nxt = np.zeros(w, np.bool_)
    up_w = np.zeros(w, np.float32)
    dn_w = np.zeros(w, np.float32)
    up_j = np.zeros(w, np.bool_)
    dn_j = np.zeros(w, np.bool_)
    h_w = np.zeros(w + 1, np.float32)
    h_j = np.zeros(w + 1, np.bool_)
    wt = np.zeros(w, np.float32)
    edge = np.zeros(w, np.bool_)
    sq_b = np.zeros(w, np.float64)
    ad_b = np.zeros(w, np.float64)
    rel_b = np.zeros(w, np.float64)
    code = np.zeros(w, np.uint8)
    no_spot = np.zeros(w, np.bool_)
    no_sparse = np.zeros(w, sparse.dtype)
    acc = np.zeros(13, np.float64)
    cnt = np.zeros(10, np.int64)
    bin_acc = np.zeros((n_bins + 2, 5), np.float64)
    n_valid = _valid_row(gt[0], vmin, vmax, v_cur) if h else 0
    for y in range(h):
        g0 = gt[y]
        g1 = g0
        if y + 1 < h:
            g1 = gt[y + 1]
            n_valid += _valid_row(g1, vmin, vmax, v_nxt)
        else:
            v_nxt[:] = False
        _row_weights(g0, g1, v_cur, v_nxt, up_w, up_j, dn_w, dn_j, h_w, h_j, wt, edge, inv_gmax, neg_inv_k2, rel_jump)
        s_row = sparse[y] if has_sparse else no_sparse
        for a in range(0, w, _CHUNK):
            b = min(a + _CHUNK, w)
            _row_errors(
                g0[a:b],
                pred_raw[y, a:b],
                pred_val[y, a:b],
                s_row[a:b],
                v_cur[a:b],
                wt[a:b],
                edge[a:b],
                pol0,
                lo,
                hi,
                valid_min_m,
                thresholds,
                sq_b[a:b],
                ad_b[a:b],
                rel_b[a:b],
                code[a:b],
                acc,
                cnt,
            )
        _row_regions(
            g0, code, sq_b, ad_b, rel_b, spot[y] if has_spot else no_spot, bins_m, bin_acc, regions[n_bins + 1]
        )
        up_w, dn_w = dn_w, up_w
        up_j, dn_j = dn_j, up_j
        v_cur, v_nxt = v_nxt, v_cur
    n_missing = cnt[6]
    stats[_I_NVALID] = n_valid
    stats[_I_NMISSING] = n_missing
    stats[_I_NSCORED] = n_valid if pol0 else n_valid - n_missing  # exclude leaves the missing ones out
    stats[_I_SQ : _I_EWD + 1] = acc[:9]
    stats[_I_RDS] = acc[9]
    stats[_I_RDSN] = cnt[7]
    for k in range(_N_THR):
        stats[_I_C0 + k] = cnt[k]
    regions[:n_bins] = bin_acc[1 : n_bins + 1]
    regions[n_bins, 0] = cnt[8]
    regions[n_bins, 1:4] = acc[10:13]
    regions[n_bins, 4] = cnt[9]
