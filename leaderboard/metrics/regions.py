"""Where the error lives: per-depth bins, at the ToF spots vs away from them, at depth edges vs flat ground.

Region metrics are pooled over every pixel of the region in every image (a bin is empty in many images, so a
mean over images would mix very different pixel counts). Each region keeps the sums `REGION_SUM_KEYS` and
reports ``n_pixels, rmse, mae, rel, d1``.
"""

from __future__ import annotations

import math

import numpy as np

from leaderboard.metrics.base import Workspace, scratch

__all__ = [
    "REGION_SUM_KEYS",
    "REGION_METRICS",
    "bin_labels",
    "bin_sums",
    "masked_sums",
    "label_sums",
    "edge_mask",
    "finalize_region",
]

#: The sums kept per region: pixel count, squared error, absolute error, relative error, count of ratio < 1.25.
REGION_SUM_KEYS = ("n", "sq", "abs", "rel", "c_d1")
#: The metrics reported per region.
REGION_METRICS = ("n_pixels", "rmse", "mae", "rel", "d1")


def bin_labels(g: np.ndarray, bins_m: tuple[float, ...], *, work: Workspace | None = None) -> np.ndarray:
    """Bin label of each GT depth (bins are half-open, ``[lo, hi)``).

    0 below the first edge, i + 1 for ``bins_m[i] <= g < bins_m[i+1]``, ``len(bins_m)`` at or beyond the last.

    Args:
        g: (N,) GT depth in metres.
        bins_m: increasing bin edges in metres.

    Returns:
        (N,) uint8 labels.
    """
    labels = scratch(work, "bin_labels", g.shape, np.uint8)
    labels.fill(0)
    ge = scratch(work, "bin_ge", g.shape, bool)
    for edge in bins_m:
        np.greater_equal(g, edge, out=ge)
        np.add(labels, ge, out=labels, casting="unsafe")
    return labels


def bin_sums(
    labels: np.ndarray, n_bins: int, weights: dict[str, np.ndarray], *, work: Workspace | None = None
) -> np.ndarray:
    """Per-bin sums (rows: bins, columns: `REGION_SUM_KEYS`) of the weight arrays ``sq, abs, rel, c_d1``.

    Args:
        labels: (N,) uint8 from `bin_labels`.
        n_bins: number of bins (``len(bins_m) - 1``).
        weights: (N,) float64 arrays keyed ``sq, abs, rel, c_d1``.
        work: unused (kept for a uniform signature).
    """
    return label_sums(labels, n_bins + 2, weights)[1 : n_bins + 1]


def label_sums(labels: np.ndarray, n_labels: int, weights: dict[str, np.ndarray]) -> np.ndarray:
    """Sums (rows: label values 0..n_labels-1, columns: `REGION_SUM_KEYS`) grouped by an integer label.

    One ``np.bincount`` per column: its cost does not grow with the number of labels, so bins and the edge
    flag can share one label (``bin + n * edge``). A bool ``c_d1`` (the delta < 1.25 hits) is counted together
    with the pixel count in one integer ``bincount``.

    Args:
        labels: (N,) non-negative integer labels (intp avoids a cast per call).
        n_labels: number of label values.
        weights: (N,) arrays keyed ``sq, abs, rel`` (float64) and ``c_d1`` (float64 0/1 or bool).
    """
    out = np.empty((n_labels, len(REGION_SUM_KEYS)), np.float64)
    hits = weights["c_d1"]
    if hits.dtype == bool:
        both = np.bincount(labels + n_labels * hits, minlength=2 * n_labels)
        out[:, 0] = both[:n_labels] + both[n_labels : 2 * n_labels]
        out[:, 4] = both[n_labels : 2 * n_labels]
    else:
        out[:, 0] = np.bincount(labels, minlength=n_labels)[:n_labels]
        out[:, 4] = np.bincount(labels, weights=hits, minlength=n_labels)[:n_labels]
    for j, key in ((1, "sq"), (2, "abs"), (3, "rel")):
        out[:, j] = np.bincount(labels, weights=weights[key], minlength=n_labels)[:n_labels]
    return out


def masked_sums(mask: np.ndarray, weights: dict[str, np.ndarray], *, work: Workspace | None = None) -> np.ndarray:
    """Sums (`REGION_SUM_KEYS`) over the scored pixels where the (N,) bool `mask` is True.

    A few pixels (the spots) are gathered; many are summed through a float mask and dot products.
    """
    out = np.zeros(len(REGION_SUM_KEYS), np.float64)
    n = np.count_nonzero(mask)
    out[0] = n
    if n == 0:
        return out
    if n * 16 < mask.size:  # a few pixels (e.g. the spots): gather them
        pos = np.flatnonzero(mask)
        for j, key in enumerate(REGION_SUM_KEYS[1:], start=1):
            out[j] = weights[key][pos].sum()
        return out
    m = scratch(work, "mask_f64", mask.shape)
    np.copyto(m, mask)
    for j, key in enumerate(REGION_SUM_KEYS[1:], start=1):
        w = weights[key]
        if w.dtype == bool:
            out[j] = np.count_nonzero(w & mask)
        else:
            out[j] = np.einsum("i,i->", w, m)  # no BLAS: its threads stall on busy CPUs
    return out


def edge_mask(gt_m: np.ndarray, valid: np.ndarray, *, rel_jump: float, work: Workspace | None = None) -> np.ndarray:
    """Depth-edge pixels of the GT: a jump to a valid 4-neighbour above ``rel_jump`` times the nearer depth.

    Args:
        gt_m: (H, W) GT depth in metres.
        valid: (H, W) bool valid GT.
        rel_jump: relative jump threshold (0.05 = 5 %).

    Returns:
        (H, W) bool; both sides of a jump are edge pixels.
    """
    g = gt_m.astype(np.float32, copy=False)
    h, w = g.shape
    edge = scratch(work, "edge", (h, w), bool)
    edge.fill(False)
    t = np.float32(rel_jump)
    for axis, shape in ((0, (h - 1, w)), (1, (h, w - 1))):
        lo = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        hi = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        a, b = g[lo], g[hi]
        with np.errstate(invalid="ignore"):  # inf - inf at invalid GT; masked by `valid` below
            diff = np.subtract(b, a, out=scratch(work, f"edge_d{axis}", shape, np.float32))
        np.abs(diff, out=diff)
        near = np.minimum(a, b, out=scratch(work, f"edge_m{axis}", shape, np.float32))
        near *= t
        jump = np.greater(diff, near, out=scratch(work, f"edge_j{axis}", shape, bool))
        jump &= valid[lo]
        jump &= valid[hi]
        edge[lo] |= jump
        edge[hi] |= jump
    return edge


def finalize_region(sums: np.ndarray | None) -> dict[str, float]:
    """``n_pixels, rmse, mae, rel, d1`` from region sums.

    NaN metrics for an empty region; all NaN for None (a region that could not be determined, e.g. the spots
    of frames without a spot mask).
    """
    if sums is None:
        return dict.fromkeys(REGION_METRICS, math.nan)
    n = float(sums[0])
    if n <= 0:
        return {"n_pixels": 0, "rmse": math.nan, "mae": math.nan, "rel": math.nan, "d1": math.nan}
    return {
        "n_pixels": int(n),
        "rmse": math.sqrt(float(sums[1]) / n),
        "mae": float(sums[2] / n),
        "rel": float(sums[3] / n),
        "d1": float(sums[4] / n),
    }
