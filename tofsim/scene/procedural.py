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

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tofsim.errors import ConfigError
from tofsim.scene.builder import Frame, MeshBuilder, grid_edges
from tofsim.scene.clutter import scatter
from tofsim.scene.fixtures import WINDOW_GLASS, annex, decorate_wall, door_leaf, window_pane
from tofsim.scene.furniture import CATALOGUE, WALL_PROBABILITY, piece_size
from tofsim.scene.lights import place_lights
from tofsim.scene.materials import PALETTES, furniture_material, make_material
from tofsim.scene.types import Scene

__all__ = ["RoomConfig", "RoomLayout", "generate_room", "plan_layout", "points_in_polygon", "FURNITURE_KINDS"]

#: Furniture kinds the generator builds from primitives (see `tofsim.scene.furniture.CATALOGUE`).
FURNITURE_KINDS = tuple(CATALOGUE)


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
        passage_probability: chance that a door opening is a wide open passage (no leaf) instead.
        passage_width_range_m: passage width (its height is a door's).
        window_width_range_m, window_height_range_m, window_sill_range_m: window size and sill height.
        furniture_count_range: inclusive range of the number of furniture pieces tried.
        furniture_kind_weights: relative frequency of each kind in `FURNITURE_KINDS` order.
        max_floor_cover_fraction: furniture footprints cover at most this fraction of the floor.
        clutter_probability: chance that a support surface (table, shelf board, counter, ...) carries small objects.
        clutter_density_per_m2: mean number of small objects per square metre of a cluttered surface.
        annex_probability: chance that a door opens onto a corridor or a neighbouring room (else onto nothing).
        door_leaf_probability: chance that a door opening has a door leaf standing ajar.
        min_doors: a room with fewer doors or passages gets one on its longest wall without (0 or 1).
        dark_albedo_range: NIR albedo of dark surfaces (black leather, dark fabric, carpet).
        bright_albedo_range: NIR albedo of bright surfaces (white paint, laminate).
        min_dark_pieces: at least this many furniture pieces get a dark material.
        light_count_range: inclusive range of the number of lights (ceiling lamps, daylight through a window)
            that shade the RGB image with shadows (default ``(1, 3)``); ``(0, 0)`` keeps the shadowless headlight,
            which saves about a quarter of a frame's CPU time.
        window_glass: windows hold a glass pane (`tofsim.scene.fixtures.window_pane`; the ToF sees a weak
            reflection of it, the ground truth and RGB see through it); False (the default, for speed: the
            second cast over the panes costs ~40 % of a frame's CPU) leaves open holes.
    """

    # up to 10.5 m: real rooms open onto long views (docs/scenes-and-rendering.md, "How real do the rooms look")
    width_range_m: tuple[float, float] = (3.5, 10.5)
    depth_range_m: tuple[float, float] = (3.5, 10.5)
    height_range_m: tuple[float, float] = (2.4, 3.2)
    l_shape_probability: float = 0.35
    l_notch_fraction_range: tuple[float, float] = (0.3, 0.55)
    opening_probability: float = 0.6
    door_probability: float = 0.55
    door_width_range_m: tuple[float, float] = (0.8, 1.0)
    door_height_range_m: tuple[float, float] = (2.0, 2.2)
    passage_probability: float = 0.45
    passage_width_range_m: tuple[float, float] = (1.2, 2.6)
    window_width_range_m: tuple[float, float] = (0.6, 1.6)
    window_height_range_m: tuple[float, float] = (0.8, 1.3)
    window_sill_range_m: tuple[float, float] = (0.7, 1.1)
    furniture_count_range: tuple[int, int] = (6, 14)
    #          table desk shelf wardrobe counter bed sofa low_table tv_unit floor_lamp plant box cylinder stack
    furniture_kind_weights: tuple[float, ...] = (1.0, 0.8, 1.2, 0.6, 0.7, 0.5, 0.6, 0.6, 0.4, 0.6, 0.8, 0.6, 0.4, 0.4)
    max_floor_cover_fraction: float = 0.5
    clutter_probability: float = 0.9
    clutter_density_per_m2: float = 16.0
    annex_probability: float = 0.9
    door_leaf_probability: float = 0.7
    min_doors: int = 1
    dark_albedo_range: tuple[float, float] = (0.03, 0.1)
    bright_albedo_range: tuple[float, float] = (0.6, 0.9)
    min_dark_pieces: int = 1
    light_count_range: tuple[int, int] = (1, 3)
    window_glass: bool = False  # opt-in: the pane's second cast costs ~40 % of a frame (docs/benchmarks.md)

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
        if self.clutter_density_per_m2 < 0:
            raise ConfigError(f"RoomConfig.clutter_density_per_m2: must be >= 0, got {self.clutter_density_per_m2}")
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


def _openings(cfg: RoomConfig, rng, length_m: float, height_m: float, counts: dict[str, int], *,
              force_door: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Openings on one wall in wall coordinates (u along the wall, v up), not overlapping, 0.2 m from corners.

    An opening that does not fit (wider than the wall less the margins, or less than 0.3 m high under the
    ceiling) is re-drawn up to `_OPENING_TRIES` times, then dropped; ``counts`` records both. With
    `force_door` the wall gets a door or passage whatever `opening_probability` says.
    """
    if length_m < 1.2 or (not force_door and rng.random() >= cfg.opening_probability):
        return []
    for _attempt in range(_OPENING_TRIES):
        door = force_door or rng.random() < cfg.door_probability
        kind = "window"
        if door:
            kind = "passage" if rng.random() < cfg.passage_probability else "door"
            width = float(rng.uniform(*(cfg.passage_width_range_m if kind == "passage" else cfg.door_width_range_m)))
            v0, v1 = 0.0, min(float(rng.uniform(*cfg.door_height_range_m)), height_m - 0.15)
        else:
            width = float(rng.uniform(*cfg.window_width_range_m))
            v0 = float(rng.uniform(*cfg.window_sill_range_m))
            v1 = min(v0 + float(rng.uniform(*cfg.window_height_range_m)), height_m - 0.15)
        slack = length_m - 2 * _OPENING_MARGIN_M - width
        if slack >= 0.0 and width >= _MIN_OPENING_M and v1 - v0 >= _MIN_OPENING_M:
            u0 = _OPENING_MARGIN_M + slack * float(rng.random())
            return [{"kind": kind, "u_m": (u0, u0 + width), "v_m": (v0, v1)}]
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
    n_doors = sum(o["kind"] != "window" for w in walls for o in w[3])
    if n_doors < cfg.min_doors:  # a door or passage on the longest wall without one (replacing a window)
        free = [k for k, w in enumerate(walls) if not any(o["kind"] != "window" for o in w[3])]
        k = max(free, key=lambda i: walls[i][2]) if free else None
        if k is not None:
            p0, p1, length, _ = walls[k]
            walls[k] = (p0, p1, length, _openings(cfg, rng, length, height, counts, force_door=True))
    return RoomLayout(footprint_m=poly, shape=shape, height_m=height, walls=walls, counts=counts)


def generate_room(config: RoomConfig | None = None, *, rng: np.random.Generator) -> Scene:
    """Generate one furnished room.

    Args:
        config: generator settings (default `RoomConfig()`).
        rng: the only source of randomness; the same state gives identical arrays.

    Returns:
        `Scene` (z up, floor at z = 0) whose meta holds ``scene_id`` (a hash of the geometry), ``generator``,
        ``config``, ``shape`` ("rect" or "L"), ``footprint_m`` (CCW polygon), ``height_m``, ``floor_z_m`` (0),
        ``openings`` (kind, wall index, world corners, ``leaf_angle_rad`` of a door leaf standing ajar),
        ``annexes`` (corridors and rooms behind doors), ``close_up_targets_m`` (object points for close-ups),
        ``furniture`` (kind, centre, size, yaw, dark),
        ``placement_counts`` (openings re-drawn or dropped, furniture pieces dropped because they did not fit)
        and ``normals_oriented`` (True).
    """
    cfg = RoomConfig() if config is None else config
    layout = plan_layout(cfg, rng=rng)
    poly, shape, height, walls = layout.footprint_m, layout.shape, layout.height_m, layout.walls
    mb = MeshBuilder(rng)

    # Structure: floor, ceiling, walls with openings.
    floor_kind = int(rng.integers(3))
    if floor_kind == 0:
        floor_mat = make_material(rng, "wood-floor", (0.25, 0.5), "wood", "stripes", rng.uniform(0.12, 0.22), 0.15)
    elif floor_kind == 1:
        floor_mat = make_material(rng, "tile-floor", (0.4, 0.8), "tile", "checker", rng.uniform(0.3, 0.6), 0.1)
    else:
        floor_mat = make_material(rng, "carpet", (0.08, 0.3), PALETTES["dark"] + PALETTES["tile"], "noise", 0.1, 0.08)
    wall_mat = make_material(rng, "wall-paint", (0.55, 0.9), "paint", "noise", 0.5, 0.04)
    accent_mat = make_material(rng, "accent-paint", (0.1, 0.25), PALETTES["dark"] + PALETTES["wood"], "noise", 0.5,
                               0.05)  # fmt: skip
    ceiling_mat = make_material(rng, "ceiling", cfg.bright_albedo_range, "bright", "flat", 1.0, 0.0)
    floor_i, wall_i, accent_i, ceil_i = (mb.material(m) for m in (floor_mat, wall_mat, accent_mat, ceiling_mat))

    lo, hi = poly.min(0), poly.max(0)
    step = floor_mat.texture_scale_m
    xe = grid_edges(lo[0], hi[0], step, list(poly[:, 0]))
    ye = grid_edges(lo[1], hi[1], step, list(poly[:, 1]))
    cx, cy = np.meshgrid(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), indexing="ij")
    inside = points_in_polygon(np.column_stack([cx.ravel(), cy.ravel()]), poly).reshape(cx.shape)
    mb.grid([0, 0, 0], [1, 0, 0], [0, 1, 0], xe, ye, floor_i, keep=inside)
    xe_c = grid_edges(lo[0], hi[0], 1.0, list(poly[:, 0]))
    ye_c = grid_edges(lo[1], hi[1], 1.0, list(poly[:, 1]))
    cx, cy = np.meshgrid(0.5 * (xe_c[1:] + xe_c[:-1]), 0.5 * (ye_c[1:] + ye_c[:-1]), indexing="ij")
    inside_c = points_in_polygon(np.column_stack([cx.ravel(), cy.ravel()]), poly).reshape(cx.shape)
    mb.grid([0, 0, height], [1, 0, 0], [0, 1, 0], xe_c, ye_c, ceil_i, keep=inside_c, flip=True)

    accent_wall = int(rng.integers(len(poly))) if rng.random() < 0.3 else -1
    openings: list[dict[str, Any]] = []
    for k, (p0, p1, length, ops) in enumerate(walls):
        u_axis = np.append((p1 - p0) / length, 0.0)
        mat_i = accent_i if k == accent_wall else wall_i
        scale = mb.materials[mat_i].texture_scale_m
        ue = grid_edges(0.0, length, scale, [x for o in ops for x in o["u_m"]])
        ve = grid_edges(0.0, height, scale, [x for o in ops for x in o["v_m"]])
        cu, cv = np.meshgrid(0.5 * (ue[1:] + ue[:-1]), 0.5 * (ve[1:] + ve[:-1]), indexing="ij")
        keep = np.ones(cu.shape, bool)
        for o in ops:
            keep &= ~((cu > o["u_m"][0]) & (cu < o["u_m"][1]) & (cv > o["v_m"][0]) & (cv < o["v_m"][1]))
            origin = np.append(p0, 0.0)
            corners = [origin + u * u_axis + [0, 0, v] for u in o["u_m"] for v in o["v_m"]]
            openings.append({**o, "wall": k, "corners_m": np.round(corners, 6).tolist()})
        # CCW footprint: u x up points outwards, so flip to face the room.
        mb.grid(np.append(p0, 0.0), u_axis, [0, 0, 1], ue, ve, mat_i, keep=keep, flip=True)

    # Wall fixtures, door leaves, and corridors or rooms behind the doors.
    trim = make_material(rng, "trim", cfg.bright_albedo_range, "bright", "flat")
    mats = {
        "trim": mb.material(trim),
        "radiator": mb.material(make_material(rng, "radiator", (0.4, 0.8), "bright", "flat")),
        "frame": mb.material(make_material(rng, "picture-frame", (0.05, 0.5), PALETTES["dark"] + PALETTES["wood"])),
        "poster": mb.material(make_material(rng, "poster", (0.1, 0.8), "book", "noise", 0.05, 0.3)),
        "shelf": mb.material(make_material(rng, "wall-shelf", (0.2, 0.5), "wood", "flat")),
        "floor": floor_i, "ceiling": ceil_i, "wall": wall_i,
    }  # fmt: skip
    targets: list[list[float]] = []
    annexes = []
    door_mat = mb.material(furniture_material(rng, cfg.dark_albedo_range, cfg.bright_albedo_range, False))
    for k, wall in enumerate(walls):
        targets += decorate_wall(mb, wall, height, rng, mats)
        for o in wall[3]:
            if o["kind"] == "window":
                if cfg.window_glass:  # no draws from rng: the room is the same with or without panes
                    window_pane(mb, wall, o, mb.shared_material("window-glass", lambda: WINDOW_GLASS))
                continue
            if o["kind"] == "door" and rng.random() < cfg.door_leaf_probability:
                angle = door_leaf(mb, wall, o, rng, door_mat, mats["radiator"])
                for entry in openings:
                    if entry["wall"] == k and entry["u_m"] == o["u_m"]:
                        entry["leaf_angle_rad"] = angle
            if rng.random() < cfg.annex_probability:
                annexes.append({**annex(mb, wall, o, height, rng, mats, cfg), "wall": k})

    counts = {**layout.counts, "furniture_dropped": 0}
    furniture = _place_furniture(mb, cfg, rng, poly, height, walls, counts, targets)
    meta = {
        "generator": "tofsim.scene.procedural.generate_room",
        "config": asdict(cfg),
        "shape": shape,
        "footprint_m": poly.tolist(),
        "height_m": height,
        "floor_z_m": 0.0,
        "openings": openings,
        "furniture": furniture,
        "annexes": annexes,
        "close_up_targets_m": np.round(np.array(targets).reshape(-1, 3), 4).tolist(),
        "placement_counts": counts,
        "normals_oriented": True,
        # From a child generator: the lights leave the room's own stream (its geometry) unchanged.
        "lights": place_lights(
            poly, height, openings, cfg.light_count_range, lambda p: points_in_polygon(p, poly), rng=rng.spawn(1)[0]
        ),
    }
    return mb.build(meta)


def _place_furniture(mb: MeshBuilder, cfg, rng, poly, height, walls, counts, targets) -> list[dict[str, Any]]:
    """Place catalogue pieces (rejection sampling on footprints) and clutter on their surfaces.

    A piece with no free spot after 30 tries, or one that would exceed the floor cover, is dropped and
    counted in ``counts["furniture_dropped"]``. Clutter centres and piece tops are appended to `targets`.
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
        size = piece_size(kind, rng, height)
        against_wall = rng.random() < WALL_PROBABILITY[kind]
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
            mat_i = mb.material(furniture_material(rng, cfg.dark_albedo_range, cfg.bright_albedo_range, dark))
            surfaces = CATALOGUE[kind](mb, Frame(centre, yaw), size, mat_i, rng, height)
            for frame, w, d, free_h in surfaces:
                if rng.random() < cfg.clutter_probability:
                    free_h = min(free_h, height - float(frame.origin[2]) - 0.05)  # below the ceiling
                    targets += scatter(mb, frame, w, d, rng, density_per_m2=cfg.clutter_density_per_m2,
                                       max_height_m=free_h)  # fmt: skip
            targets.append([float(centre[0]), float(centre[1]), float(min(size[2], 1.5) * 0.8)])
            placed.append(corners)
            covered += area
            n_dark += int(dark)
            out.append({"kind": kind, "centre_m": np.round(centre, 6).tolist(), "size_m": np.round(size, 6).tolist(),
                        "yaw_rad": float(yaw), "dark": bool(dark)})  # fmt: skip
            break
        else:
            counts["furniture_dropped"] += 1
    return out


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
    return rng.uniform(lo + 0.3, hi - 0.3), float(rng.uniform(0, 2 * np.pi))


def _blocks_door(corners: np.ndarray, walls) -> bool:
    """True if the footprint comes within 0.8 m of a door or passage (keeps doorways free)."""
    for p0, p1, length, ops in walls:
        along = (p1 - p0) / length
        for o in ops:
            if o["kind"] == "window":
                continue
            mid = p0 + along * 0.5 * (o["u_m"][0] + o["u_m"][1])
            if np.linalg.norm(corners.mean(0) - mid) < 0.8 + 0.5 * np.linalg.norm(corners[2] - corners[0]):
                return True
    return False


def _overlaps(corners: np.ndarray, placed: list[np.ndarray], margin_m: float = 0.1) -> bool:
    lo, hi = corners.min(0) - margin_m, corners.max(0) + margin_m
    return any(np.all(lo < other.max(0)) and np.all(other.min(0) < hi) for other in placed)
