"""Depth metrics: NLSPN's definitions (errors, thresholds), MIPI 2022's, regions, and a streaming accumulator.

Every metric column is declared once in `catalog` (`METRIC_INFO`: unit, direction, the sums it needs and how it
finishes from them); each has a numpy function ``f(pred_m, gt_m, valid=None) -> float`` in the `METRICS`
registry, and `MetricAccumulator` computes all of them per frame from the same declarations.
"""

from leaderboard.metrics.accumulate import (
    REGIONS,
    ROW_KEYS,
    AccumulatorResult,
    FrameStats,
    MetricAccumulator,
    frame_stats,
)
from leaderboard.metrics.base import EPS, METRICS, NLSPN_T_VALID_M, MetricInfo, prepare
from leaderboard.metrics.catalog import METRIC_INFO, METRIC_KEYS, MIPI_SCORE_COLUMN, THRESHOLDS, mipi_score
from leaderboard.metrics.errors import imae, irmse, mae, rel, rmse, sqrel
from leaderboard.metrics.mipi import ewmae, rds, rmae
from leaderboard.metrics.thresholds import d1, d2, d3, d102, d105, d110

__all__ = [
    "EPS",
    "METRICS",
    "METRIC_INFO",
    "METRIC_KEYS",
    "NLSPN_T_VALID_M",
    "REGIONS",
    "ROW_KEYS",
    "THRESHOLDS",
    "AccumulatorResult",
    "FrameStats",
    "MetricAccumulator",
    "MetricInfo",
    "d1",
    "d2",
    "d3",
    "d102",
    "d105",
    "d110",
    "ewmae",
    "frame_stats",
    "imae",
    "irmse",
    "mae",
    "mipi_score",
    "MIPI_SCORE_COLUMN",
    "prepare",
    "rds",
    "rel",
    "rmae",
    "rmse",
    "sqrel",
]
