"""SensorConfig (strict from_dict / to_dict) and the sensor preset registry."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tofsim.camera import Intrinsics, z_to_range
from tofsim.errors import ConfigError, RegistryError
from tofsim.frame import DenseFrame, SpotStatus
from tofsim.sensor import SENSOR_PRESETS, Sensor, SensorConfig, get_sensor_preset, simulate
from tofsim.spots import create_pattern


def _plane(z_m=2.0, w=160, h=120, f=146.25) -> DenseFrame:
    intr = Intrinsics(fx_px=f, fy_px=f, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)
    depth = np.full((h, w), z_m, np.float32)
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth, range_m=z_to_range(depth, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), 0.5, np.float32),
    )  # fmt: skip


@pytest.mark.parametrize("name", SENSOR_PRESETS.names())
def test_every_preset_builds_round_trips_and_simulates(name):
    cfg = get_sensor_preset(name)
    assert isinstance(cfg, SensorConfig)
    assert SensorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    out = Sensor(cfg)(_plane(), rng=np.random.default_rng(0))
    n = create_pattern(cfg.pattern, **cfg.pattern_kwargs).n
    assert out.spots.shape == (n,)
    assert np.count_nonzero(np.isin(out.spots["status"], (SpotStatus.VALID, SpotStatus.MIXED))) > 0.3 * n
    assert out.sparse_m.shape == (120, 160) and out.sparse_m.dtype == np.float32
    assert np.array_equal(out.mask, out.sparse_m > 0)
    assert (out.zones is not None) == (cfg.pattern == "zones-8x8")


@pytest.mark.parametrize(("name", "n", "pattern"), [("random-500", 500, "random"), ("grid-20x15", 300, "grid")])
def test_family_names_are_parsed(name, n, pattern):
    cfg = get_sensor_preset(name)
    assert cfg.name == name and cfg.pattern == pattern
    p = create_pattern(cfg.pattern, **cfg.pattern_kwargs)
    assert p.n == n
    if pattern == "grid":
        assert p.grid_shape == (20, 15)
    assert dataclasses.replace(cfg, name="sds", pattern="sds", pattern_kwargs={}) == get_sensor_preset("sds")


def test_preset_names_and_presets_are_physical():
    assert {"sds", "dtof-24x24", "zones-8x8", "random-N", "grid-RxC"} <= set(SENSOR_PRESETS.names())
    sds = get_sensor_preset("sds")
    assert sds.mode == "itof" and sds.unambiguous_range_m == pytest.approx(7.49, abs=0.01)
    assert get_sensor_preset("dtof-24x24").mode == "dtof"


@pytest.mark.parametrize("bad", ["sdss", "random-0", "grid-3", "grid-0x4", ""])
def test_unknown_preset_lists_valid_names(bad):
    with pytest.raises(RegistryError, match="valid names: .*sds"):
        get_sensor_preset(bad)


def test_from_dict_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['powerr'\]; valid keys: .*power"):
        SensorConfig.from_dict({"powerr": 1.0})
    with pytest.raises(ConfigError, match="expected a table"):
        SensorConfig.from_dict(["mode"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "lidar"}, "mode must be one of"),
        ({"rays_per_spot": 0}, "rays_per_spot"),
        ({"power": -1.0}, "power must be"),
        ({"max_range_m": 0.0}, "max_range_m must be"),
        ({"baseline_m": (0.1, 0.0)}, "baseline_m"),
        ({"baseline_m": "abc"}, "baseline_m"),
        ({"demodulation_contrast": 1.5}, "demodulation_contrast"),
        ({"pattern": "hexagon"}, "valid patterns"),
        ({"range_quantization_m": float("nan")}, "range_quantization_m"),
        ({"add_noise": "yes"}, "add_noise"),
    ],
)
def test_bad_values_raise_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        SensorConfig.from_dict({**get_sensor_preset("sds").to_dict(), **changes})


def test_bad_pattern_kwargs_raise_config_error():
    cfg = SensorConfig(pattern="random", pattern_kwargs={"m": 3})
    with pytest.raises(ConfigError, match="unexpected keyword"):
        simulate(_plane(), cfg, rng=np.random.default_rng(0))
