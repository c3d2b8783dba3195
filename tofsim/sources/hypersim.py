"""Apple Hypersim: ``depth_meters`` HDF5 (RANGE along the ray, not z-depth) with its colour image.

Supported layout (Hypersim's own naming, any part of the tree may be given: a scene folder ``ai_VVV_NNN``,
its ``images/`` folder, one ``scene_cam_XX_geometry_hdf5`` folder, or a single depth file)::

    ai_001_001/images/scene_cam_00_geometry_hdf5/frame.0000.depth_meters.hdf5   # range in metres, NaN = no hit
    ai_001_001/images/scene_cam_00_final_preview/frame.0000.tonemap.jpg         # colour, preferred
    ai_001_001/images/scene_cam_00_final_hdf5/frame.0000.color.hdf5             # HDR colour, tone-mapped here
    ai_001_001/images/scene_cam_00_final_hdf5/frame.0000.diffuse_reflectance.hdf5  # optional: albedo
    ai_001_001/_detail/cam_00/camera_keyframe_{positions,orientations}.hdf5     # optional: pose
    ai_001_001/_detail/metadata_scene.csv                                       # meters_per_asset_unit

Each HDF5 file holds one dataset named ``dataset``. ``depth_meters`` is the Euclidean distance from the camera
centre, converted here with `tofsim.camera.range_to_z`. Intrinsics: a centred pinhole with a 60 deg horizontal
field of view (Hypersim's default, fx = fy = 886.81 px at 1024 x 768), unless ``intrinsics`` is given; the few
scenes with tilt-shift cameras (``metadata_camera_parameters.csv``) are not modelled. Poses: Hypersim stores
camera-to-world rotations with an OpenGL camera (x right, y up, looking down -z) in asset units; they are
flipped to the OpenCV camera (y down, z forward) and scaled to metres. Albedo: the luminance of
``diffuse_reflectance`` when present, else `albedo_from_rgb`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics, range_to_z
from tofsim.errors import InputFileError, ShapeError
from tofsim.frame import DenseFrame
from tofsim.sources.base import (
    SOURCES,
    FrameSource,
    check_metres_scale,
    find_files,
    h5_image_size,
    make_dense_frame,
    read_rgb_image,
)

__all__ = ["HypersimSource", "HYPERSIM_HFOV_DEG", "tonemap_hypersim", "hypersim_intrinsics"]

#: Hypersim's default horizontal field of view (pi / 3).
HYPERSIM_HFOV_DEG = 60.0
_DEPTH_SUFFIX = ".depth_meters.hdf5"
_SCENE_RE = re.compile(r"^ai_\d{3}_\d{3}$")
_CAM_RE = re.compile(r"^scene_(cam_\d+)_geometry_hdf5$")
#: OpenGL camera axes (y up, -z forward) -> OpenCV camera axes (y down, z forward).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def hypersim_intrinsics(width_px: int, height_px: int) -> Intrinsics:
    """Centred pinhole, square pixels, 60 deg horizontal field of view (fx = 886.81 px at 1024 px wide)."""
    return Intrinsics.from_fov(width_px, height_px, HYPERSIM_HFOV_DEG)


def _read_hdf5_dataset(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "dataset" not in f:
                raise InputFileError(f"{path}: expected an HDF5 dataset named 'dataset', found {sorted(f.keys())}")
            return f["dataset"][()]
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read HDF5 ({e})") from None


def tonemap_hypersim(rgb_linear: np.ndarray) -> np.ndarray:
    """Hypersim's reference tone map: scale so the 90th brightness percentile maps to 0.8, then gamma 1/2.2.

    Args:
        rgb_linear: (H, W, 3) float HDR linear radiance (NaN allowed).

    Returns:
        (H, W, 3) uint8 display colour.
    """
    rgb = np.nan_to_num(np.asarray(rgb_linear, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    brightness = 0.3 * rgb[..., 0] + 0.59 * rgb[..., 1] + 0.11 * rgb[..., 2]
    p90 = float(np.percentile(brightness, 90)) if brightness.size else 0.0
    scale = 0.0 if p90 < 1e-4 else 0.8**2.2 / p90
    out = np.power(np.maximum(scale * rgb, 0.0), 1.0 / 2.2)
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _frame_files(depth: Path) -> tuple[Path | None, Path | None, Path | None]:
    """Colour jpg, colour hdf5 and diffuse reflectance beside a depth file (each None when absent)."""
    frame = depth.name[: -len(_DEPTH_SUFFIX)]  # frame.0000
    cam_dir = depth.parent.name.replace("_geometry_hdf5", "")
    preview = depth.parent.parent / f"{cam_dir}_final_preview" / f"{frame}.tonemap.jpg"
    final = depth.parent.parent / f"{cam_dir}_final_hdf5"
    colour_h5, diffuse = final / f"{frame}.color.hdf5", final / f"{frame}.diffuse_reflectance.hdf5"
    return (
        preview if preview.is_file() else None,
        colour_h5 if colour_h5.is_file() else None,
        diffuse if diffuse.is_file() else None,
    )


def _scene_dir(depth: Path) -> Path:
    for parent in depth.parents:
        if _SCENE_RE.match(parent.name):
            return parent
    # Not under an ai_VVV_NNN folder: the folder above images/ (or above the camera folder).
    cam_parent = depth.parent.parent
    return cam_parent.parent if cam_parent.name == "images" else cam_parent


def _meters_per_asset_unit(scene: Path) -> float:
    path = scene / "_detail" / "metadata_scene.csv"
    if not path.is_file():
        return 1.0
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 2 and row[0].strip() == "meters_per_asset_unit":
                return float(row[1])
    return 1.0


@SOURCES.register("hypersim")
class HypersimSource(FrameSource):
    """Hypersim frames found by ``**/*.depth_meters.hdf5`` under `path` (sorted), or one such file.

    Args:
        path: file or folder (see the module docstring).
        depth_scale_per_m: must be None or 1 (the files store metres).
        intrinsics: overrides the default 60 deg pinhole.

    Raises:
        InputFileError: missing path, no depth files, a depth file without colour.
    """

    kind = "hypersim"

    def __init__(
        self, path: Path, *, depth_scale_per_m: float | None = None, intrinsics: Intrinsics | None = None
    ) -> None:
        super().__init__()
        path = Path(path)
        check_metres_scale(path, depth_scale_per_m, kind="Hypersim")
        depths = find_files(path, "*" + _DEPTH_SUFFIX, what="Hypersim depth")
        self.root = path
        self.intrinsics = intrinsics
        for depth in depths:
            jpg, colour_h5, _ = _frame_files(depth)
            if jpg is None and colour_h5 is None:
                raise InputFileError(
                    f"{depth}: no colour image "
                    "(expected ..._final_preview/*.tonemap.jpg or ..._final_hdf5/*.color.hdf5)"
                )
            self.items.append(str(depth))

    def _pose(self, depth: Path) -> np.ndarray | None:
        m = _CAM_RE.match(depth.parent.name)
        frame = re.search(r"frame\.(\d+)", depth.name)
        if m is None or frame is None:
            return None
        scene = _scene_dir(depth)
        detail = scene / "_detail" / m.group(1)
        pos_file, rot_file = detail / "camera_keyframe_positions.hdf5", detail / "camera_keyframe_orientations.hdf5"
        if not (pos_file.is_file() and rot_file.is_file()):
            return None
        k = int(frame.group(1))
        positions, rotations = _read_hdf5_dataset(pos_file), _read_hdf5_dataset(rot_file)
        if k >= len(positions) or k >= len(rotations):
            raise InputFileError(f"{pos_file}: no keyframe {k} (has {len(positions)})")
        pose = np.eye(4)
        pose[:3, :3] = np.asarray(rotations[k], dtype=np.float64) @ _GL_TO_CV
        pose[:3, 3] = np.asarray(positions[k], dtype=np.float64) * _meters_per_asset_unit(scene)
        return pose

    def load(self, i: int) -> DenseFrame:
        """Frame `i`: z = range_to_z(depth_meters); NaN/inf/<= 0 -> 0 in both z and range."""
        depth_file = Path(self.items[self._check_index(i)])
        range_m = _read_hdf5_dataset(depth_file).astype(np.float32)
        if range_m.ndim != 2:
            raise ShapeError(f"{depth_file}: depth_meters must be (H, W), got {range_m.shape}")
        range_m = np.where(np.isfinite(range_m) & (range_m > 0), range_m, np.float32(0.0))
        h, w = range_m.shape
        intr = self.intrinsics if self.intrinsics is not None else hypersim_intrinsics(w, h)
        if intr.shape != (h, w):
            raise ShapeError(
                f"{depth_file}: depth is {w}x{h} but the intrinsics are for {intr.width_px}x{intr.height_px}"
            )
        jpg, colour_h5, diffuse_h5 = _frame_files(depth_file)
        rgb = read_rgb_image(jpg) if jpg is not None else tonemap_hypersim(_read_hdf5_dataset(colour_h5))
        albedo = None
        if diffuse_h5 is not None:
            refl = np.nan_to_num(_read_hdf5_dataset(diffuse_h5).astype(np.float32))
            if refl.shape == (h, w, 3):
                albedo = np.clip(refl @ np.array([0.2126, 0.7152, 0.0722], np.float32), 0.0, 1.0)
        meta = {"scene_id": self.scene_id(i), "source_file": str(depth_file), "source_kind": self.kind}
        pose = self._pose(depth_file)
        meta["pose_known"] = pose is not None
        return make_dense_frame(
            rgb=rgb,
            depth_m=range_to_z(range_m, intr),
            range_m=range_m,
            intrinsics=intr,
            pose=pose,
            meta=meta,
            albedo=albedo,
            depth_file=depth_file,
        )

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of frame `i` from the shape of its ``depth_meters`` dataset."""
        return h5_image_size(Path(self.items[self._check_index(i)]), "dataset")

    def name(self, i: int) -> str:
        """``frame.IIII`` (the depth file name without ``.depth_meters.hdf5``)."""
        return Path(self.items[self._check_index(i)]).name[: -len(_DEPTH_SUFFIX)]

    def scene_id(self, i: int) -> str:
        """The ``ai_VVV_NNN`` scene folder's name (all cameras of a scene share it)."""
        return _scene_dir(Path(self.items[self._check_index(i)])).name
