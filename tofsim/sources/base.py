"""The `FrameSource` interface shared by every real RGB-D reader, and the pieces they have in common."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tofsim.camera import Intrinsics, z_to_range
from tofsim.errors import ConfigError, InputFileError, ShapeError
from tofsim.frame import DenseFrame
from tofsim.registry import Registry
from tofsim.sources.albedo import albedo_from_rgb

__all__ = [
    "FrameSource",
    "SOURCES",
    "find_files",
    "check_metres_scale",
    "h5_image_size",
    "read_rgb_image",
    "make_dense_frame",
]

#: Reader kinds by name: ``SOURCES.create(kind, path=..., depth_scale_per_m=..., intrinsics=...)``.
SOURCES: Registry[FrameSource] = Registry("frame source kind")


class FrameSource:
    """An indexable, picklable list of real dense frames.

    Holds only paths and options (never arrays), so it can be sent to worker processes.
    Subclasses fill ``self.items`` (a list of small per-frame records) and implement `load`.
    """

    kind: str = "?"

    def __init__(self) -> None:
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.items)

    def _check_index(self, i: int) -> int:
        n = len(self.items)
        if not -n <= i < n:
            raise IndexError(f"{self.kind} source: index {i} out of range for {n} frames")
        return i % n

    def load(self, i: int) -> DenseFrame:
        """Read frame `i` as a `DenseFrame` (z-depth in metres, 0 where invalid)."""
        raise NotImplementedError

    def name(self, i: int) -> str:
        """Source file stem of frame `i` (provenance)."""
        raise NotImplementedError

    def scene_id(self, i: int) -> str:
        """Scene of frame `i`, used to split by scene."""
        raise NotImplementedError

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of frame `i`, read from the depth file's header where possible (no intrinsics needed)."""
        return self.load(i).shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} frames)"


def find_files(path: Path, pattern: str, *, what: str) -> list[Path]:
    """`path` itself when it is a file, else the files below it matching `pattern` (recursive, sorted).

    Raises:
        InputFileError: `path` does not exist, or the folder holds no matching file.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputFileError(f"{path}: file or folder not found")
    files = sorted(p for p in path.rglob(pattern) if p.is_file())
    if not files:
        raise InputFileError(f"{path}: no {what} files ({pattern}) found")
    return files


def h5_image_size(path: Path, dataset: str) -> tuple[int, int]:
    """(H, W): the first two axes of `dataset` in the HDF5 file `path`, without reading its data.

    Raises:
        InputFileError: missing or unreadable file, or no such dataset.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            h, w = f[dataset].shape[:2]
    except (OSError, KeyError) as e:
        raise InputFileError(f"{path}: cannot read HDF5 dataset {dataset!r} ({e})") from None
    return int(h), int(w)


def check_metres_scale(path: Path, depth_scale_per_m: float | None, *, kind: str) -> None:
    """Sources that store metres accept no depth scale other than 1. Raises `ConfigError` otherwise."""
    if depth_scale_per_m not in (None, 1, 1.0):
        raise ConfigError(
            f"{path}: {kind} files store metres; depth_scale_per_m must be None or 1, got {depth_scale_per_m}"
        )


def read_rgb_image(path: Path) -> np.ndarray:
    """Read a colour image (JPEG/PNG) as (H, W, 3) uint8 RGB. Raises `InputFileError` when missing/unreadable."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: colour file not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read colour image ({e})") from None


def make_dense_frame(
    *,
    rgb: np.ndarray,
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    pose: np.ndarray | None,
    meta: dict[str, Any],
    albedo: np.ndarray | None = None,
    range_m: np.ndarray | None = None,
    depth_file: Path | None = None,
) -> DenseFrame:
    """Assemble a `DenseFrame` from z-depth (or z-depth and range), checking sizes against each other.

    Non-finite or non-positive depth becomes 0 (invalid) in both ``depth_m`` and ``range_m``.

    Raises:
        ShapeError: colour and depth differ in size, or the intrinsics were made for another size.
    """
    where = f"{depth_file}: " if depth_file is not None else ""
    if rgb.shape[:2] != depth_m.shape:
        raise ShapeError(
            f"{where}depth is {depth_m.shape[1]}x{depth_m.shape[0]} but colour is {rgb.shape[1]}x{rgb.shape[0]}"
            " (W x H); they must have the same size"
        )
    if intrinsics.shape != depth_m.shape:
        raise ShapeError(
            f"{where}depth is {depth_m.shape[1]}x{depth_m.shape[0]} but the intrinsics are for "
            f"{intrinsics.width_px}x{intrinsics.height_px}"
        )
    depth_m = np.asarray(depth_m, dtype=np.float32)
    bad = ~np.isfinite(depth_m) | (depth_m <= 0)
    if bad.any():
        depth_m = np.where(bad, np.float32(0.0), depth_m)
    if range_m is None:
        range_m = z_to_range(depth_m, intrinsics)
    else:
        range_m = np.where(bad, np.float32(0.0), np.asarray(range_m, dtype=np.float32))
    if albedo is None:
        albedo = albedo_from_rgb(rgb)
    return DenseFrame(
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        depth_m=depth_m,
        range_m=range_m.astype(np.float32, copy=False),
        intrinsics=intrinsics,
        pose=np.eye(4) if pose is None else np.asarray(pose, dtype=np.float64),
        albedo=albedo.astype(np.float32, copy=False),
        normals_cam=None,
        meta=meta,
    )
