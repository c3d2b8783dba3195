"""The per-frame result both scoring engines produce: its keys, `FrameStats`, and metrics from sums.

A frame is reduced to counts and sums (`catalog.SUM_KEYS`); every metric follows from sums with
`catalog.finalize`, per image or pooled over many images. `assemble` turns one frame's counts and sums into its
row (`ROW_KEYS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from leaderboard.metrics.catalog import METRIC_KEYS, SUM_KEYS, finalize
from leaderboard.metrics.regions import REGION_SUM_KEYS

__all__ = ["COUNT_KEYS", "ROW_KEYS", "REGIONS", "COL", "FrameStats", "assemble"]

#: Counters of one image: valid GT pixels, scored pixels, valid GT pixels without a prediction, density.
COUNT_KEYS = ("n_valid", "n_scored", "n_missing", "density")
#: One per-image row: counters, sums (prefixed ``s_``), metrics.
ROW_KEYS = (*COUNT_KEYS, *(f"s_{k}" for k in SUM_KEYS), *METRIC_KEYS)
#: Pooled regions besides the depth bins.
REGIONS = ("all", "at_spot", "away_from_spot", "edge", "flat")
#: ROW_KEYS name -> column index.
COL = {k: i for i, k in enumerate(ROW_KEYS)}


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


def assemble(
    n_valid: int,
    n_scored: int,
    n_missing: int,
    sums: dict[str, float],
    bins: np.ndarray,
    edge: np.ndarray,
    at_spot: np.ndarray | None,
) -> FrameStats:
    """One frame's `FrameStats` from its counts and sums.

    Args:
        n_valid: valid GT pixels; n_scored: scored pixels; n_missing: valid GT pixels without a prediction.
        sums: every key of `SUM_KEYS` (``n`` = n_scored).
        bins: (n_bins, len(REGION_SUM_KEYS)) float64 per-depth-bin sums.
        edge: (len(REGION_SUM_KEYS),) float64 sums over the scored edge pixels.
        at_spot: the same over the scored spot pixels, None without a spot mask.
    """
    row = np.zeros(len(ROW_KEYS), np.float64)
    row[COL["n_valid"]] = n_valid
    row[COL["n_scored"]] = n_scored
    row[COL["n_missing"]] = n_missing
    row[COL["density"]] = 1.0 - n_missing / n_valid if n_valid else math.nan
    for k in SUM_KEYS:
        row[COL[f"s_{k}"]] = sums[k]
    for k, v in finalize(sums).items():
        row[COL[k]] = v
    regions = {"all": np.array([sums[k] for k in REGION_SUM_KEYS]), "edge": edge, "at_spot": at_spot}
    return FrameStats(row=row, bins=bins, regions=regions)
