"""The mesh route end to end: pose files drive the camera, scan-like meshes get sampled poses, bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tofsim.camera import Intrinsics
from tofsim.cli import app
from tofsim.config import GenerateConfig, load_toml
from tofsim.errors import ConfigError, InputFileError
from tofsim.pipeline import generate
from tofsim.render import Renderer
from tofsim.scene.cameras import PoseConfig, camera_pose, sample_camera_poses
from tofsim.scene.mesh import T_world_from_file
from tofsim.scene.pose_file import read_pose_file
from tofsim.scene.types import Material, Scene
from tofsim.sources.timestamps import read_tum_trajectory

o3d = pytest.importorskip("open3d")

K_QQVGA = Intrinsics(fx_px=146.25, fy_px=146.25, cx_px=79.5, cy_px=59.5, width_px=160, height_px=120)
TINY = {"preset": "sds", "seed": 3, "frames_per_scene": 2, "shard_size": 4,
        "camera": {"width_px": 160, "height_px": 120, "fx_px": 146.25, "fy_px": 146.25}}  # fmt: skip
#: Three level cameras inside a 5 x 4 x 2.6 m box room (world = file coordinates, metres).
ROOM_POSES = np.stack([camera_pose([1.0, 2.0, 1.5], yaw_deg=0.0), camera_pose([4.0, 1.0, 1.2], yaw_deg=150.0,
                       pitch_deg=-10.0), camera_pose([2.5, 3.0, 0.8], yaw_deg=-80.0, roll_deg=5.0)])  # fmt: skip


def room_file(tmp_path, *, up_axis="z", scale_per_m=1.0, name="room.ply"):
    """The box room written with `up_axis` up and in file units of `scale_per_m` per metre."""
    room = o3d.geometry.TriangleMesh.create_box(5.0, 4.0, 2.6)
    world = np.asarray(room.vertices).copy()
    room.vertices = o3d.utility.Vector3dVector(world @ T_world_from_file(up_axis)[:3, :3] * scale_per_m)
    path = tmp_path / name
    assert o3d.io.write_triangle_mesh(str(path), room)
    return path


def file_poses(world_poses, up_axis="z", scale_per_m=1.0):
    """World poses -> the same cameras in a file's coordinates (the inverse of `poses_to_world`)."""
    rot = T_world_from_file(up_axis)[:3, :3]
    out = world_poses.copy()
    out[:, :3, :3] = rot.T @ world_poses[:, :3, :3]
    out[:, :3, 3] = world_poses[:, :3, 3] @ rot * scale_per_m
    return out


def write_tum(path, poses, times):
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(poses[:, :3, :3]).as_quat()  # x y z w
    rows = np.column_stack([times, poses[:, :3, 3], q])
    np.savetxt(path, rows, fmt="%.9f", header="timestamp tx ty tz qx qy qz qw")


def read_samples(folder):
    from tofsim.dataset.reader import open_dataset

    ds = open_dataset(folder)
    return [ds[i] for i in range(len(ds))]


# ------------------------------------------------------------------------------------------------ pose files


def test_read_pose_file_formats_and_errors(tmp_path):
    flat = tmp_path / "poses.txt"
    np.savetxt(flat, ROOM_POSES.reshape(3, 16), header="one row-major 4x4 per line")
    read = read_pose_file(flat)
    assert read.kind == "matrices" and read.timestamps_s is None
    np.testing.assert_array_equal(read.poses, ROOM_POSES)
    tum = tmp_path / "groundtruth.txt"
    write_tum(tum, ROOM_POSES, [10.0, 10.5, 11.0])
    read = read_pose_file(tum)
    assert read.kind == "tum"
    np.testing.assert_array_equal(read.timestamps_s, [10.0, 10.5, 11.0])
    np.testing.assert_array_equal(read.poses, read_tum_trajectory(tum)[1])
    np.testing.assert_allclose(read.poses, ROOM_POSES, atol=1e-8)
    seven = tmp_path / "seven.txt"
    seven.write_text("1 2 3 0 0 0 1\n")
    with pytest.raises(InputFileError, match=r"seven\.txt: expected 4 x 4 blocks.*or a TUM trajectory"):
        read_pose_file(seven)
    bad_tum = tmp_path / "bad_tum.txt"
    bad_tum.write_text("0 1 2 3 0 0 0 1\n1 1 2 3 0 0 0\n")
    with pytest.raises(InputFileError, match=r"bad_tum\.txt:2: expected 'timestamp tx ty tz qx qy qz qw'"):
        read_pose_file(bad_tum)
    with pytest.raises(InputFileError, match="pose file not found"):
        read_pose_file(tmp_path / "nope.txt")


@pytest.mark.parametrize("kind", ["matrices", "tum"])
def test_generated_frames_follow_the_pose_file(tmp_path, kind):
    mesh = room_file(tmp_path)
    path = tmp_path / "poses.txt"
    if kind == "tum":
        write_tum(path, ROOM_POSES, [1.0, 1.1, 1.2])
    else:
        np.savetxt(path, ROOM_POSES.reshape(-1, 16))
    cfg = GenerateConfig.from_dict({**TINY, "n_frames": 3, "mesh_path": str(mesh), "pose_file": str(path)})
    samples = read_samples(generate(cfg, tmp_path / "ds"))
    stored = np.stack([s.pose for s in samples])
    np.testing.assert_array_equal(stored, read_pose_file(path).poses)  # exactly the file's (z up, metres)
    assert all(s.depth_m.min() > 0 for s in samples)  # a closed room: every pixel hits
    times = [s.meta.get("timestamp_s") for s in samples]
    assert times == ([1.0, 1.1, 1.2] if kind == "tum" else [None] * 3)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["config"]["pose_file"] == str(path)


def test_pose_file_of_a_y_up_millimetre_mesh_is_transformed_with_it(tmp_path):
    """The same cameras in a y-up file in mm: the same world poses and depth as the z-up metre room."""
    ref_cfg = {**TINY, "n_frames": 2, "mesh_path": str(room_file(tmp_path))}
    np.savetxt(tmp_path / "world.txt", ROOM_POSES[:2].reshape(-1, 16))
    ref = read_samples(generate(GenerateConfig.from_dict({**ref_cfg, "pose_file": str(tmp_path / "world.txt")}),
                                tmp_path / "ref"))  # fmt: skip
    mesh = room_file(tmp_path, up_axis="y", scale_per_m=1000.0, name="room-mm.obj")
    np.savetxt(tmp_path / "file.txt", file_poses(ROOM_POSES[:2], "y", 1000.0).reshape(-1, 16))
    cfg = {**TINY, "n_frames": 2, "mesh_path": str(mesh), "mesh_up_axis": "y", "mesh_scale_per_m": 1000.0,
           "pose_file": str(tmp_path / "file.txt")}  # fmt: skip
    got = read_samples(generate(GenerateConfig.from_dict(cfg), tmp_path / "mm"))
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_allclose(b.pose, a.pose, atol=1e-9)
        np.testing.assert_allclose(b.depth_m, a.depth_m, atol=2e-4)


def test_bad_pose_files_are_refused_before_writing(tmp_path):
    mesh = room_file(tmp_path)
    path = tmp_path / "poses.txt"
    np.savetxt(path, ROOM_POSES.reshape(-1, 16))
    base = {**TINY, "mesh_path": str(mesh), "pose_file": str(path)}
    with pytest.raises(
        ConfigError, match=r"3 poses, but n_frames is 5.*leave out --frames \(n_frames\) or set it to 3"
    ):
        generate(GenerateConfig.from_dict({**base, "n_frames": 5}), tmp_path / "a")
    outside = ROOM_POSES.copy()
    outside[1, :3, 3] = [20.0, 2.0, 1.5]  # outside the room, looking away from it
    outside[1, :3, :3] = camera_pose([0, 0, 0], yaw_deg=0.0)[:3, :3]
    np.savetxt(path, outside.reshape(-1, 16))
    with pytest.raises(ConfigError, match=r"pose 1 .*sees the mesh in 0% .*poses.min_view_hit_fraction.*--up-axis"):
        generate(GenerateConfig.from_dict({**base, "n_frames": 3}), tmp_path / "b")
    box = o3d.geometry.TriangleMesh.create_box(0.3, 0.3, 0.3).translate((0.85, 1.85, 1.35))
    cabinet = o3d.geometry.TriangleMesh.create_box(5.0, 4.0, 2.6) + box
    o3d.io.write_triangle_mesh(str(tmp_path / "cabinet.ply"), cabinet)
    np.savetxt(path, ROOM_POSES.reshape(-1, 16))  # pose 0 at (1, 2, 1.5): inside the cabinet
    with pytest.raises(ConfigError, match=r"pose 0 .*nearer than poses.close_up_min_view_distance_m.*inside"):
        generate(GenerateConfig.from_dict({**base, "n_frames": 3, "mesh_path": str(tmp_path / "cabinet.ply")}),
                 tmp_path / "c")  # fmt: skip
    assert not any((tmp_path / name).exists() for name in "abc")
    with pytest.raises(ConfigError, match=r"pose_file \(--poses\).*need a mesh; add --mesh"):
        GenerateConfig.from_dict({**TINY, "pose_file": str(path)})
    with pytest.raises(ConfigError, match=r"pose_file \(--poses\) and generate.sequence \(--sequence\)"):
        GenerateConfig.from_dict({**base, "sequence": {"enabled": True}})
    with pytest.raises(ConfigError, match=r"mesh_up_axis \(--up-axis\).*got 'up'"):
        GenerateConfig.from_dict({**TINY, "mesh_up_axis": "up"})
    with pytest.raises(ConfigError, match=r"mesh_scale_per_m \(--mesh-scale-per-m\).*must be > 0"):
        GenerateConfig.from_dict({**TINY, "mesh_scale_per_m": 0.0})


def test_new_keys_are_out_of_the_config_hash_at_their_defaults(tmp_path):
    plain = GenerateConfig().to_dict()
    assert not {"mesh_up_axis", "mesh_scale_per_m", "pose_file"} & set(plain)
    toml = tmp_path / "mesh.toml"
    toml.write_text('mesh_path = "scan.ply"\nmesh_up_axis = "-y"\nmesh_scale_per_m = 1000\n\n'
                    "[poses]\nmin_enclosed_fraction = 0.4\nmin_clearance_m = 0.2\n")  # fmt: skip
    cfg = GenerateConfig.from_dict(load_toml(toml))
    assert (cfg.mesh_up_axis, cfg.mesh_scale_per_m, cfg.poses.min_enclosed_fraction) == ("-y", 1000, 0.4)
    assert cfg.to_dict()["mesh_up_axis"] == "-y" and cfg.to_dict()["poses"]["min_clearance_m"] == 0.2


# ------------------------------------------------------------------------------------------------ scanned meshes


def _grid(origin, u, v, nu, nv):
    o, u, v = (np.asarray(x, float) for x in (origin, u, v))
    i, j = np.meshgrid(np.arange(nu + 1), np.arange(nv + 1), indexing="ij")
    verts = (o + i[..., None] / nu * u + j[..., None] / nv * v).reshape(-1, 3)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    return verts, np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])


def scan_mesh(parts, rng, *, holes=0, noise_m=0.01):
    """A scan-like open mesh: grid patches, random holes, 1 cm vertex noise, no ceiling, unknown winding."""
    verts, tris, off = [], [], 0
    for v, t in parts:
        verts.append(v)
        tris.append(t + off)
        off += len(v)
    v, t = np.concatenate(verts), np.concatenate(tris)
    centres = v[t].mean(1)
    keep = np.ones(len(t), bool)
    for c in rng.uniform(v.min(0), v.max(0), size=(holes, 3)):
        keep &= np.linalg.norm(centres - c, axis=1) > rng.uniform(0.15, 0.4)
    t = t[keep]
    v = v + rng.normal(0.0, noise_m, v.shape)
    n = len(t)
    return Scene(vertices=v.astype(np.float32), triangles=t.astype(np.int32), material_id=np.zeros(n, np.int32),
                 materials=(Material(name="scan", albedo=0.5, color_rgb=(180, 180, 180)),),
                 face_rgb=np.full((n, 3), 180, np.uint8), face_albedo=np.full(n, 0.5, np.float32),
                 meta={"scene_id": "scan", "floor_z_m": float(v[:, 2].min()), "normals_oriented": False})  # fmt: skip


def open_room_parts():
    """A 6 x 5 x 2.7 m room without ceiling and without its x = 6 wall, with a counter."""
    return [
        _grid((0, 0, 0), (6, 0, 0), (0, 5, 0), 40, 33),
        _grid((0, 0, 0), (0, 0, 2.7), (6, 0, 0), 18, 40),
        _grid((0, 5, 0), (6, 0, 0), (0, 0, 2.7), 40, 18),
        _grid((0, 0, 0), (0, 5, 0), (0, 0, 2.7), 33, 18),
        _grid((1, 3.8, 0.9), (1.5, 0, 0), (0, 1.2, 0), 10, 8),
        _grid((1, 3.8, 0), (1.5, 0, 0), (0, 0, 0.9), 10, 6),
    ]


def counter_parts():
    """What one sweep along a kitchen counter sees: a floor strip, the counter, the wall behind it."""
    return [
        _grid((0, 1, 0), (3, 0, 0), (0, 1, 0), 20, 7),
        _grid((0, 2.6, 0), (3, 0, 0), (0, 0, 2.2), 20, 15),
        _grid((0, 2, 0.9), (3, 0, 0), (0, 0.6, 0), 20, 4),
        _grid((0, 2, 0), (3, 0, 0), (0, 0, 0.9), 20, 6),
    ]


def test_default_pose_sampling_works_in_an_open_noisy_scan():
    scene = scan_mesh(open_room_parts(), np.random.default_rng(0), holes=5)
    poses = sample_camera_poses(scene, K_QQVGA, 4, rng=np.random.default_rng(1), **PoseConfig().kwargs())
    renderer = Renderer(scene)
    assert all(renderer.render(K_QQVGA, pose).valid.mean() > 0.5 for pose in poses)


def test_a_partial_scan_names_the_knob_and_works_with_it(tmp_path):
    scene = scan_mesh(counter_parts(), np.random.default_rng(0))
    hint = r"stopped by the 'enclosed' test .*lower min_enclosed_fraction \(--min-enclosed-fraction\).* in \d+% of dir"
    with pytest.raises(ConfigError, match=hint):
        sample_camera_poses(scene, K_QQVGA, 2, rng=np.random.default_rng(1), **PoseConfig().kwargs())
    kwargs = {**PoseConfig().kwargs(), "min_enclosed_fraction": 0.5}
    poses = sample_camera_poses(scene, K_QQVGA, 2, rng=np.random.default_rng(1), **kwargs)
    assert all(Renderer(scene).render(K_QQVGA, pose).valid.mean() > 0.4 for pose in poses)
    # The same through the command line, with the scan written the way 7-Scenes / KinectFusion worlds are (y down).
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(scene.vertices @ T_world_from_file("-y")[:3, :3]),
                                     o3d.utility.Vector3iVector(scene.triangles))  # fmt: skip
    o3d.io.write_triangle_mesh(str(tmp_path / "scan.ply"), mesh)
    args = ["generate", "--out", str(tmp_path / "ds"), "--mesh", str(tmp_path / "scan.ply"), "--up-axis", "-y",
            "--frames", "2", "--frames-per-scene", "2", "--width", "160", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--min-enclosed-fraction" in result.output
    assert len(result.output.strip().splitlines()) == 2  # the camera line, then one error line
    result = CliRunner().invoke(app, [*args, "--min-enclosed-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["config"]["poses"]["min_enclosed_fraction"] == 0.5 and manifest["config"]["mesh_up_axis"] == "-y"


def test_cli_pose_file_sets_the_frame_count(tmp_path):
    mesh = room_file(tmp_path)
    poses = tmp_path / "traj.txt"
    write_tum(poses, ROOM_POSES, [0.0, 0.1, 0.2])
    args = ["generate", "--mesh", str(mesh), "--poses", str(poses), "--width", "160", "--quiet"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert "camera poses from" in result.output and "3 frames, one per pose" in result.output
    np.testing.assert_allclose(np.stack([s.pose for s in read_samples(tmp_path / "ds")]), ROOM_POSES, atol=1e-8)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ds2"), "--frames", "5"])
    assert result.exit_code == 2 and "3 poses, but n_frames is 5" in result.output
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ds3"), "--up-axis", "w"])
    assert result.exit_code == 2 and "--up-axis" in result.output
