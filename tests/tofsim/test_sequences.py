"""Sequences: smooth trajectories (``tofsim generate --sequence N``), their meta, and converted real sequences."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import tofsim
from tofsim.camera import Intrinsics
from tofsim.cli import app
from tofsim.config import CameraConfig, GenerateConfig, config_hash
from tofsim.errors import ConfigError
from tofsim.pipeline import convert, generate
from tofsim.rng import sample_rng
from tofsim.scene.cameras import camera_pose
from tofsim.scene.procedural import RoomConfig, generate_room
from tofsim.scene.trajectories import pose_angles_deg, sample_trajectory
from tofsim.sequence import SequenceConfig, TrajectoryWarning
from tofsim.shards import sequence_poses
from tofsim.sources import open_source

CAMERA = CameraConfig(width_px=80, height_px=60, fx_px=73.125, fy_px=73.125)


@pytest.fixture(scope="module")
def room():
    return generate_room(GenerateConfig().room, rng=sample_rng(0, 0, "scene"))


def trajectory(room, n=30, **kw):
    sc = SequenceConfig(enabled=True, **kw)
    rng = sample_rng(0, 0, "camera")
    return sample_trajectory(
        room, CAMERA.intrinsics(), n, rng=rng, config=sc, pose_kwargs=GenerateConfig().poses.kwargs()
    )


def speeds_and_rates(traj, fps):
    p, r = traj.poses[:, :3, 3], traj.poses[:, :3, :3]
    speed = np.linalg.norm(np.diff(p, axis=0), axis=1) * fps
    cos = [(np.trace(r[k].T @ r[k + 1]) - 1) / 2 for k in range(len(r) - 1)]
    return speed, np.degrees(np.arccos(np.clip(cos, -1, 1))) * fps


def test_sequence_config_is_strict_and_off_by_default():
    assert "sequence" not in GenerateConfig().to_dict()  # old configs (and datasets) keep their hash and bytes
    on = GenerateConfig.from_dict({"sequence": {"enabled": True, "motion": "robot", "fps_hz": 15}})
    assert on.to_dict()["sequence"]["motion"] == "robot" and config_hash(on) != config_hash(GenerateConfig())
    with pytest.raises(ConfigError, match="unknown key.*valid keys: enabled, motion, fps_hz"):
        GenerateConfig.from_dict({"sequence": {"speed": 1}})
    with pytest.raises(ConfigError, match="sequence.motion: expected one of handheld, robot, static"):
        SequenceConfig(motion="drone")
    with pytest.raises(ConfigError, match="sequence.fps_hz: expected a positive number"):
        SequenceConfig(fps_hz=0.0)


def test_pose_angles_round_trip():
    pose = camera_pose([1.0, 2.0, 1.2], yaw_deg=130.0, pitch_deg=-20.0, roll_deg=4.0)
    assert pose_angles_deg(pose) == pytest.approx((130.0, -20.0, 4.0))


@pytest.mark.parametrize("motion", ["handheld", "robot"])
def test_trajectory_is_smooth_bounded_and_inside_free_space(room, motion):
    from tofsim.render import Renderer

    traj = trajectory(room, motion=motion, fps_hz=10.0, max_speed_m_s=0.6, max_rotation_deg_s=60.0)
    speed, rate = speeds_and_rates(traj, 10.0)
    assert traj.poses.shape == (30, 4, 4) and np.all(speed <= 0.6 + 1e-9) and np.all(rate <= 60.0 + 1e-6)
    assert speed.sum() > 0.1  # it moves
    np.testing.assert_allclose(traj.timestamps_s, np.arange(30) / 10.0)
    clearance = Renderer(room).distance_m(traj.poses[:, :3, 3])
    assert np.all(clearance >= GenerateConfig().poses.min_clearance_m - 1e-6)
    if motion == "robot":  # a planar base: fixed height, pitch and roll
        assert np.ptp(traj.poses[:, 2, 3]) < 1e-9
        angles = np.array([pose_angles_deg(p) for p in traj.poses])
        assert np.ptp(angles[:, 1]) < 1e-6 and np.ptp(angles[:, 2]) < 1e-6
    again = trajectory(room, motion=motion, fps_hz=10.0)
    np.testing.assert_array_equal(traj.poses, again.poses)  # seeded: the same trajectory


def test_static_sequence_repeats_the_start_pose(room):
    traj = trajectory(room, n=4, motion="static")
    assert traj.n_dropped == 0 and np.all(traj.poses == traj.poses[0])


def test_dropped_poses_are_reported_and_impossible_trajectories_refused():
    # a small room (3-8 m, the default until the rooms grew): a 30-frame walk in it meets walls and furniture
    room = generate_room(RoomConfig(width_range_m=(3.0, 8.0), depth_range_m=(3.0, 8.0), passage_probability=0.35),
                         rng=sample_rng(0, 0, "scene"))  # fmt: skip
    cfg = GenerateConfig(camera=CAMERA, frames_per_scene=30, sequence=SequenceConfig(enabled=True, fps_hz=5.0))
    from tofsim.render import Renderer

    with pytest.warns(TrajectoryWarning, match=r"trajectory re-sampled, \d+ proposed poses dropped .*clearance"):
        poses, times = sequence_poses(cfg, room, Renderer(room), 0)
    assert poses.shape == (30, 4, 4) and times[-1] == pytest.approx(29 / 5.0)
    with pytest.raises(ConfigError, match="trajectory in scene .* refused: .* proposed poses rejected"):
        trajectory(room, n=5, fps_hz=1.0, max_speed_m_s=100.0, tau_s=0.01)


def test_generate_static_sequences_meta_noise_and_workers(tmp_path):
    cfg = GenerateConfig.from_dict(
        {"seed": 3, "n_frames": 6, "frames_per_scene": 3, "shard_size": 4, "camera": vars(CAMERA),
         "sequence": {"enabled": True, "motion": "static", "fps_hz": 20.0}}
    )  # fmt: skip
    a = tofsim.open_dataset(generate(cfg, tmp_path / "a"))
    b = tofsim.open_dataset(generate(cfg.replace(shard_size=1), tmp_path / "b"))
    samples = [a[i] for i in range(6)]
    metas = [s.meta for s in samples]
    assert [m["sequence_id"] for m in metas] == ["room-00000"] * 3 + ["room-00001"] * 3
    assert [m["sequence_frame"] for m in metas] == [0, 1, 2, 0, 1, 2]
    assert [m["timestamp_s"] for m in metas] == pytest.approx([0.0, 0.05, 0.1] * 2)
    np.testing.assert_array_equal(samples[0].pose, samples[2].pose)  # static camera
    np.testing.assert_array_equal(samples[0].depth_m, samples[1].depth_m)
    assert not np.array_equal(samples[0].sparse_m, samples[1].sparse_m)  # fresh sensor noise every frame
    for i in range(6):  # one shard per sample: the same data
        sa, sb = a[i], b[i]
        for key in ("depth_m", "sparse_m", "pose", "rgb"):
            np.testing.assert_array_equal(getattr(sa, key), getattr(sb, key))
        assert sa.meta == sb.meta


def test_default_generate_has_no_sequence_meta(tmp_path):
    cfg = GenerateConfig.from_dict({"n_frames": 2, "frames_per_scene": 2, "camera": vars(CAMERA)})
    meta = tofsim.open_dataset(generate(cfg, tmp_path / "d"))[1].meta
    assert not {"sequence_id", "sequence_frame", "timestamp_s"} & set(meta)


def test_cli_sequence_options(tmp_path):
    runner = CliRunner()
    size = ["--width", "80", "--height", "60", "-q"]
    ok = runner.invoke(app, ["generate", "-o", str(tmp_path / "s"), "-n", "3", "--sequence", "3", "--motion",
                             "robot", "--fps", "15", *size])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    meta = tofsim.open_dataset(tmp_path / "s")[2].meta
    assert meta["timestamp_s"] == pytest.approx(2 / 15) and meta["sequence_frame"] == 2
    bad = runner.invoke(app, ["generate", "-o", str(tmp_path / "x"), "--motion", "robot", *size])
    assert bad.exit_code == 2 and "add --sequence N" in bad.output
    clash = runner.invoke(app, ["generate", "-o", str(tmp_path / "y"), "--sequence", "3", "--frames-per-scene", "2"])
    assert clash.exit_code == 2 and "drop --frames-per-scene 2" in clash.output


def make_tum(root):
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "depth.txt").write_text("# depth maps\n")
    (root / "rgb.txt").write_text("# color images\n")
    (root / "groundtruth.txt").write_text("1.0 1 2 3 0 0 0 1\n2.0 1 2 3.5 0 0 0 1\n3.0 1 2 4 0 0 0 1\n")
    for t in ("1.000000", "2.000000", "3.000000"):
        Image.fromarray(np.full((24, 32), 10000, np.uint16)).save(root / "depth" / f"{t}.png")
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "rgb" / f"{float(t) + 0.01:.6f}.png")


def test_convert_keeps_order_poses_and_timestamps_of_tum(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    make_tum(root)
    intr = Intrinsics(fx_px=30, fy_px=30, cx_px=15.5, cy_px=11.5, width_px=32, height_px=24)
    src = open_source(root, intrinsics=intr)
    assert [src.sequence_of(i) for i in range(3)] == [("rgbd_dataset_freiburg1_xyz", k, 1.0 + k) for k in range(3)]
    (tmp_path / "K.txt").write_text("30 0 15.5\n0 30 11.5\n0 0 1\n")
    from tofsim.config import ConvertConfig

    ds = tofsim.open_dataset(
        convert(root, tmp_path / "out", config=ConvertConfig(intrinsics_path=str(tmp_path / "K.txt")))
    )
    metas = [ds[i].meta for i in range(3)]
    assert [m["timestamp_s"] for m in metas] == [1.0, 2.0, 3.0]
    assert [ds[i].pose[2, 3] for i in range(3)] == [3.0, 3.5, 4.0]


def test_seven_scenes_sequence_ids_and_frame_numbers(tmp_path):
    seq = tmp_path / "chess" / "seq-02"
    seq.mkdir(parents=True)
    (seq / "camera-intrinsics.txt").write_text("30 0 15.5\n0 30 11.5\n0 0 1\n")
    for k in (4, 9):
        Image.fromarray(np.full((24, 32), 2000, np.uint16)).save(seq / f"frame-{k:06d}.depth.png")
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(seq / f"frame-{k:06d}.color.png")
    src = open_source(tmp_path / "chess")
    assert [src.sequence_of(i) for i in range(2)] == [("chess/seq-02", 4, None), ("chess/seq-02", 9, None)]
