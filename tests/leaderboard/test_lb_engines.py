"""The fused numba scoring engine against the NumPy engine (its reference) on random frames and protocols.

What the fused engine guarantees (see `leaderboard.metrics.kernels`): every count is exact (the per-pixel terms
are bit-identical), every float sum agrees to 1e-12 relative (only the summation order differs), except the
EWMAE sums: NumPy's float32 ``exp`` is off by an ulp in about half the cases, the kernels' is correctly
rounded, so those are compared with the NumPy engine loosely and with a correctly rounded reference tightly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.metrics import ROW_KEYS, frame_stats
from leaderboard.metrics.frame_fused import kernels_available
from leaderboard.protocol import Protocol

pytestmark = pytest.mark.skipif(not kernels_available(), reason="numba does not import: no fused engine")

_SUM_RTOL = 1e-12
# EWMAE (and the MIPI score built on it) rests on the conduction weights' exp: NumPy's is not correctly rounded
_EW_RTOL = 1e-7
# counts and what follows from counts alone: equal, not close
_EXACT = {"n_valid", "n_scored", "n_missing", "density", "s_n", "s_rds_n"}
_EXACT |= {k for k in ROW_KEYS if k.startswith("s_c_")} | {"d1", "d2", "d3", "d102", "d105", "d110"}
# region columns n, sq, abs, rel, c_d1: the counts are exact
_REGION_COUNT_COLS = [0, 4]
_REGION_SUM_COLS = [1, 2, 3]

PROTOCOLS = [
    Protocol(),
    Protocol(missing="fill", max_depth_m=5.0, clip_pred_to_caps=True),
    Protocol(missing="exclude", min_depth_m=0.5, bins_m=(0.0, 2.0, 4.0, 8.0)),
    # many bins starting above the smallest depths (labels below and above them), another kappa and jump
    Protocol(bins_m=tuple(np.linspace(1.0, 8.0, 15)), ewmae_kappa=0.2, edge_rel_jump=0.2),
]
PROTOCOL_IDS = ["default", "fill-capped", "exclude-bins", "many-bins"]


def _frame(rng, h, w, dtype=np.float32):
    gt = rng.uniform(0.3, 9.0, (h, w)).astype(dtype)
    gt[rng.uniform(size=gt.shape) < 0.1] = 0.0
    gt[rng.uniform(size=gt.shape) < 0.01] = np.nan
    gt[rng.uniform(size=gt.shape) < 0.01] = np.inf
    gt[: h // 2, : w // 3] = 1.5  # a flat block with a depth edge around it
    pred = (gt + rng.normal(0, 0.1, gt.shape)).astype(dtype)
    pred[rng.uniform(size=gt.shape) < 0.05] = 0.0
    pred[rng.uniform(size=gt.shape) < 0.01] = np.nan
    pred[rng.uniform(size=gt.shape) < 0.01] = -1.0
    spots = rng.uniform(size=gt.shape) < 0.02
    sparse = np.where(spots, np.nan_to_num(gt, posinf=0.0) + 0.01, 0.0).astype(dtype)
    return pred, gt, spots, sparse


def _assert_engines_agree(pred, gt, protocol, spot_mask, sparse_m):
    kw = {"protocol": protocol, "spot_mask": spot_mask, "sparse_m": sparse_m}
    want = frame_stats(pred, gt, engine="numpy", **kw)
    got = frame_stats(pred, gt, engine="fused", **kw)
    for i, key in enumerate(ROW_KEYS):
        if key in _EXACT:
            np.testing.assert_array_equal(got.row[i], want.row[i], err_msg=key)
        else:
            rtol = _EW_RTOL if ("ew" in key or "mipi" in key) else _SUM_RTOL
            np.testing.assert_allclose(got.row[i], want.row[i], rtol=rtol, atol=1e-300, err_msg=key)
    np.testing.assert_array_equal(got.bins[:, _REGION_COUNT_COLS], want.bins[:, _REGION_COUNT_COLS])
    np.testing.assert_allclose(got.bins[:, _REGION_SUM_COLS], want.bins[:, _REGION_SUM_COLS], rtol=_SUM_RTOL, atol=0)
    assert got.regions.keys() == want.regions.keys()
    for name, value in want.regions.items():
        if value is None:
            assert got.regions[name] is None
        else:
            np.testing.assert_array_equal(got.regions[name][_REGION_COUNT_COLS], value[_REGION_COUNT_COLS], name)
            np.testing.assert_allclose(
                got.regions[name][_REGION_SUM_COLS], value[_REGION_SUM_COLS], rtol=_SUM_RTOL, atol=0, err_msg=name
            )
    return got


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOL_IDS)
def test_fused_engine_matches_numpy_engine(protocol, rng):
    for h, w in [(24, 32), (61, 47), (1, 9), (7, 1), (1, 1)]:
        pred, gt, spots, sparse = _frame(rng, h, w)
        for spot_mask, sparse_m in [(spots, sparse), (None, None)]:
            _assert_engines_agree(pred, gt, protocol, spot_mask, sparse_m)


@pytest.mark.parametrize("protocol", PROTOCOLS[:3], ids=PROTOCOL_IDS[:3])
def test_fused_engine_float64_and_mixed_dtypes(protocol, rng):
    pred, gt, spots, sparse = _frame(rng, 33, 29, dtype=np.float64)
    _assert_engines_agree(pred, gt, protocol, spots, sparse)
    _assert_engines_agree(pred.astype(np.float32), gt, protocol, spots, sparse.astype(np.float32))
    _assert_engines_agree(pred, gt.astype(np.float32), protocol, spots, sparse)


def test_fused_engine_rows_wider_than_a_chunk(rng):
    """Rows wider than `kernels.error_sums.CHUNK` go through the error loop in pieces (its counts are 12-bit fields)."""
    from leaderboard.metrics.kernels.error_sums import CHUNK

    w = 2 * CHUNK + 17
    pred, gt, spots, sparse = _frame(rng, 3, w)
    pred[:, : w // 2] = gt[:, : w // 2]  # a long stretch of exact hits: counts beyond one field's range per row
    got = _assert_engines_agree(pred, gt, Protocol(), spots, sparse)
    assert got.row[ROW_KEYS.index("s_c_d1")] > CHUNK


def test_fused_engine_without_valid_or_present_pixels(rng):
    pred, gt, spots, sparse = _frame(rng, 12, 10)
    for p in (pred, np.zeros_like(pred), np.full_like(pred, np.nan)):
        for g in (gt, np.zeros_like(gt), np.full_like(gt, np.nan)):
            for protocol in PROTOCOLS[:3]:
                _assert_engines_agree(p, g, protocol, spots, sparse)


def _ew_reference(pred, gt, valid, kappa):
    """(ew_num, ew_den) with `mipi.conduction_weights`' float32 steps but a correctly rounded float32 exp."""
    gmax = float(gt[valid].max())
    r = np.multiply(gt, np.float32(1.0 / gmax), dtype=np.float32)
    neg_inv_k2 = -np.float32(1.0 / (kappa * kappa))
    weights = np.zeros(gt.shape, np.float32)
    for lo, hi in (
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ):
        both = valid[lo] & valid[hi]
        d = np.where(both, r[hi] - r[lo], np.float32(0.0))
        t = (d * d) * neg_inv_k2
        c = np.float32(1.0) - np.exp(t.astype(np.float64)).astype(np.float32)  # float64 exp, rounded once
        weights[lo] += c
        weights[hi] += c
    weights *= np.float32(0.25)
    w = weights[valid].astype(np.float64)
    err = np.abs(pred[valid].astype(np.float64) - gt[valid].astype(np.float64))
    return math.fsum(w * err) / gmax, math.fsum(w)


@pytest.mark.parametrize("max_depth_m", [None, 3.0])
def test_fused_ewmae_matches_correctly_rounded_reference(max_depth_m, rng):
    """On smooth GT, where NumPy's float32 exp ulps become ~1e-4 of the EWMAE sums, the kernels are exact."""
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gt = (2.0 + 1.5 * xx / w + 0.5 * yy / h).astype(np.float32)  # a slanted wall, as in the benchmark
    gt[10:30, 20:50] = 1.2
    gt[rng.uniform(size=gt.shape) < 0.02] = 0.0
    pred = (gt + rng.normal(0, 0.02, gt.shape)).astype(np.float32)
    pred[gt == 0] = 1.0
    protocol = Protocol(max_depth_m=max_depth_m)
    valid = (gt > protocol.valid_min_m) & (gt <= (np.inf if max_depth_m is None else max_depth_m))
    want_num, want_den = _ew_reference(pred, gt, valid, protocol.ewmae_kappa)
    got = frame_stats(pred, gt, protocol=protocol, engine="fused")
    np.testing.assert_allclose(got.row[ROW_KEYS.index("s_ew_num")], want_num, rtol=_SUM_RTOL)
    np.testing.assert_allclose(got.row[ROW_KEYS.index("s_ew_den")], want_den, rtol=_SUM_RTOL)


def test_exp_f32_is_correctly_rounded(rng):
    from numba import njit

    from leaderboard.metrics.kernels import exp_f32

    @njit
    def many(t):
        out = np.empty_like(t)
        for i in range(t.size):
            out[i] = exp_f32(t[i])
        return out

    t = np.concatenate(
        [
            -rng.uniform(0, 1e-3, 20000),
            -rng.uniform(0, 5, 20000),
            -rng.uniform(0, 130, 2000),
            [0.0, -0.0, -1e-45, -1e-30, -0.34657359, -0.34657360, -87.3, -103.97, -104.0, -150.0, -np.inf],
        ]
    ).astype(np.float32)
    want = np.array([np.float32(math.exp(float(x))) for x in t], np.float32)
    np.testing.assert_array_equal(many(t), want)
    assert many(np.array([np.nan], np.float32))[0] == 0.0  # NaN only occurs in discarded lanes


def test_valid_max_matches_numpy(rng):
    from leaderboard.metrics.kernels import valid_max

    for dtype in (np.float32, np.float64):
        gt = rng.uniform(0, 9, (40, 50)).astype(dtype)
        gt[rng.uniform(size=gt.shape) < 0.1] = 0.0
        gt[rng.uniform(size=gt.shape) < 0.05] = np.nan
        gt[rng.uniform(size=gt.shape) < 0.05] = np.inf
        gt[0, 0] = -3.0
        for vmin, vmax in [(1e-4, float(np.finfo(dtype).max)), (0.0, 5.0), (2.0, 2.5)]:
            vmin, vmax = float(dtype(vmin)), float(dtype(vmax))
            with np.errstate(invalid="ignore"):
                valid = (gt > vmin) & (gt <= vmax)
            assert valid_max(gt, vmin, vmax) == (np.count_nonzero(valid), float(gt[valid].max()))
        n, gmax = valid_max(np.zeros((3, 4), dtype), 1e-4, 1.0)
        assert n == 0 and math.isnan(gmax)
