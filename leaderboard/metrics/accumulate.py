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
import warnings
from dataclasses import dataclass, field

import numpy as np

from leaderboard.errors import ConfigError
from leaderboard.metrics.base import Workspace
from leaderboard.metrics.catalog import METRIC_KEYS, SUM_KEYS, finalize
from leaderboard.metrics.frame_fused import frame_stats_fused, kernels_available
from leaderboard.metrics.frame_numpy import frame_stats_numpy
from leaderboard.metrics.regions import REGION_SUM_KEYS, finalize_region
from leaderboard.metrics.rows import COL, COUNT_KEYS, REGIONS, ROW_KEYS, FrameStats
from leaderboard.protocol import Protocol

__all__ = [
    "FrameStats",
    "AccumulatorResult",
    "MetricAccumulator",
    "frame_stats",
    "finalize",
    "ENGINES",
    "SUM_KEYS",
    "METRIC_KEYS",
    "COUNT_KEYS",
    "ROW_KEYS",
    "REGIONS",
]

_COL = COL
#: Scoring engines: ``fused`` (numba kernels, the default), ``numpy`` (array passes; the reference), ``auto``
#: (fused when numba imports, else numpy).
ENGINES = ("auto", "fused", "numpy")


def _engine(name: str):
    if name not in ENGINES:
        raise ConfigError(f"engine={name!r}; valid: {', '.join(ENGINES)}")
    if name == "numpy":
        return frame_stats_numpy
    if name == "fused" or kernels_available():
        return frame_stats_fused
    warnings.warn("numba does not import: scoring with the slower NumPy engine", RuntimeWarning, stacklevel=3)
    return frame_stats_numpy


def frame_stats(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    *,
    protocol: Protocol,
    spot_mask: np.ndarray | None = None,
    sparse_m: np.ndarray | None = None,
    work: Workspace | None = None,
    engine: str = "auto",
) -> FrameStats:
    """Score one frame with the full metric set.

    Args:
        pred_m: (H, W) float32/float64 predicted z-depth in metres; 0, negative, NaN or inf = missing (treated
            by ``protocol.missing``).
        gt_m: (H, W) float32/float64 GT z-depth in metres, 0 (or NaN) where invalid.
        protocol: the scoring protocol.
        spot_mask: optional (H, W) bool, pixels that carried a ToF spot (for at-spot vs away-from-spot).
        sparse_m: optional (H, W) sparse input depth in metres, 0 where none (for RDS).
        work: optional scratch buffers reused across frames (one per thread; the NumPy engine uses them).
        engine: one of `ENGINES`; both engines give the same numbers (tests compare them).

    Returns:
        The frame's `FrameStats`.

    Raises:
        ShapeError: if an array is not 2-D or the shapes differ.
    """
    return _engine(engine)(pred_m, gt_m, protocol=protocol, spot_mask=spot_mask, sparse_m=sparse_m, work=work)


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
    """Streaming twin of `frame_stats`: ``update`` per frame, ``compute`` any time, ``reset`` to start over.

    Args:
        protocol: the scoring protocol (default `Protocol()`).
        engine: the `frame_stats` engine ``update`` uses (one of `ENGINES`).
    """

    def __init__(self, protocol: Protocol | None = None, *, engine: str = "auto") -> None:
        self.protocol = protocol if protocol is not None else Protocol()
        self.engine = engine
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
            pred_m,
            gt_m,
            protocol=self.protocol,
            spot_mask=spot_mask,
            sparse_m=sparse_m,
            work=self._work,
            engine=self.engine,
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
