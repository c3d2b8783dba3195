"""The fused numba scoring engine against the NumPy engine (its reference) on random frames and protocols."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboard.metrics import ROW_KEYS, frame_stats
from leaderboard.metrics.frame_fused import kernels_available
from leaderboard.protocol import Protocol

pytestmark = pytest.mark.skipif(not kernels_available(), reason="numba does not import: no fused engine")

# EWMAE (and the MIPI score built on it) sums conduction weights in another order in the kernel; everything
# else agrees to rounding
_RTOL = {"ew": 1e-7, "mipi": 1e-7}


def _frame(rng, h, w):
    gt = rng.uniform(0.3, 9.0, (h, w)).astype(np.float32)
    gt[rng.uniform(size=gt.shape) < 0.1] = 0.0
    gt[rng.uniform(size=gt.shape) < 0.01] = np.nan
    gt[: h // 2, : w // 3] = 1.5  # a flat block with a depth edge around it
    pred = (gt + rng.normal(0, 0.1, gt.shape)).astype(np.float32)
    pred[rng.uniform(size=gt.shape) < 0.05] = 0.0
    pred[rng.uniform(size=gt.shape) < 0.01] = np.nan
    spots = rng.uniform(size=gt.shape) < 0.02
    sparse = np.where(spots, np.nan_to_num(gt) + 0.01, 0.0).astype(np.float32)
    return pred, gt, spots, sparse


@pytest.mark.parametrize(
    "protocol",
    [
        Protocol(),
        Protocol(missing="fill", max_depth_m=5.0, clip_pred_to_caps=True),
        Protocol(missing="exclude", min_depth_m=0.5, bins_m=(0.0, 2.0, 4.0, 8.0)),
    ],
    ids=["default", "fill-capped", "exclude-bins"],
)
def test_fused_engine_matches_numpy_engine(protocol, rng):
    for h, w in [(24, 32), (61, 47)]:
        pred, gt, spots, sparse = _frame(rng, h, w)
        for spot_mask, sparse_m in [(spots, sparse), (None, None)]:
            want = frame_stats(pred, gt, protocol=protocol, spot_mask=spot_mask, sparse_m=sparse_m, engine="numpy")
            got = frame_stats(pred, gt, protocol=protocol, spot_mask=spot_mask, sparse_m=sparse_m, engine="fused")
            for i, key in enumerate(ROW_KEYS):
                rtol = next((t for k, t in _RTOL.items() if k in key), 1e-10)
                np.testing.assert_allclose(got.row[i], want.row[i], rtol=rtol, atol=1e-12, err_msg=key)
            np.testing.assert_allclose(got.bins, want.bins, rtol=1e-10, atol=1e-12)
            assert got.regions.keys() == want.regions.keys()
            for name, value in want.regions.items():
                if value is None:
                    assert got.regions[name] is None
                else:
                    np.testing.assert_allclose(got.regions[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
