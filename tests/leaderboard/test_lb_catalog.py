"""leaderboard.metrics.catalog: every metric declared once, and everything that shows or computes one follows it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.metrics import METRIC_INFO, METRIC_KEYS, METRICS
from leaderboard.metrics.catalog import DECLARED, SUM_KEYS, finalize
from leaderboard.metrics.frame_fused import frame_stats_fused, kernels_available
from leaderboard.metrics.frame_numpy import frame_stats_numpy
from leaderboard.metrics.rows import COL
from leaderboard.protocol import Protocol
from leaderboard.tables import DISPLAY


@pytest.mark.parametrize("info", DECLARED, ids=lambda m: m.name)
def test_every_declaration_is_complete(info):
    assert info.unit in ("m", "1/m", "fraction", "score")
    assert info.label and info.description
    assert DISPLAY[info.name] == (info.label, info.display_scale, info.display_format)
    assert set(info.sums) <= set(SUM_KEYS)
    if info.finish is not None and info.name != "mipi_score_no_rtsd":  # the score combines three metrics, no pixels
        assert METRICS.get(info.name).info is info  # the stand-alone function carries the same declaration


def test_columns_and_sums_follow_declaration_order():
    assert METRIC_KEYS == tuple(m.name for m in DECLARED if m.finish is not None)
    assert list(METRIC_INFO) == [m.name for m in DECLARED]
    assert SUM_KEYS[0] == "n" and len(set(SUM_KEYS)) == len(SUM_KEYS)


def test_finalize_from_sums_hand_computed():
    sums = dict.fromkeys(SUM_KEYS, 0.0) | {"n": 4.0, "sq": 4.0, "abs": 2.0, "c_d1": 3.0, "ew_num": 1.0, "ew_den": 4.0}
    out = finalize(sums)
    assert list(out) == list(METRIC_KEYS)
    assert out["rmse"] == 1.0 and out["mae"] == 0.5 and out["d1"] == 0.75 and out["ewmae"] == 0.25
    assert math.isnan(out["rds"]) and math.isnan(out["mipi_score_no_rtsd"])  # no spots: RDS and the score are unknown
    empty = finalize(dict.fromkeys(SUM_KEYS, 0.0))
    assert all(math.isnan(v) for v in empty.values())


@pytest.mark.parametrize("engine", ["numpy", "fused"])
def test_both_engines_fill_every_declared_sum(engine, rng):
    if engine == "fused" and not kernels_available():
        pytest.skip("numba is not installed")
    gt = rng.uniform(0.5, 5.0, (12, 16)).astype(np.float32)
    pred = gt + rng.normal(0, 0.05, gt.shape).astype(np.float32)
    sparse = np.where(rng.random(gt.shape) < 0.1, gt, 0).astype(np.float32)
    run = frame_stats_numpy if engine == "numpy" else frame_stats_fused
    stats = run(pred, gt, protocol=Protocol(), sparse_m=sparse)
    for key in SUM_KEYS:
        assert stats.row[COL[f"s_{key}"]] > 0, key  # every sum is produced (all are positive on this frame)
    for key in METRIC_KEYS:
        assert math.isfinite(stats.row[COL[key]]), key
