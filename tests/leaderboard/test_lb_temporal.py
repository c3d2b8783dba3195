"""Temporal stability: MIPI's RTSD, the pose-warped RTSD-warp, the full MIPI score, and shuffled sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.io.sources import open_ground_truth
from leaderboard.metrics.catalog import METRIC_INFO, mipi_full_score, mipi_score
from leaderboard.metrics.temporal import rtsd, rtsd_warp, rtsd_warp_sums, warp_depth
from leaderboard.score import score
from leaderboard.temporal import SequenceOrderError, find_sequences, score_sequence
from tofsim.frame import Sample, empty_spots

H = W = 21
F = 50.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])


def pose_at(z_m: float = 0.0, x_m: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = [x_m, 0.0, z_m]
    return pose


def test_rtsd_hand_computed_and_challenge_formula():
    # a static camera, a plane at 2 m predicted as 2.2, 1.8, 2.0: std 0.163299 (population), mean 2.0
    preds = np.stack([np.full((3, 4), d, np.float32) for d in (2.2, 1.8, 2.0)])
    want = math.sqrt((0.2**2 + 0.2**2 + 0.0) / 3) / 2.0
    assert rtsd(preds) == pytest.approx(want, rel=1e-6)
    challenge = np.mean(np.std(preds, axis=0) / np.mean(preds, axis=0))  # the challenge's scoring code
    assert rtsd(preds) == pytest.approx(float(challenge), rel=1e-6)
    assert rtsd.info is METRIC_INFO["rtsd"]


def test_rtsd_skips_pixels_invalid_in_some_frame_and_rejects_one_frame():
    preds = np.ones((2, 2, 2), np.float32)
    preds[1, 0, 0] = 0.0  # invalid in frame 1: left out
    preds[1, 1, 1] = 3.0  # std 1, mean 2 -> 0.5; the other two pixels 0
    assert rtsd(preds) == pytest.approx(0.5 / 3)
    with pytest.raises(ValueError, match="T >= 2"):
        rtsd(np.ones((1, 2, 2)))


def test_warp_of_one_point_by_hand():
    # one point 2 m ahead at pixel (u, v) = (14, 10); the camera moves 0.2 m along +x: the point shifts left by
    # f * 0.2 / 2 = 5 pixels, to u = 9, at the same depth
    depth = np.zeros((H, W))
    depth[10, 14] = 2.0
    out = warp_depth(depth, K, pose_at(), pose_at(x_m=0.2))
    assert np.count_nonzero(out) == 1 and out[10, 9] == pytest.approx(2.0)


def test_warp_z_buffer_keeps_the_nearest():
    # after the camera moves 0.2 m along x, both points land on the centre pixel (10, 10):
    # u = 15 at 2 m: x = 5 * 2 / 50 = 0.2 m -> x' = 0 -> u' = 10; u = 12 at 4 m: x = 0.16 m -> x' = -0.04 m
    # -> u' = 10 - 50 * 0.04 / 4 = 9.5, rounded half up to 10
    depth = np.zeros((H, W))
    depth[10, 15] = 2.0
    depth[10, 12] = 4.0
    out = warp_depth(depth, K, pose_at(), pose_at(x_m=0.2))
    assert np.count_nonzero(out) == 1 and out[10, 10] == pytest.approx(2.0)  # the nearer point wins


def test_rtsd_warp_plane_along_z_with_known_flicker():
    # a fronto-parallel plane at 3 m; the camera moves 0.1 m per frame towards it (GT depth 3.0, 2.9, 2.8, 2.7);
    # the prediction flickers by +-2 %: p_t = g_t (1 + e_t). The warped previous depth is p_{t-1} - 0.1 at every pixel
    # it lands on, so each pair's value is |a - b| / (a + b) with a = p_{t-1} - 0.1, b = p_t.
    gt = [3.0 - 0.1 * t for t in range(4)]
    e = [0.02, -0.02, 0.02, -0.02]
    p = [g * (1 + x) for g, x in zip(gt, e, strict=True)]
    preds = np.stack([np.full((H, W), v) for v in p])
    poses = np.stack([pose_at(z_m=0.1 * t) for t in range(4)])
    total = n = 0
    for t in range(1, 4):
        a, b = p[t - 1] - 0.1, p[t]
        s, c = rtsd_warp_sums(preds[t - 1], preds[t], K, poses[t - 1], poses[t])
        assert c > 0 and s / c == pytest.approx(abs(a - b) / (a + b), rel=1e-9)
        total, n = total + s, n + c
    assert rtsd_warp(preds, K, poses) == pytest.approx(total / n)
    exact = np.stack([np.full((H, W), g) for g in gt])  # no flicker: the warp is exact, the metric 0
    assert rtsd_warp(exact, K, poses) == pytest.approx(0.0, abs=1e-12)
    assert rtsd(exact) > 0.01  # MIPI's RTSD counts the motion itself: it is meant for a static camera


def test_streaming_sequence_score_equals_the_stacked_functions(rng):
    preds = rng.uniform(1.0, 3.0, (5, H, W))
    poses = np.stack([pose_at(z_m=0.05 * t, x_m=0.02 * t) for t in range(5)])
    out = score_sequence(lambda i: preds[i], list(range(5)), np.stack([K] * 5), poses)
    assert out["rtsd"] == pytest.approx(rtsd(preds), rel=1e-9)
    assert out["rtsd_warp"] == pytest.approx(rtsd_warp(preds, K, poses), rel=1e-12)
    assert out["static"] is False and out["n_frames"] == 5


def make_gt(times, *, moving=False, n_seq=1):
    """A dataset object: `n_seq` sequences of plane frames at 2 m, K, poses, timestamps."""
    samples = []
    for s in range(n_seq):
        for k, t in enumerate(times):
            depth = np.full((H, W), 2.0 - (0.05 * k if moving else 0.0), np.float32)
            depth[:, 12:] += 0.5  # a step, so that EWMAE (and the MIPI score) is defined
            sparse = np.zeros_like(depth)
            sparse[::5, ::5] = depth[::5, ::5]
            meta = {"sequence_id": f"seq-{s}", "sequence_frame": k, "timestamp_s": t}
            samples.append(Sample(rgb=np.zeros((H, W, 3), np.uint8), depth_m=depth, sparse_m=sparse,
                                  spot_mask=sparse > 0, spots=empty_spots(0), K=K,
                                  pose=pose_at(z_m=0.05 * k if moving else 0.0), meta=meta))  # fmt: skip
    return samples


def write_preds(folder, n, values):
    folder.mkdir()
    for i in range(n):
        np.save(folder / f"{i:06d}.npy", np.broadcast_to(np.float32(values[i]), (H, W)))
    return folder


def test_score_adds_temporal_columns_and_full_mipi_score(tmp_path):
    gt = make_gt([0.0, 1 / 30, 2 / 30])
    preds = write_preds(tmp_path / "p", 3, [2.2, 1.8, 2.0])
    result = score(open_ground_truth(gt), {"flicker": preds}, tmp_path / "out")
    row = result.rows[0]
    assert row["rtsd"] == pytest.approx(math.sqrt(0.08 / 3) / 2.0, rel=1e-6)
    assert row["n_sequences"] == 1 and row["n_static_sequences"] == 1
    assert row["rtsd_warp"] == pytest.approx((0.4 / 4.0 + 0.2 / 3.8) / 2, rel=1e-6)  # static: warp = identity
    want = mipi_score(row["rmae"], row["ewmae"], row["rds"]) - 4.6 * row["rtsd"]
    assert (
        row["mipi_score"] == pytest.approx(want) == mipi_full_score(row["rmae"], row["ewmae"], row["rds"], row["rtsd"])
    )
    assert row["mipi_score_no_rtsd"] == pytest.approx(row["mipi_score"] + 4.6 * row["rtsd"])
    text = (tmp_path / "out" / "temporal.csv").read_text().splitlines()
    assert text[0] == "method,sequence,n_frames,static,rtsd,rtsd_warp,n_warp_pixels" and len(text) == 2


def test_moving_sequences_have_no_rtsd_but_a_warped_one(tmp_path):
    gt = make_gt([0.0, 0.1, 0.2], moving=True, n_seq=2)
    preds = write_preds(tmp_path / "p", 6, [s.depth_m for s in gt])  # exact predictions
    result = score(open_ground_truth(gt), {"exact": preds}, tmp_path / "out")
    row = result.rows[0]
    assert math.isnan(row["rtsd"]) and math.isnan(row["mipi_score"]) and row["n_static_sequences"] == 0
    assert row["rtsd_warp"] == pytest.approx(0.0, abs=1e-6)  # float32 files
    assert any("no static sequence" in w for w in result.warnings)


def test_single_frames_are_scored_as_before(tmp_path):
    gt = make_gt([0.0, 0.1])
    for s in gt:
        s.meta = {}
    assert find_sequences(open_ground_truth(gt)) is None
    result = score(open_ground_truth(gt), {"m": write_preds(tmp_path / "p", 2, [2.0, 2.0])}, tmp_path / "out")
    assert "rtsd" not in result.rows[0] and not (tmp_path / "out" / "temporal.csv").exists()


def test_shuffled_sequence_is_refused_before_scoring(tmp_path):
    gt = make_gt([0.0, 2 / 30, 1 / 30])  # frames 1 and 2 swapped
    with pytest.raises(SequenceOrderError, match=r"sequence 'seq-0': frame 000002 .* shuffled"):
        score(open_ground_truth(gt), {"m": write_preds(tmp_path / "p", 3, [2.0] * 3)}, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    for s in gt:  # no timestamps: the frame numbers must increase instead
        s.meta["timestamp_s"] = None
    gt[1].meta["sequence_frame"], gt[2].meta["sequence_frame"] = 2, 1
    with pytest.raises(SequenceOrderError, match="one line|shuffled"):
        find_sequences(open_ground_truth(gt))
