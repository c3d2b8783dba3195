"""Seeded procedural indoor rooms: walls with real openings, floor, ceiling and furniture from primitives.

World frame: metres, z up, floor at z = 0, the footprint roughly centred on the origin. Every surface is
tessellated into tiles of its material's texture scale, and each tile gets its own shade (checker, planks,
noise), so the RGB image is not flat. Normals are oriented towards free space (walls and ceiling inwards,
furniture outwards); ``meta["normals_oriented"]`` says so.

The only source of randomness is the ``rng`` argument: the same generator state gives identical arrays.

Example:
    >>> scene = generate_room(RoomConfig(), rng=np.random.default_rng(0))
    >>> scene.meta["shape"], scene.n_triangles
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tofsim.errors import ConfigError
from tofsim.scene.types import Material, Scene

__all__ = ["RoomConfig", "RoomLayout", "generate_room", "plan_layout", "points_in_polygon", "FURNITURE_KINDS"]

#: Furniture kinds the generator builds from primitives.
FURNITURE_KINDS = ("table", "shelf", "sofa", "box", "cylinder", "stack")


@dataclass(frozen=True, kw_only=True)
class RoomConfig:
    """Configuration of the procedural room generator (all lengths in metres).

    Attributes:
        width_range_m: room extent along x.
        depth_range_m: room extent along y.
        height_range_m: floor-to-ceiling height.
        l_shape_probability: chance that the footprint is an L (a rectangle with one corner cut away).
        l_notch_fraction_range: size of the cut-away corner as a fraction of the width and of the depth.
        opening_probability: chance that a wall segment (at least 1.2 m long) gets an opening.
        door_probability: chance that an opening is a door (from the floor) rather than a window.
        door_width_range_m, door_height_range_m: door size.
        window_width_range_m, window_height_range_m, window_sill_range_m: window size and sill height.
        furniture_count_range: inclusive range of the number of furniture pieces tried.
        furniture_kind_weights: relative frequency of each kind in `FURNITURE_KINDS` order.
        max_floor_cover_fraction: furniture footprints cover at most this fraction of the floor.
        clutter_probability: chance that a table or shelf carries small objects.
        dark_albedo_range: NIR albedo of dark surfaces (black leather, dark fabric, carpet).
        bright_albedo_range: NIR albedo of bright surfaces (white paint, laminate).
        min_dark_pieces: at least this many furniture pieces get a dark material.
    """

    width_range_m: tuple[float, float] = (3.0, 7.0)
    depth_range_m: tuple[float, float] = (3.0, 7.0)
    height_range_m: tuple[float, float] = (2.4, 3.2)
    l_shape_probability: float = 0.35
    l_notch_fraction_range: tuple[float, float] = (0.3, 0.55)
    opening_probability: float = 0.5
    door_probability: float = 0.4
    door_width_range_m: tuple[float, float] = (0.8, 1.0)
    door_height_range_m: tuple[float, float] = (2.0, 2.2)
    window_width_range_m: tuple[float, float] = (0.6, 1.6)
    window_height_range_m: tuple[float, float] = (0.8, 1.3)
    window_sill_range_m: tuple[float, float] = (0.7, 1.1)
    furniture_count_range: tuple[int, int] = (3, 8)
    furniture_kind_weights: tuple[float, ...] = (1.0, 1.0, 0.7, 1.0, 0.7, 0.6)
    max_floor_cover_fraction: float = 0.35
    clutter_probability: float = 0.5
    dark_albedo_range: tuple[float, float] = (0.03, 0.1)
    bright_albedo_range: tuple[float, float] = (0.6, 0.9)
    min_dark_pieces: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_range_m") or f.name.endswith("_range"):
                if len(value) != 2 or not value[0] <= value[1] or value[0] < 0:
                    raise ConfigError(f"RoomConfig.{f.name}: expected (low, high) with 0 <= low <= high, got {value}")
            elif f.name.endswith("_probability") or f.name.endswith("_fraction"):
                if not 0.0 <= value <= 1.0:
                    raise ConfigError(f"RoomConfig.{f.name}: expected a probability in [0, 1], got {value}")
        if len(self.furniture_kind_weights) != len(FURNITURE_KINDS) or min(self.furniture_kind_weights) < 0:
            raise ConfigError(
                f"RoomConfig.furniture_kind_weights: expected {len(FURNITURE_KINDS)} non-negative weights "
                f"for {FURNITURE_KINDS}, got {self.furniture_kind_weights}"
            )
        if sum(self.furniture_kind_weights) <= 0:
            raise ConfigError("RoomConfig.furniture_kind_weights: at least one weight must be positive")
        if self.width_range_m[0] < 1.5 or self.depth_range_m[0] < 1.5 or self.height_range_m[0] < 2.0:
            raise ConfigError("RoomConfig: rooms must be at least 1.5 m wide and deep and 2.0 m high")
        if not 0.05 <= self.l_notch_fraction_range[0] <= self.l_notch_fraction_range[1] <= 0.9:
            raise ConfigError(
                f"RoomConfig.l_notch_fraction_range: expected 0.05 <= low <= high <= 0.9 (the notch must leave "
                f"both arms of the L), got {self.l_notch_fraction_range}"
            )
        if self.dark_albedo_range[1] > 1 or self.bright_albedo_range[1] > 1:
            raise ConfigError("RoomConfig: albedo ranges must lie in [0, 1]")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoomConfig:
        """Build from a plain dict (e.g. a TOML table); unknown keys raise `ConfigError` listing the valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"RoomConfig: unknown keys {unknown}; valid keys: {sorted(valid)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ----------------------------------------------------------------------------------------------- geometry helpers
def points_in_polygon(points_xy: np.ndarray, polygon_xy: np.ndarray) -> np.ndarray:
    """Even-odd test: (N, 2) points inside a simple (M, 2) polygon -> (N,) bool (boundary points: either)."""
    x, y = points_xy[:, 0:1], points_xy[:, 1:2]
    x0, y0 = polygon_xy[:, 0], polygon_xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (np.count_nonzero(crosses & (x < x_at), axis=1) % 2) == 1


def _edges(lo: float, hi: float, step: float, extra=()) -> np.ndarray:
    """Sorted grid lines: lo, hi, the multiples of `step` and the `extra` cuts between them (0.1 mm apart)."""
    eps = 1e-4
    first, last = np.ceil((lo + eps) / step), np.floor((hi - eps) / step)
    inner = np.arange(first, last + 1.0) * step if last >= first else np.zeros(0)
    cuts = [x for x in extra if lo + eps < x < hi - eps]
    if cuts:
        inner = np.unique(np.round(np.concatenate([inner, cuts]), 6))
        inner = inner[np.concatenate([[True], np.diff(inner) > eps])]
    return np.concatenate([[lo], inner, [hi]])


class _MeshBuilder:
    """Accumulates tessellated surfaces with baked per-triangle colour and albedo."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.vertices: list[np.ndarray] = []
        self.triangles: list[np.ndarray] = []
        self.material_ids: list[np.ndarray] = []
        self.shades: list[np.ndarray] = []  # per-triangle texture shade factor (1 +- contrast)
        self.materials: list[Material] = []
        self.n_vertices = 0

    def material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def _shade(self, mat: Material, iu: np.ndarray, iv: np.ndarray) -> np.ndarray:
        """Per-cell shade factor (1 +- contrast) from integer tile coordinates."""
        c = mat.texture_contrast
        if mat.texture == "flat" or c == 0:
            return np.ones(iu.shape)
        if mat.texture == "checker":
            return np.where((iu + iv) % 2 == 0, 1.0 + c, 1.0 - c)
        iu0, iv0 = iu - iu.min(), iv - iv.min()
        if mat.texture == "stripes":  # planks along v, one shade per plank (index along u)
            table = self.rng.uniform(-1.0, 1.0, size=int(iu0.max()) + 1)
            return 1.0 + c * table[iu0]
        table = self.rng.uniform(-1.0, 1.0, size=(int(iu0.max()) + 1, int(iv0.max()) + 1))  # "noise"
        return 1.0 + c * table[iu0, iv0]

    def grid(self, origin, u_axis, v_axis, u_edges, v_edges, mat_index, *, keep=None, flip=False) -> None:
        """A planar rectangle tessellated on the (u, v) grid lines (metres along unit axes from `origin`).

        Normal = u x v (or -(u x v) with `flip`). `keep`: (nu, nv) bool, False cells are holes.
        """
        mat = self.materials[mat_index]
        u_edges, v_edges = np.asarray(u_edges, float), np.asarray(v_edges, float)
        nu, nv = len(u_edges) - 1, len(v_edges) - 1
        verts = (
            np.asarray(origin, float)
            + u_edges[:, None, None] * np.asarray(u_axis, float)
            + v_edges[None, :, None] * np.asarray(v_axis, float)
        )  # (nu + 1, nv + 1, 3)
        if keep is None:
            ci, cj = np.divmod(np.arange(nu * nv), nv)
        else:
            ci, cj = np.nonzero(keep)
        if len(ci) == 0:
            return
        n = len(ci)
        a = ci * (nv + 1) + cj  # vertex (i, j); (i+1, j) = a + nv + 1, (i+1, j+1) = a + nv + 2, (i, j+1) = a + 1
        tri = np.empty((2 * n, 3), dtype=np.int64)
        tri[:n, 0] = tri[n:, 0] = a
        second, third = (1, 2) if not flip else (2, 1)
        tri[:n, second], tri[:n, third] = a + nv + 1, a + nv + 2
        tri[n:, second], tri[n:, third] = a + nv + 2, a + 1
        if mat.texture == "flat" or mat.texture_contrast == 0:
            shade = np.ones(n)
        else:
            centre_u = 0.5 * (u_edges[ci] + u_edges[ci + 1])
            centre_v = 0.5 * (v_edges[cj] + v_edges[cj + 1])
            shade = self._shade(
                mat,
                np.floor(centre_u / mat.texture_scale_m).astype(int),
                np.floor(centre_v / mat.texture_scale_m).astype(int),
            )
        self.vertices.append(verts.reshape(-1, 3))
        self.triangles.append(tri + self.n_vertices)
        self.n_vertices += verts.shape[0] * verts.shape[1]
        self.material_ids.append(np.full(2 * n, mat_index))
        self.shades.append(np.concatenate([shade, shade]))

    def box(self, centre_xy, z0: float, size_m, yaw_rad: float, mat_index: int) -> None:
        """A closed box, outward normals: footprint centred at `centre_xy`, from z0 to z0 + size_m[2]."""
        sx, sy, sz = (float(s) for s in size_m)
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        ex, ey, ez = np.array([c, s, 0.0]), np.array([-s, c, 0.0]), np.array([0.0, 0.0, 1.0])
        corner = np.array([centre_xy[0], centre_xy[1], z0]) - 0.5 * sx * ex - 0.5 * sy * ey
        step = self.materials[mat_index].texture_scale_m

        def e(n):
            return _edges(0.0, n, step, [])

        # (origin, u axis, v axis, u length, v length); u x v points outwards.
        faces = [
            (corner, ey, ex, sy, sx),  # bottom (-z)
            (corner + sz * ez, ex, ey, sx, sy),  # top (+z)
            (corner, ex, ez, sx, sz),  # -y side
            (corner + sy * ey, ez, ex, sz, sx),  # +y side
            (corner, ez, ey, sz, sy),  # -x side
            (corner + sx * ex, ey, ez, sy, sz),  # +x side
        ]
        for origin, u, v, lu, lv in faces[1:] if z0 <= 0.0 else faces:  # no bottom face on the floor
            self.grid(origin, u, v, e(lu), e(lv), mat_index)

    def cylinder(self, centre_xy, z0: float, radius_m: float, height_m: float, mat_index: int, n_seg=24) -> None:
        """A closed vertical cylinder (n_seg-sided prism), outward normals."""
        ang = np.linspace(0.0, 2 * np.pi, n_seg, endpoint=False)
        ring = np.stack([centre_xy[0] + radius_m * np.cos(ang), centre_xy[1] + radius_m * np.sin(ang)], 1)
        for k in range(n_seg):
            p0, p1 = ring[k], ring[(k + 1) % n_seg]
            u = np.append(p1 - p0, 0.0)
            length = float(np.linalg.norm(u))
            self.grid(np.append(p0, z0), u / length, [0.0, 0.0, 1.0], [0.0, length], _edges(0, height_m, 0.25, []),
                      mat_index)  # fmt: skip
        for z, up in ((z0, False), (z0 + height_m, True)):
            verts = np.vstack([[centre_xy[0], centre_xy[1], z], np.column_stack([ring, np.full(n_seg, z)])])
            k = np.arange(n_seg)
            tri = np.stack([np.zeros(n_seg, int), 1 + k, 1 + (k + 1) % n_seg], 1)
            tri = tri if up else tri[:, [0, 2, 1]]
            self.vertices.append(verts)
            self.triangles.append(tri + self.n_vertices)
            self.n_vertices += len(verts)
            self.material_ids.append(np.full(n_seg, mat_index))
            self.shades.append(np.ones(n_seg))

    def build(self, meta: dict[str, Any]) -> Scene:
        vertices = np.concatenate(self.vertices).astype(np.float32)
        triangles = np.concatenate(self.triangles).astype(np.int32)
        material_id = np.concatenate(self.material_ids).astype(np.int32)
        shade = np.concatenate(self.shades)
        base_rgb = np.array([m.color_rgb for m in self.materials], float)[material_id]
        face_rgb = np.clip(np.round(base_rgb * shade[:, None]), 0, 255).astype(np.uint8)
        base_albedo = np.array([m.albedo for m in self.materials])[material_id]
        face_albedo = np.clip(base_albedo * (1.0 + 0.5 * (shade - 1.0)), 0.0, 1.0).astype(np.float32)
        digest = hashlib.sha1(vertices.tobytes() + triangles.tobytes() + face_rgb.tobytes()).hexdigest()[:12]
        meta = {"scene_id": f"room-{digest}", **meta}
        return Scene(
            vertices=vertices,
            triangles=triangles,
            material_id=material_id,
            materials=tuple(self.materials),
            face_rgb=face_rgb,
            face_albedo=face_albedo,
            meta=meta,
        )


# ----------------------------------------------------------------------------------------------- materials
_PAINT = [(235, 232, 222), (214, 222, 230), (238, 226, 200), (200, 214, 196), (230, 210, 205), (245, 245, 245)]
_WOOD = [(150, 104, 62), (120, 80, 50), (185, 140, 95), (96, 64, 40)]
_TILE = [(210, 205, 195), (170, 170, 175), (225, 215, 190), (120, 125, 130)]
_DARK = [(30, 30, 32), (45, 35, 30), (25, 30, 45), (50, 50, 50)]
_BRIGHT = [(240, 240, 236), (230, 235, 240), (250, 246, 235)]
_PLASTIC = [(200, 60, 50), (50, 110, 190), (60, 160, 90), (230, 190, 60), (150, 150, 155)]
_CARDBOARD = [(190, 150, 100), (170, 130, 85)]


def _pick(rng: np.random.Generator, options: list) -> Any:
    return options[int(rng.integers(len(options)))]


def _material(rng, name, albedo_range, colours, texture="flat", scale_m=0.25, contrast=0.1) -> Material:
    return Material(
        name=name,
        albedo=float(rng.uniform(*albedo_range)),
        color_rgb=tuple(int(c) for c in _pick(rng, colours)),
        texture=texture,
        texture_scale_m=float(scale_m),
        texture_contrast=float(contrast),
    )


def _furniture_material(rng, cfg: RoomConfig, dark: bool) -> Material:
    if dark:
        return _material(rng, "dark-fabric", cfg.dark_albedo_range, _DARK, "noise", 0.2, 0.06)
    kind = int(rng.integers(5))
    if kind == 0:
        return _material(rng, "wood", (0.2, 0.5), _WOOD, "stripes", rng.uniform(0.08, 0.15), 0.12)
    if kind == 1:
        return _material(rng, "white-laminate", cfg.bright_albedo_range, _BRIGHT, "flat", 0.5, 0.0)
    if kind == 2:
        return _material(rng, "plastic", (0.15, 0.7), _PLASTIC, "flat", 0.5, 0.0)
    if kind == 3:
        return _material(rng, "cardboard", (0.4, 0.6), _CARDBOARD, "noise", 0.1, 0.08)
    return _material(rng, "metal", (0.3, 0.6), [(160, 162, 168), (120, 122, 128)], "checker", 0.5, 0.03)


# ----------------------------------------------------------------------------------------------- layout
def _footprint(cfg: RoomConfig, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Counter-clockwise (M, 2) footprint polygon centred near the origin, and its shape name."""
    w = float(rng.uniform(*cfg.width_range_m))
    d = float(rng.uniform(*cfg.depth_range_m))
    if rng.random() < cfg.l_shape_probability:
        nw = w * float(rng.uniform(*cfg.l_notch_fraction_range))
        nd = d * float(rng.uniform(*cfg.l_notch_fraction_range))
        poly = np.array([[0, 0], [w, 0], [w, d - nd], [w - nw, d - nd], [w - nw, d], [0, d]], float)
        shape = "L"
    else:
        poly = np.array([[0, 0], [w, 0], [w, d], [0, d]], float)
        shape = "rect"
    for axis in (0, 1):  # random mirror puts the notch at any corner; keep counter-clockwise order
        if rng.random() < 0.5:
            poly[:, axis] = (w if axis == 0 else d) - poly[:, axis]
            poly = poly[::-1]
    return np.round(poly - [w / 2, d / 2], 6), shape


#: Openings keep this far from the wall's ends (metres), and are at least this wide and high.
_OPENING_MARGIN_M = 0.2
_MIN_OPENING_M = 0.3
#: Draws of an opening that does not fit its wall before it is dropped.
_OPENING_TRIES = 5


def _openings(cfg: RoomConfig, rng, length_m: float, height_m: float, counts: dict[str, int]) -> list[dict[str, Any]]:
    """Openings on one wall in wall coordinates (u along the wall, v up), not overlapping, 0.2 m from corners.

    An opening that does not fit (wider than the wall less the margins, or less than 0.3 m high under the
    ceiling) is re-drawn up to `_OPENING_TRIES` times, then dropped; ``counts`` records both.
    """
    if length_m < 1.2 or rng.random() >= cfg.opening_probability:
        return []
    for _attempt in range(_OPENING_TRIES):
        door = rng.random() < cfg.door_probability
        if door:
            width = float(rng.uniform(*cfg.door_width_range_m))
            v0, v1 = 0.0, min(float(rng.uniform(*cfg.door_height_range_m)), height_m - 0.15)
        else:
            width = float(rng.uniform(*cfg.window_width_range_m))
            v0 = float(rng.uniform(*cfg.window_sill_range_m))
            v1 = min(v0 + float(rng.uniform(*cfg.window_height_range_m)), height_m - 0.15)
        slack = length_m - 2 * _OPENING_MARGIN_M - width
        if slack >= 0.0 and width >= _MIN_OPENING_M and v1 - v0 >= _MIN_OPENING_M:
            u0 = _OPENING_MARGIN_M + slack * float(rng.random())
            return [{"kind": "door" if door else "window", "u_m": (u0, u0 + width), "v_m": (v0, v1)}]
        counts["openings_redrawn"] += 1
    counts["openings_dropped"] += 1
    return []


def _rect_fits(corners: np.ndarray, poly: np.ndarray) -> bool:
    """True if a convex quad (4, 2) lies inside the axis-aligned polygon (corners inside, no vertex inside it)."""
    if not points_in_polygon(corners, poly).all():
        return False
    return not points_in_polygon(poly, corners).any()


@dataclass(frozen=True)
class RoomLayout:
    """The layout step of a room, before any mesh is built.

    Attributes:
        footprint_m: (M, 2) float64 counter-clockwise footprint polygon in metres.
        shape: "rect" or "L".
        height_m: floor-to-ceiling height.
        walls: per footprint edge k (from vertex k to k + 1): (p0, p1, length_m, openings).
        counts: placements that did not fit: ``openings_redrawn``, ``openings_dropped``.
    """

    footprint_m: np.ndarray
    shape: str
    height_m: float
    walls: list
    counts: dict


def plan_layout(config: RoomConfig | None = None, *, rng: np.random.Generator) -> RoomLayout:
    """Footprint, height and wall openings of one room (no mesh; never raises for a valid config)."""
    cfg = RoomConfig() if config is None else config
    poly, shape = _footprint(cfg, rng)
    height = float(rng.uniform(*cfg.height_range_m))
    counts = {"openings_redrawn": 0, "openings_dropped": 0}
    walls = []
    for k in range(len(poly)):
        p0, p1 = poly[k], poly[(k + 1) % len(poly)]
        length = float(np.linalg.norm(p1 - p0))
        walls.append((p0, p1, length, _openings(cfg, rng, length, height, counts)))
    return RoomLayout(footprint_m=poly, shape=shape, height_m=height, walls=walls, counts=counts)


def generate_room(config: RoomConfig | None = None, *, rng: np.random.Generator) -> Scene:
    """Generate one furnished room.

    Args:
        config: generator settings (default `RoomConfig()`).
        rng: the only source of randomness; the same state gives identical arrays.

    Returns:
        `Scene` (z up, floor at z = 0) whose meta holds ``scene_id`` (a hash of the geometry), ``generator``,
        ``config``, ``shape`` ("rect" or "L"), ``footprint_m`` (CCW polygon), ``height_m``, ``floor_z_m`` (0),
        ``openings`` (kind, wall index, world corners), ``furniture`` (kind, centre, size, yaw, dark),
        ``placement_counts`` (openings re-drawn or dropped, furniture pieces dropped because they did not fit)
        and ``normals_oriented`` (True).
    """
    cfg = RoomConfig() if config is None else config
    layout = plan_layout(cfg, rng=rng)
    poly, shape, height, walls = layout.footprint_m, layout.shape, layout.height_m, layout.walls
    mb = _MeshBuilder(rng)

    # Structure: floor, ceiling, walls with openings.
    floor_kind = int(rng.integers(3))
    if floor_kind == 0:
        floor_mat = _material(rng, "wood-floor", (0.25, 0.5), _WOOD, "stripes", rng.uniform(0.12, 0.22), 0.15)
    elif floor_kind == 1:
        floor_mat = _material(rng, "tile-floor", (0.4, 0.8), _TILE, "checker", rng.uniform(0.3, 0.6), 0.1)
    else:
        floor_mat = _material(rng, "carpet", (0.08, 0.3), _DARK + _TILE, "noise", 0.1, 0.08)
    wall_mat = _material(rng, "wall-paint", (0.55, 0.9), _PAINT, "noise", 0.5, 0.04)
    accent_mat = _material(rng, "accent-paint", (0.1, 0.25), _DARK + _WOOD, "noise", 0.5, 0.05)
    ceiling_mat = _material(rng, "ceiling", cfg.bright_albedo_range, _BRIGHT, "flat", 1.0, 0.0)
    floor_i, wall_i, accent_i, ceil_i = (mb.material(m) for m in (floor_mat, wall_mat, accent_mat, ceiling_mat))

    lo, hi = poly.min(0), poly.max(0)
    step = floor_mat.texture_scale_m
    xe = _edges(lo[0], hi[0], step, list(poly[:, 0]))
    ye = _edges(lo[1], hi[1], step, list(poly[:, 1]))
    cx, cy = np.meshgrid(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), indexing="ij")
    inside = points_in_polygon(np.column_stack([cx.ravel(), cy.ravel()]), poly).reshape(cx.shape)
    mb.grid([0, 0, 0], [1, 0, 0], [0, 1, 0], xe, ye, floor_i, keep=inside)
    xe_c = _edges(lo[0], hi[0], 1.0, list(poly[:, 0]))
    ye_c = _edges(lo[1], hi[1], 1.0, list(poly[:, 1]))
    cx, cy = np.meshgrid(0.5 * (xe_c[1:] + xe_c[:-1]), 0.5 * (ye_c[1:] + ye_c[:-1]), indexing="ij")
    inside_c = points_in_polygon(np.column_stack([cx.ravel(), cy.ravel()]), poly).reshape(cx.shape)
    mb.grid([0, 0, height], [1, 0, 0], [0, 1, 0], xe_c, ye_c, ceil_i, keep=inside_c, flip=True)

    accent_wall = int(rng.integers(len(poly))) if rng.random() < 0.3 else -1
    openings: list[dict[str, Any]] = []
    for k, (p0, p1, length, ops) in enumerate(walls):
        u_axis = np.append((p1 - p0) / length, 0.0)
        mat_i = accent_i if k == accent_wall else wall_i
        scale = mb.materials[mat_i].texture_scale_m
        ue = _edges(0.0, length, scale, [x for o in ops for x in o["u_m"]])
        ve = _edges(0.0, height, scale, [x for o in ops for x in o["v_m"]])
        cu, cv = np.meshgrid(0.5 * (ue[1:] + ue[:-1]), 0.5 * (ve[1:] + ve[:-1]), indexing="ij")
        keep = np.ones(cu.shape, bool)
        for o in ops:
            keep &= ~((cu > o["u_m"][0]) & (cu < o["u_m"][1]) & (cv > o["v_m"][0]) & (cv < o["v_m"][1]))
            origin = np.append(p0, 0.0)
            corners = [origin + u * u_axis + [0, 0, v] for u in o["u_m"] for v in o["v_m"]]
            openings.append({**o, "wall": k, "corners_m": np.round(corners, 6).tolist()})
        # CCW footprint: u x up points outwards, so flip to face the room.
        mb.grid(np.append(p0, 0.0), u_axis, [0, 0, 1], ue, ve, mat_i, keep=keep, flip=True)

    counts = {**layout.counts, "furniture_dropped": 0}
    furniture = _place_furniture(mb, cfg, rng, poly, height, walls, counts)
    meta = {
        "generator": "tofsim.scene.procedural.generate_room",
        "config": asdict(cfg),
        "shape": shape,
        "footprint_m": poly.tolist(),
        "height_m": height,
        "floor_z_m": 0.0,
        "openings": openings,
        "furniture": furniture,
        "placement_counts": counts,
        "normals_oriented": True,
    }
    return mb.build(meta)


def _place_furniture(mb: _MeshBuilder, cfg, rng, poly, height, walls, counts) -> list[dict[str, Any]]:
    """Place furniture pieces (rejection sampling on footprints); returns their descriptions.

    A piece with no free spot after 30 tries, or one that would exceed the floor cover, is dropped and
    counted in ``counts["furniture_dropped"]``.
    """
    n_pieces = int(rng.integers(cfg.furniture_count_range[0], cfg.furniture_count_range[1] + 1))
    weights = np.asarray(cfg.furniture_kind_weights, float)
    floor_area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1)))
    placed: list[np.ndarray] = []  # footprint corners (4, 2) of placed pieces
    covered = 0.0
    out: list[dict[str, Any]] = []
    n_dark = 0
    for _piece in range(n_pieces):
        kind = FURNITURE_KINDS[int(rng.choice(len(FURNITURE_KINDS), p=weights / weights.sum()))]
        # Force dark pieces first (while the room is empty they almost always fit), then 20 % (sofas 60 %).
        dark = bool(rng.random() < (0.6 if kind == "sofa" else 0.2)) or n_dark < cfg.min_dark_pieces
        size = _piece_size(kind, rng, height)
        against_wall = kind in ("shelf", "sofa") or (kind in ("box", "table") and rng.random() < 0.4)
        for _attempt in range(30):
            centre, yaw = _piece_pose(rng, poly, walls, size, against_wall)
            if centre is None:
                continue
            c, s = np.cos(yaw), np.sin(yaw)
            half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.5 * size[:2]
            corners = centre + half @ np.array([[c, s], [-s, c]])
            if not _rect_fits(corners, poly) or _blocks_door(corners, walls) or _overlaps(corners, placed):
                continue
            area = float(size[0] * size[1])
            if covered + area > cfg.max_floor_cover_fraction * floor_area:
                counts["furniture_dropped"] += 1
                break
            mat_i = mb.material(_furniture_material(rng, cfg, dark))
            _build_piece(mb, kind, centre, yaw, size, mat_i, rng, cfg)
            placed.append(corners)
            covered += area
            n_dark += int(dark)
            out.append({"kind": kind, "centre_m": np.round(centre, 6).tolist(), "size_m": np.round(size, 6).tolist(),
                        "yaw_rad": float(yaw), "dark": bool(dark)})  # fmt: skip
            break
        else:
            counts["furniture_dropped"] += 1
    return out


def _piece_size(kind: str, rng, height: float) -> np.ndarray:
    """(3,) footprint width (local x), depth (local y, towards the wall is -y) and height in metres."""
    u = rng.uniform
    if kind == "table":
        return np.array([u(0.8, 1.8), u(0.6, 1.0), u(0.7, 0.78)])
    if kind == "shelf":
        return np.array([u(0.6, 1.6), u(0.3, 0.45), min(u(1.2, 2.2), height - 0.2)])
    if kind == "sofa":
        return np.array([u(1.4, 2.2), u(0.8, 1.0), u(0.75, 0.9)])
    if kind == "cylinder":
        r = u(0.15, 0.4)
        return np.array([2 * r, 2 * r, u(0.4, 1.2) if rng.random() < 0.8 else height])
    if kind == "stack":
        return np.array([u(0.4, 0.8), u(0.4, 0.8), 0.0])
    return np.array([u(0.3, 1.0), u(0.3, 1.0), u(0.3, 1.0)])  # box


def _piece_pose(rng, poly, walls, size, against_wall: bool):
    """A candidate centre (2,) and yaw; against a wall the piece's local -y side touches the wall."""
    if against_wall:
        p0, p1, length, _ = walls[int(rng.integers(len(walls)))]
        if length < size[0] + 0.1:
            return None, 0.0
        t = rng.uniform(0.05 + size[0] / 2, length - 0.05 - size[0] / 2)
        along = (p1 - p0) / length
        inward = np.array([-along[1], along[0]])  # CCW polygon: interior on the left
        centre = p0 + t * along + inward * (size[1] / 2 + 0.02)
        return centre, float(np.arctan2(along[1], along[0]))
    lo, hi = poly.min(0), poly.max(0)
    return rng.uniform(lo + 0.3, hi - 0.3), float(rng.uniform(0, np.pi))


def _blocks_door(corners: np.ndarray, walls) -> bool:
    """True if the footprint comes within 0.8 m of a door (keeps doorways free)."""
    for p0, p1, length, ops in walls:
        along = (p1 - p0) / length
        for o in ops:
            if o["kind"] != "door":
                continue
            mid = p0 + along * 0.5 * (o["u_m"][0] + o["u_m"][1])
            if np.linalg.norm(corners.mean(0) - mid) < 0.8 + 0.5 * np.linalg.norm(corners[2] - corners[0]):
                return True
    return False


def _overlaps(corners: np.ndarray, placed: list[np.ndarray], margin_m: float = 0.1) -> bool:
    lo, hi = corners.min(0) - margin_m, corners.max(0) + margin_m
    return any(np.all(lo < other.max(0)) and np.all(other.min(0) < hi) for other in placed)


def _build_piece(mb: _MeshBuilder, kind: str, centre, yaw: float, size, mat_i: int, rng, cfg) -> None:
    """Emit the primitives of one piece. Local frame: x along the width, y along the depth (wall at -y)."""
    c, s = np.cos(yaw), np.sin(yaw)

    def at(lx: float, ly: float) -> np.ndarray:
        return centre + np.array([c * lx - s * ly, s * lx + c * ly])

    w, d, h = (float(v) for v in size)
    if kind == "table":
        top = 0.04
        mb.box(at(0, 0), h - top, (w, d, top), yaw, mat_i)
        for sx in (-1, 1):
            for sy in (-1, 1):
                mb.box(at(sx * (w / 2 - 0.05), sy * (d / 2 - 0.05)), 0.0, (0.05, 0.05, h - top), yaw, mat_i)
        if rng.random() < cfg.clutter_probability:
            _clutter(mb, at, yaw, w, d, h, rng, cfg)
    elif kind == "shelf":
        t = 0.02
        mb.box(at(0, -d / 2 + t / 2), 0.0, (w, t, h), yaw, mat_i)  # back
        for sx in (-1, 1):
            mb.box(at(sx * (w / 2 - t / 2), t / 2), 0.0, (t, d - t, h), yaw, mat_i)
        n_boards = int(rng.integers(3, 6))
        for z in np.linspace(0.05, h - t, n_boards):
            mb.box(at(0, t / 2), float(z), (w - 2 * t, d - t, t), yaw, mat_i)
        if rng.random() < cfg.clutter_probability:
            _clutter(mb, at, yaw, w - 0.1, d - 0.1, 0.05 + t, rng, cfg)
    elif kind == "sofa":
        seat = 0.42
        mb.box(at(0, 0.1), 0.0, (w - 0.4, d - 0.2, seat), yaw, mat_i)  # seat block
        mb.box(at(0, -d / 2 + 0.1), 0.0, (w, 0.2, h), yaw, mat_i)  # back
        for sx in (-1, 1):
            mb.box(at(sx * (w / 2 - 0.1), 0.1), 0.0, (0.2, d - 0.2, 0.6), yaw, mat_i)  # arms
    elif kind == "cylinder":
        mb.cylinder(centre, 0.0, w / 2, h, mat_i)
    elif kind == "stack":
        z = 0.0
        bw, bd = w, d
        for _level in range(int(rng.integers(2, 5))):
            bh = float(rng.uniform(0.2, 0.5))
            off = rng.uniform(-0.05, 0.05, size=2)
            mb.box(at(*off), z, (bw, bd, bh), yaw + float(rng.uniform(-0.2, 0.2)), mat_i)
            z += bh
            bw, bd = bw * rng.uniform(0.6, 0.95), bd * rng.uniform(0.6, 0.95)
            mat_i = mb.material(_furniture_material(rng, cfg, rng.random() < 0.2))
    else:
        mb.box(centre, 0.0, (w, d, h), yaw, mat_i)


def _clutter(mb: _MeshBuilder, at, yaw: float, w: float, d: float, z0: float, rng, cfg) -> None:
    """A few small boxes and cylinders on a surface of size w x d at height z0."""
    for _ in range(int(rng.integers(1, 4))):
        lx, ly = rng.uniform(-w / 2 + 0.1, w / 2 - 0.1), rng.uniform(-d / 2 + 0.1, d / 2 - 0.1)
        mat_i = mb.material(_furniture_material(rng, cfg, rng.random() < 0.25))
        if rng.random() < 0.5:
            size = rng.uniform(0.08, 0.2, size=3)
            mb.box(at(lx, ly), z0, size, yaw + float(rng.uniform(0, np.pi)), mat_i)
        else:
            mb.cylinder(at(lx, ly), z0, float(rng.uniform(0.03, 0.08)), float(rng.uniform(0.08, 0.3)), mat_i, 12)
