"""Streaming scoring: `frame_stats` scores one frame (the pure function), `MetricAccumulator` collects frames.

Memory: the accumulator keeps one row of `ROW_KEYS` float64 values per image (about 300 bytes) plus fixed-size
pooled region sums; no image is kept. The per-image means and the pooled values are computed in `compute()` from
the rows with `math.fsum`, so they do not depend on the order or batching of `update` calls.

Example:
    >>> acc = MetricAccumulator(Protocol())
    >>> acc.update(pred_m, gt_m, name="000000")          # doctest: +SKIP
    >>> acc.compute().per_image["rmse"]                  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from leaderboard.errors import ShapeError
from leaderboard.metrics.base import Workspace, scratch
from leaderboard.metrics.errors import ERROR_SUM_KEYS, finalize_errors, pixel_terms
from leaderboard.metrics.mipi import conduction_weights, mipi_score, rds_sums
from leaderboard.metrics.regions import (
    REGION_SUM_KEYS,
    bin_labels,
    edge_mask,
    finalize_region,
    label_sums,
    masked_sums,
)
from leaderboard.metrics.thresholds import THRESHOLD_SUM_KEYS, THRESHOLDS, delta_ratio, finalize_thresholds
from leaderboard.protocol import Protocol

__all__ = [
    "FrameStats",
    "AccumulatorResult",
    "MetricAccumulator",
    "frame_stats",
    "finalize",
    "SUM_KEYS",
    "METRIC_KEYS",
    "ROW_KEYS",
    "REGIONS",
]

#: Every sum an image contributes (pooled values are sums of these).
SUM_KEYS = (*ERROR_SUM_KEYS, *THRESHOLD_SUM_KEYS, "rmae_sum", "ew_num", "ew_den", "rds_sum", "rds_n")
#: The per-image metric columns (units in `leaderboard.metrics.METRIC_INFO`).
METRIC_KEYS = (
    "rmse",
    "mae",
    "irmse",
    "imae",
    "rel",
    "sqrel",
    *THRESHOLDS,
    "rmae",
    "ewmae",
    "rds",
    "mipi_score",
)
#: Counters of one image: valid GT pixels, scored pixels, valid GT pixels without a prediction, density.
COUNT_KEYS = ("n_valid", "n_scored", "n_missing", "density")
#: One per-image row: counters, sums (prefixed ``s_``), metrics.
ROW_KEYS = (*COUNT_KEYS, *(f"s_{k}" for k in SUM_KEYS), *METRIC_KEYS)
#: Pooled regions besides the depth bins.
REGIONS = ("all", "at_spot", "away_from_spot", "edge", "flat")
_COL = {k: i for i, k in enumerate(ROW_KEYS)}


def finalize(sums: dict[str, float]) -> dict[str, float]:
    """All metrics (`METRIC_KEYS`) from one set of sums (`SUM_KEYS`), per image or pooled."""
    out = finalize_errors(sums)
    out.update(finalize_thresholds(sums))
    n = sums["n"]
    out["rmae"] = sums["rmae_sum"] / n if n > 0 else math.nan
    out["ewmae"] = sums["ew_num"] / sums["ew_den"] if sums["ew_den"] > 0 else math.nan
    out["rds"] = sums["rds_sum"] / sums["rds_n"] if sums["rds_n"] > 0 else math.nan
    out["mipi_score"] = mipi_score(out["rmae"], out["ewmae"], out["rds"])
    return out


@dataclass
class FrameStats:
    """Everything one frame adds to an accumulator.

    Attributes:
        row: (len(ROW_KEYS),) float64 per-image counters, sums and metrics.
        bins: (n_bins, len(REGION_SUM_KEYS)) float64 per-depth-bin sums.
        regions: (len(REGION_SUM_KEYS),) sums of "all", "at_spot", "edge" (dict); "at_spot" is None when the
            frame has no spot mask.
    """

    row: np.ndarray
    bins: np.ndarray
    regions: dict[str, np.ndarray | None]


def _apply_missing(pred: np.ndarray, missing: np.ndarray, policy: str, work: Workspace | None) -> np.ndarray:
    """Prediction after the penalise / fill policy (exclude is applied to the scored mask instead)."""
    if policy == "fill":
        if missing.all():
            return np.zeros(pred.shape, np.float32)
        from scipy.ndimage import distance_transform_edt

        idx = distance_transform_edt(missing, return_distances=False, return_indices=True)
        return pred[tuple(idx)]
    out = scratch(work, "pred_penalised", pred.shape, pred.dtype)
    np.copyto(out, pred)
    np.putmask(out, missing, 0.0)
    return out


#: Pixels per chunk of the per-pixel pass: its dozen float64 buffers then stay in the CPU cache.
CHUNK_PX = 65536


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


def frame_stats(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    protocol: Protocol,
    spot_mask: np.ndarray | None = None,
    sparse_m: np.ndarray | None = None,
    work: Workspace | None = None,
) -> FrameStats:
    """Score one frame with the full metric set.

    Args:
        pred_m: (H, W) float32/float64 predicted z-depth in metres; 0, negative, NaN or inf = missing (treated
            by ``protocol.missing``).
        gt_m: (H, W) float32/float64 GT z-depth in metres, 0 (or NaN) where invalid.
        protocol: the scoring protocol.
        spot_mask: optional (H, W) bool, pixels that carried a ToF spot (for at-spot vs away-from-spot).
        sparse_m: optional (H, W) sparse input depth in metres, 0 where none (for RDS).
        work: optional scratch buffers reused across frames (one per thread).

    Returns:
        The frame's `FrameStats`.

    Raises:
        ShapeError: if an array is not 2-D or the shapes differ.
    """
    if pred_m.ndim != 2 or pred_m.shape != gt_m.shape:
        raise ShapeError(f"prediction has shape {pred_m.shape} but GT has shape {gt_m.shape}; expected equal (H, W)")
    for arr, nm in ((spot_mask, "spot_mask"), (sparse_m, "sparse_m")):
        if arr is not None and arr.shape != gt_m.shape:
            raise ShapeError(f"{nm} has shape {arr.shape} but GT has shape {gt_m.shape}")
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

    row = np.zeros(len(ROW_KEYS), np.float64)
    n_scored = int(np.count_nonzero(scored))
    row[_COL["n_valid"]] = n_valid
    row[_COL["n_scored"]] = n_scored
    row[_COL["n_missing"]] = n_missing_valid
    row[_COL["density"]] = 1.0 - n_missing_valid / n_valid if n_valid else math.nan
    sums = dict.fromkeys(SUM_KEYS, 0.0)
    n_bins = len(pr.bins_m) - 1
    bins = np.zeros((n_bins, len(REGION_SUM_KEYS)))
    regions: dict[str, np.ndarray | None] = {"all": np.zeros(len(REGION_SUM_KEYS)), "at_spot": None, "edge": None}

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
        regions["all"] = np.array([sums["n"], sums["sq"], sums["abs"], sums["rel"], sums["c_d1"]])
        regions["edge"] = chunk_sums["edge"]
        regions["at_spot"] = chunk_sums["at_spot"]
    elif spot_mask is not None:
        regions["at_spot"] = np.zeros(len(REGION_SUM_KEYS))
    if regions["edge"] is None:
        regions["edge"] = np.zeros(len(REGION_SUM_KEYS))

    for k in SUM_KEYS:
        row[_COL[f"s_{k}"]] = sums[k]
    for k, v in finalize(sums).items():
        row[_COL[k]] = v
    return FrameStats(row=row, bins=bins, regions=regions)


@dataclass
class AccumulatorResult:
    """What `MetricAccumulator.compute` returns.

    Attributes:
        per_image: metric -> mean over non-empty images (NLSPN / KITTI convention); NaN-valued images of a
            metric (EWMAE on flat GT, RDS without spots) are left out of that metric's mean.
        pooled: metric -> value over all scored pixels of all images.
        counts: n_images, n_empty (no scored pixel), n_valid_pixels, n_scored_pixels, n_missing_pixels,
            density (pooled fraction of valid GT pixels with a prediction), mean_density (over images).
        bins: one dict per depth bin: bin, lo_m, hi_m, n_pixels, rmse, mae, rel, d1 (pooled).
        regions: one dict per region of `REGIONS` (pooled; NaN where unknown, e.g. no spot masks).
        rows: (N, len(ROW_KEYS)) float64 per-image rows; names: their names; indices: their indices.
    """

    per_image: dict[str, float]
    pooled: dict[str, float]
    counts: dict[str, float]
    bins: list[dict]
    regions: list[dict]
    rows: np.ndarray
    names: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)

    def column(self, key: str) -> np.ndarray:
        """(N,) per-image values of one `ROW_KEYS` column."""
        return self.rows[:, _COL[key]]


class MetricAccumulator:
    """Streaming twin of `frame_stats`: ``update`` per frame, ``compute`` any time, ``reset`` to start over."""

    def __init__(self, protocol: Protocol | None = None) -> None:
        self.protocol = protocol if protocol is not None else Protocol()
        self._work = Workspace()
        self.reset()

    def reset(self) -> None:
        """Forget every frame."""
        n_bins = len(self.protocol.bins_m) - 1
        self._rows = np.zeros((16, len(ROW_KEYS)), np.float64)
        self._n = 0
        self._names: list[str] = []
        self._indices: list[int] = []
        self._bins = np.zeros((n_bins, len(REGION_SUM_KEYS)))
        self._regions = {k: np.zeros(len(REGION_SUM_KEYS)) for k in ("all", "all_spot_known", "at_spot", "edge")}
        self._spot_known = 0

    def __len__(self) -> int:
        return self._n

    def update(
        self,
        pred_m: np.ndarray,
        gt_m: np.ndarray,
        *,
        spot_mask: np.ndarray | None = None,
        sparse_m: np.ndarray | None = None,
        name: str | None = None,
        index: int | None = None,
    ) -> np.ndarray:
        """Score one frame (see `frame_stats`) and add it; returns its row (`ROW_KEYS`)."""
        stats = frame_stats(
            pred_m, gt_m, protocol=self.protocol, spot_mask=spot_mask, sparse_m=sparse_m, work=self._work
        )
        self.add(stats, name=name, index=index)
        return stats.row

    def add(self, stats: FrameStats, *, name: str | None = None, index: int | None = None) -> None:
        """Add a precomputed `FrameStats` (e.g. from a worker thread)."""
        if self._n == self._rows.shape[0]:
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._rows[self._n] = stats.row
        self._indices.append(self._n if index is None else int(index))
        self._names.append(f"{self._indices[-1]:06d}" if name is None else str(name))
        self._n += 1
        self._bins += stats.bins
        self._regions["all"] += stats.regions["all"]
        self._regions["edge"] += stats.regions["edge"]
        if stats.regions["at_spot"] is not None:
            self._spot_known += 1
            self._regions["at_spot"] += stats.regions["at_spot"]
            self._regions["all_spot_known"] += stats.regions["all"]

    def compute(self) -> AccumulatorResult:
        """Per-image means, pooled values, counts, bins and regions of every frame so far."""
        rows = self._rows[: self._n].copy()
        col = _COL
        nonempty = rows[:, col["n_scored"]] > 0
        per_image = {}
        for k in METRIC_KEYS:
            v = rows[nonempty, col[k]]
            v = v[np.isfinite(v)]
            per_image[k] = math.fsum(v) / v.size if v.size else math.nan
        pooled_sums = {k: math.fsum(rows[:, col[f"s_{k}"]]) for k in SUM_KEYS}
        pooled = finalize(pooled_sums)
        n_valid = math.fsum(rows[:, col["n_valid"]])
        n_missing = math.fsum(rows[:, col["n_missing"]])
        dens = rows[:, col["density"]]
        dens = dens[np.isfinite(dens)]
        counts = {
            "n_images": self._n,
            "n_empty": int(self._n - np.count_nonzero(nonempty)),
            "n_valid_pixels": int(n_valid),
            "n_scored_pixels": int(pooled_sums["n"]),
            "n_missing_pixels": int(n_missing),
            "density": 1.0 - n_missing / n_valid if n_valid else math.nan,
            "mean_density": math.fsum(dens) / dens.size if dens.size else math.nan,
        }
        pr = self.protocol
        bins = []
        for label, lo, hi, sums in zip(pr.bin_labels, pr.bins_m[:-1], pr.bins_m[1:], self._bins, strict=True):
            bins.append({"bin": label, "lo_m": lo, "hi_m": hi, **finalize_region(sums)})
        nan_sums = None
        known = self._spot_known > 0
        region_sums = {
            "all": self._regions["all"],
            "at_spot": self._regions["at_spot"] if known else nan_sums,
            "away_from_spot": self._regions["all_spot_known"] - self._regions["at_spot"] if known else nan_sums,
            "edge": self._regions["edge"],
            "flat": self._regions["all"] - self._regions["edge"],
        }
        regions = [{"region": k, **finalize_region(region_sums[k])} for k in REGIONS]
        return AccumulatorResult(
            per_image=per_image,
            pooled=pooled,
            counts=counts,
            bins=bins,
            regions=regions,
            rows=rows,
            names=list(self._names),
            indices=list(self._indices),
        )
