"""Render a `Scene` into a `DenseFrame` with Open3D's `RaycastingScene` (one ray per pixel).

Rays are built here from `tofsim.camera` (pixel centres at integer coordinates, OpenCV axes), not with Open3D's
``create_rays_pinhole``, which puts pixel centres at half-integers. Each camera-frame direction has z = 1, so
the ray parameter ``t_hit`` of a hit *is* its z-depth, and its range along the ray is ``t_hit * ray_norm``.

Cost: one ``cast_rays`` call plus a few vectorised float32 passes (the direction grid is cached per intrinsics).
Open3D is imported inside `Renderer`, never at module import. Glass panes are a layer of their own (`tofsim.glass`).

`Renderer` takes ``dense="raster"`` to get the per-pixel first hits from a z-buffer (`tofsim.raster`) instead of
casting every pixel's ray; everything after them (maps, patterns, lights) is the same code, and `Renderer.cast_rays`
stays Open3D's for every renderer.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from tofsim.camera import Intrinsics, pixel_grid
from tofsim.checks import ROTATION_TOLERANCE, check_finite, check_pose, check_shape
from tofsim.errors import ShapeError
from tofsim.frame import DenseFrame
from tofsim.glass import GlassLayer, see_through, split_glass
from tofsim.lighting import gather_light, light_table, sample_shadow_rays, shade_lit
from tofsim.raster import Rasterizer, choose_dense
from tofsim.render_kernels import in_halves, make_rays, shade_pixels
from tofsim.scene.types import GLOSS_EXPONENT, Scene
from tofsim.textures import pattern_tables, surface_colours
from tofsim.threads import raycast_threads

__all__ = ["Renderer", "render", "AMBIENT", "ROTATION_TOLERANCE"]

#: Fraction of the material colour that an unlit surface keeps (the rest is Lambertian from a light at the camera).
AMBIENT = 0.3


@dataclass(frozen=True)
class _RayGrid:
    """Per-intrinsics cache: camera-frame directions with z = 1 and their lengths."""

    dirs_cam: np.ndarray  # (H*W, 3) float32
    dirs_aug: np.ndarray  # (H*W, 4) float32 [x, y, 1, 1]: one matmul turns it into (origin, world direction) rays
    ray_norm: np.ndarray  # (H, W) float32
    inv_ray_norm: np.ndarray  # (H*W,) float32


@functools.lru_cache(maxsize=16)
def _ray_grid(intr: Intrinsics) -> _RayGrid:
    """Cached for the process (shared by every Renderer); the arrays are read-only."""
    u, v = pixel_grid(intr)
    x = (u - intr.cx_px) / intr.fx_px
    y = (v - intr.cy_px) / intr.fy_px
    dirs = np.stack([x, y, np.ones_like(x)], axis=-1).reshape(-1, 3).astype(np.float32)
    norm = np.sqrt(x * x + y * y + 1.0)
    grid = _RayGrid(
        dirs_cam=dirs,
        dirs_aug=np.ascontiguousarray(np.concatenate([dirs, np.ones((len(dirs), 1), np.float32)], axis=1)),
        ray_norm=norm.astype(np.float32),
        inv_ray_norm=(1.0 / norm).ravel().astype(np.float32),
    )
    for arr in (grid.dirs_cam, grid.dirs_aug, grid.ray_norm, grid.inv_ray_norm):
        arr.setflags(write=False)
    return grid


# Per-thread scratch for the big temporaries (rays, shading, float colour), shared by every Renderer: fresh
# multi-MB arrays every frame cost thousands of page faults (glibc returns freed heap tops to the OS), ~3 ms
# per VGA frame. Never handed to callers.
_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A reusable per-thread scratch array (contents undefined)."""
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype)
        setattr(_SCRATCH, name, buf)
    return buf


def _matmul_single_thread(a: np.ndarray, b: np.ndarray, rows: int = 8192, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for a tall (N, k) ``a`` and a tiny (k, m) ``b``, on the calling thread.

    Row blocks keep each call below OpenBLAS's threading threshold. One big call wakes BLAS worker threads, which
    then compete for the cores with Open3D's ray-casting threads: measured on 2 busy cores, the (307200, 4) @
    (4, 6) ray product took ~11 ms of main-thread CPU (27 ms in all threads) instead of ~0.7 ms.
    """
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for start in range(0, a.shape[0], rows):
        np.matmul(a[start : start + rows], b, out=out[start : start + rows])
    return out


class Renderer:
    """Raycasting renderer for one `Scene`; builds the Open3D acceleration structure once.

    Thread-safe for concurrent `render` / `cast_rays` calls (no mutable buffers are shared between calls).

    Args:
        scene: the scene to render (needs at least one triangle).
        dense: how `render` finds every pixel's first hit: "raycast" (Open3D) or "raster" (`tofsim.raster`,
            which falls back to "raycast" with a `RasterFallbackWarning` for a scene it cannot take);
            `dense` holds the one in use.
        ambient: fraction of the material colour an unlit surface keeps in the RGB image.
        lights: shade the RGB image by the scene's ``meta["lights"]`` with shadows (`tofsim.lighting`); without
            lights (or with False) a shadowless light at the camera shades it.

    Raises:
        ShapeError: the scene has no triangles.

    Example:
        >>> r = Renderer(scene)
        >>> frame = r.render(Intrinsics.from_fov(640, 480, 57.0), pose)
    """

    def __init__(self, scene: Scene, *, ambient: float = AMBIENT, lights: bool = True, dense: str = "raycast") -> None:
        import open3d as o3d

        scene, glass = split_glass(scene)
        self._glass = GlassLayer(glass) if glass is not None else None
        if scene.n_triangles == 0:
            raise ShapeError(f"scene {scene.scene_id!r} has no triangles; nothing to render")
        self.dense = choose_dense(scene, dense)
        self._raster = Rasterizer(scene) if self.dense == "raster" else None
        self.scene = scene
        self.ambient = float(ambient)
        self._o3d = o3d
        self._raycaster = o3d.t.geometry.RaycastingScene()
        self._raycaster.add_triangles(
            o3d.core.Tensor(scene.vertices, dtype=o3d.core.float32),
            o3d.core.Tensor(scene.triangles.astype(np.uint32), dtype=o3d.core.uint32),
        )
        # Build the BVH now (Open3D does it lazily on the first query, which concurrent first calls could race).
        self._raycaster.cast_rays(o3d.core.Tensor(np.array([[0, 0, 0, 0, 0, 1]], np.float32)))
        n_tri = scene.n_triangles
        self._n_tri = np.uint32(n_tri)
        # Per-triangle tables with one extra row (index T) for "no hit": a miss needs no branch (0 everywhere).
        normals = scene.face_normals().astype(np.float64)
        self._normals = normals  # (T, 3) unit winding normals, float64
        self._plane_offset = np.einsum("ij,ij->i", normals, scene.vertices[scene.triangles[:, 0]].astype(np.float64))
        self._normals_ext = np.concatenate([normals, np.zeros((1, 3))]).astype(np.float32)
        self._albedo_ext = np.append(scene.face_albedo, np.float32(0.0)).astype(np.float32)
        self._rgb_ext = np.concatenate([scene.face_rgb, np.zeros((1, 3), np.uint8)])
        self._rgb_ext_f32 = self._rgb_ext.astype(np.float32)
        self._material_ext = np.append(scene.material_id, np.int32(-1)).astype(np.int32)
        # Per-pixel patterns: per-material tables (one extra "none" row, M, for misses) and each triangle's row.
        self._patterns = pattern_tables(scene.materials)
        self._pattern_row = np.append(scene.material_id, np.int32(len(scene.materials))).astype(np.int32)
        gloss = np.array([m.gloss for m in scene.materials] + [0.0], np.float32)
        self._gloss_ext = gloss[self._pattern_row]  # (T + 1,) NIR gloss per triangle, 0 for misses
        table = light_table(scene.meta.get("lights") or []) if lights else np.zeros((0, 4), np.float32)
        self._lights = table if len(table) else None
        # Above this many triangles per pixel, per-pixel normals are cheaper than per-triangle camera tables.
        self._per_triangle_max = 2

    # ------------------------------------------------------------------ low level
    def _cast(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cast (N, 6) float32 rays.

        Returns t_hit (N,) float32 (inf = miss), the triangle index (N,) uint32 (T = miss) and Open3D's world
        normals (N, 3) float32 (winding order, 0 on a miss).
        """
        tensor = self._o3d.core.Tensor.from_numpy(np.ascontiguousarray(rays))
        ans = self._raycaster.cast_rays(tensor, nthreads=raycast_threads())
        prim = ans["primitive_ids"].numpy()
        idx = np.minimum(prim, self._n_tri, out=prim)  # INVALID_ID -> T (in place: the array is ours)
        return ans["t_hit"].numpy(), idx, ans["primitive_normals"].numpy()

    def cast_rays(self, origins_world: np.ndarray, dirs_world: np.ndarray) -> dict[str, np.ndarray]:
        """Cast arbitrary rays (for spot footprints, clearance checks, ...).

        Args:
            origins_world: (N, 3) ray origins in world metres.
            dirs_world: (N, 3) ray directions (any non-zero length; ``t_hit`` is in units of that length).

        Returns:
            dict with
            ``t_hit``: (N,) float32 ray parameter of the first hit, ``inf`` where the ray hits nothing
            (the distance in metres is ``t_hit * |dir|``);
            ``hit``: (N,) bool;
            ``triangle_id``: (N,) int64, -1 on a miss;
            ``normals``: (N, 3) float32 unit world normals turned to face the ray origin, 0 on a miss;
            ``front_face``: (N,) bool, True where the triangle's own (winding) normal faces the origin;
            ``material_id``: (N,) int32, -1 on a miss;
            ``albedo``: (N,) float32 NIR albedo, 0 on a miss;
            ``rgb``: (N, 3) uint8 surface colour (unshaded), 0 on a miss.
            Both are the triangle's table values, without its material's per-pixel `Pattern`.

        Raises:
            ShapeError: shapes differ from (N, 3) or hold NaN.
        """
        origins_world = np.asarray(origins_world, dtype=np.float32)
        dirs_world = np.asarray(dirs_world, dtype=np.float32)
        n = check_shape(origins_world, ("N", 3), name="origins_world")["N"]
        check_shape(dirs_world, (n, 3), name="dirs_world")
        check_finite(origins_world, name="origins_world")
        check_finite(dirs_world, name="dirs_world")
        t_hit, idx, _ = self._cast(np.concatenate([origins_world, dirs_world], axis=1))
        hit = idx < self._n_tri
        normals = np.take(self._normals_ext, idx, axis=0)
        cos_dir = normals[:, 0] * dirs_world[:, 0] + normals[:, 1] * dirs_world[:, 1] + normals[:, 2] * dirs_world[:, 2]
        normals *= np.where(cos_dir > 0, np.float32(-1.0), np.float32(1.0))[:, None]
        return {
            "t_hit": t_hit,
            "hit": hit,
            "triangle_id": np.where(hit, idx.astype(np.int64), -1),
            "normals": normals,
            "front_face": hit & (cos_dir < 0),
            "material_id": np.take(self._material_ext, idx),
            "albedo": np.take(self._albedo_ext, idx),
            "rgb": np.take(self._rgb_ext, idx, axis=0),
        }

    def distance_m(self, points_world: np.ndarray) -> np.ndarray:
        """Exact distance from each point to the nearest surface.

        Args:
            points_world: (N, 3) points in world metres.

        Returns:
            (N,) float32 unsigned distance in metres.
        """
        points_world = np.ascontiguousarray(points_world, dtype=np.float32)
        check_shape(points_world, ("N", 3), name="points_world")
        check_finite(points_world, name="points_world")
        tensor = self._o3d.core.Tensor.from_numpy(points_world)
        return self._raycaster.compute_distance(tensor, nthreads=raycast_threads()).numpy()

    def _headlight(self) -> tuple[np.float32, np.float32]:
        """(ambient, 1 - ambient) of the headlight shading; (1, 0), i.e. unshaded colour, when lights shade."""
        if self._lights is not None:
            return np.float32(1.0), np.float32(0.0)
        return np.float32(self.ambient), np.float32(1.0 - self.ambient)

    def _shade_by_lights(self, rays, t_hit, hit, normals_cam, rot, rgb, width) -> None:
        """Shade unshaded colours (N, 3) uint8 in place by the scene's lights, with shadows (`tofsim.lighting`)."""
        n, n_lights = len(t_hit), len(self._lights)
        rot32 = rot.astype(np.float32)
        out_rays = _scratch("shadow_rays", (n * n_lights, 6), np.float32)
        pixel = _scratch("shadow_pixel", (n * n_lights,), np.int64)
        weight = _scratch("shadow_weight", (n * n_lights,), np.float32)
        count = sample_shadow_rays(rays, t_hit, hit, normals_cam, rot32, self._lights, width, out_rays, pixel, weight)
        lit = np.where(self._occluded(out_rays[:count]), np.float32(0.0), weight[:count])
        n_samples = ((n // width + 1) // 2) * ((width + 1) // 2)
        sample_light = np.bincount(pixel[:count], weights=lit, minlength=n_samples).astype(np.float32)
        light_sum = _scratch("light_sum", (n,), np.float32)
        extra = []  # the extra rays' (start, stop) in the output arrays, one range per half of the rows

        def gather(a: int, b: int) -> None:
            first, stop = a // width, (b // width if b < n else n // width)
            lo = first * width * n_lights
            got = gather_light(rays, t_hit, hit, normals_cam, rot32, self._lights, width, sample_light, light_sum,
                               out_rays[lo:], pixel[lo:], weight[lo:], (first, stop))  # fmt: skip
            extra.append((lo, lo + got))

        in_halves(gather, n)
        keep = np.concatenate([np.arange(a, b) for a, b in sorted(extra)])
        out_rays, pixel, weight = out_rays[keep], pixel[keep], weight[keep]
        count = len(keep)
        occluded = self._occluded(out_rays)
        shade_lit(rgb, pixel[:count], weight[:count], occluded, np.float32(self.ambient), light_sum)

    def _occluded(self, rays: np.ndarray) -> np.ndarray:
        """(N,) bool: something lies between each ray's origin and origin + direction (t in [0, 1])."""
        if len(rays) == 0:
            return np.zeros(0, bool)
        tensor = self._o3d.core.Tensor.from_numpy(rays)
        return self._raycaster.test_occlusions(tensor, tnear=0.0, tfar=1.0, nthreads=raycast_threads()).numpy()

    # ------------------------------------------------------------------ frames
    def render(self, intrinsics: Intrinsics, pose: np.ndarray, *, meta: dict[str, Any] | None = None) -> DenseFrame:
        """Render one dense frame.

        Args:
            intrinsics: pinhole intrinsics (pixel centres at integer coordinates).
            pose: (4, 4) camera-to-world ``T_world_from_cam`` in metres (OpenCV camera axes).
            meta: extra entries for the frame's meta (merged over ``scene_id`` and ``source``).

        Returns:
            `DenseFrame` with ``depth_m`` (H, W) float32 z-depth, ``range_m`` (H, W) float32 range along the
            ray, ``normals_cam`` (H, W, 3) float32 unit normals in the camera frame facing the camera,
            ``albedo`` (H, W) float32 NIR albedo (with the patterns and the glossy lobe ``gloss * cos(incidence)
            ** 16`` of the ToF's own light, at most 1), ``rgb`` (H, W, 3) uint8 (patterned colour x (ambient +
            (1 - ambient) x light): the scene's lights with shadows, else cos(incidence) of a light at the
            camera). Pixels that hit nothing are 0 in all of them.

        Raises:
            ShapeError: bad pose (shape, NaN, not a rotation).
        """
        pose = check_pose(pose)
        grid = _ray_grid(intrinsics)
        h, w = intrinsics.height_px, intrinsics.width_px
        rot = pose[:3, :3]
        centre = pose[:3, 3]

        n_px = h * w
        rays = _scratch("rays", (n_px, 6), np.float32)
        rot_t, centre_f = rot.T.astype(np.float32), centre.astype(np.float32)
        in_halves(lambda a, b: make_rays(grid.dirs_cam[a:b], rot_t, centre_f, rays[a:b]), n_px)
        if self._raster is None:
            t_hit, idx, normals_world = self._cast(rays)
        else:
            (t_hit, idx), normals_world = self._raster.hits(intrinsics, pose), None
        depth_m = np.empty(n_px, np.float32)
        range_m = np.empty((h, w), np.float32)
        rgb = np.empty((h, w, 3), np.uint8)
        albedo = np.empty((h, w), np.float32)

        if self.scene.n_triangles <= self._per_triangle_max * h * w:
            # Per triangle: the camera centre's signed distance to the triangle's plane tells which side faces
            # the camera (for every ray from that centre) and gives cos(incidence) = distance / range.
            signed = self._normals @ centre - self._plane_offset
            facing = np.concatenate([self._normals * np.where(signed < 0, -1.0, 1.0)[:, None], np.zeros((1, 3))])
            normals_cam = np.empty((h, w, 3), np.float32)
            normals_tab = (facing @ rot).astype(np.float32)
            cos_tab = np.append(np.abs(signed), 0.0).astype(np.float32)
            ray_norm, range_f = grid.ray_norm.reshape(-1), range_m.reshape(-1)
            normals_f, rgb_f, albedo_f = normals_cam.reshape(-1, 3), rgb.reshape(-1, 3), albedo.reshape(-1)
            amb, lit = self._headlight()
            pat = self._patterns

            def shade(a: int, b: int) -> None:
                surface = (
                    rays[a:b],
                    self._normals_ext,
                    self._pattern_row,
                    pat.kind,
                    pat.seed,
                    pat.params,
                    self._gloss_ext,
                )
                shade_pixels(
                    t_hit[a:b], idx[a:b], int(self._n_tri), ray_norm[a:b], normals_tab, cos_tab, self._rgb_ext_f32,
                    self._albedo_ext, amb, lit, surface, depth_m[a:b], range_f[a:b], normals_f[a:b], rgb_f[a:b],
                    albedo_f[a:b],
                )  # fmt: skip

            in_halves(shade, n_px)
        else:
            # Per pixel (huge meshes): rotate Open3D's normals into the camera frame and flip them there.
            hit = idx < self._n_tri
            np.copyto(depth_m, np.where(hit, t_hit, np.float32(0.0)))
            np.multiply(depth_m.reshape(h, w), grid.ray_norm, out=range_m)
            if normals_world is None:  # rasterised: the winding normals of the triangle table
                normals_world = np.take(self._normals_ext, idx, axis=0)
            normals_cam = _matmul_single_thread(normals_world, rot.astype(np.float32))
            d = grid.dirs_cam
            cos_dir = normals_cam[:, 0] * d[:, 0]  # n . d with d = (x, y, 1); negative when facing
            cos_dir += normals_cam[:, 1] * d[:, 1]
            cos_dir += normals_cam[:, 2]
            normals_cam *= np.where(cos_dir > 0, np.float32(-1.0), np.float32(1.0))[:, None]
            shade = np.abs(cos_dir)
            shade *= grid.inv_ray_norm
            np.minimum(shade, np.float32(1.0), out=shade)
            gloss = np.take(self._gloss_ext, idx) * shade**GLOSS_EXPONENT  # before `shade` turns into the shading
            amb, lit = self._headlight()
            shade *= lit
            shade += amb
            # Misses take the extra all-zero row: black.
            rgb_f = _scratch("rgb", (n_px, 3), np.float32)
            pat = self._patterns
            surface_colours(
                rays, t_hit, idx, int(self._n_tri), self._normals_ext, self._pattern_row, pat.kind, pat.seed,
                pat.params, self._rgb_ext_f32, self._albedo_ext, rgb_f, albedo.reshape(-1),
            )  # fmt: skip
            rgb_f *= shade[:, None]
            np.copyto(rgb.reshape(-1, 3), rgb_f, casting="unsafe")
            np.minimum(albedo.reshape(-1) + gloss, np.float32(1.0), out=albedo.reshape(-1))
        glass = None if self._glass is None else self._glass.layer(rays, depth_m, rot)
        if self._lights is not None:
            hit = idx < self._n_tri
            self._shade_by_lights(rays, t_hit, hit, normals_cam.reshape(-1, 3), rot, rgb.reshape(-1, 3), w)
        see_through(rgb.reshape(-1, 3), glass)
        frame_meta = {"scene_id": self.scene.scene_id, "source": "render"}
        if meta:
            frame_meta.update(meta)
        return DenseFrame(
            rgb=rgb,
            depth_m=depth_m.reshape(h, w),
            range_m=range_m,
            intrinsics=intrinsics,
            pose=pose,
            albedo=albedo,
            normals_cam=normals_cam.reshape(h, w, 3),
            glass_depth_m=None if glass is None else glass[0].reshape(h, w),
            glass_normals_cam=None if glass is None else glass[1].reshape(h, w, 3),
            meta=frame_meta,
        )


def render(scene: Scene, intrinsics: Intrinsics, pose: np.ndarray) -> DenseFrame:
    """Render one frame of `scene` (builds a `Renderer`; keep a `Renderer` to render many frames)."""
    return Renderer(scene).render(intrinsics, pose)
