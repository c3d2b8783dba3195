"""`MeshBuilder`: accumulates closed primitives (tiled planes, boxes, rods) with baked per-triangle colour and albedo.

Every primitive is closed and wound counter-clockwise seen from outside (normals point into free space), so a
scene built only from them keeps ``meta["normals_oriented"]``. Tiled planes (`grid`, `box`) carry the
material's procedural texture; the batched primitives (`boxes`, `rods`) emit one untessellated solid per row,
with an optional colour and albedo per row (books, cups, leaves), so a room with thousands of small things is
built by a few NumPy calls.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from tofsim.scene.types import Material, Scene

__all__ = ["MeshBuilder", "Frame", "grid_edges", "rot_z", "rotations"]


def grid_edges(lo: float, hi: float, step: float, extra=()) -> np.ndarray:
    """Sorted grid lines: lo, hi, the multiples of `step` and the `extra` cuts between them (0.1 mm apart)."""
    eps = 1e-4
    first, last = np.ceil((lo + eps) / step), np.floor((hi - eps) / step)
    inner = np.arange(first, last + 1.0) * step if last >= first else np.zeros(0)
    cuts = [x for x in extra if lo + eps < x < hi - eps]
    if cuts:
        inner = np.unique(np.round(np.concatenate([inner, cuts]), 6))
        inner = inner[np.concatenate([[True], np.diff(inner) > eps])]
    return np.concatenate([[lo], inner, [hi]])


def rot_z(yaw_rad) -> np.ndarray:
    """(N,) yaw angles -> (N, 3, 3) rotations about world z."""
    yaw = np.atleast_1d(np.asarray(yaw_rad, float))
    c, s = np.cos(yaw), np.sin(yaw)
    r = np.zeros((len(yaw), 3, 3))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1], r[:, 2, 2] = c, -s, s, c, 1.0
    return r


def rotations(yaw_rad, tilt_rad, tilt_axis_yaw_rad=0.0) -> np.ndarray:
    """(N, 3, 3): tilt by `tilt_rad` about the horizontal axis at `tilt_axis_yaw_rad` (local), then yaw."""
    tilt = np.atleast_1d(np.asarray(tilt_rad, float))
    ax = np.atleast_1d(np.asarray(tilt_axis_yaw_rad, float)) * np.ones_like(tilt)
    k = np.stack([np.cos(ax), np.sin(ax), np.zeros_like(ax)], 1)  # unit axes
    kx = np.zeros((len(tilt), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx -= np.swapaxes(kx, 1, 2)
    eye = np.eye(3)[None]
    rod = eye + np.sin(tilt)[:, None, None] * kx + (1 - np.cos(tilt))[:, None, None] * (kx @ kx)
    return rot_z(np.asarray(yaw_rad, float) * np.ones_like(tilt)) @ rod


class Frame:
    """A piece's local frame: x along its width, y along its depth (its back at -y), z up; origin on the floor."""

    def __init__(self, centre_xy, yaw_rad: float, z0_m: float = 0.0) -> None:
        self.origin = np.array([centre_xy[0], centre_xy[1], z0_m], float)
        self.yaw = float(yaw_rad)
        self.rot = rot_z(self.yaw)[0]

    def pt(self, local) -> np.ndarray:
        """(..., 3) local points -> world points."""
        return np.asarray(local, float) @ self.rot.T + self.origin

    def sub(self, lx: float, ly: float, lz: float = 0.0, dyaw: float = 0.0) -> Frame:
        """A frame at local (lx, ly, lz), turned by `dyaw`."""
        p = self.pt([lx, ly, lz])
        return Frame(p[:2], self.yaw + dyaw, float(p[2]))


# Unit box: footprint centred on the origin, z from 0 to 1; 12 triangles wound outwards.
_BOX_V = np.array([[x, y, z] for z in (0.0, 1.0) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
_BOX_T = np.array(
    [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
     [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
)  # fmt: skip
_BOX_SHADE = np.array([0.92, 0.92, 1.04, 1.04, 1.0, 1.0, 1.0, 1.0, 0.97, 0.97, 0.97, 0.97])


class MeshBuilder:
    """Accumulates tessellated surfaces and solids with baked per-triangle colour and albedo."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.vertices: list[np.ndarray] = []
        self.triangles: list[np.ndarray] = []
        self.material_ids: list[np.ndarray] = []
        self.rgb: list[np.ndarray] = []
        self.albedo: list[np.ndarray] = []
        self.materials: list[Material] = []
        self.n_vertices = 0
        self._shared: dict[str, int] = {}

    def material(self, material: Material) -> int:
        """Add a material to the table; returns its index."""
        self.materials.append(material)
        return len(self.materials) - 1

    def shared_material(self, key: str, make) -> int:
        """Index of the room's one material `key`, made by ``make()`` on first use (book paper, leaves, ...)."""
        if key not in self._shared:
            self._shared[key] = self.material(make())
        return self._shared[key]

    def n_triangles(self) -> int:
        """Triangles added so far."""
        return int(sum(len(t) for t in self.triangles))

    def _append(self, verts: np.ndarray, tri: np.ndarray, mat_index: int, shade=None, rgb=None, albedo=None) -> None:
        """Add (V, 3) vertices and (T, 3) local triangles; per-triangle shade (T,), rgb (T, 3), albedo (T,)."""
        mat = self.materials[mat_index]
        n = len(tri)
        shade = np.ones(n) if shade is None else np.asarray(shade, float)
        base_rgb = np.asarray(mat.color_rgb, float)[None] if rgb is None else np.asarray(rgb, float)
        base_albedo = mat.albedo if albedo is None else np.asarray(albedo, float)
        self.vertices.append(np.asarray(verts, float).reshape(-1, 3))
        self.triangles.append(np.asarray(tri, np.int64) + self.n_vertices)
        self.n_vertices += len(self.vertices[-1])
        self.material_ids.append(np.full(n, mat_index))
        self.rgb.append(np.broadcast_to(base_rgb * shade[:, None], (n, 3)))
        self.albedo.append(np.broadcast_to(base_albedo * (1.0 + 0.5 * (shade - 1.0)), (n,)))

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
        ci, cj = np.divmod(np.arange(nu * nv), nv) if keep is None else np.nonzero(keep)
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
        self._append(verts, tri, mat_index, np.concatenate([shade, shade]))

    def box(self, centre_xy, z0: float, size_m, yaw_rad: float, mat_index: int) -> None:
        """A closed textured box, outward normals: footprint centred at `centre_xy`, from z0 to z0 + size_m[2]."""
        sx, sy, sz = (float(s) for s in size_m)
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        ex, ey, ez = np.array([c, s, 0.0]), np.array([-s, c, 0.0]), np.array([0.0, 0.0, 1.0])
        corner = np.array([centre_xy[0], centre_xy[1], z0]) - 0.5 * sx * ex - 0.5 * sy * ey
        step = self.materials[mat_index].texture_scale_m
        faces = [  # (origin, u axis, v axis, u length, v length); u x v points outwards.
            (corner, ey, ex, sy, sx),  # bottom (-z)
            (corner + sz * ez, ex, ey, sx, sy),  # top (+z)
            (corner, ex, ez, sx, sz),  # -y side
            (corner + sy * ey, ez, ex, sz, sx),  # +y side
            (corner, ez, ey, sz, sy),  # -x side
            (corner + sx * ex, ey, ez, sy, sz),  # +x side
        ]
        for origin, u, v, lu, lv in faces[1:] if z0 <= 0.0 else faces:  # no bottom face on the floor
            self.grid(origin, u, v, grid_edges(0.0, lu, step), grid_edges(0.0, lv, step), mat_index)

    def boxes(self, base_m, size_m, rot, mat_index: int, *, rgb=None, albedo=None) -> None:
        """N closed untextured boxes: bottom-face centres (N, 3), sizes (N, 3), rotations (N, 3, 3).

        ``rgb`` (N, 3) and ``albedo`` (N,) give each box its own colour and NIR albedo (default: the material's).
        """
        base_m, size_m = np.atleast_2d(np.asarray(base_m, float)), np.atleast_2d(np.asarray(size_m, float))
        n = len(base_m)
        if n == 0:
            return
        rot = np.broadcast_to(np.asarray(rot, float), (n, 3, 3))
        local = _BOX_V[None] * size_m[:, None, :]
        verts = np.einsum("nij,nkj->nki", rot, local) + base_m[:, None, :]
        tri = (_BOX_T[None] + 8 * np.arange(n)[:, None, None]).reshape(-1, 3)
        shade = np.tile(_BOX_SHADE, n)
        rgb_t = None if rgb is None else np.repeat(np.asarray(rgb, float).reshape(n, 3), 12, axis=0)
        alb_t = None if albedo is None else np.repeat(np.asarray(albedo, float).reshape(n), 12)
        self._append(verts, tri, mat_index, shade, rgb_t, alb_t)

    def local_boxes(self, frame: Frame, centres, sizes, mat_index: int, *, dyaw=0.0, rgb=None, albedo=None) -> None:
        """Boxes given in a piece's `Frame`: local bottom centres (N, 3), sizes (N, 3), extra yaw (N,) or scalar."""
        centres = np.atleast_2d(np.asarray(centres, float))
        dyaw = np.broadcast_to(np.asarray(dyaw, float), (len(centres),))
        self.boxes(frame.pt(centres), sizes, rot_z(frame.yaw + dyaw), mat_index, rgb=rgb, albedo=albedo)

    def rods(self, p0_m, p1_m, radius_m, mat_index: int, *, n_seg: int = 6, rgb=None, albedo=None) -> None:
        """N closed prisms (n_seg sides) from points (N, 3) to points (N, 3), radii (N,) or scalar."""
        p0, p1 = np.atleast_2d(np.asarray(p0_m, float)), np.atleast_2d(np.asarray(p1_m, float))
        n = len(p0)
        if n == 0:
            return
        r = np.broadcast_to(np.asarray(radius_m, float), (n,))
        axis = p1 - p0
        axis = axis / np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-12)
        helper = np.where(np.abs(axis[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        e1 = np.cross(axis, helper)
        e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
        e2 = np.cross(axis, e1)
        ang = np.linspace(0.0, 2 * np.pi, n_seg, endpoint=False)
        ring = np.cos(ang)[None, :, None] * e1[:, None] + np.sin(ang)[None, :, None] * e2[:, None]  # (N, S, 3)
        ring = ring * r[:, None, None]
        verts = np.concatenate([p0[:, None] + ring, p1[:, None] + ring, p0[:, None], p1[:, None]], 1)  # (N, 2S+2, 3)
        k = np.arange(n_seg)
        k1 = (k + 1) % n_seg
        side = np.concatenate([np.stack([k, k1, n_seg + k], 1), np.stack([k1, n_seg + k1, n_seg + k], 1)])
        bottom = np.stack([np.full(n_seg, 2 * n_seg), k1, k], 1)
        top = np.stack([np.full(n_seg, 2 * n_seg + 1), n_seg + k, n_seg + k1], 1)
        unit = np.concatenate([side, bottom, top])  # (4S, 3), wound outwards for a right-handed (e1, e2, axis)
        m = len(unit)
        tri = (unit[None] + (2 * n_seg + 2) * np.arange(n)[:, None, None]).reshape(-1, 3)
        rgb_t = None if rgb is None else np.repeat(np.asarray(rgb, float).reshape(n, 3), m, axis=0)
        alb_t = None if albedo is None else np.repeat(np.asarray(albedo, float).reshape(n), m)
        self._append(verts, tri, mat_index, None, rgb_t, alb_t)

    def cylinder(self, centre_xy, z0: float, radius_m: float, height_m: float, mat_index: int, n_seg=24) -> None:
        """A closed vertical cylinder (n_seg-sided prism), outward normals."""
        base = [centre_xy[0], centre_xy[1], z0]
        self.rods([base], [[centre_xy[0], centre_xy[1], z0 + height_m]], radius_m, mat_index, n_seg=n_seg)

    def build(self, meta: dict[str, Any]) -> Scene:
        """The `Scene` of everything added, with ``meta`` (a ``scene_id`` hashed from the geometry first)."""
        vertices = np.concatenate(self.vertices).astype(np.float32)
        triangles = np.concatenate(self.triangles).astype(np.int32)
        material_id = np.concatenate(self.material_ids).astype(np.int32)
        face_rgb = np.clip(np.round(np.concatenate(self.rgb)), 0, 255).astype(np.uint8)
        face_albedo = np.clip(np.concatenate(self.albedo), 0.0, 1.0).astype(np.float32)
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
