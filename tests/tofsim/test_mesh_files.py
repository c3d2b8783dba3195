"""Mesh files as common tools write them: GLB from Open3D, trimesh and Blender-style exporters, up axes, units."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError
from tofsim.render import Renderer
from tofsim.scene.mesh import UP_AXES, T_world_from_file, load_mesh, poses_to_world

o3d = pytest.importorskip("open3d")
trimesh = pytest.importorskip("trimesh")

K_QQVGA = Intrinsics(fx_px=146.25, fy_px=146.25, cx_px=79.5, cy_px=59.5, width_px=160, height_px=120)


class GlbWriter:
    """A minimal glTF 2.0 binary writer (one buffer, 4-byte aligned views) for hand-made test files."""

    def __init__(self) -> None:
        self.buf = b""
        self.doc: dict = {"asset": {"version": "2.0", "generator": "tofbench test (Blender-like)"}, "bufferViews": [],
                          "accessors": [], "buffers": []}  # fmt: skip

    def view(self, data: bytes) -> int:
        self.buf += b"\0" * (-len(self.buf) % 4)
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.buf), "byteLength": len(data)})
        self.buf += data
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, kind: str) -> int:
        ctype = {np.dtype(np.float32): 5126, np.dtype(np.uint16): 5123}[array.dtype]
        acc = {"bufferView": self.view(array.tobytes()), "componentType": ctype, "count": len(array), "type": kind}
        if kind == "VEC3":
            acc["min"], acc["max"] = array.min(0).tolist(), array.max(0).tolist()
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def write(self, path) -> None:
        self.doc["buffers"] = [{"byteLength": len(self.buf)}]
        js = json.dumps(self.doc).encode()
        js += b" " * (-len(js) % 4)
        buf = self.buf + b"\0" * (-len(self.buf) % 4)
        head = struct.pack("<III", 0x46546C67, 2, 12 + 8 + len(js) + 8 + len(buf))
        path.write_bytes(head + struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(buf), 0x004E4942)
                         + buf)  # fmt: skip


def box_mesh(size=(1.0, 2.0, 3.0), colours=False):
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    if colours:
        mesh.vertex_colors = o3d.utility.Vector3dVector(np.random.default_rng(0).integers(0, 256, (8, 3)) / 255.0)
    return mesh


@pytest.mark.parametrize("variant", ["plain", "normals", "colours"])
def test_glb_written_by_open3d_loads_with_its_triangles(tmp_path, variant):
    """Open3D writes GLB with a base64 buffer that its own reader (assimp) drops; load_mesh reads it."""
    mesh = box_mesh(colours=variant == "colours")
    if variant == "normals":
        mesh.compute_vertex_normals()
    path = tmp_path / "box.glb"
    assert o3d.io.write_triangle_mesh(str(path), mesh)
    scene = load_mesh(path)
    assert scene.n_triangles == 12
    np.testing.assert_allclose(scene.bounds_m, [[0, 0, 0], [1, 2, 3]], atol=1e-6)
    if variant == "colours":
        tri = np.asarray(mesh.triangles)
        want = np.round(np.asarray(mesh.vertex_colors)[tri].mean(1) * 255)
        np.testing.assert_allclose(scene.face_rgb.astype(float), want, atol=1.01)
    else:
        assert (scene.face_rgb == 180).all()


def test_glb_written_by_trimesh_keeps_node_transforms_and_material_colours(tmp_path):
    box = trimesh.creation.box((1.0, 2.0, 3.0))  # centred on the origin
    box.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        baseColorFactor=[200, 30, 40, 255]))  # fmt: skip
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="moved", transform=trimesh.transformations.translation_matrix((5.0, 0.0, 0.0)))
    scene.add_geometry(trimesh.creation.box((1.0, 1.0, 1.0)), node_name="at-origin")
    path = tmp_path / "two.glb"
    scene.export(str(path))
    loaded = load_mesh(path)
    assert loaded.n_triangles == 24
    np.testing.assert_allclose(loaded.bounds_m, [[-0.5, -1.0, -1.5], [5.5, 1.0, 1.5]], atol=1e-6)
    centres = loaded.vertices[loaded.triangles].mean(1)
    moved = centres[:, 0] > 2.0
    assert moved.sum() == 12 and (loaded.face_rgb[moved] == [200, 30, 40]).all()


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def test_blender_style_glb_node_tree_texture_and_materials(tmp_path):
    """Nested nodes (rotation, scale, translation, matrix), an embedded PNG texture (glTF UVs: v = 0 at the top
    of the image) and a colour-only material, as Blender's exporter writes them.
    """
    w = GlbWriter()
    quad = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    corners = quad[[0, 1, 2, 0, 2, 3]]
    uv = np.array([[0.1, 0.1], [0.2, 0.1], [0.2, 0.15], [0.1, 0.9], [0.2, 0.9], [0.2, 0.95]], np.float32)  # top; below
    image = np.zeros((64, 64, 3), np.uint8)
    image[:32, :, 0] = 255  # top half of the image: red
    image[32:, :, 2] = 255  # bottom half: blue
    tex_view = w.view(_png(image))
    w.doc["images"] = [{"bufferView": tex_view, "mimeType": "image/png"}]
    w.doc["textures"] = [{"source": 0}]
    w.doc["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
                          {"pbrMetallicRoughness": {"baseColorFactor": [0.0, 1.0, 0.0, 1.0]}}]  # fmt: skip
    textured = {"attributes": {"POSITION": w.accessor(corners, "VEC3"), "TEXCOORD_0": w.accessor(uv, "VEC2")},
                "indices": w.accessor(np.arange(6, dtype=np.uint16), "SCALAR"), "material": 0}  # fmt: skip
    green = {"attributes": {"POSITION": w.accessor(quad[:3].copy(), "VEC3")},
             "indices": w.accessor(np.array([0, 1, 2], np.uint16), "SCALAR"), "material": 1}  # fmt: skip
    w.doc["meshes"] = [{"name": "Plane", "primitives": [textured]}, {"name": "Tri", "primitives": [green]}]
    s = np.sqrt(0.5)
    w.doc["nodes"] = [
        {"name": "Root", "rotation": [s, 0.0, 0.0, s], "scale": [2.0, 2.0, 2.0], "children": [1, 2]},  # +90 deg about x
        {"name": "Plane", "mesh": 0, "translation": [0.0, 0.0, 1.0]},
        {"name": "Tri", "mesh": 1, "matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 10, 0, 0, 1]},
    ]
    w.doc["scenes"], w.doc["scene"] = [{"nodes": [0]}], 0
    path = tmp_path / "blender.glb"
    w.write(path)

    scene = load_mesh(path)
    assert scene.n_triangles == 3
    by_colour = {
        tuple(rgb): scene.vertices[tri] for rgb, tri in zip(scene.face_rgb.tolist(), scene.triangles, strict=True)
    }
    assert sorted(by_colour) == [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # texture top, texture bottom, material
    # Root: scale 2 then +90 deg about x maps (x, y, z) -> 2 (x, -z, y); the plane node sits at z = 1 before that.
    np.testing.assert_allclose(by_colour[(255, 0, 0)], 2 * np.array([[0, -1, 0], [1, -1, 0], [1, -1, 1]]), atol=1e-6)
    np.testing.assert_allclose(by_colour[(0, 255, 0)], [[20, 0, 0], [22, 0, 0], [22, 0, 2]], atol=1e-6)


def test_glb_without_triangles_and_broken_glb(tmp_path):
    w = GlbWriter()
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    w.doc["meshes"] = [{"primitives": [{"attributes": {"POSITION": w.accessor(pts, "VEC3")}, "mode": 0}]}]  # points
    w.doc["nodes"], w.doc["scenes"], w.doc["scene"] = [{"mesh": 0}], [{"nodes": [0]}], 0
    w.write(tmp_path / "points.glb")
    with pytest.raises(InputFileError, match=r"points\.glb: the mesh has no triangles.*--mesh"):
        load_mesh(tmp_path / "points.glb")
    (tmp_path / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    with pytest.raises(InputFileError, match=r"broken\.glb"):
        load_mesh(tmp_path / "broken.glb")
    flat = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.zeros((3, 3))), o3d.utility.Vector3iVector([[0, 1, 2]])
    )
    o3d.io.write_triangle_mesh(str(tmp_path / "flat.ply"), flat)
    with pytest.raises(InputFileError, match="zero-area"):
        load_mesh(tmp_path / "flat.ply")


@pytest.mark.parametrize("up_axis", UP_AXES)
def test_every_up_axis_is_a_rotation_taking_that_axis_up(up_axis):
    t = T_world_from_file(up_axis, 1.0)
    axis = np.zeros(3)
    axis["xyz".index(up_axis[-1])] = -1.0 if up_axis.startswith("-") else 1.0
    np.testing.assert_allclose(t[:3, :3] @ axis, [0, 0, 1], atol=1e-12)
    assert np.linalg.det(t[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(T_world_from_file(up_axis, 1000.0)[:3, :3], t[:3, :3] / 1000.0)


def y_up_room_files(tmp_path, scale_per_m=1.0, suffix=".obj"):
    """A 5 x 4 x 2.6 m box room written y-up (and in file units), plus the z-up room and the file's rotation."""
    room = o3d.geometry.TriangleMesh.create_box(5.0, 4.0, 2.6)
    z_up = np.asarray(room.vertices).copy()
    rot = T_world_from_file("y")[:3, :3]  # world <- file
    room.vertices = o3d.utility.Vector3dVector(z_up @ rot * scale_per_m)  # file = R^T world, row-wise
    path = tmp_path / f"room-y{suffix}"
    assert o3d.io.write_triangle_mesh(str(path), room)
    return path, z_up


@pytest.mark.parametrize("suffix", [".obj", ".glb"])
def test_y_up_room_loads_z_up_and_renders_like_the_original(tmp_path, suffix):
    path, z_up = y_up_room_files(tmp_path, suffix=suffix)
    scene = load_mesh(path, up_axis="y")
    np.testing.assert_allclose(scene.bounds_m, [[0, 0, 0], [5, 4, 2.6]], atol=1e-5)
    assert scene.meta["floor_z_m"] == pytest.approx(0.0, abs=1e-6)
    # A pose given in the file's coordinates lands where the same camera stands in the z-up room.
    pose_world = np.eye(4)
    pose_world[:3, :3] = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]])  # level, looking along +x
    pose_world[:3, 3] = [1.0, 2.0, 1.5]
    rot = T_world_from_file("y")[:3, :3]
    pose_file = pose_world.copy()
    pose_file[:3, :3], pose_file[:3, 3] = rot.T @ pose_world[:3, :3], rot.T @ pose_world[:3, 3]
    np.testing.assert_allclose(poses_to_world(pose_file[None], "y")[0], pose_world, atol=1e-12)
    frame = Renderer(scene).render(K_QQVGA, pose_world)
    assert frame.depth_m[60, 80] == pytest.approx(4.0, abs=1e-4)  # the far wall at x = 5


def test_millimetre_mesh_is_refused_until_its_scale_is_set(tmp_path):
    path, _ = y_up_room_files(tmp_path, scale_per_m=1000.0, suffix=".ply")
    with pytest.raises(ConfigError, match=r"5000 x 2600 x 4000 m .*wrong units.*--mesh-scale-per-m"):
        load_mesh(path)
    scene = load_mesh(path, up_axis="y", scale_per_m=1000.0)
    np.testing.assert_allclose(scene.bounds_m, [[0, 0, 0], [5, 4, 2.6]], atol=1e-4)
    assert scene.meta["scale_per_m"] == 1000.0
    pose = np.eye(4)
    pose[:3, 3] = [1000.0, 2000.0, 3000.0]
    np.testing.assert_allclose(poses_to_world(pose[None], "z", 1000.0)[0, :3, 3], [1, 2, 3])
    with pytest.raises(ConfigError, match="scale_per_m must be a positive"):
        load_mesh(path, scale_per_m=0)
    with pytest.raises(ConfigError, match="up_axis must be one of z, y, -y"):
        load_mesh(path, up_axis="up")
