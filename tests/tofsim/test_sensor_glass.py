"""Glass panes and saturation in the sensor model, against hand-computed phasor sums (docs/sensor-model.md).

A rendered scene: a wall at z = 3 m behind a glass pane at z = 2 m, seen by a one-spot sensor along the optical
axis (no footprint, no baseline, no noise), so each footprint is one sub-ray and the expected measurement is a
two-term phasor sum.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.errors import ShapeError
from tofsim.frame import SpotStatus
from tofsim.render import Renderer
from tofsim.rng import sample_rng
from tofsim.scene.procedural import RoomConfig, generate_room
from tofsim.scene.types import Material, Scene
from tofsim.sensor import SensorConfig, simulate
from tofsim.sensor.glass import LOBE_CUTOFF
from tofsim.sensor.presets import get_sensor_preset

C_M_PER_S = 299_792_458.0
WALL = Material(name="wall", albedo=0.6, color_rgb=(200, 200, 200))
GLASS = Material(name="pane", albedo=0.0, color_rgb=(200, 215, 225), glass=True)
INTR = Intrinsics(fx_px=60.0, fy_px=60.0, cx_px=31.5, cy_px=23.5, width_px=64, height_px=48)


def _quad(centre, u, v, half_m):
    c, u, v = (np.asarray(x, float) for x in (centre, u, v))
    return np.array([c - half_m * u - half_m * v, c + half_m * u - half_m * v, c + half_m * u + half_m * v,
                     c - half_m * u + half_m * v])  # fmt: skip


def wall_behind_glass(tilt_deg: float = 0.0) -> Scene:
    """Wall at z = 3 m facing the camera; a pane through (0, 0, 2) turned by `tilt_deg` about the y axis."""
    t = np.deg2rad(tilt_deg)
    pane = _quad([0, 0, 2.0], [np.cos(t), 0, -np.sin(t)], [0, 1, 0], 1.0)
    verts = np.concatenate([_quad([0, 0, 3.0], [1, 0, 0], [0, 1, 0], 5.0), pane])
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]], np.int32)
    return Scene(vertices=verts, triangles=tris, material_id=np.array([0, 0, 1, 1], np.int32),
                 materials=(WALL, GLASS))  # fmt: skip


def one_spot(**changes) -> SensorConfig:
    base = dict(pattern="grid", pattern_kwargs={"rows": 1, "cols": 1}, rays_per_spot=1, divergence_deg=0.0,
                add_noise=False, range_quantization_m=0.0)  # fmt: skip
    return dataclasses.replace(get_sensor_preset("sds"), baseline_m=(0.0, 0.0, 0.0), **{**base, **changes})


def test_ground_truth_and_rgb_see_through_glass():
    frame = Renderer(wall_behind_glass()).render(INTR, np.eye(4))
    np.testing.assert_allclose(frame.depth_m, 3.0, rtol=1e-6)
    np.testing.assert_allclose(frame.glass_depth_m[24, 32], 2.0, rtol=1e-6)
    np.testing.assert_allclose(frame.glass_normals_cam[24, 32], [0, 0, -1], atol=1e-6)
    opaque = Renderer(
        Scene(
            vertices=wall_behind_glass().vertices,
            triangles=np.array([[0, 1, 2], [0, 2, 3]], np.int32),
            material_id=np.zeros(2, np.int32),
            materials=(WALL,),
        )
    ).render(INTR, np.eye(4))
    assert opaque.glass_depth_m is None
    assert np.all(frame.rgb <= opaque.rgb) and np.any(frame.rgb < opaque.rgb)  # darkened by the pane


def test_pane_head_on_gives_the_hand_computed_phasor_sum():
    cfg = one_spot()
    frame = Renderer(wall_behind_glass()).render(INTR, np.eye(4))
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    rho = float(frame.albedo[24, 32])
    k = 4 * np.pi * cfg.modulation_frequency_hz / C_M_PER_S
    s_wall = cfg.power * rho * cfg.glass_transmittance**2 / 3.0**2
    s_pane = cfg.power * cfg.glass_reflectance / 2.0**2
    z = cfg.demodulation_contrast * (s_wall * np.exp(1j * k * 3.0) + s_pane * np.exp(1j * k * 2.0))
    expected = np.mod(np.angle(z), 2 * np.pi) / k
    spot = out.spots[0]
    assert spot["status"] == SpotStatus.MIXED
    assert 2.0 < expected < 3.0
    np.testing.assert_allclose(spot["range_m"], expected, rtol=1e-6)
    np.testing.assert_allclose(spot["amplitude"], abs(z), rtol=1e-6)


def test_pane_at_a_grazing_angle_returns_nothing_and_dims_the_wall():
    cfg = one_spot()
    assert np.cos(np.deg2rad(75.0)) ** cfg.glass_lobe_exponent < LOBE_CUTOFF
    frame = Renderer(wall_behind_glass(75.0)).render(INTR, np.eye(4))
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    spot = out.spots[0]
    rho = float(frame.albedo[24, 32])
    assert spot["status"] == SpotStatus.VALID
    np.testing.assert_allclose(spot["range_m"], 3.0, rtol=1e-6)
    s_wall = cfg.power * rho * cfg.glass_transmittance**2 / 9.0
    np.testing.assert_allclose(spot["amplitude"], cfg.demodulation_contrast * s_wall, rtol=1e-6)


def test_pane_with_nothing_behind_returns_its_reflection_head_on():
    verts = wall_behind_glass().vertices[4:]
    scene = Scene(vertices=np.concatenate([verts, verts + [0, 0, 5.0]]), triangles=np.array(
        [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]], np.int32), material_id=np.array([1, 1, 0, 0], np.int32),
        materials=(WALL, GLASS))  # fmt: skip  # a small wall far off the axis keeps the scene non-empty
    scene.vertices[4:, 0] += 20.0
    frame = Renderer(scene).render(INTR, np.eye(4))
    assert frame.depth_m[24, 32] == 0  # an open window: the ground truth has nothing there
    spot = simulate(frame, one_spot(), rng=np.random.default_rng(0)).spots[0]
    assert spot["status"] == SpotStatus.VALID
    np.testing.assert_allclose(spot["range_m"], 2.0, rtol=1e-6)


def test_an_empty_glass_layer_changes_nothing():
    frame = Renderer(wall_behind_glass()).render(INTR, np.eye(4))
    cfg = dataclasses.replace(get_sensor_preset("sds"))
    empty = dataclasses.replace(frame, glass_depth_m=np.zeros_like(frame.depth_m),
                                glass_normals_cam=np.zeros_like(frame.normals_cam))  # fmt: skip
    plain = dataclasses.replace(frame, glass_depth_m=None, glass_normals_cam=None)
    a = simulate(empty, cfg, rng=np.random.default_rng(1))
    b = simulate(plain, cfg, rng=np.random.default_rng(1))
    assert a.spots.tobytes() == b.spots.tobytes()


@pytest.mark.parametrize(("z_m", "saturates"), [(0.2, True), (2.0, False)])
def test_bright_plane_saturates_only_when_close(z_m, saturates):
    intr = Intrinsics.from_fov(64, 48, 75.0)  # wider than the pattern: every footprint lies on the image
    scene = Scene(vertices=_quad([0, 0, z_m], [1, 0, 0], [0, 1, 0], 10.0), triangles=np.array(
        [[0, 1, 2], [0, 2, 3]], np.int32), material_id=np.zeros(2, np.int32),
        materials=(Material(name="white", albedo=0.9, color_rgb=(250, 250, 250)),))  # fmt: skip
    frame = Renderer(scene).render(intr, np.eye(4))
    cfg = dataclasses.replace(get_sensor_preset("sds"), add_noise=False)
    unlimited = simulate(frame, dataclasses.replace(cfg, saturation_e=None), rng=np.random.default_rng(0))
    assert unlimited.saturated is None
    measured = np.isin(unlimited.spots["status"], [SpotStatus.VALID, SpotStatus.MIXED])
    assert measured.sum() > 500
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    assert np.all(out.saturated[measured] == saturates) and not out.saturated[~measured].any()
    expected = SpotStatus.DROPOUT if saturates else unlimited.spots["status"][measured]
    assert np.all(out.spots["status"][measured] == expected)


def test_new_options_keep_old_config_hashes_and_are_checked():
    assert not {"saturation_e", "glass_reflectance", "glass_transmittance"} & set(SensorConfig().to_dict())
    assert get_sensor_preset("sds").to_dict()["saturation_e"] == 3.0e5
    with pytest.raises(ValueError, match="saturation_e must be a finite number > 0"):
        SensorConfig(saturation_e=0.0)
    with pytest.raises(ValueError, match="glass_transmittance must be in"):
        SensorConfig(glass_transmittance=1.5)
    with pytest.raises(ShapeError, match="glass must be True or False"):
        Material(name="x", albedo=0.5, color_rgb=(0, 0, 0), glass=1)


def test_rooms_with_glass_and_lights_are_deterministic():
    assert RoomConfig().light_count_range == (1, 3) and not RoomConfig().window_glass  # glass is opt-in (speed)
    intr = Intrinsics.from_fov(80, 60, 57.0)
    runs = []
    for _ in range(2):
        room = generate_room(RoomConfig(window_glass=True), rng=sample_rng(3, 0, "scene"))
        assert any(m.glass for m in room.materials) and room.meta["lights"]
        pose = np.eye(4)
        pose[:3, 3] = np.mean(np.asarray(room.meta["footprint_m"]), axis=0).tolist() + [1.4]
        pose[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # looking along +y, level
        frame = Renderer(room).render(intr, pose)
        runs.append((frame, simulate(frame, "sds", rng=np.random.default_rng(5))))
    (f1, o1), (f2, o2) = runs
    assert f1.rgb.tobytes() == f2.rgb.tobytes() and f1.depth_m.tobytes() == f2.depth_m.tobytes()
    assert o1.spots.tobytes() == o2.spots.tobytes()
