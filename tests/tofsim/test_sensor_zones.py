"""Zone-sensor statistics (`zone_statistics`): zone map from the pattern angles, per-zone true-range statistics
against a brute-force loop, and the HDF5 round trip (old shards without zones still read).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from tofsim.camera import Intrinsics, z_to_range
from tofsim.dataset import schema
from tofsim.dataset.manifest import make_manifest, write_manifest
from tofsim.dataset.reader import open_dataset
from tofsim.dataset.writer import write_shard
from tofsim.errors import ConfigError, ShapeError
from tofsim.frame import DenseFrame, Sample
from tofsim.sensor import Sensor, get_sensor_preset, simulate

ZONE_DEG = 45.0 / 8


def frame_of(depth_m, f_px=585.0) -> DenseFrame:
    depth_m = np.asarray(depth_m, dtype=np.float32)
    h, w = depth_m.shape
    intr = Intrinsics(fx_px=f_px, fy_px=f_px, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth_m, range_m=z_to_range(depth_m, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), 0.5, np.float32),
    )  # fmt: skip


def zone_cfg(**changes):
    return dataclasses.replace(get_sensor_preset("zones-8x8"), zone_statistics=True, add_noise=False, **changes)


def expected_zone_map(frame: DenseFrame) -> np.ndarray:
    """Independent: pixel angle atan((u - cx) / f) on the 8 x 8 grid of 5.625 deg cells over +-22.5 deg."""
    intr = frame.intrinsics
    v, u = np.mgrid[0 : intr.height_px, 0 : intr.width_px].astype(np.float64)
    ax = np.degrees(np.arctan((u - intr.cx_px) / intr.fx_px))
    ay = np.degrees(np.arctan((v - intr.cy_px) / intr.fy_px))
    col, row = np.floor((ax + 22.5) / ZONE_DEG), np.floor((ay + 22.5) / ZONE_DEG)
    inside = (col >= 0) & (col < 8) & (row >= 0) & (row < 8)
    return np.where(inside, row * 8 + col, -1).astype(np.int16)


def test_zone_map_and_statistics_match_a_brute_force_loop():
    depth = np.full((240, 320), 2.0)
    depth[:, 200:] = 3.0  # a step: zones over it see two surfaces
    depth[:10, :10] = 0.0  # invalid pixels are skipped
    frame = frame_of(depth, f_px=292.5)
    out = simulate(frame, zone_cfg(), rng=np.random.default_rng(0))
    z = out.zones
    assert {"distance_m", "sigma_m", "status", "range_mean_m", "range_std_m", "range_min_m", "range_max_m"} <= set(z)
    assert z["zone_map"].shape == (240, 320) and z["zone_map"].dtype == np.int16
    assert np.array_equal(z["zone_map"], expected_zone_map(frame))
    assert np.all(z["zone_map"][:, 0] == -1) and np.all(z["zone_map"][:, 160] >= 0)  # 57 deg image, 45 deg zones
    valid = frame.valid
    for k in range(64):
        r = frame.range_m[(z["zone_map"] == k) & valid].astype(np.float64)
        row, col = divmod(k, 8)
        assert z["pixel_count"][row, col] == r.size > 0
        assert z["range_mean_m"][row, col] == pytest.approx(r.mean(), rel=1e-6)
        assert z["range_std_m"][row, col] == pytest.approx(r.std(), rel=1e-5, abs=1e-6)
        assert z["range_min_m"][row, col] == pytest.approx(r.min(), rel=1e-6)
        assert z["range_max_m"][row, col] == pytest.approx(r.max(), rel=1e-6)
    straddle = (z["range_min_m"] < 2.5) & (z["range_max_m"] > 2.9)
    assert straddle.sum() == 8 and np.all(z["range_std_m"][straddle] > 0.1)  # one column of zones sees the step


def test_zone_map_follows_the_projector_with_a_baseline():
    z_m, b_m = 1.0, 0.1
    frame = frame_of(np.full((240, 320), z_m), f_px=292.5)
    shifted = simulate(frame, zone_cfg(baseline_m=(b_m, 0.0, 0.0)), rng=np.random.default_rng(0)).zones["zone_map"]
    # independent: the wall point of pixel u, (x' z, y' z, z), seen from the projector at (b, 0, 0)
    intr = frame.intrinsics
    v, u = np.mgrid[0:240, 0:320].astype(np.float64)
    ax = np.degrees(np.arctan2((u - intr.cx_px) / intr.fx_px * z_m - b_m, z_m))
    ay = np.degrees(np.arctan2((v - intr.cy_px) / intr.fy_px * z_m, z_m))
    col, row = np.floor((ax + 22.5) / ZONE_DEG), np.floor((ay + 22.5) / ZONE_DEG)
    inside = (col >= 0) & (col < 8) & (row >= 0) & (row < 8)
    assert np.array_equal(shifted, np.where(inside, row * 8 + col, -1))
    assert not np.array_equal(shifted, expected_zone_map(frame))  # the zones moved left by ~atan(0.1)


def test_zone_statistics_is_off_by_default_and_needs_a_zone_pattern():
    frame = frame_of(np.full((48, 64), 2.0), f_px=60.0)
    out = simulate(frame, get_sensor_preset("zones-8x8"), rng=np.random.default_rng(0))
    assert set(out.zones) == {"distance_m", "sigma_m", "status"}
    assert "zone_statistics" not in get_sensor_preset("zones-8x8").to_dict()
    with pytest.raises(ConfigError, match="zone_statistics needs a zone pattern"):
        Sensor(dataclasses.replace(get_sensor_preset("sds"), zone_statistics=True))
    with pytest.raises(ConfigError, match="zone_statistics must be true or false"):
        dataclasses.replace(get_sensor_preset("zones-8x8"), zone_statistics=1)


def _sample(frame: DenseFrame, index: int, zones: bool) -> Sample:
    out = simulate(frame, zone_cfg() if zones else get_sensor_preset("zones-8x8"), rng=np.random.default_rng(index))
    return Sample(
        rgb=frame.rgb, depth_m=frame.depth_m, sparse_m=out.sparse_m, spot_mask=out.mask, spots=out.spots,
        K=frame.intrinsics.K, pose=np.eye(4), meta={"index": index, "scene_id": "s"},
        zones={k: v for k, v in out.zones.items() if k not in ("distance_m", "sigma_m", "status")} if zones else None,
    )  # fmt: skip


def test_zone_statistics_round_trip_through_a_shard(tmp_path):
    frames = [frame_of(np.full((48, 64), 1.5 + 0.5 * i), f_px=60.0) for i in range(2)]
    for name, zones in (("with", True), ("without", False)):
        folder = tmp_path / name
        folder.mkdir()
        samples = [_sample(f, i, zones) for i, f in enumerate(frames)]
        info = write_shard(folder / schema.shard_filename(0), samples, attrs={"seed": 0})
        write_manifest(folder, make_manifest([info], config={"preset": "zones-8x8"}, seed=0))
        ds = open_dataset(folder)
        for s, back in zip(samples, ds, strict=True):
            if not zones:
                assert back.zones is None  # shards without zone datasets read as before
                continue
            assert set(back.zones) == set(s.zones)
            for key, arr in s.zones.items():
                assert back.zones[key].dtype == arr.dtype and np.array_equal(back.zones[key], arr), key
    # a shard without zone statistics is byte-identical to one written before zones existed: no zone datasets
    plain = [_sample(f, i, False) for i, f in enumerate(frames)]
    a = write_shard(tmp_path / "a.h5", plain, attrs={"seed": 0})
    b = write_shard(tmp_path / "b.h5", [dataclasses.replace(s, zones=None) for s in plain], attrs={"seed": 0})
    assert a["sha256"] == b["sha256"] == hashlib.sha256((tmp_path / "a.h5").read_bytes()).hexdigest()
    mixed = [_sample(frames[0], 0, True), _sample(frames[1], 1, False)]
    with pytest.raises(ShapeError, match="every sample of a shard or in none"):
        write_shard(tmp_path / "c.h5", mixed, attrs={"seed": 0})


def test_generate_writes_the_zone_statistics_of_a_zone_sensor(tmp_path):
    from tofsim.config import GenerateConfig
    from tofsim.pipeline import generate

    values = {"preset": "zones-8x8", "sensor": {"zone_statistics": True}, "n_frames": 2, "frames_per_scene": 2,
              "seed": 5, "camera": {"width_px": 80, "height_px": 60, "fx_px": 60.0, "fy_px": 60.0}}  # fmt: skip
    generate(GenerateConfig.from_dict(values), tmp_path / "z")
    ds = open_dataset(tmp_path / "z")
    s = ds[0]
    assert s.zones is not None and s.zones["zone_map"].shape == (60, 80)
    assert s.zones["range_mean_m"].shape == (8, 8)
    # the statistics describe the ground truth the sample carries: a zone's mean range lies within its extent
    ok = s.zones["pixel_count"] > 0
    assert ok.any()
    assert (s.zones["range_min_m"][ok] <= s.zones["range_mean_m"][ok] + 1e-6).all()
    assert (s.zones["range_mean_m"][ok] <= s.zones["range_max_m"][ok] + 1e-6).all()
    plain = dict(values, sensor={})
    generate(GenerateConfig.from_dict(plain), tmp_path / "p")
    assert open_dataset(tmp_path / "p")[0].zones is None
