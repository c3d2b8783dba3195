"""Real dense-depth sources: read existing RGB-D frames as `tofsim.frame.DenseFrame` instead of rendering.

Kinds (registry `SOURCES`): ``rgbd-folder`` (16-bit PNG depth: 7-Scenes, TUM with ``groundtruth.txt`` poses,
generic ``depth/`` + ``rgb/``), ``sun3d`` (raw SUN3D: bit-rotated depth PNGs, colour by timestamp),
``nyu-h5`` (NYUv2 sparse-to-dense ``.h5``), ``hypersim`` (``depth_meters`` range HDF5 + colour).
Conventions per source are documented in ``docs/dataset-format.md``.
"""

from __future__ import annotations

from pathlib import Path

from tofsim.camera import Intrinsics
from tofsim.errors import InputFileError
from tofsim.sources.albedo import albedo_from_rgb
from tofsim.sources.base import SOURCES, FrameSource
from tofsim.sources.hypersim import HypersimSource
from tofsim.sources.nyu_h5 import NyuH5Source
from tofsim.sources.rgbd_folder import RgbdFolderSource
from tofsim.sources.sun3d import Sun3dSource, is_sun3d_folder

__all__ = [
    "FrameSource",
    "HypersimSource",
    "NyuH5Source",
    "RgbdFolderSource",
    "SOURCES",
    "Sun3dSource",
    "albedo_from_rgb",
    "detect_kind",
    "open_source",
]


def _h5_kind(path: Path) -> str | None:
    if path.name.endswith(".depth_meters.hdf5"):
        return "hypersim"
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "rgb" in f and "depth" in f:
                return "nyu-h5"
    except OSError:
        return None
    return None


def detect_kind(path: Path) -> str:
    """Guess the source kind of a file or folder from its layout.

    Raises:
        InputFileError: missing path or an unrecognised layout.
    """
    path = Path(path)
    if path.is_file():
        kind = _h5_kind(path) if path.suffix.lower() in (".h5", ".hdf5") else None
        if kind is None:
            raise InputFileError(f"{path}: not a recognised RGB-D file (valid kinds: {', '.join(SOURCES.names())})")
        return kind
    if not path.is_dir():
        raise InputFileError(f"{path}: file or folder not found")
    for folder in [path, *sorted(p for p in path.iterdir() if p.is_dir())]:
        if is_sun3d_folder(folder):  # before rgbd-folder: SUN3D also has depth/ + image/
            return "sun3d"
        if any(folder.glob("*.depth.png")) or (folder / "depth").is_dir():
            return "rgbd-folder"
    if next(path.rglob("*.depth_meters.hdf5"), None) is not None:
        return "hypersim"
    if next(path.rglob("*.h5"), None) is not None:
        return "nyu-h5"
    raise InputFileError(
        f"{path}: no RGB-D frames found (looked for frame-*.depth.png, depth/ + rgb/, SUN3D depth/ + image/, *.h5, "
        "*.depth_meters.hdf5)"
    )


def open_source(
    path: str | Path,
    *,
    kind: str = "auto",
    depth_scale_per_m: float | None = None,
    intrinsics: Intrinsics | None = None,
) -> FrameSource:
    """Open real RGB-D frames as a picklable, indexable `FrameSource`.

    Args:
        path: a folder or file (see the reader of each kind).
        kind: ``"auto"`` (guess from the layout) or one of ``SOURCES.names()``.
        depth_scale_per_m: PNG value per metre for ``rgbd-folder`` (default 1000; 5000 for TUM).
        intrinsics: the depth camera; overrides files and per-kind defaults.

    Returns:
        A `FrameSource`: ``len(src)``, ``src.load(i) -> DenseFrame``, ``src.name(i)``, ``src.scene_id(i)``.

    Raises:
        InputFileError: missing path, empty folder, unreadable files.
        RegistryError: unknown `kind`.
        ShapeError: NaN intrinsics.

    Example:
        >>> src = open_source("../shared/data/7scenes-redkitchen")  # doctest: +SKIP
        >>> frame = src.load(0)  # DenseFrame, depth_m in metres
    """
    path = Path(path)
    if kind == "auto":
        kind = detect_kind(path)
    return SOURCES.create(kind, path=path, depth_scale_per_m=depth_scale_per_m, intrinsics=intrinsics)
