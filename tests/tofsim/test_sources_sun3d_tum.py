"""Raw SUN3D folders (bit-rotated depth, colour by nearest timestamp) and TUM ``groundtruth.txt`` poses."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from tofsim.camera import Intrinsics
from tofsim.errors import InputFileError
from tofsim.sources import detect_kind, open_source
from tofsim.sources.sun3d import decode_sun3d_depth
from tofsim.sources.timestamps import associate_nearest, quaternion_to_matrix, read_tum_trajectory

# stored SUN3D values and the depths they hold, by hand: v = (mm << 3) | (mm >> 13) in uint16
#   1000 mm -> 8000; 2500 mm -> 20000; 9000 mm -> (72000 mod 65536) | 1 = 6465; 0 -> 0 (invalid)
SUN3D_STORED = np.array([[0, 8000], [20000, 6465]], np.uint16)
SUN3D_DEPTH_M = np.array([[0.0, 1.0], [2.5, 9.0]], np.float32)


def save_png16(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint16)).save(path)


def make_sun3d(seq, *, intrinsics=True):
    (seq / "depth").mkdir(parents=True)
    (seq / "image").mkdir()
    if intrinsics:
        (seq / "intrinsics.txt").write_text("100 0 0.5\n0 100 0.5\n0 0 1\n")
    save_png16(seq / "depth" / "0000001-000000100000.png", SUN3D_STORED)
    save_png16(seq / "depth" / "0000002-000000133000.png", SUN3D_STORED[::-1])
    for k, (t, grey) in enumerate(((90000, 10), (120000, 120), (140000, 250)), start=1):
        Image.fromarray(np.full((2, 2, 3), grey, np.uint8)).save(seq / "image" / f"{k:07d}-{t:012d}.jpg")


def test_sun3d_bit_rotation_by_hand():
    np.testing.assert_array_equal(decode_sun3d_depth(SUN3D_STORED), SUN3D_DEPTH_M)


def test_sun3d_folder_depth_colour_by_timestamp_and_intrinsics(tmp_path):
    seq = tmp_path / "hotel_umd" / "maryland_hotel3"
    make_sun3d(seq)
    for root in (seq, seq.parent):  # a sequence, or a folder of sequences
        assert detect_kind(root) == "sun3d"
        src = open_source(root)
        assert src.kind == "sun3d" and len(src) == 2
        f0, f1 = src.load(0), src.load(1)
        np.testing.assert_array_equal(f0.depth_m, SUN3D_DEPTH_M)
        np.testing.assert_array_equal(f1.depth_m, SUN3D_DEPTH_M[::-1])
        # depth t=100000: image t=90000 (10000 away) beats t=120000; depth t=133000: t=140000 (7000) beats 120000
        assert f0.meta["colour_file"].endswith("0000001-000000090000.jpg")
        assert f1.meta["colour_file"].endswith("0000003-000000140000.jpg")
        assert f0.meta["colour_minus_depth_timestamp"] == -10000 and f1.meta["colour_minus_depth_timestamp"] == 7000
        assert f0.intrinsics.fx_px == 100 and f0.intrinsics.cx_px == 0.5
        assert not f0.meta["pose_known"] and src.scene_id(0) == "maryland_hotel3"
        assert src.name(1) == "0000002-000000133000" and src.image_size(1) == (2, 2)
        assert pickle.loads(pickle.dumps(src)).load(1).meta["source_file"] == f1.meta["source_file"]


def test_sun3d_errors(tmp_path):
    make_sun3d(tmp_path / "noK", intrinsics=False)
    with pytest.raises(InputFileError, match="no intrinsics.txt; pass --intrinsics K.txt"):
        open_source(tmp_path / "noK", kind="sun3d")
    intr = Intrinsics(fx_px=50, fy_px=50, cx_px=0.5, cy_px=0.5, width_px=2, height_px=2)
    assert open_source(tmp_path / "noK", kind="sun3d", intrinsics=intr).load(0).intrinsics.fx_px == 50
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no SUN3D frames found"):
        open_source(tmp_path / "empty", kind="sun3d")


def test_associate_nearest_with_and_without_tolerance():
    got = associate_nearest(np.array([1.0, 2.0, 3.0, 0.0]), np.array([2.9, 1.01, 0.995, 2.2]), max_dt=0.02)
    np.testing.assert_array_equal(got, [2, -1, -1, -1])  # 1.0 -> 0.995 (5 ms, not 1.01 at 10 ms); 2.0 -> none
    np.testing.assert_array_equal(associate_nearest(np.array([2.0, 3.0]), np.array([2.9, 2.2])), [1, 0])


def test_quaternion_to_matrix_by_hand():
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, np.sqrt(0.5), np.sqrt(0.5)), rz90, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, 2, 2), rz90, atol=1e-12)  # normalised first
    rx180 = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(quaternion_to_matrix(1, 0, 0, 0), rx180, atol=1e-12)
    with pytest.raises(InputFileError, match="zero or not finite"):
        quaternion_to_matrix(0, 0, 0, 0)


GROUNDTRUTH = """# ground truth trajectory
# timestamp tx ty tz qx qy qz qw
0.995 1 2 3 0 0 0 1
1.010 9 9 9 0 0 0 1
2.015 0.5 0 0 0 0 0.7071067811865476 0.7071067811865476
3.500 7 7 7 0 0 0 1
"""


def make_tum(root):
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "depth.txt").write_text("# depth maps\n")
    (root / "rgb.txt").write_text("# color images\n")
    (root / "groundtruth.txt").write_text(GROUNDTRUTH)
    for t in ("1.000000", "2.000000", "3.000000"):
        save_png16(root / "depth" / f"{t}.png", np.full((24, 32), 5000))
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "rgb" / f"{float(t) + 0.01:.6f}.png")


def test_tum_groundtruth_poses_by_nearest_timestamp(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    make_tum(root)
    intr = Intrinsics(fx_px=30, fy_px=30, cx_px=15.5, cy_px=11.5, width_px=32, height_px=24)
    src = open_source(root, intrinsics=intr)
    assert len(src) == 3
    want0 = np.eye(4)
    want0[:3, 3] = [1, 2, 3]  # 0.995 (5 ms) is nearer than 1.010 (10 ms)
    want1 = np.array([[0.0, -1, 0, 0.5], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # 90 deg about z, 15 ms away
    frames = [src.load(i) for i in range(3)]
    np.testing.assert_allclose(frames[0].pose, want0, atol=1e-12)
    np.testing.assert_allclose(frames[1].pose, want1, atol=1e-12)
    np.testing.assert_array_equal(frames[2].pose, np.eye(4))  # nearest pose 0.5 s away: unknown
    assert [f.meta["pose_known"] for f in frames] == [True, True, False]
    assert pickle.loads(pickle.dumps(src)).load(1).pose[0, 3] == 0.5


def test_tum_trajectory_errors(tmp_path):
    bad = tmp_path / "groundtruth.txt"
    bad.write_text("# c\n1.0 1 2 3 0 0 0 1\n2.0 1 2 3 0 0 1\n")
    with pytest.raises(InputFileError, match=r"groundtruth.txt:3: expected 'timestamp tx ty tz qx qy qz qw'"):
        read_tum_trajectory(bad)
    bad.write_text("1.0 1 2 3 0 0 0 0\n")
    with pytest.raises(InputFileError, match=r"groundtruth.txt:1: quaternion .* is zero"):
        read_tum_trajectory(bad)
    bad.write_text("# only comments\n")
    with pytest.raises(InputFileError, match="no poses"):
        read_tum_trajectory(bad)
    t, poses = read_tum_trajectory(_write(tmp_path, GROUNDTRUTH))
    assert t.tolist() == [0.995, 1.01, 2.015, 3.5] and poses.shape == (4, 4, 4)


def _write(tmp_path, text):
    p = tmp_path / "traj.txt"
    p.write_text(text)
    return p
