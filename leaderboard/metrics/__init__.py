"""Depth metrics: NLSPN's definitions (errors, thresholds), MIPI 2022's, regions, and a streaming accumulator.

Every metric is a numpy function ``f(pred_m, gt_m, valid=None) -> float`` in the `METRICS` registry, with its
unit and direction in `METRIC_INFO`; `MetricAccumulator` computes all of them per frame with the same code.
"""

from leaderboard.metrics.base import EPS, METRIC_INFO, METRICS, NLSPN_T_VALID_M, MetricInfo, describe_metric, prepare
from leaderboard.metrics.errors import imae, irmse, mae, rel, rmse, sqrel
from leaderboard.metrics.thresholds import THRESHOLDS, d1, d2, d3, d102, d105, d110

from leaderboard.metrics.mipi import ewmae, mipi_score, rds, rmae  # isort: skip
from leaderboard.metrics.accumulate import (  # isort: skip
    METRIC_KEYS,
    REGIONS,
    ROW_KEYS,
    AccumulatorResult,
    FrameStats,
    MetricAccumulator,
    frame_stats,
)

describe_metric("density", "fraction", True, "fraction of valid GT pixels with a prediction")

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
    "prepare",
    "rds",
    "rel",
    "rmae",
    "rmse",
    "sqrel",
]
