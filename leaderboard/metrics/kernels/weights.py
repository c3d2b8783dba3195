"""Perona-Malik conduction weights and edge flags of one row's pixel pairs (float32, branch-free)."""

from __future__ import annotations

import numpy as np
from numba import njit

from leaderboard.metrics.kernels.fastexp import exp_f32

__all__ = ["pair", "row_weights"]


@njit(cache=True, nogil=True, error_model="numpy")
def pair(a, b, va, vb, inv_gmax, neg_inv_k2, rel_jump):
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
def row_weights(g0, g1, v0, v1, up_w, up_j, dn_w, dn_j, h_w, h_j, wt, edge, inv_gmax, neg_inv_k2, rel_jump):
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
        dn_w[x], dn_j[x] = pair(g0[x], g1[x], v0[x], v1[x], inv_gmax, neg_inv_k2, rel_jump)
    for x in range(w - 1):
        h_w[x + 1], h_j[x + 1] = pair(g0[x], g0[x + 1], v0[x], v0[x + 1], inv_gmax, neg_inv_k2, rel_jump)
    quarter = np.float32(0.25)
    for x in range(w):
        s = dn_w[x] + up_w[x]
        s = s + h_w[x + 1]
        s = s + h_w[x]
        wt[x] = s * quarter
        edge[x] = dn_j[x] | up_j[x] | h_j[x + 1] | h_j[x]
