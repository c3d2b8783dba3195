"""`frame_sums`: every sum of one frame, row by row through the weight, error and region loops."""

from __future__ import annotations

import numpy as np
from numba import njit

from leaderboard.metrics.kernels.error_sums import CHUNK, row_errors
from leaderboard.metrics.kernels.region_sums import row_regions
from leaderboard.metrics.kernels.validity import valid_row
from leaderboard.metrics.kernels.weights import row_weights

__all__ = ["STAT_KEYS", "STAT", "POLICY_CODES", "frame_sums"]

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
    n_valid = valid_row(gt[0], vmin, vmax, v_cur) if h else 0
    for y in range(h):
        g0 = gt[y]
        g1 = g0
        if y + 1 < h:
            g1 = gt[y + 1]
            n_valid += valid_row(g1, vmin, vmax, v_nxt)
        else:
            v_nxt[:] = False
        row_weights(g0, g1, v_cur, v_nxt, up_w, up_j, dn_w, dn_j, h_w, h_j, wt, edge, inv_gmax, neg_inv_k2, rel_jump)
        s_row = sparse[y] if has_sparse else no_sparse
        for a in range(0, w, CHUNK):
            b = min(a + CHUNK, w)
            row_errors(
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
        row_regions(g0, code, sq_b, ad_b, rel_b, spot[y] if has_spot else no_spot, bins_m, bin_acc, regions[n_bins + 1])
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
