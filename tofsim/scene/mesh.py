"""Load a triangle mesh file (PLY, OBJ, OFF, GLB/glTF, STL) into a `Scene` with Open3D.

Colour: vertex colours are averaged per triangle; without them, a textured mesh (OBJ + MTL, GLB/glTF) gets its
texture's colour at each triangle's centroid UV; otherwise a uniform light grey.
NIR albedo: no mesh file stores it, so a proxy from the colour's luma is used,
``albedo = 0.05 + 0.9 * (0.299 R + 0.587 G + 0.114 B) / 255`` (dark surfaces stay dark for the sensor).
Open3D is imported inside `load_mesh`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.errors import ConfigError, InputFileError
from tofsim.scene.types import Material, Scene

__all__ = ["load_mesh", "albedo_from_rgb", "MESH_SUFFIXES", "DEFAULT_MESH_RGB"]

#: File suffixes `load_mesh` accepts.
MESH_SUFFIXES = (".ply", ".obj", ".off", ".glb", ".gltf", ".stl")
#: Colour of a mesh without vertex colours.
DEFAULT_MESH_RGB = (180, 180, 180)

# y-up -> z-up: rotate +90 deg about x, (x, y, z) -> (x, -z, y).
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


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


def load_mesh(path: str | Path, *, up_axis: str = "z") -> Scene:
    """Read a mesh file into a `Scene` (one material; per-triangle colour and albedo from vertex colours).

    Args:
        path: a ``.ply``, ``.obj``, ``.off``, ``.glb``, ``.gltf`` or ``.stl`` file, in metres.
        up_axis: "z" (kept as is) or "y" (rotated so the file's +y becomes world +z, as for glTF files).

    Returns:
        `Scene` with meta ``scene_id`` ("mesh-<file stem>"), ``source_file``, ``up_axis``, ``floor_z_m`` (the
        lowest vertex) and ``normals_oriented`` False (a file's winding is not trusted).

    Raises:
        InputFileError: the file is missing, has an unsupported suffix, cannot be read, has no triangles, or
            has non-finite vertices.
        ConfigError: `up_axis` is neither "z" nor "y".
    """
    if up_axis not in ("z", "y"):
        raise ConfigError(f"up_axis must be 'z' or 'y', got {up_axis!r}")
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"mesh file not found: {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputFileError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")

    import open3d as o3d

    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        mesh = o3d.io.read_triangle_mesh(str(path))
    triangles = np.asarray(mesh.triangles)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if len(triangles) == 0:
        raise InputFileError(f"{path}: the mesh has no triangles (empty, unreadable, or a point cloud)")
    if not np.all(np.isfinite(vertices)):
        raise InputFileError(f"{path}: the mesh has NaN or infinite vertex coordinates")
    if up_axis == "y":
        vertices = vertices @ _Y_UP_TO_Z_UP.T

    face_rgb = np.tile(np.array(DEFAULT_MESH_RGB, np.uint8), (len(triangles), 1))
    if mesh.has_vertex_colors() and len(mesh.vertex_colors) == len(vertices):
        colours = np.asarray(mesh.vertex_colors, dtype=np.float64)[triangles].mean(axis=1)
        face_rgb = np.clip(np.round(colours * 255.0), 0, 255).astype(np.uint8)
    else:
        _sample_textures(mesh, face_rgb)
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
            "floor_z_m": float(vertices[:, 2].min()),
            "normals_oriented": False,
        },
    )
