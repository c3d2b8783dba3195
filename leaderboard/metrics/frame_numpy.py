"""The NumPy scoring engine: one frame through whole-array passes; the reference the fused kernels are tested against.

It computes every per-pixel term through the same functions as the stand-alone metrics
(`errors.pixel_terms`, `thresholds.delta_ratio`, `mipi.conduction_weights`, `regions.edge_mask`, ...), so
the functions, this engine and the fused engine (`frame_fused`) are three implementations that tests compare.
It also runs where numba is not available.
"""

from __future__ import annotations

import math

import numpy as np

from leaderboard.errors import ShapeError
from leaderboard.metrics.base import Workspace, scratch
from leaderboard.metrics.catalog import SUM_KEYS
from leaderboard.metrics.errors import ERROR_SUM_KEYS, pixel_terms
from leaderboard.metrics.mipi import conduction_weights, rds_sums
from leaderboard.metrics.regions import REGION_SUM_KEYS, bin_labels, edge_mask, label_sums, masked_sums
from leaderboard.metrics.rows import FrameStats, assemble
from leaderboard.metrics.thresholds import THRESHOLDS, delta_ratio
from leaderboard.protocol import Protocol

__all__ = ["frame_stats_numpy", "check_frame", "fill_missing", "CHUNK_PX"]

#: Pixels per chunk of the per-pixel pass: its dozen float64 buffers then stay in the CPU cache.
CHUNK_PX = 65536


def check_frame(pred_m: np.ndarray, gt_m: np.ndarray, spot_mask, sparse_m) -> None:
    """Raise `ShapeError` unless the prediction and GT are equal (H, W) and the optional masks match."""
    if pred_m.ndim != 2 or pred_m.shape != gt_m.shape:
        raise ShapeError(f"prediction has shape {pred_m.shape} but GT has shape {gt_m.shape}; expected equal (H, W)")
    for arr, nm in ((spot_mask, "spot_mask"), (sparse_m, "sparse_m")):
        if arr is not None and arr.shape != gt_m.shape:
            raise ShapeError(f"{nm} has shape {arr.shape} but GT has shape {gt_m.shape}")


def fill_missing(pred: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The prediction with each missing pixel set to its nearest predicted pixel (all zeros if none is).

    Args:
        pred: (H, W) float prediction in metres.
        missing: (H, W) bool, the pixels to fill.

    Returns:
        (H, W) array of `pred`'s dtype.
    """
    if missing.all():
        return np.zeros(pred.shape, pred.dtype)
    from scipy.ndimage import distance_transform_edt

    idx = distance_transform_edt(missing, return_distances=False, return_indices=True)
    return pred[tuple(idx)]


def _apply_missing(pred: np.ndarray, missing: np.ndarray, policy: str, work: Workspace | None) -> np.ndarray:
    """Prediction after the penalise / fill policy (exclude is applied to the scored mask instead)."""
    if policy == "fill":
        return fill_missing(pred, missing)
    out = scratch(work, "pred_penalised", pred.shape, pred.dtype)
    np.copyto(out, pred)
    np.putmask(out, missing, 0.0)
    return out


def _pixel_sums(
    pred: np.ndarray,
    gt: np.ndarray,
    scored: np.ndarray,
    weights: np.ndarray,
    edges: np.ndarray,
    spots: np.ndarray | None,
    pr: Protocol,
    n_bins: int,
    work: Workspace | None,
) -> dict:
    """Sums of the per-pixel terms over flat (N,) arrays, in cache-sized chunks.

    Pixels that are not scored get p = g = 1 m, which makes every error term exactly 0 and the ratio 1 (a
    threshold hit, subtracted again), so no pixel has to be gathered.
    """
    sums = dict.fromkeys((*ERROR_SUM_KEYS[1:], "rmae_sum", "ew_num", "ew_den"), 0.0)
    bins = np.zeros((n_bins, len(REGION_SUM_KEYS)))
    edge_s = np.zeros(len(REGION_SUM_KEYS))
    spot_s = None if spots is None else np.zeros(len(REGION_SUM_KEYS))
    count_keys = [f"c_{k}" for k in THRESHOLDS]
    counts = dict.fromkeys(count_keys, 0)
    t1 = THRESHOLDS["d1"]
    for start in range(0, gt.size, CHUNK_PX):
        stop = min(start + CHUNK_PX, gt.size)
        m = stop - start
        p = scratch(work, "p", m)
        g = scratch(work, "g", m)
        np.copyto(p, pred[start:stop])
        np.copyto(g, gt[start:stop])
        off = np.logical_not(scored[start:stop], out=scratch(work, "off", m, bool))
        n_off = int(np.count_nonzero(off))
        if n_off == m:
            continue
        if n_off:
            np.putmask(p, off, 1.0)
            np.putmask(g, off, 1.0)
        terms = pixel_terms(p, g, valid_min_m=pr.valid_min_m, work=work)
        ratio = delta_ratio(p, g, terms["inv_g"], work=work)
        for k in ERROR_SUM_KEYS[1:]:
            sums[k] += float(terms[k].sum())
        hit = scratch(work, "hit", m, bool)
        for k, t in THRESHOLDS.items():
            counts[f"c_{k}"] += int(np.count_nonzero(np.less(ratio, t, out=hit))) - n_off
        sums["rmae_sum"] += float(np.divide(terms["abs"], g, out=scratch(work, "rmae", m)).sum())
        w = scratch(work, "w64", m)
        np.copyto(w, weights[start:stop])  # 0 at invalid GT; error terms are 0 where not scored
        sums["ew_num"] += float(np.einsum("i,i->", w, terms["abs"]))
        if n_off:
            np.putmask(w, off, 0.0)
        sums["ew_den"] += float(w.sum())
        c_d1 = np.less(ratio, t1, out=scratch(work, "c_d1", m, bool))
        if n_off:
            np.putmask(c_d1, off, False)
        region_w = {"sq": terms["sq"], "abs": terms["abs"], "rel": terms["rel"], "c_d1": c_d1}
        labels = bin_labels(g, pr.bins_m, work=work)  # 0 .. n_bins + 1 (under- and overflow)
        if n_off:
            np.putmask(labels, off, 0)
        # one grouping for bins and edges: label + (n_bins + 2) * edge (edge pixels are scored)
        combined = scratch(work, "labels_intp", m, np.intp)
        np.multiply(edges[start:stop], n_bins + 2, out=combined)
        combined += labels
        by_label = label_sums(combined, 2 * (n_bins + 2), region_w).reshape(2, n_bins + 2, len(REGION_SUM_KEYS))
        bins += by_label[:, 1 : n_bins + 1].sum(axis=0)
        edge_s += by_label[1].sum(axis=0)
        if spots is not None:
            spot_s += masked_sums(spots[start:stop], region_w, work=work)
    sums.update({k: float(v) for k, v in counts.items()})
    return {"sums": sums, "bins": bins, "edge": edge_s, "at_spot": spot_s}


def frame_stats_numpy(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    protocol: Protocol,
    spot_mask: np.ndarray | None = None,
    sparse_m: np.ndarray | None = None,
    work: Workspace | None = None,
) -> FrameStats:
    """Score one frame with the full metric set through NumPy array passes (see `accumulate.frame_stats`)."""
    check_frame(pred_m, gt_m, spot_mask, sparse_m)
    pr = protocol
    with np.errstate(invalid="ignore"):
        valid = gt_m > max(pr.valid_min_m, pr.min_depth_m)  # False for NaN
        if pr.max_depth_m is not None:
            valid &= gt_m <= pr.max_depth_m
        else:
            valid &= gt_m < np.inf
        ok = pred_m > 0
        ok &= pred_m < np.inf
    missing = ~ok
    n_valid = int(np.count_nonzero(valid))
    n_missing_valid = int(np.count_nonzero(missing & valid)) if n_valid else 0
    any_missing = bool(n_missing_valid) or (sparse_m is not None and bool(missing.any()))

    pred = pred_m
    scored = valid
    if any_missing:
        if pr.missing == "exclude":
            scored = valid & ok
        else:
            pred = _apply_missing(pred_m, missing, pr.missing, work)
    if pr.clip_pred_to_caps:
        pred = np.clip(pred, pr.min_depth_m, np.inf if pr.max_depth_m is None else pr.max_depth_m)

    n_scored = int(np.count_nonzero(scored))
    sums = dict.fromkeys(SUM_KEYS, 0.0)
    n_bins = len(pr.bins_m) - 1
    bins = np.zeros((n_bins, len(REGION_SUM_KEYS)))
    edge_s = np.zeros(len(REGION_SUM_KEYS))
    spot_s = None if spot_mask is None else np.zeros(len(REGION_SUM_KEYS))

    if sparse_m is not None:
        use = ok if pr.missing == "exclude" else None
        sums["rds_sum"], sums["rds_n"] = rds_sums(pred, sparse_m, use)

    if n_scored:
        gmax = float(gt_m.max())  # invalid GT is 0 or NaN; fall back when NaN or a cap hides the maximum
        if not (math.isfinite(gmax) and valid.flat[int(np.argmax(gt_m))]):
            gmax = float(gt_m[valid].max())
        weights, gmax = conduction_weights(gt_m, valid, kappa=pr.ewmae_kappa, work=work, gmax_m=gmax)
        edges = edge_mask(gt_m, valid, rel_jump=pr.edge_rel_jump, work=work)
        if n_scored != n_valid:
            edges &= scored
        spots = None
        if spot_mask is not None:
            spots = np.logical_and(spot_mask, scored, out=scratch(work, "spots", gt_m.shape, bool)).ravel()
        chunk_sums = _pixel_sums(
            pred.ravel(), gt_m.ravel(), scored.ravel(), weights.ravel(), edges.ravel(), spots, pr, n_bins, work
        )
        sums.update(chunk_sums["sums"])
        sums["n"] = float(n_scored)
        sums["ew_num"] /= gmax
        if n_scored == n_valid:  # G is 0 at invalid GT, so the whole image sums the scored pixels
            sums["ew_den"] = float(weights.sum(dtype=np.float64))
        bins = chunk_sums["bins"]
        edge_s = chunk_sums["edge"]
        if spot_mask is not None:
            spot_s = chunk_sums["at_spot"]
    return assemble(n_valid, n_scored, n_missing_valid, sums, bins, edge_s, spot_s)
