"""Procedural rooms and sampled camera poses: determinism, geometry sanity, real holes, clearance, views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError
from tofsim.render import Renderer
from tofsim.scene import RoomConfig, Scene, camera_pose, generate_room, sample_camera_poses
from tofsim.scene.cameras import PoseConfig
from tofsim.scene.procedural import FURNITURE_KINDS, points_in_polygon

K_VGA = Intrinsics(fx_px=585.0, fy_px=585.0, cx_px=320.0, cy_px=240.0, width_px=640, height_px=480)
SEEDS = range(10)


@pytest.fixture(scope="module")
def rooms() -> list[Scene]:
    return [generate_room(rng=np.random.default_rng(seed)) for seed in SEEDS]


def _arrays(scene: Scene):
    return [scene.vertices, scene.triangles, scene.material_id, scene.face_rgb, scene.face_albedo]


def test_same_seed_gives_identical_arrays_and_different_seeds_differ():
    a = generate_room(rng=np.random.default_rng(7))
    b = generate_room(rng=np.random.default_rng(7))
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.materials == b.materials and a.meta == b.meta
    c = generate_room(rng=np.random.default_rng(8))
    assert a.meta["scene_id"] != c.meta["scene_id"]
    assert a.vertices.shape != c.vertices.shape or not np.array_equal(a.vertices, c.vertices)


def test_rooms_are_varied_and_within_the_config(rooms):
    cfg = RoomConfig()
    assert {r.meta["shape"] for r in rooms} == {"rect", "L"}
    assert len({r.n_triangles for r in rooms}) == len(rooms)
    kinds = {f["kind"] for r in rooms for f in r.meta["furniture"]}
    assert kinds <= set(FURNITURE_KINDS) and len(kinds) >= 10  # the catalogue shows up in a handful of rooms
    for r in rooms:
        assert r.vertices.dtype == np.float32 and r.triangles.dtype == np.int32 and r.material_id.dtype == np.int32
        lo, hi = r.bounds_m
        flo, fhi = np.min(r.meta["footprint_m"], axis=0), np.max(r.meta["footprint_m"], axis=0)
        assert cfg.width_range_m[0] - 1e-5 <= fhi[0] - flo[0] <= cfg.width_range_m[1] + 1e-5
        assert cfg.depth_range_m[0] - 1e-5 <= fhi[1] - flo[1] <= cfg.depth_range_m[1] + 1e-5
        assert lo[2] == 0.0 and hi[2] == pytest.approx(r.meta["height_m"])
        assert cfg.height_range_m[0] <= r.meta["height_m"] <= cfg.height_range_m[1]
        assert len(r.meta["furniture"]) >= 1
        # All furniture stands inside the footprint.
        poly = np.array(r.meta["footprint_m"])
        assert points_in_polygon(np.array([f["centre_m"] for f in r.meta["furniture"]]), poly).all()


def test_every_room_has_dark_and_bright_surfaces(rooms):
    for r in rooms:
        area = r.face_areas_m2()
        assert area[r.face_albedo <= 0.1 * 1.05].sum() > 0.05, r.scene_id  # a dark piece (0.03-0.1) is forced
        assert area[r.face_albedo >= 0.6].sum() > 1.0, r.scene_id  # bright ceiling
        assert any(f["dark"] for f in r.meta["furniture"])


def test_texture_makes_rgb_vary_within_a_material(rooms):
    textured = 0
    for r in rooms:
        for m in np.unique(r.material_id):
            colours = r.face_rgb[r.material_id == m]
            textured += int(len(np.unique(colours, axis=0)) > 1)
    assert textured >= len(rooms)  # at least the floor of every room is textured


def test_openings_are_real_holes(rooms):
    with_openings = [r for r in rooms if r.meta["openings"]]
    assert 0 < len(with_openings) < len(rooms) + 1
    assert {o["kind"] for r in rooms for o in r.meta["openings"]} <= {"door", "passage", "window"}
    for r in with_openings:
        renderer = Renderer(r)
        for o in r.meta["openings"]:
            corners = np.array(o["corners_m"])
            centre = corners.mean(0)
            p0, p1 = np.array(r.meta["footprint_m"])[[o["wall"], (o["wall"] + 1) % len(r.meta["footprint_m"])]]
            along = (p1 - p0) / np.linalg.norm(p1 - p0)
            outward = np.array([along[1], -along[0], 0.0])  # CCW footprint: the outside is on the right
            start = centre - 0.01 * outward
            through = renderer.cast_rays(start[None], outward[None])
            if "leaf_angle_rad" in o:
                continue  # a door leaf may stand in the way
            # A window opens onto nothing; a door onto nothing or a corridor / room behind it (issue 16).
            assert not through["hit"][0] or (o["kind"] != "window" and through["t_hit"][0] > 1.0), (r.scene_id, o)
            # The same wall 5 cm beside the opening is solid.
            beside = start + np.append(along, 0.0) * (o["u_m"][1] - o["u_m"][0] + 0.1) / 2
            if o["u_m"][1] + 0.05 < np.linalg.norm(p1 - p0):
                solid = renderer.cast_rays(beside[None], outward[None])
                assert solid["hit"][0] and solid["t_hit"][0] == pytest.approx(0.01, abs=1e-4)


def test_closed_room_is_fully_hit_and_seen_from_the_front():
    cfg = RoomConfig(opening_probability=0.0, min_doors=0)  # min_doors=1 would add a door
    for seed in range(3):
        room = generate_room(cfg, rng=np.random.default_rng(seed))
        assert room.meta["openings"] == []
        renderer = Renderer(room)
        poses = sample_camera_poses(room, K_VGA, 3, rng=np.random.default_rng(seed), renderer=renderer)
        for pose in poses:
            frame = renderer.render(K_VGA, pose)
            assert frame.valid.all()  # a closed room: every pixel hits something
            dirs = np.random.default_rng(0).normal(size=(500, 3))
            ans = renderer.cast_rays(np.tile(pose[:3, 3], (500, 1)), dirs)
            assert ans["hit"].all() and ans["front_face"].all()  # normals point into free space


def test_room_config_validation():
    with pytest.raises(ConfigError, match="width_range_m"):
        RoomConfig(width_range_m=(5.0, 4.0))
    with pytest.raises(ConfigError, match="opening_probability"):
        RoomConfig(opening_probability=1.5)
    with pytest.raises(ConfigError, match="furniture_kind_weights"):
        RoomConfig(furniture_kind_weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="l_notch_fraction_range"):
        RoomConfig(l_notch_fraction_range=(0.5, 1.0))
    with pytest.raises(ConfigError, match="valid keys"):
        RoomConfig.from_dict({"width_range_m": [3, 4], "colour": "red"})
    cfg = RoomConfig.from_dict({"width_range_m": [3, 4]})
    assert cfg.width_range_m == (3, 4) and dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.width_range_m = (1, 2)


def test_camera_pose_axes():
    pose = camera_pose([1.0, 2.0, 1.5], yaw_deg=0.0)
    np.testing.assert_allclose(pose[:3, 2], [1, 0, 0], atol=1e-12)  # optical axis along +x
    np.testing.assert_allclose(pose[:3, 1], [0, 0, -1], atol=1e-12)  # image down is world down
    np.testing.assert_allclose(pose[:3, 0], [0, -1, 0], atol=1e-12)  # image right
    np.testing.assert_allclose(pose[:3, 3], [1, 2, 1.5])
    np.testing.assert_allclose(camera_pose([0, 0, 0], yaw_deg=90.0)[:3, 2], [0, 1, 0], atol=1e-12)
    up = camera_pose([0, 0, 0], yaw_deg=0.0, pitch_deg=10.0)
    np.testing.assert_allclose(up[:3, 2], [np.cos(np.deg2rad(10)), 0, np.sin(np.deg2rad(10))], atol=1e-12)
    rolled = camera_pose([0, 0, 0], yaw_deg=30.0, pitch_deg=-12.0, roll_deg=4.0)[:3, :3]
    np.testing.assert_allclose(rolled.T @ rolled, np.eye(3), atol=1e-12)
    assert np.linalg.det(rolled) == pytest.approx(1.0)
    assert np.rad2deg(np.arcsin(abs(rolled[2, 0]))) == pytest.approx(4.0, abs=0.5)  # x axis leaves the horizon


def test_sampled_poses_inside_at_height_with_clearance_and_open_view(rooms):
    lo_h, hi_h, clear = 1.0, 1.8, 0.3
    for room in rooms[:3]:
        renderer = Renderer(room)
        poses = sample_camera_poses(room, K_VGA, 4, rng=np.random.default_rng(1), renderer=renderer)
        assert poses.shape == (4, 4, 4) and poses.dtype == np.float64
        centres = poses[:, :3, 3]
        assert points_in_polygon(centres[:, :2], np.array(room.meta["footprint_m"])).all()
        assert ((centres[:, 2] >= lo_h) & (centres[:, 2] <= hi_h)).all()
        # Clearance, checked independently with 2000 rays per camera (a ray distance is >= the exact distance).
        dirs = np.random.default_rng(2).normal(size=(2000, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        for c in centres:
            t = renderer.cast_rays(np.tile(c, (2000, 1)), dirs)["t_hit"]
            assert t.min() >= clear
        # Mostly level: the optical axis within 25 deg of horizontal, image-down within 31 deg of world down.
        assert (np.abs(poses[:, 2, 2]) <= np.sin(np.deg2rad(25.0)) + 1e-9).all()
        assert (poses[:, 2, 1] <= -np.cos(np.deg2rad(31.0))).all()
        for pose in poses:
            frame = renderer.render(K_VGA, pose)
            assert frame.valid.mean() >= 0.5
            assert np.percentile(frame.range_m[frame.valid], 1) >= 0.4


def test_pose_sampling_is_deterministic_and_reports_impossible_requests(rooms):
    a = sample_camera_poses(rooms[0], K_VGA, 4, rng=np.random.default_rng(3))
    b = sample_camera_poses(rooms[0], K_VGA, 4, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert sample_camera_poses(rooms[0], K_VGA, 0, rng=np.random.default_rng(3)).shape == (0, 4, 4)
    with pytest.raises(ConfigError, match="found only 0 of 2 camera poses.*height_range_m"):
        sample_camera_poses(rooms[0], K_VGA, 2, rng=np.random.default_rng(3), height_range_m=(5.0, 6.0),
                            max_candidates=256)  # fmt: skip
    with pytest.raises(ConfigError, match="height_range_m"):
        sample_camera_poses(rooms[0], K_VGA, 2, rng=np.random.default_rng(3), height_range_m=(2.0, 1.0))


def test_doors_open_onto_corridors_and_rooms_seen_from_the_front():
    cfg = RoomConfig(opening_probability=1.0, door_probability=1.0, annex_probability=1.0, l_shape_probability=0.0)
    far = 0
    for seed in range(3):
        room = generate_room(cfg, rng=np.random.default_rng(seed))
        assert room.meta["annexes"] and {a["kind"] for a in room.meta["annexes"]} <= {"corridor", "room"}
        renderer = Renderer(room)
        poses = sample_camera_poses(room, K_VGA, 3, rng=np.random.default_rng(seed), renderer=renderer)
        for pose in poses:
            frame = renderer.render(K_VGA, pose)
            assert frame.valid.all()  # doors lead somewhere: every pixel hits
            far += int((frame.depth_m > 4.0).any())
            dirs = np.random.default_rng(0).normal(size=(2000, 3))
            ans = renderer.cast_rays(np.tile(pose[:3, 3], (2000, 1)), dirs)
            assert ans["hit"].all() and ans["front_face"].all()  # every solid is closed, normals outwards
    assert far > 0


def test_hand_held_poses_include_low_cameras_tilts_and_close_ups(rooms):
    cfg = PoseConfig(close_up_fraction=0.5)
    heights, pitches, near = [], [], []
    for room in rooms[:4]:
        renderer = Renderer(room)
        poses = sample_camera_poses(room, K_VGA, 8, rng=np.random.default_rng(5), renderer=renderer, **cfg.kwargs())
        targets = np.array(room.meta["close_up_targets_m"])
        assert len(targets) > 10  # clutter, pieces and wall things
        assert points_in_polygon(poses[:, :2, 3], np.array(room.meta["footprint_m"])).all()
        heights += list(poses[:, 2, 3])
        pitches += list(np.rad2deg(np.arcsin(poses[:, 2, 2])))
        for pose in poses:
            frame = renderer.render(K_VGA, pose)
            assert frame.valid.mean() >= 0.4  # >= half of a 16 x 12 ray grid hits (a window may fill the rest)
            near.append(float(np.percentile(frame.depth_m[frame.valid], 5)))
            assert frame.range_m[frame.valid].min() >= 0.19  # close-ups: nothing nearer than 0.2 m (grid-checked)
    assert min(heights) < 0.9 and max(heights) > 1.0
    assert np.std(pitches) > 8.0
    assert np.mean(np.array(near) < 1.0) > 0.2  # close-ups at 0.3-1 m


def test_pose_config_round_trips_through_the_generate_config():
    from tofsim.config import GenerateConfig

    cfg = GenerateConfig.from_dict({"poses": {"height_range_m": [0.5, 1.0], "close_up_fraction": 0.0}})
    assert cfg.poses.height_range_m == (0.5, 1.0) and cfg.poses.close_up_fraction == 0.0
    assert cfg.to_dict()["poses"]["height_range_m"] == [0.5, 1.0] or cfg.to_dict()["poses"]["height_range_m"] == (
        0.5,
        1.0,
    )
    with pytest.raises(ConfigError, match="close_up_fraction"):
        GenerateConfig.from_dict({"poses": {"close_up_fraction": 2.0}})
    with pytest.raises(ConfigError, match="poses"):
        GenerateConfig.from_dict({"poses": {"eye_height": 1.0}})
