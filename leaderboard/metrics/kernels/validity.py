"""GT validity in the kernels: the valid pixels of a row, and the count and maximum of a frame's."""

from __future__ import annotations

import numpy as np
from numba import njit

from leaderboard.metrics.kernels.fastexp import bitcast

__all__ = ["valid_max", "valid_row"]


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
    zero = bitcast(np.zeros(1, gt.dtype)[0])
    top = zero
    for y in range(gt.shape[0]):
        row = gt[y]
        for x in range(row.size):
            g = row[x]
            ok = (np.float64(g) > vmin) & (np.float64(g) <= vmax)  # False for NaN
            n += ok
            top = max(top, bitcast(g) if ok else zero)
    if n == 0:
        return 0, np.nan
    return n, np.float64(bitcast(top))


@njit(cache=True, nogil=True, error_model="numpy")
def valid_row(g, vmin, vmax, out):
    """GT validity ``vmin < g <= vmax`` of one (W,) row into the (W,) bool `out`; returns the number of valid pixels."""
    n = 0
    for x in range(g.size):
        # comparisons in float64 hold the GT dtype's values and bounds exactly (as NumPy compares in that dtype)
        v = np.float64(g[x])
        ok = (v > vmin) & (v <= vmax)
        out[x] = ok
        n += ok
    return n
