"""leaderboard.metrics: hand-computed values, naive float64 loop references, twins, streaming, policies, regions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.errors import ShapeError
from leaderboard.metrics import METRIC_INFO, METRICS, ROW_KEYS, MetricAccumulator, frame_stats
from leaderboard.metrics.mipi import conduction_weights, mipi_score
from leaderboard.metrics.regions import edge_mask
from leaderboard.protocol import Protocol

T_VALID = 1e-4


# ---------------------------------------------------------------------------------------------------------------
# A deliberately simple reference: Python floats, one pixel at a time, NLSPN's formulas written out.


def naive(pred, gt, valid=None):
    """All NLSPN + MIPI(RMAE) metrics with a plain loop (no vectorisation, no shared code)."""
    h, w = gt.shape
    n = 0
    s = dict.fromkeys(["sq", "abs", "isq", "iabs", "rel", "sqrel", "rmae"], 0.0)
    cnt = dict.fromkeys(["d1", "d2", "d3", "d102", "d105", "d110"], 0)
    thr = {"d1": 1.25, "d2": 1.5625, "d3": 1.953125, "d102": 1.02, "d105": 1.05, "d110": 1.10}
    for y in range(h):
        for x in range(w):
            g = float(gt[y, x])
            ok = (g > T_VALID) if valid is None else bool(valid[y, x])
            if not ok:
                continue
            p = float(pred[y, x])
            if not math.isfinite(p) or p < 0:
                p = 0.0
            n += 1
            d = p - g
            s["sq"] += d * d
            s["abs"] += abs(d)
            ip = 0.0 if p <= T_VALID else 1.0 / (p + 1e-8)
            ig = 1.0 / (g + 1e-8)
            s["isq"] += (ip - ig) ** 2
            s["iabs"] += abs(ip - ig)
            s["rel"] += abs(d) / (g + 1e-8)
            s["sqrel"] += d * d / (g + 1e-8)
            s["rmae"] += abs(d) / g
            ratio = max(g / (p + 1e-8), p / (g + 1e-8))
            for k, t in thr.items():
                cnt[k] += ratio < t
    out = {
        "rmse": math.sqrt(s["sq"] / n),
        "mae": s["abs"] / n,
        "irmse": math.sqrt(s["isq"] / n),
        "imae": s["iabs"] / n,
        "rel": s["rel"] / n,
        "sqrel": s["sqrel"] / n,
        "rmae": s["rmae"] / n,
    }
    out.update({k: v / n for k, v in cnt.items()})
    return out


def naive_ewmae(pred, gt, kappa=0.5):
    """MIPI 2022's EWMAE transcribed (dense GT), float32 like the challenge's code."""
    ref = gt.astype(np.float32) / gt.max()
    work = pred.astype(np.float32) / gt.max()
    gs = np.zeros_like(ref)
    ge = np.zeros_like(ref)
    gs[:-1, :] = np.diff(ref, axis=0)
    ge[:, :-1] = np.diff(ref, axis=1)
    cs, ce = np.exp(-((gs / kappa) ** 2)), np.exp(-((ge / kappa) ** 2))
    cn, cw = np.ones_like(ref), np.ones_like(ref)
    cn[1:, :] = cs[:-1, :]
    cw[:, 1:] = ce[:, :-1]
    big_g = 1 - np.clip((cn + cs + cw + ce) / 4, 0, 1)
    return float(np.abs(big_g * (ref - work)).sum() / big_g.sum())


def naive_rds(pred, sparse):
    tot, n = 0.0, 0
    for y in range(sparse.shape[0]):
        for x in range(sparse.shape[1]):
            s = float(sparse[y, x])
            if s > 0:
                tot += abs(float(pred[y, x]) - s) / s
                n += 1
    return tot / n


def scene(rng, h=24, w=32):
    """A box-like depth map with edges, some invalid GT, a noisy prediction and sparse spots."""
    gt = np.full((h, w), 3.0, np.float32)
    gt[:, w // 2 :] = 1.2
    gt[h // 3 : h // 2, 4:10] = 0.6
    gt += rng.uniform(0, 0.05, gt.shape).astype(np.float32)
    gt[0, :4] = 0.0
    pred = (gt + rng.normal(0, 0.08, gt.shape)).astype(np.float32)
    pred[0, :4] = rng.uniform(1, 2, 4)  # predictions where the GT is invalid: ignored
    sparse = np.zeros_like(gt)
    sparse[2::5, 3::6] = gt[2::5, 3::6] + 0.01
    return pred, gt, sparse


# ---------------------------------------------------------------------------------------------------------------
# Hand-computed cases.


def test_hand_computed_2x2():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]], np.float32)  # the 0 is invalid
    pred = np.array([[1.5, 2.0], [3.0, 7.0]], np.float32)
    want = {
        "rmse": math.sqrt(1.25 / 3),  # errors 0.5, 0, -1
        "mae": 0.5,
        "irmse": math.sqrt((1 / 9 + 0 + 1 / 144) / 3),  # inverse errors -1/3, 0, 1/12
        "imae": (1 / 3 + 1 / 12) / 3,
        "rel": (0.5 + 0 + 0.25) / 3,
        "sqrel": (0.25 + 0 + 0.25) / 3,
        "rmae": 0.25,
        "d1": 1 / 3,  # ratios 1.5, 1, 4/3
        "d2": 1.0,
        "d3": 1.0,
        "d102": 1 / 3,
        "d105": 1 / 3,
        "d110": 1 / 3,
    }
    for name, value in want.items():
        assert METRICS.get(name)(pred, gt) == pytest.approx(value, rel=1e-7), name
    acc = MetricAccumulator()
    row = acc.update(pred, gt)
    assert row.shape == (len(ROW_KEYS),)
    for name, value in want.items():
        assert acc.compute().per_image[name] == pytest.approx(value, rel=1e-7), name


def test_zero_prediction_is_penalised_like_nlspn():
    gt = np.array([[2.0]], np.float32)
    pred = np.array([[0.0]], np.float32)
    assert METRICS.get("rmse")(pred, gt) == pytest.approx(2.0)
    assert METRICS.get("imae")(pred, gt) == pytest.approx(0.5)  # inverse of a 0 prediction counts as 0, not inf
    assert METRICS.get("irmse")(pred, gt) == pytest.approx(0.5)
    assert METRICS.get("rel")(pred, gt) == pytest.approx(1.0)
    assert METRICS.get("d3")(pred, gt) == 0.0
    # negative and NaN predictions are clamped to 0 (NLSPN clamps its output at 0 before scoring)
    for bad in (-3.0, np.nan, np.inf):
        assert METRICS.get("mae")(np.array([[bad]], np.float32), gt) == pytest.approx(2.0)


def test_rds_and_mipi_score_hand_computed():
    pred = np.array([[1.1, 5.0], [2.0, 3.0]], np.float32)
    sparse = np.array([[1.0, 0.0], [2.5, 0.0]], np.float32)
    assert METRICS.get("rds")(pred, sparse) == pytest.approx((0.1 / 1.0 + 0.5 / 2.5) / 2, rel=1e-6)
    assert mipi_score(0.1, 0.2, 0.01) == pytest.approx(1 - 0.18 - 0.12 - 0.03)


def test_metric_info_has_direction_and_unit():
    assert METRIC_INFO["rmse"].unit == "m" and not METRIC_INFO["rmse"].higher_is_better
    assert METRIC_INFO["irmse"].unit == "1/m"
    assert METRIC_INFO["d1"].higher_is_better and METRIC_INFO["d1"].unit == "fraction"
    assert METRIC_INFO["mipi_score_no_rtsd"].higher_is_better


# ---------------------------------------------------------------------------------------------------------------
# Every registered metric against the naive reference on random data (parametrized over the registry).


def _naive_metric(key):
    return lambda p, g, s: naive(p, g)[key]


REFERENCE = {
    **{k: _naive_metric(k) for k in naive(np.ones((1, 1)), np.ones((1, 1)))},
    "ewmae": lambda p, g, s: naive_ewmae(p, g),
    "rds": lambda p, g, s: naive_rds(p, s),
}


def test_every_metric_has_a_reference():
    assert set(METRICS.names()) == set(REFERENCE)


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_matches_naive_reference(name, rng):
    for _ in range(3):
        pred, gt, sparse = scene(rng)
        if name == "ewmae":
            gt = np.abs(gt) + 0.5  # MIPI's EWMAE assumes dense GT
            got = METRICS.get(name)(pred, gt)
        elif name == "rds":
            got = METRICS.get(name)(pred, sparse)
        else:
            got = METRICS.get(name)(pred, gt)
        want = REFERENCE[name](pred, gt, sparse)
        assert got == pytest.approx(want, rel=1e-5 if name == "ewmae" else 1e-10), name


def test_accumulator_matches_functions_and_reference(rng):
    """Twin: the streaming accumulator and the functions agree on every metric of every image."""
    acc = MetricAccumulator(Protocol())
    frames = [scene(rng) for _ in range(4)]
    for pred, gt, sparse in frames:
        acc.update(pred, gt, sparse_m=sparse, spot_mask=sparse > 0)
    res = acc.compute()
    for j, (pred, gt, sparse) in enumerate(frames):
        ref = naive(pred, gt)
        for k, v in ref.items():
            assert res.column(k)[j] == pytest.approx(v, rel=1e-10), k
            assert res.column(k)[j] == pytest.approx(METRICS.get(k)(pred, gt), rel=1e-12), k
        assert res.column("rds")[j] == pytest.approx(naive_rds(pred, sparse), rel=1e-6)
        assert res.column("ewmae")[j] == pytest.approx(METRICS.get("ewmae")(pred, gt), rel=1e-6)
    for k in ("rmse", "mae", "d1"):
        assert res.per_image[k] == pytest.approx(np.mean([naive(p, g)[k] for p, g, _ in frames]), rel=1e-12)


def test_ewmae_weights_edges_and_ignores_invalid_neighbours():
    gt = np.full((6, 8), 2.0, np.float32)
    gt[:, 4:] = 4.0
    valid = gt > 0
    weights, gmax = conduction_weights(gt, valid, kappa=0.5)
    assert gmax == 4.0
    # G = (1 - exp(-(0.5 / 0.5)^2)) / 4 on both sides of the step, 0 on flat ground
    assert weights[2, 3] == pytest.approx((1 - math.exp(-1)) / 4, rel=1e-6)
    assert weights[2, 4] == pytest.approx((1 - math.exp(-1)) / 4, rel=1e-6)
    assert weights[2, 0] == 0 and weights[2, 7] == 0
    gt2 = gt.copy()
    gt2[:, :4] = 0.0  # invalid on the left: no gradient towards it
    w2, _ = conduction_weights(gt2, gt2 > 0, kappa=0.5)
    assert not w2.any()


# ---------------------------------------------------------------------------------------------------------------
# Aggregation: per image vs pooled, empty images, streaming order and batching.


def test_per_image_and_pooled_differ_on_constructed_case():
    a_gt = np.array([[2.0, 0.0], [0.0, 0.0]], np.float32)  # one valid pixel, error 1 m
    a_pred = np.array([[3.0, 0.0], [0.0, 0.0]], np.float32)
    b_gt = np.full((2, 2), 2.0, np.float32)  # four valid pixels, no error
    acc = MetricAccumulator()
    acc.update(a_pred, a_gt)
    acc.update(b_gt.copy(), b_gt)
    res = acc.compute()
    assert res.per_image["mae"] == 0.5  # (1 + 0) / 2 images
    assert res.pooled["mae"] == 0.2  # 1 m over 5 pixels
    assert res.per_image["rmse"] == 0.5
    assert res.pooled["rmse"] == pytest.approx(math.sqrt(1 / 5), rel=1e-15)


def test_empty_image_is_counted_not_dropped_silently():
    acc = MetricAccumulator()
    acc.update(np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32), name="empty")
    acc.update(np.full((2, 2), 2.0, np.float32), np.ones((2, 2), np.float32), name="full")
    res = acc.compute()
    assert res.counts["n_images"] == 2 and res.counts["n_empty"] == 1
    assert math.isnan(res.column("rmse")[0])
    assert res.per_image["mae"] == 1.0  # the mean is over the non-empty image
    assert res.names == ["empty", "full"]


def test_streaming_is_independent_of_order_and_batching(rng):
    frames = [scene(rng) for _ in range(9)]
    pr = Protocol()

    def run(order):
        acc = MetricAccumulator(pr)
        for i in order:
            p, g, s = frames[i]
            acc.update(p, g, sparse_m=s, spot_mask=s > 0, name=str(i))
        return acc.compute()

    a = run(range(9))
    b = run([8, 3, 1, 0, 7, 2, 6, 5, 4])
    # batches scored separately (e.g. by worker threads) and merged with add()
    c_acc = MetricAccumulator(pr)
    stats = [frame_stats(p, g, protocol=pr, sparse_m=s, spot_mask=s > 0) for p, g, s in frames]
    for i in (4, 5, 6, 7, 8, 0, 1, 2, 3):
        c_acc.add(stats[i], name=str(i))
    c = c_acc.compute()
    for other in (b, c):
        assert other.per_image == a.per_image  # fsum: exactly the same numbers
        assert other.pooled == a.pooled
        for ba, bo in zip(a.bins, other.bins, strict=True):
            assert bo["n_pixels"] == ba["n_pixels"]
            assert bo["rmse"] == pytest.approx(ba["rmse"], rel=1e-12, nan_ok=True)
    # one-shot: pooled over frames == the functions on all pixels side by side
    big_p = np.concatenate([f[0] for f in frames], axis=1)
    big_g = np.concatenate([f[1] for f in frames], axis=1)
    for k in ("rmse", "mae", "irmse", "imae", "rel", "d1", "d105"):
        assert a.pooled[k] == pytest.approx(METRICS.get(k)(big_p, big_g), rel=1e-12), k


def test_nan_and_inf_ground_truth_count_as_invalid(rng):
    pred, gt, sparse = scene(rng)
    zeros = MetricAccumulator()
    zeros.update(pred, gt, sparse_m=sparse, spot_mask=sparse > 0)
    odd = gt.copy()
    odd[0, :2] = np.nan  # the same pixels gt marks invalid with 0
    odd[0, 2:4] = np.inf
    other = MetricAccumulator()
    other.update(pred, odd, sparse_m=sparse, spot_mask=sparse > 0)
    a, b = zeros.compute(), other.compute()
    assert a.per_image == b.per_image and a.regions == b.regions
    assert np.isfinite(b.per_image["ewmae"])


def test_accumulator_reset(rng):
    acc = MetricAccumulator()
    p, g, _ = scene(rng)
    acc.update(p, g)
    acc.reset()
    assert len(acc) == 0 and acc.compute().counts["n_images"] == 0


def test_shape_mismatch_raises():
    with pytest.raises(ShapeError, match="shape"):
        MetricAccumulator().update(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ShapeError, match="must match"):
        METRICS.get("rmse")(np.ones((2, 3)), np.ones((3, 2)))


# ---------------------------------------------------------------------------------------------------------------
# Missing predictions, caps, regions.


def test_missing_pixel_policies():
    gt = np.full((1, 4), 2.0, np.float32)
    pred = np.array([[np.nan, 3.0, 2.0, 2.0]], np.float32)
    got = {}
    for policy in ("penalise", "fill", "exclude"):
        acc = MetricAccumulator(Protocol(missing=policy))
        acc.update(pred, gt)
        res = acc.compute()
        got[policy] = res.per_image["mae"]
        assert res.counts["density"] == 0.75 and res.counts["n_missing_pixels"] == 1
    assert got["penalise"] == pytest.approx((2 + 1) / 4)  # the hole counts as 0 m
    assert got["fill"] == pytest.approx((1 + 1) / 4)  # the hole takes its nearest neighbour, 3 m
    assert got["exclude"] == pytest.approx(1 / 3)


def test_depth_cap_and_clipping():
    gt = np.array([[1.0, 5.0, 12.0]], np.float32)
    pred = np.array([[1.5, 5.0, 20.0]], np.float32)
    acc = MetricAccumulator(Protocol(max_depth_m=10.0))
    acc.update(pred, gt)
    assert acc.compute().per_image["mae"] == pytest.approx(0.25)  # the 12 m pixel is not scored
    acc = MetricAccumulator(Protocol(max_depth_m=10.0, clip_pred_to_caps=True))
    acc.update(np.array([[1.5, 15.0, 1.0]], np.float32), gt)
    assert acc.compute().per_image["mae"] == pytest.approx((0.5 + 5.0) / 2)  # 15 m clipped to 10 m


def naive_edges(gt, rel_jump):
    h, w = gt.shape
    edge = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and gt[y, x] > T_VALID and gt[yy, xx] > T_VALID:
                    if abs(float(gt[yy, xx]) - float(gt[y, x])) > rel_jump * min(float(gt[y, x]), float(gt[yy, xx])):
                        edge[y, x] = True
    return edge


def test_bins_and_regions_match_naive(rng):
    pred, gt, sparse = scene(rng)
    pr = Protocol(bins_m=(0.0, 1.0, 2.0, 5.0))
    acc = MetricAccumulator(pr)
    acc.update(pred, gt, spot_mask=sparse > 0, sparse_m=sparse)
    res = acc.compute()
    valid = gt > T_VALID
    np.testing.assert_array_equal(edge_mask(gt, valid, rel_jump=0.05), naive_edges(gt, 0.05))
    for b in res.bins:
        sel = valid & (gt >= b["lo_m"]) & (gt < b["hi_m"])
        assert b["n_pixels"] == int(sel.sum())
        if sel.any():
            ref = naive(pred, gt, sel)
            for k in ("rmse", "mae", "rel", "d1"):
                assert b[k] == pytest.approx(ref[k], rel=1e-10), (b["bin"], k)
    regions = {r["region"]: r for r in res.regions}
    edges = naive_edges(gt, 0.05)
    spots = sparse > 0
    for name, sel in (
        ("all", valid),
        ("edge", valid & edges),
        ("flat", valid & ~edges),
        ("at_spot", valid & spots),
        ("away_from_spot", valid & ~spots),
    ):
        assert regions[name]["n_pixels"] == int(sel.sum()), name
        ref = naive(pred, gt, sel)
        for k in ("rmse", "mae", "rel", "d1"):
            assert regions[name][k] == pytest.approx(ref[k], rel=1e-9), (name, k)


def test_regions_unknown_without_spot_mask(rng):
    pred, gt, _ = scene(rng)
    acc = MetricAccumulator()
    acc.update(pred, gt)
    regions = {r["region"]: r for r in acc.compute().regions}
    assert math.isnan(regions["at_spot"]["mae"]) and math.isnan(regions["at_spot"]["n_pixels"])
    assert regions["edge"]["n_pixels"] > 0
