"""`Scene`: a triangle mesh with materials, independent of Open3D (plain NumPy arrays).

World frame: metres, right-handed, **z up** (the floor of a procedural room is the plane z = 0). Cameras use
OpenCV axes (x right, y down, z forward); poses are camera-to-world ``T_world_from_cam``.

Colour and NIR albedo are stored per triangle (`Scene.face_rgb`, `Scene.face_albedo`), so the renderer turns a
hit triangle into its colour with one table look-up. Procedural textures are baked into those per-triangle
arrays when a scene is built (surfaces are tessellated into tiles of the texture's scale); the material table
keeps the base values and the texture description for reference.

On top of that coarse bake, each material carries a `Pattern`: an image-like procedural texture (wood grain,
tiles with grout, fabric, posters, book spines, ...) that the renderer evaluates per pixel at the 3-D hit point
(`tofsim.textures`), so flat surfaces carry many colour edges that are not depth edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tofsim.checks import check_dtype, check_finite, check_shape
from tofsim.errors import ShapeError

__all__ = ["Material", "Pattern", "Scene", "TEXTURE_KINDS", "PATTERN_KINDS", "GLOSS_EXPONENT"]

#: Exponent of the NIR specular lobe of glossy materials (`Material.gloss`): cos(incidence) ** 16 halves at 17 deg.
GLOSS_EXPONENT = 16

#: Procedural texture kinds: "flat" (no variation), "checker" (two-tone tiles), "stripes" (planks along one
#: axis, each with its own shade), "noise" (every tile its own random shade).
TEXTURE_KINDS = ("flat", "checker", "stripes", "noise")

#: Per-pixel pattern kinds (`tofsim.textures` evaluates them; the index in this tuple is the kernel's code):
#: "none"; "plaster" (low-frequency paint noise); "wood" (planks with grain and gaps); "fabric" (heather, plaid
#: or blobs by `Pattern.variant`); "tiles" (grout lines, per-tile shade); "speckle" (carpet, granite);
#: "poster" (random coloured rectangles and blobs); "stripes" (wallpaper, striped fabric); "books" (label
#: bands across book spines); "brushed" (metal streaks).
PATTERN_KINDS = ("none", "plaster", "wood", "fabric", "tiles", "speckle", "poster", "stripes", "books", "brushed")


@dataclass(frozen=True, kw_only=True)
class Pattern:
    """A per-pixel procedural texture of a material (evaluated by `tofsim.textures.texel`).

    Attributes:
        kind: one of `PATTERN_KINDS`.
        scale_m: feature size in metres (plank width, tile size, poster cell, stripe period, speckle cell).
        contrast: relative shade variation in [0, 1].
        accent_rgb: second colour (grout, stripes, plaid, blobs), three ints in [0, 255].
        line_m: width of gaps and grout lines in metres.
        variant: sub-kind (fabric: 0 heather, 1 plaid, 2 blobs).
        seed: hash seed of the pattern (any int in [0, 2**31)).
        nir_gain: how much the pattern's luminance change carries into the NIR albedo (0 = none, 1 = all).
    """

    kind: str = "none"
    scale_m: float = 0.1
    contrast: float = 0.2
    accent_rgb: tuple[int, int, int] = (128, 128, 128)
    line_m: float = 0.004
    variant: int = 0
    seed: int = 0
    nir_gain: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in PATTERN_KINDS:
            raise ShapeError(f"pattern kind must be one of {PATTERN_KINDS}, got {self.kind!r}")
        if self.scale_m <= 0 or self.line_m < 0:
            raise ShapeError(f"pattern: scale_m must be > 0 and line_m >= 0, got {self.scale_m}, {self.line_m}")
        if not 0.0 <= self.contrast <= 1.0 or not 0.0 <= self.nir_gain <= 1.0:
            raise ShapeError(f"pattern: contrast and nir_gain must be in [0, 1], got {self.contrast}, {self.nir_gain}")
        if len(self.accent_rgb) != 3 or any(not 0 <= int(c) <= 255 for c in self.accent_rgb):
            raise ShapeError(f"pattern: accent_rgb must be 3 ints in [0, 255], got {self.accent_rgb}")
        if not 0 <= self.seed < 2**31:
            raise ShapeError(f"pattern: seed must be in [0, 2**31), got {self.seed}")


@dataclass(frozen=True, kw_only=True)
class Material:
    """One surface material.

    Attributes:
        name: human-readable name ("wall-paint", "sofa-leather", ...).
        albedo: NIR reflectance in [0, 1] (what the ToF sensor sees).
        color_rgb: base colour, three ints in [0, 255].
        texture: one of `TEXTURE_KINDS`.
        texture_scale_m: tile / plank size of the texture in metres.
        texture_contrast: relative shade variation of the texture in [0, 1] (0.2 = +-20 %).
        pattern: the per-pixel `Pattern` over the baked texture (default: none).
        gloss: NIR specular reflectance at normal incidence in [0, 1]: the ToF sees ``albedo + gloss *
            cos(incidence) ** GLOSS_EXPONENT`` (its light is at the camera), so a glossy surface returns strongly
            when seen head-on and only its diffuse albedo at an angle (default 0: matte).
        glass: a transparent pane (window, glass door): the dense ground truth and the RGB see through it, and
            the ToF sensor gets a weak specular return from it plus the return of the surface behind
            (`tofsim.glass`, ``docs/sensor-model.md`` "Glass").
    """

    name: str
    albedo: float
    color_rgb: tuple[int, int, int]
    texture: str = "flat"
    texture_scale_m: float = 0.25
    texture_contrast: float = 0.15
    pattern: Pattern = Pattern()
    gloss: float = 0.0
    glass: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.glass, bool):
            raise ShapeError(f"material {self.name!r}: glass must be True or False, got {self.glass!r}")
        if not 0.0 <= self.albedo <= 1.0:
            raise ShapeError(f"material {self.name!r}: albedo must be in [0, 1], got {self.albedo}")
        if len(self.color_rgb) != 3 or any(not 0 <= int(c) <= 255 for c in self.color_rgb):
            raise ShapeError(f"material {self.name!r}: color_rgb must be 3 ints in [0, 255], got {self.color_rgb}")
        if self.texture not in TEXTURE_KINDS:
            raise ShapeError(f"material {self.name!r}: texture must be one of {TEXTURE_KINDS}, got {self.texture!r}")
        if self.texture_scale_m <= 0:
            raise ShapeError(f"material {self.name!r}: texture_scale_m must be > 0, got {self.texture_scale_m}")
        if not 0.0 <= self.gloss <= 1.0:
            raise ShapeError(f"material {self.name!r}: gloss must be in [0, 1], got {self.gloss}")


@dataclass(kw_only=True)
class Scene:
    """A triangle-mesh scene in world metres (z up).

    Attributes:
        vertices: (V, 3) float32 vertex positions in metres.
        triangles: (T, 3) int32 vertex indices, counter-clockwise seen from the side the normal points to.
        material_id: (T,) int32 index into `materials` for every triangle.
        materials: the material table.
        face_rgb: (T, 3) uint8 colour of every triangle (texture baked in); default: the material colour.
        face_albedo: (T,) float32 NIR albedo of every triangle in [0, 1]; default: the material albedo.
        meta: provenance: ``scene_id``, ``generator``, generator ``config``, ``bounds_m``, ``floor_z_m``,
            ``normals_oriented`` (True when every normal points into free space, as in procedural rooms), ...

    Raises:
        ShapeError: wrong shapes or dtypes, NaN vertices, triangle or material indices out of range.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    material_id: np.ndarray
    materials: tuple[Material, ...]
    face_rgb: np.ndarray | None = None
    face_albedo: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.triangles = np.ascontiguousarray(self.triangles)
        self.material_id = np.ascontiguousarray(self.material_id)
        self.materials = tuple(self.materials)
        check_shape(self.vertices, ("V", 3), name="vertices")
        check_finite(self.vertices, name="vertices")
        n_tri = check_shape(self.triangles, ("T", 3), name="triangles")["T"]
        check_dtype(self.triangles, [np.int32], name="triangles")
        check_shape(self.material_id, (n_tri,), name="material_id")
        check_dtype(self.material_id, [np.int32], name="material_id")
        if not self.materials:
            raise ShapeError("materials: the material table is empty; give at least one Material")
        if n_tri and (self.triangles.min() < 0 or self.triangles.max() >= len(self.vertices)):
            raise ShapeError(f"triangles: vertex indices must be in [0, {len(self.vertices)})")
        if n_tri and (self.material_id.min() < 0 or self.material_id.max() >= len(self.materials)):
            raise ShapeError(f"material_id: indices must be in [0, {len(self.materials)})")
        if self.face_rgb is None:
            table = np.array([m.color_rgb for m in self.materials], dtype=np.uint8).reshape(-1, 3)
            self.face_rgb = table[self.material_id]
        self.face_rgb = np.ascontiguousarray(self.face_rgb)
        check_shape(self.face_rgb, (n_tri, 3), name="face_rgb")
        check_dtype(self.face_rgb, [np.uint8], name="face_rgb")
        if self.face_albedo is None:
            table_a = np.array([m.albedo for m in self.materials], dtype=np.float32)
            self.face_albedo = table_a[self.material_id]
        self.face_albedo = np.ascontiguousarray(self.face_albedo, dtype=np.float32)
        check_shape(self.face_albedo, (n_tri,), name="face_albedo")
        check_finite(self.face_albedo, name="face_albedo")
        if n_tri and (self.face_albedo.min() < 0 or self.face_albedo.max() > 1):
            raise ShapeError("face_albedo: values must be in [0, 1]")
        self.meta = dict(self.meta)
        self.meta.setdefault("bounds_m", self.bounds_m.tolist())

    @property
    def n_triangles(self) -> int:
        """Number of triangles T."""
        return int(self.triangles.shape[0])

    @property
    def scene_id(self) -> str:
        """``meta["scene_id"]`` or "unnamed"."""
        return str(self.meta.get("scene_id", "unnamed"))

    @property
    def bounds_m(self) -> np.ndarray:
        """(2, 3) float64 axis-aligned bounds [min, max] of the vertices in metres (zeros when empty)."""
        if len(self.vertices) == 0:
            return np.zeros((2, 3))
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)]).astype(np.float64)

    def face_normals(self) -> np.ndarray:
        """(T, 3) float32 unit normals from the triangle winding (right-hand rule); 0 for degenerate triangles."""
        v = self.vertices[self.triangles]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        return np.divide(n, length, out=np.zeros_like(n), where=length > 0).astype(np.float32)

    def face_areas_m2(self) -> np.ndarray:
        """(T,) float64 triangle areas in square metres."""
        v = self.vertices[self.triangles].astype(np.float64)
        return 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
