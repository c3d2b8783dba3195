"""Mesh files -> Scene (PLY/OBJ/OFF/glTF/GLB round trips, bad files), cameras in a mesh, pose files."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError
from tofsim.render import Renderer
from tofsim.scene import load_mesh, load_poses, sample_camera_poses
from tofsim.scene.mesh import DEFAULT_MESH_RGB, albedo_from_rgb

o3d = pytest.importorskip("open3d")

K_VGA = Intrinsics(fx_px=585.0, fy_px=585.0, cx_px=320.0, cy_px=240.0, width_px=640, height_px=480)


def coloured_box(size=(1.0, 2.0, 3.0)):
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    colours = np.random.default_rng(0).integers(0, 256, (8, 3)) / 255.0
    mesh.vertex_colors = o3d.utility.Vector3dVector(colours)
    return mesh


def triangle_signature(vertices, triangles, face_rgb):
    """Order-free description: sorted rows of (centroid, colour), robust to the writer re-ordering vertices."""
    rows = np.column_stack([np.asarray(vertices)[triangles].mean(1).round(4), face_rgb])
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".off"])
def test_round_trip_through_open3d_writers(tmp_path, suffix):
    mesh = coloured_box()
    path = tmp_path / f"box{suffix}"
    assert o3d.io.write_triangle_mesh(str(path), mesh)
    scene = load_mesh(path)
    tri = np.asarray(mesh.triangles)
    assert scene.n_triangles == len(tri) == 12
    assert scene.vertices.dtype == np.float32 and scene.triangles.dtype == np.int32
    np.testing.assert_allclose(scene.bounds_m, [[0, 0, 0], [1, 2, 3]], atol=1e-6)
    expected_rgb = np.round(np.asarray(mesh.vertex_colors)[tri].mean(1) * 255).astype(np.uint8)
    got = triangle_signature(scene.vertices, scene.triangles, scene.face_rgb.astype(int))
    want = triangle_signature(np.asarray(mesh.vertices), tri, expected_rgb.astype(int))
    np.testing.assert_allclose(got, want, atol=1.01)  # colours may be quantized to 8 bits per vertex by the writer
    np.testing.assert_allclose(scene.face_albedo, albedo_from_rgb(scene.face_rgb), atol=1e-7)
    assert scene.meta["scene_id"] == "mesh-box" and scene.meta["source_file"] == str(path)
    assert scene.meta["floor_z_m"] == 0.0 and scene.meta["normals_oriented"] is False
    # Seen from 2 m in front of the x = 1 face, the principal pixel's z-depth is 1 m.
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([[0, 1, 0], [0, 0, -1], [-1, 0, 0]])  # looking along -x
    pose[:3, 3] = [2.0, 1.0, 1.5]
    frame = Renderer(scene).render(K_VGA, pose)
    assert frame.depth_m[240, 320] == pytest.approx(1.0, abs=1e-5)


def test_albedo_proxy_from_luma():
    np.testing.assert_allclose(albedo_from_rgb(np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)),
                               [0.05, 0.95, 0.05 + 0.9 * 0.299], atol=1e-6)  # fmt: skip


def test_mesh_without_colours_gets_default_grey(tmp_path):
    path = tmp_path / "plain.ply"
    o3d.io.write_triangle_mesh(str(path), o3d.geometry.TriangleMesh.create_box())
    scene = load_mesh(path)
    assert (scene.face_rgb == np.array(DEFAULT_MESH_RGB, np.uint8)).all()


def test_textured_obj_samples_the_texture_at_the_centroid_uv(tmp_path):
    from PIL import Image

    image = np.zeros((64, 64, 3), np.uint8)
    image[:32, :, 0] = 255  # top half of the file: red
    image[32:, :, 2] = 255  # bottom half: blue
    Image.fromarray(image).save(tmp_path / "tex.png")
    (tmp_path / "m.mtl").write_text("newmtl mat0\nKd 1 1 1\nmap_Kd tex.png\n")
    # OBJ texture coordinates start at the bottom left: v = 0.9 is near the top (red), v = 0.1 near the bottom.
    (tmp_path / "m.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n"
        "vt 0.1 0.9\nvt 0.2 0.9\nvt 0.1 0.95\nvt 0.1 0.1\nvt 0.2 0.1\nvt 0.1 0.05\n"
        "usemtl mat0\nf 1/1 2/2 3/3\nf 2/4 4/5 3/6\n"
    )
    scene = load_mesh(tmp_path / "m.obj")
    assert scene.face_rgb.tolist() == [[255, 0, 0], [0, 0, 255]]
    assert scene.face_albedo[0] == pytest.approx(0.05 + 0.9 * 0.299, abs=1e-6)


def _write_gltf(path, binary: bool):
    """A tetrahedron with vertex colours as glTF 2.0 (y up) with an embedded buffer, or as GLB."""
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]], np.float32)
    col = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]], np.float32)
    idx = np.array([0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3], np.uint16)
    buf = pos.tobytes() + col.tobytes() + idx.tobytes()
    doc = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "indices": 2}]}],
        "buffers": [{"byteLength": len(buf)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 48},
                        {"buffer": 0, "byteOffset": 48, "byteLength": 64},
                        {"buffer": 0, "byteOffset": 112, "byteLength": 24}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3", "min": [0, 0, 0],
                       "max": [1, 2, 3]},
                      {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC4"},
                      {"bufferView": 2, "componentType": 5123, "count": 12, "type": "SCALAR"}],
    }  # fmt: skip
    if not binary:
        doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(buf).decode()
        path.write_text(json.dumps(doc))
        return
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    buf += b"\0" * (-len(buf) % 4)
    total = 12 + 8 + len(js) + 8 + len(buf)
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, total) + struct.pack("<II", len(js), 0x4E4F534A) + js
                     + struct.pack("<II", len(buf), 0x004E4942) + buf)  # fmt: skip


@pytest.mark.parametrize("name", ["tetra.gltf", "tetra.glb"])
def test_gltf_and_glb_with_y_up(tmp_path, name):
    path = tmp_path / name
    _write_gltf(path, binary=name.endswith(".glb"))
    scene = load_mesh(path)
    assert scene.n_triangles == 4
    np.testing.assert_allclose(scene.bounds_m, [[0, 0, 0], [1, 2, 3]], atol=1e-6)
    # Vertices red, green, blue, white: each face colour is the mean of its three vertices.
    assert sorted(map(tuple, scene.face_rgb.tolist())) == [(85, 85, 85), (85, 170, 170), (170, 85, 170),
                                                           (170, 170, 85)]  # fmt: skip
    z_up = load_mesh(path, up_axis="y")  # (x, y, z) -> (x, -z, y): the file's y (2 m) becomes the height
    np.testing.assert_allclose(z_up.bounds_m, [[0, -3, 0], [1, 0, 2]], atol=1e-6)
    assert z_up.meta["up_axis"] == "y"


def test_bad_mesh_files_raise_one_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="mesh file not found: .*missing.ply"):
        load_mesh(tmp_path / "missing.ply")
    empty = tmp_path / "empty.ply"
    empty.write_text(
        "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 0\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with pytest.raises(InputFileError, match=r"empty\.ply: the mesh has no triangles"):
        load_mesh(empty)
    cloud = tmp_path / "cloud.ply"
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.random.default_rng(0).normal(size=(10, 3))))
    o3d.io.write_point_cloud(str(cloud), pcd)
    with pytest.raises(InputFileError, match=r"cloud\.ply: the mesh has no triangles"):
        load_mesh(cloud)
    garbage = tmp_path / "garbage.obj"
    garbage.write_bytes(b"\x00\x01 not a mesh \xff" * 10)
    with pytest.raises(InputFileError, match=r"garbage\.obj"):
        load_mesh(garbage)
    other = tmp_path / "mesh.xyz"
    other.write_text("0 0 0\n")
    with pytest.raises(InputFileError, match="unsupported mesh format '.xyz'"):
        load_mesh(other)
    with pytest.raises(ConfigError, match="up_axis"):
        load_mesh(empty, up_axis="w")


def test_cameras_sampled_inside_a_closed_mesh_room(tmp_path):
    room = o3d.geometry.TriangleMesh.create_box(5.0, 4.0, 2.6)  # outward normals: seen from inside, back faces
    path = tmp_path / "room.ply"
    o3d.io.write_triangle_mesh(str(path), room)
    scene = load_mesh(path)
    renderer = Renderer(scene)
    poses = sample_camera_poses(scene, K_VGA, 5, rng=np.random.default_rng(0), renderer=renderer,
                                min_clearance_m=0.5)  # fmt: skip
    centres = poses[:, :3, 3]
    assert ((centres >= [0.5, 0.5, 1.0]) & (centres <= [4.5, 3.5, 1.8])).all()
    for pose in poses:
        assert renderer.render(K_VGA, pose).valid.all()


def test_open_meshes(tmp_path):
    # A scan without a ceiling still counts as enclosed (most rays hit the walls and floor).
    box = o3d.geometry.TriangleMesh.create_box(5.0, 4.0, 2.6)
    normals = np.asarray(box.compute_triangle_normals().triangle_normals)
    box.triangles = o3d.utility.Vector3iVector(np.asarray(box.triangles)[normals[:, 2] < 0.5])  # drop the top
    o3d.io.write_triangle_mesh(str(tmp_path / "open_room.ply"), box)
    scene = load_mesh(tmp_path / "open_room.ply")
    assert scene.n_triangles == 10
    poses = sample_camera_poses(scene, K_VGA, 2, rng=np.random.default_rng(0))
    assert ((poses[:, :3, 3] >= [0.3, 0.3, 1.0]) & (poses[:, :3, 3] <= [4.7, 3.7, 1.8])).all()
    # A bare floor is not: the error names the test and the setting to relax.
    floor = o3d.geometry.TriangleMesh.create_box(40.0, 40.0, 0.01)
    o3d.io.write_triangle_mesh(str(tmp_path / "floor.ply"), floor)
    scene = load_mesh(tmp_path / "floor.ply")
    with pytest.raises(ConfigError, match="stopped by the 'enclosed' test .*lower min_enclosed_fraction"):
        sample_camera_poses(scene, K_VGA, 2, rng=np.random.default_rng(0), max_candidates=256)
    poses = sample_camera_poses(scene, K_VGA, 2, rng=np.random.default_rng(0), min_enclosed_fraction=0.3)
    assert ((poses[:, 2, 3] >= 1.0) & (poses[:, 2, 3] <= 1.81)).all()


def test_load_poses_on_real_7scenes_files(redkitchen):
    first = load_poses(redkitchen / "frame-000000.pose.txt")
    assert first.shape == (1, 4, 4) and first.dtype == np.float64
    np.testing.assert_array_equal(first[0], np.loadtxt(redkitchen / "frame-000000.pose.txt"))
    folder = load_poses(redkitchen)
    files = sorted(redkitchen.glob("*.pose.txt"))
    assert folder.shape == (len(files), 4, 4) and len(files) == 100
    np.testing.assert_array_equal(folder[1], np.loadtxt(files[1]))
    ortho = load_poses(files[0], orthonormalize=True)[0]
    np.testing.assert_allclose(ortho[:3, :3].T @ ortho[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ortho, first[0], atol=1e-3)


def test_load_poses_layouts_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    poses = np.tile(np.eye(4), (3, 1, 1))
    for i in range(3):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        poses[i, :3, :3] = q * np.sign(np.linalg.det(q))
        poses[i, :3, 3] = rng.normal(size=3)
    stacked = tmp_path / "stacked.txt"
    np.savetxt(stacked, poses.reshape(-1, 4), header="three poses")
    np.testing.assert_allclose(load_poses(stacked), poses, atol=1e-12)
    flat = tmp_path / "flat.txt"
    np.savetxt(flat, poses.reshape(3, 16))
    np.testing.assert_allclose(load_poses(flat), poses, atol=1e-12)
    kitti = tmp_path / "kitti.txt"
    np.savetxt(kitti, poses[:, :3].reshape(3, 12))
    np.testing.assert_allclose(load_poses(kitti), poses, atol=1e-12)

    def bad(name, text, match):
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(InputFileError, match=match):
            load_poses(p)

    eye = "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"
    bad("nan.txt", eye.replace("1 0 0 0", "nan 0 0 0", 1), r"nan\.txt: contains NaN")
    bad("short.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n", r"short\.txt: expected 4 x 4 blocks")
    bad("words.txt", "one two three four\n", r"words\.txt: not a table of numbers")
    bad("scaled.txt", eye.replace("1 0 0 0", "2 0 0 0", 1), r"scaled\.txt: the 3 x 3 block is not a rotation")
    bad("bottom.txt", eye.replace("0 0 0 1", "0 0 1 1"), r"bottom\.txt: bottom row must be 0 0 0 1")
    bad("empty.txt", "# nothing\n", r"empty\.txt: no poses")
    with pytest.raises(InputFileError, match="pose file not found"):
        load_poses(tmp_path / "nope.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputFileError, match=r"no \*\.pose\.txt files"):
        load_poses(tmp_path / "folder")


@pytest.mark.realdata
def test_fused_real_mesh_rendered_at_a_real_pose_matches_the_real_depth(redkitchen, tmp_path):
    """TSDF-fuse a few real Kinect frames, load the mesh, render a held-out frame's pose: depths agree to ~1 cm."""
    from PIL import Image

    k = np.loadtxt(redkitchen / "camera-intrinsics.txt")
    intr = Intrinsics.from_K(k, 640, 480)
    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight"), attr_dtypes=(o3d.core.float32, o3d.core.float32), attr_channels=(1, 1),
        voxel_size=0.02, block_resolution=8, block_count=20000, device=o3d.core.Device("CPU:0"),
    )  # fmt: skip

    def depth_png(name):
        d = np.array(Image.open(redkitchen / f"{name}.depth.png")).astype(np.uint16)
        d[d == 65535] = 0
        return d

    for name in ("frame-000020", "frame-000030", "frame-000040", "frame-000050"):
        depth = o3d.t.geometry.Image(o3d.core.Tensor(depth_png(name)))
        extrinsic = o3d.core.Tensor(np.linalg.inv(load_poses(redkitchen / f"{name}.pose.txt")[0]))
        blocks = vbg.compute_unique_block_coordinates(depth, o3d.core.Tensor(k), extrinsic, 1000.0, 4.0)
        vbg.integrate(blocks, depth, o3d.core.Tensor(k), extrinsic, 1000.0, 4.0)
    o3d.io.write_triangle_mesh(str(tmp_path / "kitchen.ply"), vbg.extract_triangle_mesh().to_legacy())
    renderer = Renderer(load_mesh(tmp_path / "kitchen.ply"))

    real_m = depth_png("frame-000035").astype(np.float32) / 1000.0  # not fused: a held-out view
    pose = load_poses(redkitchen / "frame-000035.pose.txt")[0]
    frame = renderer.render(intr, pose)
    both = (real_m > 0) & frame.valid
    assert both.mean() > 0.4
    assert np.median(np.abs(frame.depth_m[both] - real_m[both])) < 0.02
    # The inverse (world-to-camera) reading of the same file does not line up.
    wrong = renderer.render(intr, np.linalg.inv(pose))
    both_wrong = (real_m > 0) & wrong.valid
    assert both_wrong.mean() < 0.2 or np.median(np.abs(wrong.depth_m[both_wrong] - real_m[both_wrong])) > 0.1
