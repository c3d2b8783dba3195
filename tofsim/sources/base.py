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
    "check_depth_scale",
    "DepthScaleWarning",
    "h5_image_size",
    "image_file_size",
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

    def sequence_of(self, i: int) -> tuple[str, int, float | None] | None:
        """(sequence id, frame number, timestamp in s or None) of frame `i` for recorded sequences; None for
        sources of independent frames. `tofsim.convert` stores them in the sample's meta.
        """  # noqa: D205
        return None

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


def image_file_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file (a depth PNG) from its header, without decoding the pixels.

    Raises:
        InputFileError: missing or unreadable file.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except OSError as e:
        raise InputFileError(f"{path}: cannot read depth image ({e})") from None


def check_metres_scale(path: Path, depth_scale_per_m: float | None, *, kind: str) -> None:
    """Sources that store metres accept no depth scale other than 1. Raises `ConfigError` otherwise."""
    if depth_scale_per_m not in (None, 1, 1.0):
        raise ConfigError(
            f"{path}: {kind} files store metres; depth_scale_per_m must be None or 1, got {depth_scale_per_m}"
        )


#: Median valid depth (m) that indoor RGB-D frames plausibly have; outside it the depth scale is likely wrong.
#: Narrow enough to catch a 5x slip (mm PNGs read as TUM's 5000/m put a 2.5 m room at 0.5 m, and TUM PNGs read
#: as mm put it at 12.5 m); close-range or large-hall frames may warn, which is why this only warns.
PLAUSIBLE_MEDIAN_DEPTH_M = (0.6, 10.0)

#: Common PNG depth scales (units per metre) and what stores them, for the hint in `check_depth_scale`.
COMMON_DEPTH_SCALES = {1000.0: "mm PNGs", 5000.0: "TUM/ETH3D"}


class DepthScaleWarning(UserWarning):
    """The depth scale gives an implausible median depth (the ``tofsim`` CLI prints it as one ``warning:`` line)."""


def check_depth_scale(depth_m: np.ndarray, depth_scale_per_m: float, *, where: str) -> str | None:
    """Warn (`DepthScaleWarning`) when `depth_m`, decoded with `depth_scale_per_m`, has an implausible median.

    The median of the valid (> 0, finite) depths must lie in `PLAUSIBLE_MEDIAN_DEPTH_M`; otherwise the warning
    names ``--depth-scale-per-m``, the median found and, where one of `COMMON_DEPTH_SCALES` gives a plausible
    median, that scale. Conversion goes on: close-range or outdoor frames can be legitimate.

    Args:
        depth_m: decoded depth in metres, 0 where invalid.
        depth_scale_per_m: the scale it was decoded with (PNG units per metre).
        where: the file (or frame) named in the message.

    Returns:
        The warning's text, or None when the median is plausible (or no pixel is valid).
    """
    import warnings

    depth = np.asarray(depth_m, dtype=np.float64)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size == 0:
        return None
    median = float(np.median(valid))
    low, high = PLAUSIBLE_MEDIAN_DEPTH_M
    if low <= median <= high:
        return None
    raw = median * depth_scale_per_m
    fits = [(abs(np.log(raw / s / 2.5)), s, what) for s, what in COMMON_DEPTH_SCALES.items() if low <= raw / s <= high]
    hint = ""
    if fits:
        _, scale, what = min(fits)
        hint = f"; the values suggest --depth-scale-per-m {scale:g} ({what}, median {raw / scale:.2f} m)"
    message = (
        f"{where}: --depth-scale-per-m {depth_scale_per_m:g} gives a median valid depth of {median:.3g} m, "
        f"implausible for indoor RGB-D ({low:g}-{high:g} m){hint}"
    )
    warnings.warn(message, DepthScaleWarning, stacklevel=2)
    return message


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
