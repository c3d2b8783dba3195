"""tofsim.sources: real RGB-D readers (7-Scenes / generic / TUM PNG16, NYUv2 h5, Hypersim) and the albedo proxy."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from PIL import Image

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError, RegistryError, ShapeError
from tofsim.sources import SOURCES, open_source
from tofsim.sources.albedo import albedo_from_rgb
from tofsim.sources.hypersim import tonemap_hypersim
from tofsim.sources.nyu_h5 import NYU_INTRINSICS_640x480

K_TXT = "100 0 15.5\n0 100 11.5\n0 0 1\n"


def save_png16(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint16)).save(path)


def make_7scenes(folder, n=2, h=24, w=32, k_txt=K_TXT):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "camera-intrinsics.txt").write_text(k_txt)
    rng = np.random.default_rng(0)
    raws = []
    for i in range(n):
        raw = rng.integers(500, 4000, (h, w)).astype(np.uint16)
        raw[0, 0], raw[1, 1] = 0, 65535
        save_png16(folder / f"frame-{i:06d}.depth.png", raw)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"frame-{i:06d}.color.png")
        pose = np.eye(4)
        pose[:3, 3] = [i, 2 * i, 3 * i]
        np.savetxt(folder / f"frame-{i:06d}.pose.txt", pose)
        raws.append(raw)
    return raws


@pytest.mark.realdata
def test_redkitchen_frames(redkitchen):
    src = open_source(redkitchen)
    assert src.kind == "rgbd-folder" and len(src) == 100
    frame = src.load(1)
    raw = np.asarray(Image.open(redkitchen / "frame-000005.depth.png")).astype(np.uint16)
    assert frame.depth_m.shape == (480, 640) and frame.depth_m.dtype == np.float32
    np.testing.assert_array_equal(frame.depth_m == 0, (raw == 0) | (raw == 65535))
    valid = raw > 0
    np.testing.assert_allclose(frame.depth_m[valid], raw[valid] / 1000.0, rtol=1e-6)
    intr = frame.intrinsics
    assert (intr.fx_px, intr.fy_px, intr.cx_px, intr.cy_px) == (585.0, 585.0, 320.0, 240.0)
    np.testing.assert_array_equal(frame.pose, np.loadtxt(redkitchen / "frame-000005.pose.txt"))
    # range at the top-left pixel, computed by hand from the ray through (0, 0)
    v, u = np.argwhere(valid)[0]
    expected = raw[v, u] / 1000.0 * np.sqrt(((u - 320) / 585) ** 2 + ((v - 240) / 585) ** 2 + 1)
    assert frame.range_m[v, u] == pytest.approx(expected, rel=1e-6)
    assert np.all(frame.range_m[~valid] == 0)
    assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
    assert 0 <= frame.albedo.min() and frame.albedo.max() <= 1
    assert src.name(1) == "frame-000005" and src.scene_id(1) == redkitchen.name
    assert src.image_size(1) == (480, 640)
    clone = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(clone.load(1).depth_m, frame.depth_m)


def test_seven_scenes_layout_invalid_values_and_pose(tmp_path):
    raws = make_7scenes(tmp_path / "kitchen" / "seq-01")
    src = open_source(tmp_path / "kitchen")  # a scene folder of seq-NN folders
    assert len(src) == 2 and src.scene_id(0) == "kitchen" and src.name(1) == "frame-000001"
    f = src.load(1)
    assert f.depth_m[0, 0] == 0 and f.depth_m[1, 1] == 0 and f.range_m[1, 1] == 0
    np.testing.assert_allclose(f.depth_m[2:, 2:], raws[1][2:, 2:] / 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(f.pose[:3, 3], [1, 2, 3])
    assert f.intrinsics.fx_px == 100 and f.intrinsics.cx_px == 15.5
    assert f.meta["pose_known"] and f.normals_cam is None
    assert src.load(-1).meta["source_file"] == src.load(1).meta["source_file"]
    with pytest.raises(IndexError):
        src.load(2)


def test_depth_scale_and_intrinsics_option(tmp_path):
    raws = make_7scenes(tmp_path / "seq")
    intr = Intrinsics(fx_px=50, fy_px=50, cx_px=16, cy_px=12, width_px=32, height_px=24)
    f = open_source(tmp_path / "seq", depth_scale_per_m=5000, intrinsics=intr).load(0)
    assert f.intrinsics == intr
    np.testing.assert_allclose(f.depth_m[5, 5], raws[0][5, 5] / 5000.0, rtol=1e-6)


def test_generic_layout_matched_by_stem(tmp_path):
    root = tmp_path / "gen"
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "pose").mkdir()
    (root / "intrinsics.txt").write_text("100 100 15.5 11.5\n")  # fx fy cx cy form
    for stem, value in (("b", 2000), ("a", 1000)):
        save_png16(root / "depth" / f"{stem}.png", np.full((24, 32), value))
        Image.fromarray(np.full((24, 32, 3), 200, np.uint8)).save(root / "rgb" / f"{stem}.jpg")
    np.savetxt(root / "pose" / "b.txt", np.diag([1.0, -1.0, -1.0, 1.0]))
    src = open_source(root)
    assert [src.name(i) for i in range(len(src))] == ["a", "b"]
    assert src.load(0).depth_m[3, 3] == pytest.approx(1.0) and src.load(1).depth_m[3, 3] == pytest.approx(2.0)
    np.testing.assert_array_equal(src.load(0).pose, np.eye(4))
    np.testing.assert_array_equal(src.load(1).pose, np.diag([1.0, -1.0, -1.0, 1.0]))
    (root / "rgb" / "a.jpg").unlink()
    with pytest.raises(InputFileError, match="a.png: no colour image"):
        open_source(root)


def test_tum_layout_associates_by_timestamp(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "depth.txt").write_text("# depth maps\n")
    (root / "rgb.txt").write_text("# color images\n")
    for t_depth, t_rgb, value in (
        ("1305031102.160407", "1305031102.175304", 5000),
        ("1305031103.5", "1305031109.0", 0),
    ):
        save_png16(root / "depth" / f"{t_depth}.png", np.full((24, 32), value))
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "rgb" / f"{t_rgb}.png")
    intr = Intrinsics(fx_px=30, fy_px=30, cx_px=15.5, cy_px=11.5, width_px=32, height_px=24)
    src = open_source(root, intrinsics=intr)
    assert len(src) == 1  # the second depth image has no colour within 20 ms
    assert src.load(0).depth_m[0, 0] == pytest.approx(1.0)  # TUM default: 5000 per metre


def test_rgbd_folder_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        open_source(tmp_path / "missing", kind="rgbd-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no RGB-D frames"):
        open_source(tmp_path / "empty", kind="rgbd-folder")
    with pytest.raises(InputFileError, match="no RGB-D frames"):
        open_source(tmp_path / "empty")
    make_7scenes(tmp_path / "noK")
    (tmp_path / "noK" / "camera-intrinsics.txt").unlink()
    with pytest.raises(InputFileError, match="no intrinsics"):
        open_source(tmp_path / "noK")
    make_7scenes(tmp_path / "nanK", k_txt="nan 0 15.5\n0 100 11.5\n0 0 1\n")
    with pytest.raises(ShapeError, match="camera-intrinsics.txt: intrinsics contain NaN"):
        open_source(tmp_path / "nanK")
    with pytest.raises(ConfigError, match="positive"):
        open_source(tmp_path / "nanK", depth_scale_per_m=0)
    with pytest.raises(RegistryError, match="valid names: hypersim, nyu-h5, rgbd-folder, sun3d"):
        open_source(tmp_path / "noK", kind="tum")


def test_rgbd_folder_8bit_and_wrong_size_depth(tmp_path):
    make_7scenes(tmp_path / "s")
    Image.fromarray(np.full((24, 32), 100, np.uint8)).save(tmp_path / "s" / "frame-000000.depth.png")
    src = open_source(tmp_path / "s")
    with pytest.raises(InputFileError, match=r"frame-000000.depth.png: 8-bit grayscale PNG; depth must be a 16-bit"):
        src.load(0)
    save_png16(tmp_path / "s" / "frame-000001.depth.png", np.full((12, 32), 1000))
    with pytest.raises(ShapeError, match=r"frame-000001.depth.png: depth is 32x12 but colour is 32x24"):
        src.load(1)


def test_albedo_from_rgb_reference_values():
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [128, 128, 128], [0, 255, 0], [10, 10, 10]]], np.uint8)
    a = albedo_from_rgb(rgb)
    assert a.dtype == np.float32 and a.shape == (1, 5)
    grey = ((128 / 255 + 0.055) / 1.055) ** 2.4
    np.testing.assert_allclose(a[0], [1.0, 0.0, grey, 0.7152, 10 / 255 / 12.92], rtol=1e-5, atol=1e-7)
    with pytest.raises(ShapeError, match="rgb"):
        albedo_from_rgb(np.zeros((4, 4), np.uint8))


def write_nyu(path, rgb_chw, depth):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["rgb"] = rgb_chw
        f["depth"] = depth


def test_nyu_h5_folder_and_file(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 480, 640), dtype=np.uint8)
    depth = rng.uniform(0.5, 9, (480, 640)).astype(np.float32)
    depth[0, 0], depth[0, 1] = np.nan, 0.0
    write_nyu(tmp_path / "nyu" / "train" / "bedroom_0001" / "00001.h5", rgb, depth)
    write_nyu(tmp_path / "nyu" / "train" / "kitchen_0002" / "00007.h5", rgb[:, ::2, ::2], depth[::2, ::2])
    src = open_source(tmp_path / "nyu")
    assert src.kind == "nyu-h5" and len(src) == 2
    assert (src.name(0), src.scene_id(0), src.scene_id(1)) == ("00001", "bedroom_0001", "kitchen_0002")
    assert src.image_size(1) == (240, 320)
    f = src.load(0)
    np.testing.assert_array_equal(f.rgb, np.transpose(rgb, (1, 2, 0)))
    assert f.depth_m[0, 0] == 0 and f.depth_m[0, 1] == 0 and f.range_m[0, 0] == 0
    np.testing.assert_array_equal(f.depth_m[1:], depth[1:])
    assert f.intrinsics == NYU_INTRINSICS_640x480
    assert f.intrinsics.fx_px == 5.1885790117450188e02 and f.intrinsics.cy_px == 2.5373616633400465e02
    half = src.load(1).intrinsics
    assert half.shape == (240, 320) and half.fx_px == pytest.approx(518.8579011745019 / 2)
    assert half.cx_px == pytest.approx((325.58244941119034 + 0.5) / 2 - 0.5)
    single = open_source(tmp_path / "nyu" / "train" / "bedroom_0001" / "00001.h5")
    assert single.kind == "nyu-h5" and len(single) == 1
    write_nyu(tmp_path / "bad" / "x.h5", rgb[:, :10], depth)
    with pytest.raises(ShapeError, match="x.h5: depth is 640x480 but colour is 640x10"):
        open_source(tmp_path / "bad", kind="nyu-h5").load(0)
    (tmp_path / "none").mkdir()
    with pytest.raises(InputFileError, match=r"no NYUv2 files \(\*\.h5\)"):
        open_source(tmp_path / "none", kind="nyu-h5")


def write_h5_dataset(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["dataset"] = data


def test_hypersim_range_to_z_colour_and_pose(tmp_path):
    h, w, z_plane = 48, 64, 2.0
    scene = tmp_path / "ai_001_001"
    images = scene / "images"
    f_px = (w / 2) / np.tan(np.deg2rad(60) / 2)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    ray = np.sqrt(((u - (w - 1) / 2) / f_px) ** 2 + ((v - (h - 1) / 2) / f_px) ** 2 + 1)
    range_m = (z_plane * ray).astype(np.float32)  # a fronto-parallel plane at z = 2 m, stored as distance
    range_m[3, 4] = np.nan
    write_h5_dataset(images / "scene_cam_00_geometry_hdf5" / "frame.0000.depth_meters.hdf5", range_m.astype(np.float16))
    write_h5_dataset(images / "scene_cam_00_geometry_hdf5" / "frame.0001.depth_meters.hdf5", range_m)
    (images / "scene_cam_00_final_preview").mkdir(parents=True)
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(
        images / "scene_cam_00_final_preview" / "frame.0000.tonemap.jpg"
    )
    hdr = np.full((h, w, 3), 0.25, np.float16)
    write_h5_dataset(images / "scene_cam_00_final_hdf5" / "frame.0001.color.hdf5", hdr)
    write_h5_dataset(
        images / "scene_cam_00_final_hdf5" / "frame.0001.diffuse_reflectance.hdf5", np.full((h, w, 3), 0.3)
    )
    rot = np.stack([np.eye(4)[:3, :3], np.eye(4)[:3, :3]])
    write_h5_dataset(scene / "_detail" / "cam_00" / "camera_keyframe_orientations.hdf5", rot)
    write_h5_dataset(
        scene / "_detail" / "cam_00" / "camera_keyframe_positions.hdf5", np.array([[0, 0, 0], [10, 20, 30.0]])
    )
    (scene / "_detail" / "metadata_scene.csv").write_text("parameter_name,parameter_value\nmeters_per_asset_unit,0.5\n")

    src = open_source(tmp_path)
    assert src.kind == "hypersim" and len(src) == 2
    assert (src.name(1), src.scene_id(1)) == ("frame.0001", "ai_001_001")
    assert src.image_size(0) == (h, w)
    f1 = src.load(1)
    valid = np.isfinite(range_m)
    np.testing.assert_allclose(f1.depth_m[valid], z_plane, rtol=1e-6)
    np.testing.assert_array_equal(f1.range_m[valid], range_m[valid])
    assert f1.depth_m[3, 4] == 0 and f1.range_m[3, 4] == 0
    assert f1.intrinsics.fx_px == pytest.approx(f_px) and f1.intrinsics.cx_px == (w - 1) / 2
    # HDR colour tone-mapped: constant radiance -> the 90th percentile maps to 0.8 -> 0.8 * 255
    assert np.all(f1.rgb == round(0.8 * 255))
    np.testing.assert_allclose(f1.albedo, 0.3, rtol=1e-3)  # diffuse reflectance wins over the RGB proxy
    expected_pose = np.eye(4)
    expected_pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # OpenGL camera -> OpenCV camera
    expected_pose[:3, 3] = [5, 10, 15]  # asset units x 0.5 m
    np.testing.assert_allclose(f1.pose, expected_pose)
    f0 = src.load(0)  # float16 file, colour from the tonemap jpg
    np.testing.assert_allclose(f0.depth_m[valid], z_plane, rtol=2e-3)
    assert abs(int(f0.rgb[10, 10, 0]) - 90) <= 2
    np.testing.assert_allclose(f0.pose, np.diag([1.0, -1.0, -1.0, 1.0]))


def test_hypersim_errors_and_tonemap(tmp_path):
    geo = tmp_path / "images" / "scene_cam_00_geometry_hdf5"
    write_h5_dataset(geo / "frame.0000.depth_meters.hdf5", np.ones((4, 4), np.float32))
    with pytest.raises(InputFileError, match="frame.0000.depth_meters.hdf5: no colour image"):
        open_source(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no Hypersim depth files"):
        open_source(tmp_path / "empty", kind="hypersim")
    with pytest.raises(ConfigError, match="Hypersim files store metres"):
        open_source(tmp_path, kind="hypersim", depth_scale_per_m=1000)
    with pytest.raises(InputFileError, match="not found"):
        open_source(tmp_path / "missing", kind="hypersim")
    assert tonemap_hypersim(np.zeros((2, 2, 3))).max() == 0


def test_every_source_kind_is_registered():
    assert SOURCES.names() == ["hypersim", "nyu-h5", "rgbd-folder", "sun3d"]
