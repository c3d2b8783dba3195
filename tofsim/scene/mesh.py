"""Load a triangle mesh file (PLY, OBJ, OFF, STL with Open3D; GLB/glTF with trimesh) into a `Scene`.

Units and axes: a file's coordinates are divided by `scale_per_m` (1000 for a file in millimetres) and rotated
so that its `up_axis` becomes world +z (`T_world_from_file`); camera poses given in the file's coordinates go
through the same transform (`poses_to_world`). A mesh larger than `MAX_EXTENT_M` after scaling is refused as a
mesh in the wrong units.

Colour: vertex colours are averaged per triangle; without them, a textured mesh (OBJ + MTL, GLB/glTF) gets its
texture's colour at each triangle's centroid UV; otherwise a uniform light grey.
NIR albedo: no mesh file stores it, so a proxy from the colour's luma is used,
``albedo = 0.05 + 0.9 * (0.299 R + 0.587 G + 0.114 B) / 255`` (dark surfaces stay dark for the sensor).
Open3D and trimesh are imported inside `load_mesh`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.errors import ConfigError, InputFileError
from tofsim.scene.gltf import GLTF_SUFFIXES, read_gltf
from tofsim.scene.types import Material, Scene

__all__ = [
    "load_mesh",
    "albedo_from_rgb",
    "T_world_from_file",
    "poses_to_world",
    "MESH_SUFFIXES",
    "DEFAULT_MESH_RGB",
    "UP_AXES",
    "MAX_EXTENT_M",
]

#: File suffixes `load_mesh` accepts.
MESH_SUFFIXES = (".ply", ".obj", ".off", ".glb", ".gltf", ".stl")
#: Colour of a mesh without vertex colours.
DEFAULT_MESH_RGB = (180, 180, 180)

#: Largest accepted side of a mesh's bounding box in metres (after `scale_per_m`): a room in millimetres is
#: thousands of "metres" wide.
MAX_EXTENT_M = 200.0

# The rotation taking each file axis to world +z (x stays x where possible): "y" is glTF / Blender exports and
# most game engines, "-y" the OpenCV-camera worlds of KinectFusion and 7-Scenes (their y points down).
_UP_ROTATIONS = {
    "z": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "y": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),  # (x, y, z) -> (x, -z, y)
    "-y": ((1, 0, 0), (0, 0, 1), (0, -1, 0)),  # (x, y, z) -> (x, z, -y)
    "-z": ((1, 0, 0), (0, -1, 0), (0, 0, -1)),  # (x, y, z) -> (x, -y, -z)
    "x": ((0, 0, -1), (0, 1, 0), (1, 0, 0)),  # (x, y, z) -> (-z, y, x)
    "-x": ((0, 0, 1), (0, 1, 0), (-1, 0, 0)),  # (x, y, z) -> (z, y, -x)
}
#: Accepted `up_axis` values: the file axis that points up.
UP_AXES = tuple(_UP_ROTATIONS)


def _check_units(up_axis: str, scale_per_m: float) -> None:
    if up_axis not in _UP_ROTATIONS:
        raise ConfigError(
            f"up_axis must be one of {', '.join(UP_AXES)} (the file axis that points up), got {up_axis!r}"
        )
    if isinstance(scale_per_m, bool) or not (isinstance(scale_per_m, (int, float)) and 0 < scale_per_m < np.inf):
        raise ConfigError(f"scale_per_m must be a positive number of file units per metre, got {scale_per_m!r}")


def T_world_from_file(up_axis: str = "z", scale_per_m: float = 1.0) -> np.ndarray:  # noqa: N802
    """(4, 4) float64 map from a mesh file's coordinates to the world (z up, metres): rotate, then divide.

    Raises:
        ConfigError: an unknown `up_axis` or a non-positive `scale_per_m`.
    """
    _check_units(up_axis, scale_per_m)
    out = np.eye(4)
    out[:3, :3] = np.array(_UP_ROTATIONS[up_axis], np.float64) / float(scale_per_m)
    return out


def poses_to_world(poses_file: np.ndarray, up_axis: str = "z", scale_per_m: float = 1.0) -> np.ndarray:
    """Camera-to-file poses (N, 4, 4) -> camera-to-world poses of the mesh loaded with the same settings.

    The rotation turns with the file's axes; the translation is rotated and divided by `scale_per_m`.

    Raises:
        ConfigError: an unknown `up_axis` or a non-positive `scale_per_m`.
    """
    _check_units(up_axis, scale_per_m)
    rot = np.array(_UP_ROTATIONS[up_axis], np.float64)
    out = np.array(poses_file, dtype=np.float64, copy=True)
    out[:, :3, :3] = rot @ out[:, :3, :3]
    out[:, :3, 3] = out[:, :3, 3] @ rot.T / float(scale_per_m)
    return out


def albedo_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """NIR albedo proxy from colour.

    Args:
        rgb: (..., 3) uint8 colour.

    Returns:
        (...) float32 albedo in [0.05, 0.95].
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
    return (0.05 + 0.9 * luma).astype(np.float32)


def _texture_rgb8(image: np.ndarray) -> np.ndarray:
    """Any Open3D texture image -> (h, w, 3) uint8."""
    img = np.asarray(image)
    if img.ndim < 2 or img.size == 0:  # an empty placeholder image
        return np.zeros((0, 0, 3), np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype.kind == "f":
        return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return img.astype(np.uint8)


def _sample_textures(mesh, face_rgb: np.ndarray) -> None:
    """Fill `face_rgb` (T, 3) uint8 in place with each textured triangle's colour at its centroid UV.

    Open3D stores textures flipped vertically (for OBJ and assimp formats alike), so row = v * (h - 1).
    """
    n_tri = len(face_rgb)
    if len(mesh.textures) == 0 or len(mesh.triangle_uvs) != 3 * n_tri:  # (has_textures() is False if one is empty)
        return
    uv = np.asarray(mesh.triangle_uvs, dtype=np.float64).reshape(n_tri, 3, 2).mean(axis=1) % 1.0
    ids = np.asarray(mesh.triangle_material_ids)
    ids = ids if len(ids) == n_tri else np.zeros(n_tri, int)
    for k, image in enumerate(mesh.textures):
        img = _texture_rgb8(image)
        sel = ids == k
        if img.size == 0 or not sel.any():
            continue
        h, w = img.shape[:2]
        rows = np.round(uv[sel, 1] * (h - 1)).astype(int)
        cols = np.round(uv[sel, 0] * (w - 1)).astype(int)
        face_rgb[sel] = img[rows, cols]


def load_mesh(
    path: str | Path, *, up_axis: str = "z", scale_per_m: float = 1.0, max_extent_m: float = MAX_EXTENT_M
) -> Scene:
    """Read a mesh file into a `Scene` (one material; per-triangle colour and albedo from the file's colours).

    Args:
        path: a ``.ply``, ``.obj``, ``.off``, ``.stl`` (Open3D), ``.glb`` or ``.gltf`` (trimesh: every mesh node
            with its node transform) file.
        up_axis: the file axis that points up, one of `UP_AXES`: "z" (kept as is), "y" (glTF and Blender or
            game-engine exports: the file's +y becomes world +z), "-y" (OpenCV-camera worlds such as 7-Scenes
            or a KinectFusion / TSDF scan of them), "-z", "x", "-x".
        scale_per_m: file units per metre (1 for metres, 1000 for millimetres, 100 for centimetres).
        max_extent_m: refuse a mesh whose bounding box has a side longer than this (metres, after scaling).

    Returns:
        `Scene` with meta ``scene_id`` ("mesh-<file stem>"), ``source_file``, ``up_axis``, ``scale_per_m``,
        ``floor_z_m`` (the lowest vertex) and ``normals_oriented`` False (a file's winding is not trusted).

    Raises:
        InputFileError: the file is missing, has an unsupported suffix, cannot be read, has no triangles (or only
            zero-area ones), or has non-finite vertices.
        ConfigError: a bad `up_axis` or `scale_per_m`, or a mesh larger than `max_extent_m` (the message names
            ``--mesh-scale-per-m`` / ``mesh_scale_per_m``).
    """
    _check_units(up_axis, scale_per_m)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"mesh file not found: {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputFileError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")
    if path.suffix.lower() in GLTF_SUFFIXES:
        vertices, triangles, face_rgb = read_gltf(path, DEFAULT_MESH_RGB)
    else:
        vertices, triangles, face_rgb = _read_open3d(path)
    if len(triangles) and np.all(np.isfinite(vertices)):
        edges = vertices[triangles[:, 1:]] - vertices[triangles[:, :1]]
        if not np.any(np.linalg.norm(np.cross(edges[:, 0], edges[:, 1]), axis=1) > 0):
            triangles = triangles[:0]  # only zero-area triangles: nothing a ray can hit
    if len(triangles) == 0:
        raise InputFileError(
            f"{path}: the mesh has no triangles (empty, unreadable, a point cloud or only zero-area faces); "
            "check the file given as --mesh (mesh_path)"
        )
    if not np.all(np.isfinite(vertices)):
        raise InputFileError(f"{path}: the mesh has NaN or infinite vertex coordinates")
    vertices = vertices @ T_world_from_file(up_axis, scale_per_m)[:3, :3].T
    used = vertices[np.unique(triangles)]
    extent = used.max(axis=0) - used.min(axis=0)
    if extent.max() > max_extent_m:
        size = " x ".join(f"{e:.4g}" for e in extent)
        raise ConfigError(
            f"{path}: the mesh is {size} m with mesh_scale_per_m = {scale_per_m:g} (larger than {max_extent_m:g} m: "
            "wrong units?); set --mesh-scale-per-m (mesh_scale_per_m) to the file's units per metre, 1000 for "
            "millimetres, 100 for centimetres"
        )

    face_albedo = albedo_from_rgb(face_rgb)
    mean_rgb = tuple(int(c) for c in np.round(face_rgb.mean(axis=0)))
    material = Material(name=f"mesh:{path.name}", albedo=float(face_albedo.mean()), color_rgb=mean_rgb)
    return Scene(
        vertices=vertices.astype(np.float32),
        triangles=triangles.astype(np.int32),
        material_id=np.zeros(len(triangles), np.int32),
        materials=(material,),
        face_rgb=face_rgb,
        face_albedo=face_albedo,
        meta={
            "scene_id": f"mesh-{path.stem}",
            "generator": "tofsim.scene.mesh.load_mesh",
            "source_file": str(path),
            "up_axis": up_axis,
            "scale_per_m": float(scale_per_m),
            "floor_z_m": float(used[:, 2].min()),
            "normals_oriented": False,
        },
    )


def _read_open3d(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((V, 3) float64 vertices, (T, 3) int64 triangles, (T, 3) uint8 colours) of a PLY/OBJ/OFF/STL file."""
    import open3d as o3d

    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        mesh = o3d.io.read_triangle_mesh(str(path))
    triangles = np.asarray(mesh.triangles, dtype=np.int64)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    face_rgb = np.tile(np.array(DEFAULT_MESH_RGB, np.uint8), (len(triangles), 1))
    if len(triangles) == 0:
        return vertices, triangles, face_rgb
    if mesh.has_vertex_colors() and len(mesh.vertex_colors) == len(vertices):
        colours = np.asarray(mesh.vertex_colors, dtype=np.float64)[triangles].mean(axis=1)
        face_rgb = np.clip(np.round(colours * 255.0), 0, 255).astype(np.uint8)
    else:
        _sample_textures(mesh, face_rgb)
    return vertices, triangles, face_rgb
