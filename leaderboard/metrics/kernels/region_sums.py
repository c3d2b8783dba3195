"""Depth-bin and spot-pixel sums of one row (a scalar pass over the error loop's row buffers)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["add_sums", "row_regions"]


@njit(cache=True, nogil=True, error_model="numpy")
def row_regions(gt_row, code, sq_b, ad_b, rel_b, spot_row, bins_m, bin_acc, spot_acc):
    """Depth-bin and spot sums of one row (a scalar loop: a scatter by label does not vectorise).

    Args:
        gt_row, code, sq_b, ad_b, rel_b: (W,) GT and `row_errors`' outputs of the row.
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
            add_sums(bin_acc[cur], r_n, r_sq, r_ad, r_rel, r_hit)
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
            add_sums(spot_acc, 1, sq_b[x], ad_b[x], rel_b[x], hit)
    add_sums(bin_acc[cur], r_n, r_sq, r_ad, r_rel, r_hit)


@njit(cache=True, nogil=True, error_model="numpy")
def add_sums(acc, n, sq, ad, rel, hit):
    """Add the sums ``n, sq, abs, rel, c_d1`` of a run of pixels to the (5,) float64 `acc`."""
    acc[0] += n
    acc[1] += sq
    acc[2] += ad
    acc[3] += rel
    acc[4] += hit
