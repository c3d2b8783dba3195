"""Sensor-hole and dimming augmentation (`completion.augment_spots`) against hand-built spot grids."""

from __future__ import annotations

import numpy as np
import pytest

from completion.augment_spots import dim_spots, drop_spots
from completion.data import AugmentConfig, augment_sample, make_inputs, toy_samples
from completion.errors import ConfigError
from tofsim.frame import SPOT_DTYPE, SpotStatus


def _grid(depth_m: np.ndarray, stride_px: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular spot grid measuring `depth_m` exactly: (sparse_m, mask, spots)."""
    h, w = depth_m.shape
    rows, cols = np.mgrid[stride_px // 2 : h : stride_px, stride_px // 2 : w : stride_px]
    rows, cols = rows.ravel(), cols.ravel()
    spots = np.zeros(len(rows), dtype=SPOT_DTYPE)
    spots["u"], spots["v"] = cols, rows
    spots["z_m"] = spots["range_m"] = depth_m[rows, cols]
    spots["amplitude"], spots["sigma_m"] = 100.0, 0.01
    mask = np.zeros((h, w), dtype=bool)
    mask[rows, cols] = True
    sparse = np.where(mask, depth_m, 0.0).astype(np.float32)
    return sparse, mask, spots


def test_dropped_spots_become_no_hit_and_leave_the_sparse_map():
    depth = np.full((96, 128), 2.0, dtype=np.float32)
    sparse, mask, spots = _grid(depth)
    spots["status"][:5] = SpotStatus.DROPOUT  # unmeasured spots are never touched
    mask[spots["v"][:5].astype(int), spots["u"][:5].astype(int)] = False
    n_measured = int(mask.sum())
    out_sparse, out_mask, out_spots = drop_spots(sparse, mask, spots, depth, max_fraction=0.5,
                                                 rng=np.random.default_rng(3))  # fmt: skip
    dropped = (out_spots["status"] == SpotStatus.NO_HIT) & (spots["status"] != SpotStatus.NO_HIT)
    assert 0 < dropped.sum() <= 0.5 * n_measured
    assert np.all(out_spots["status"][:5] == SpotStatus.DROPOUT)
    rows, cols = spots["v"][dropped].astype(int), spots["u"][dropped].astype(int)
    assert not out_mask[rows, cols].any() and np.all(out_sparse[rows, cols] == 0)
    assert np.all(out_spots["z_m"][dropped] == 0)
    assert out_mask.sum() == n_measured - dropped.sum()  # nothing else changed
    assert np.array_equal(out_sparse[out_mask], sparse[out_mask])
    assert mask.sum() == n_measured and np.all(spots["status"][5:] == SpotStatus.VALID)  # inputs not modified


def test_single_drops_lean_towards_depth_edges():
    # left half 1 m, right half 3 m: spots within 4 px of the step see a 200 % jump, the others none
    depth = np.full((96, 256), 1.0, dtype=np.float32)
    depth[:, 128:] = 3.0
    sparse, mask, spots = _grid(depth, stride_px=4)
    near_edge = np.abs(spots["u"] - 127.5) <= 4.5
    hits = np.zeros(len(spots))
    for seed in range(40):
        _, _, out = drop_spots(sparse, mask, spots, depth, max_fraction=0.2, rng=np.random.default_rng(seed))
        hits += out["status"] == SpotStatus.NO_HIT
    rate_edge, rate_flat = hits[near_edge].mean(), hits[~near_edge].mean()
    # single drops weigh an edge spot 1.1 against 0.1 on a plane; patches fall anywhere
    assert rate_edge > 3 * rate_flat


def test_same_generator_same_drops_and_zero_fraction_is_identity():
    depth = np.full((64, 64), 1.5, dtype=np.float32)
    sparse, mask, spots = _grid(depth)
    a = drop_spots(sparse, mask, spots, depth, max_fraction=0.3, rng=np.random.default_rng(7))
    b = drop_spots(sparse, mask, spots, depth, max_fraction=0.3, rng=np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    same = drop_spots(sparse, mask, spots, depth, max_fraction=0.0, rng=np.random.default_rng(7))
    assert np.array_equal(same[1], mask) and np.array_equal(same[2], spots)


def test_augment_sample_applies_holes_before_the_inputs_are_made():
    sample = toy_samples(1, height_px=48, width_px=64, spot_stride_px=4, rng=np.random.default_rng(0))[0]
    cfg = AugmentConfig(hflip_prob=0.0, brightness=0, contrast=0, saturation=0, spot_hole_prob=1.0,
                        spot_hole_max_fraction=0.9)  # fmt: skip
    out = augment_sample(sample, cfg, rng=np.random.default_rng(1))
    n_hole = int((out.spots["status"] == SpotStatus.NO_HIT).sum())
    assert n_hole > 0 and out.spot_mask.sum() == sample.spot_mask.sum() - n_hole
    assert make_inputs(out)["mask"].sum() == out.spot_mask.sum()
    with pytest.raises(ConfigError, match="spot_hole_prob"):
        AugmentConfig(spot_hole_prob=1.5)


def test_dimming_drops_the_weak_spots_and_moves_the_others_along_their_ray():
    depth = np.full((64, 64), 2.0, dtype=np.float32)
    sparse, mask, spots = _grid(depth)
    spots["amplitude"] = np.where(np.arange(len(spots)) % 2 == 0, 1000.0, 100.0)  # even bright, odd weak
    spots["range_m"] = 2.5  # an off-axis ray: z / range = 0.8
    out_sparse, out_mask, out = dim_spots(sparse, mask, spots, gain=0.5, floor_e=85.0, rng=np.random.default_rng(0))
    weak = np.arange(len(spots)) % 2 == 1  # 50 e- after dimming (10 % jitter cannot lift it past 85)
    assert np.all(out["status"][weak] == SpotStatus.DROPOUT) and np.all(out["status"][~weak] == SpotStatus.VALID)
    rows, cols = spots["v"].astype(int), spots["u"].astype(int)
    assert not out_mask[rows[weak], cols[weak]].any() and np.all(out_sparse[rows[weak], cols[weak]] == 0)
    assert out_mask[rows[~weak], cols[~weak]].all()
    np.testing.assert_allclose(out["z_m"][~weak] / out["range_m"][~weak], 0.8, rtol=1e-5)
    np.testing.assert_allclose(out_sparse[rows[~weak], cols[~weak]], out["z_m"][~weak], rtol=1e-6)
    np.testing.assert_allclose(out["sigma_m"][~weak], 0.01 / np.sqrt(0.5), rtol=1e-6)
    assert np.all(spots["status"] == SpotStatus.VALID) and mask.sum() == len(spots)  # inputs not modified


def test_dimmed_survivors_get_the_noise_of_a_weaker_return():
    depth = np.full((400, 400), 3.0, dtype=np.float32)
    sparse, mask, spots = _grid(depth, stride_px=4)  # 10,000 spots, sigma 1 cm
    spots["amplitude"] = 5000.0
    _, _, out = dim_spots(sparse, mask, spots, gain=0.25, floor_e=85.0, rng=np.random.default_rng(1))
    # shot-noise limited: sigma grows to sigma / sqrt(gain), so the added noise is sigma * sqrt(1 / gain - 1)
    assert np.all(out["status"] == SpotStatus.VALID)
    added = out["z_m"] - 3.0
    assert np.std(added) == pytest.approx(0.01 * np.sqrt(3.0), rel=0.05)
    assert abs(np.mean(added)) < 0.001


def test_unit_gain_is_identity_and_bad_gains_are_refused():
    depth = np.full((32, 32), 1.0, dtype=np.float32)
    sparse, mask, spots = _grid(depth)
    same = dim_spots(sparse, mask, spots, gain=1.0, floor_e=85.0, rng=np.random.default_rng(0))
    assert same[0] is sparse and same[1] is mask and same[2] is spots
    with pytest.raises(ValueError, match="gain"):
        dim_spots(sparse, mask, spots, gain=0.0, floor_e=85.0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="spot_dim_min_gain"):
        AugmentConfig(spot_dim_min_gain=0.0)
    with pytest.raises(ConfigError, match="spot_dim_prob"):
        AugmentConfig(spot_dim_prob=2.0)


def test_augment_sample_dims_spots_into_the_dropout_channel():
    sample = toy_samples(1, height_px=48, width_px=64, spot_stride_px=4, rng=np.random.default_rng(0))[0]
    sample.spots["amplitude"] = np.linspace(50.0, 2000.0, len(sample.spots))
    cfg = AugmentConfig(hflip_prob=0.0, brightness=0, contrast=0, saturation=0, spot_dim_prob=1.0,
                        spot_dim_min_gain=0.2)  # fmt: skip
    out = augment_sample(sample, cfg, rng=np.random.default_rng(1))
    n_before = int((sample.spots["status"] == SpotStatus.DROPOUT).sum())
    n_out = int((out.spots["status"] == SpotStatus.DROPOUT).sum()) - n_before
    assert n_out > 0 and out.spot_mask.sum() == sample.spot_mask.sum() - n_out
    inputs = make_inputs(out)
    rows, cols = np.floor(out.spots["v"] + 0.5).astype(int), np.floor(out.spots["u"] + 0.5).astype(int)
    dropped = out.spots["status"] == SpotStatus.DROPOUT
    assert np.all(inputs["spot_status"][1][rows[dropped], cols[dropped]] == 1)  # the nearest spot is itself
