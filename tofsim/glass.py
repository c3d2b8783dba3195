"""Glass panes in rendered frames: the dense frame sees through them and records where they are.

A `Material` with ``glass=True`` (window panes) is transparent to the dense ground truth and to the RGB image, as
the depth of an RGB-D camera mostly is (a structured-light or ToF depth camera looks through a clean window and
reports the room or street behind it). `split_glass` takes the glass triangles out of a scene; the renderer draws
the rest as before and `GlassLayer` casts the same pixel rays at the glass alone, giving the frame's glass layer:
``glass_depth_m`` (z-depth of the nearest pane in front of the visible surface) and ``glass_normals_cam``. The
ToF sensor model (`tofsim.sensor.glass`) turns that layer into a specular return of the pane plus the
attenuated return of the surface behind it. A scene without glass renders bit-identically to before.

Open3D is imported inside `GlassLayer`, never at module import.
"""

from __future__ import annotations

import numpy as np

from tofsim.scene.types import Scene

__all__ = ["GlassLayer", "split_glass", "see_through", "RGB_TRANSMITTANCE"]

#: Fraction of the light behind a pane that the RGB image keeps (a slight darkening, as through real glass).
RGB_TRANSMITTANCE = 0.9


def split_glass(scene: Scene) -> tuple[Scene, np.ndarray | None]:
    """The scene without its glass triangles, and the glass triangles' corners.

    Args:
        scene: any scene.

    Returns:
        (opaque scene, (G, 3, 3) float32 world corners of the glass triangles); the scene itself and None when
        it has no glass.
    """
    is_glass = np.array([m.glass for m in scene.materials], dtype=bool)[scene.material_id]
    if not is_glass.any():
        return scene, None
    keep = ~is_glass
    opaque = Scene(
        vertices=scene.vertices, triangles=scene.triangles[keep], material_id=scene.material_id[keep],
        materials=scene.materials, face_rgb=scene.face_rgb[keep], face_albedo=scene.face_albedo[keep],
        meta=scene.meta,
    )  # fmt: skip
    return opaque, scene.vertices[scene.triangles[is_glass]]


class GlassLayer:
    """Raycaster over the glass triangles alone; gives each pixel's pane in front of the visible surface.

    Args:
        corners: (G, 3, 3) world corners of the glass triangles (`split_glass`).
    """

    def __init__(self, corners: np.ndarray) -> None:
        import open3d as o3d

        self._o3d = o3d
        g = len(corners)
        verts = np.ascontiguousarray(corners.reshape(-1, 3), dtype=np.float32)
        tris = np.arange(3 * g, dtype=np.uint32).reshape(g, 3)
        self._caster = o3d.t.geometry.RaycastingScene()
        self._caster.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
        e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        n = np.cross(e1, e2).astype(np.float64)
        self._normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        self._n = g
        self._caster.cast_rays(o3d.core.Tensor(np.array([[0, 0, 0, 0, 0, 1]], np.float32)))  # build the BVH now

    def layer(self, rays: np.ndarray, depth_m: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The glass layer of one frame.

        Args:
            rays: (H*W, 6) float32 world rays of the pixels, directions with camera-frame z = 1 (so ``t`` is z).
            depth_m: (H*W,) float32 z-depth of the visible (opaque) surface, 0 where the ray hits nothing.
            rot: (3, 3) rotation of ``T_world_from_cam``.

        Returns:
            (glass_depth_m (H*W,) float32 z-depth of the nearest pane in front of the visible surface, 0 where
            none; glass_normals_cam (H*W, 3) float32 its unit normal in the camera frame facing the camera, 0
            where none).
        """
        ans = self._caster.cast_rays(self._o3d.core.Tensor.from_numpy(np.ascontiguousarray(rays)))
        t = ans["t_hit"].numpy()
        prim = ans["primitive_ids"].numpy()
        front = np.isfinite(t) & ((depth_m <= 0) | (t < depth_m))
        glass_depth = np.where(front, t, 0.0).astype(np.float32)
        normals = np.zeros((len(t), 3), np.float32)
        idx = np.flatnonzero(front)
        if len(idx):
            n_cam = self._normals[prim[idx]] @ rot  # world -> camera: R^T n, as rows
            d_cam = rays[idx, 3:6].astype(np.float64) @ rot
            flip = np.where(np.einsum("ij,ij->i", n_cam, d_cam) > 0, -1.0, 1.0)
            normals[idx] = n_cam * flip[:, None]
        return glass_depth, normals


def see_through(rgb: np.ndarray, layer: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Darken in place the (H*W, 3) uint8 colours of pixels seen through a pane (`GlassLayer.layer`; None: none)."""
    if layer is None:
        return
    behind = layer[0] > 0
    rgb[behind] = (rgb[behind] * RGB_TRANSMITTANCE).astype(np.uint8)
