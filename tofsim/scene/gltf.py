"""Read glTF 2.0 files (``.gltf``, ``.glb``) with trimesh: every mesh node, with its node transform, as triangles.

Open3D's own reader (assimp) drops GLB files whose buffer is a base64 ``data:`` URI instead of a binary chunk,
which is what Open3D itself writes, and ignores material colours; trimesh reads GLB and glTF files from Open3D,
Blender and trimesh alike. Points and lines are skipped. Colour per triangle: the mean of its vertex colours
(``COLOR_0``); else the base-colour texture at the triangle's centroid UV times the material's base-colour
factor; else the base-colour factor; else `DEFAULT_RGB`. Coordinates are returned as stored (glTF files are
y-up by the standard: load them with ``up_axis="y"``). trimesh is imported inside `read_gltf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.errors import InputFileError

__all__ = ["read_gltf", "GLTF_SUFFIXES"]

#: File suffixes `read_gltf` reads.
GLTF_SUFFIXES = (".glb", ".gltf")


def read_gltf(path: Path, default_rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The triangles of every mesh node of a glTF scene, in the file's coordinates.

    Args:
        path: a ``.glb`` or ``.gltf`` file.
        default_rgb: colour of triangles without vertex colours, texture or material colour.

    Returns:
        ``(vertices, triangles, face_rgb)``: (V, 3) float64 file units (node transforms applied), (T, 3) int64
        vertex indices and (T, 3) uint8 colours; T is 0 when the file has no triangles.

    Raises:
        InputFileError: trimesh cannot parse the file.
    """
    import trimesh

    try:
        scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as exc:  # trimesh raises many kinds (ValueError, KeyError, struct.error, JSON errors)
        raise InputFileError(f"{path}: cannot read the glTF file ({type(exc).__name__}: {exc})") from None
    verts, tris, rgbs, offset = [], [], [], 0
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry.get(name)
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        faces = np.asarray(geom.faces, dtype=np.int64)
        verts.append(trimesh.transformations.transform_points(np.asarray(geom.vertices, np.float64), transform))
        tris.append(faces + offset)
        rgbs.append(_face_rgb(geom, faces, default_rgb))
        offset += len(geom.vertices)
    if not tris:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.uint8)
    return np.concatenate(verts), np.concatenate(tris), np.concatenate(rgbs)


def _face_rgb(geom, faces: np.ndarray, default_rgb: tuple[int, int, int]) -> np.ndarray:
    """(T, 3) uint8 colour of each triangle of one trimesh geometry (see the module docstring)."""
    visual = geom.visual
    kind = getattr(visual, "kind", None)
    if kind == "vertex":
        colours = np.asarray(visual.vertex_colors, np.float64)[:, :3]
        return np.clip(np.round(colours[faces].mean(axis=1)), 0, 255).astype(np.uint8)
    if kind == "face":
        return np.asarray(visual.face_colors)[:, :3].astype(np.uint8)
    rgb = np.tile(np.array(default_rgb, np.float64), (len(faces), 1))
    material = getattr(visual, "material", None)
    factor = getattr(material, "baseColorFactor", None)
    if factor is not None:
        factor = np.asarray(factor, np.float64)[:3]
        rgb[:] = factor if factor.max() > 1.0 else factor * 255.0  # trimesh stores uint8 RGBA
    image = getattr(material, "baseColorTexture", None)
    uv = getattr(visual, "uv", None)
    if image is not None and uv is not None and len(uv) == len(geom.vertices):
        img = np.asarray(image.convert("RGB"), np.float64)
        h, w = img.shape[:2]
        centre = np.asarray(uv, np.float64)[faces].mean(axis=1) % 1.0  # trimesh's UVs have v up (origin bottom left)
        texel = img[np.round((1.0 - centre[:, 1]) * (h - 1)).astype(int), np.round(centre[:, 0] * (w - 1)).astype(int)]
        rgb = texel * (rgb / 255.0 if factor is not None else 1.0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
