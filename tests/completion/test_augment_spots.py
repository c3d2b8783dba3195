"""Sensor-hole augmentation (`completion.augment_spots.drop_spots`) against hand-built spot grids."""

from __future__ import annotations

import numpy as np
import pytest

from completion.augment_spots import drop_spots
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
