"""Depth file readers: one registered reader per format, each returning (H, W) float32 metres, 0 = missing.

Formats (`READERS.names()`):

- ``npy``: a float array (H, W) (or (1, H, W) / (H, W, 1)) in metres; float16/32/64 accepted.
- ``npz``: the same inside an ``.npz``, under ``key`` (default: ``depth``, ``pred``, or the only array).
- ``png16``: a 16-bit grayscale PNG, read and decoded by `tofsim.depth_png` (the toolkit's one PNG16 codec):
  metres = value / ``scale_per_m`` (256 KITTI and NLSPN, 1000 mm, 5000 TUM), correctly rounded to float32.
  The scale must be given: a PNG does not say it. 0 and 65535 (Kinect's "no reading") are missing.
  8-bit PNGs are refused (256 levels cannot hold depth).
- ``exr``: a float32 (or half) OpenEXR image, as the MIPI 2022 challenge uses; channel ``key`` or the only
  channel (or Y, Z, R, depth). Needs the ``openexr`` package (imported only here).
- ``h5``: an HDF5 file per frame with a 2-D dataset ``key`` (default ``depth`` or the only 2-D dataset).

Every reader takes the file's bytes when the caller already has them (so they can be checksummed once).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from tofsim import depth_png
from tofsim.errors import InputFileError as TofsimInputFileError
from tofsim.errors import RegistryError
from tofsim.registry import Registry

__all__ = ["READERS", "SUFFIX_FORMATS", "read_depth", "format_of", "KNOWN_SCALES_PER_M"]

#: name -> reader ``f(path, data: bytes | None, *, scale_per_m, key) -> (H, W) float32``.
READERS: Registry = Registry("depth file format")
#: file suffix -> format name.
SUFFIX_FORMATS = {".npy": "npy", ".npz": "npz", ".png": "png16", ".exr": "exr", ".h5": "h5", ".hdf5": "h5"}
#: Common PNG depth scales, for messages.
KNOWN_SCALES_PER_M = "256 for KITTI/NLSPN, 1000 for millimetres, 5000 for TUM"


def format_of(path: str | Path) -> str:
    """Format name for a file suffix.

    Raises:
        InputFileError: for an unknown suffix, listing the known ones.
    """
    suffix = Path(path).suffix.lower()
    try:
        return SUFFIX_FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise InputFileError(f"{path}: unknown depth file type {suffix or '(none)'!r}; known: {known}") from None


def _as_depth(arr: np.ndarray, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim != 2:
        raise ShapeError(f"{path}: expected a depth map of shape (H, W), got {arr.shape}")
    if arr.dtype.kind != "f":
        raise InputFileError(
            f"{path}: holds {arr.dtype} values; store float32 metres (or a 16-bit PNG with an explicit scale_per_m)"
        )
    return arr.astype(np.float32, copy=False)


def _data(path: Path, data: bytes | None) -> bytes:
    if data is not None:
        return data
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputFileError(f"cannot read {path}: {e.strerror or e}") from None


@READERS.register("npy")
def read_npy(path: Path, data: bytes | None = None, *, scale_per_m: float | None = None, key: str | None = None):
    """Float array in metres from a ``.npy`` file."""
    try:
        arr = np.load(io.BytesIO(_data(path, data)), allow_pickle=False)
    except ValueError as e:
        raise InputFileError(f"{path}: not a readable .npy file ({e})") from None
    return _as_depth(arr, path)


@READERS.register("npz")
def read_npz(path: Path, data: bytes | None = None, *, scale_per_m: float | None = None, key: str | None = None):
    """Float array in metres from an ``.npz`` file (``key``, else ``depth``/``pred``/the only array)."""
    try:
        with np.load(io.BytesIO(_data(path, data)), allow_pickle=False) as z:
            names = list(z.files)
            if key is None:
                key = next((k for k in ("depth", "pred") if k in names), names[0] if len(names) == 1 else None)
            if key not in names:
                raise InputFileError(f"{path}: no array {key!r}; it holds {', '.join(names)} (set key=...)")
            arr = z[key]
    except (ValueError, OSError) as e:
        if isinstance(e, InputFileError):
            raise
        raise InputFileError(f"{path}: not a readable .npz file ({e})") from None
    return _as_depth(arr, path)


@READERS.register("png16")
def read_png16(path: Path, data: bytes | None = None, *, scale_per_m: float | None = None, key: str | None = None):
    """Metres from a 16-bit grayscale PNG through the one codec, `tofsim.depth_png` (read, then decode)."""
    if scale_per_m is None:
        raise InputFileError(f"{path}: a depth PNG needs an explicit scale_per_m ({KNOWN_SCALES_PER_M})")
    if not (math.isfinite(scale_per_m) and scale_per_m > 0):
        raise InputFileError(f"{path}: scale_per_m must be a finite number > 0, got {scale_per_m}")
    try:
        values = depth_png.read_png16(path, _data(path, data))
    except TofsimInputFileError as e:
        raise InputFileError(str(e)) from None
    return depth_png.decode_png16(values, scale_per_m=scale_per_m)


@READERS.register("exr")
def read_exr(path: Path, data: bytes | None = None, *, scale_per_m: float | None = None, key: str | None = None):
    """Metres from a float OpenEXR file (channel ``key`` or the only / Y / Z / R / depth channel)."""
    try:
        import OpenEXR
    except ImportError:
        raise InputFileError(f"{path}: reading OpenEXR needs the openexr package (pip install openexr)") from None
    try:
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            names = list(channels)
            if key is None:
                key = names[0] if len(names) == 1 else next((k for k in ("Y", "Z", "R", "depth") if k in names), None)
            if key not in channels:
                raise InputFileError(f"{path}: no channel {key!r}; it holds {', '.join(names)} (set key=...)")
            arr = np.array(channels[key].pixels)
    except InputFileError:
        raise
    except Exception as e:  # OpenEXR raises plain RuntimeError/OSError on unreadable files
        raise InputFileError(f"{path}: not a readable OpenEXR file ({e})") from None
    if arr.ndim == 3:
        arr = arr[..., 0]
    return _as_depth(arr, path)


@READERS.register("h5")
def read_h5(path: Path, data: bytes | None = None, *, scale_per_m: float | None = None, key: str | None = None):
    """Metres from a per-frame HDF5 file (dataset ``key``, else ``depth`` or the only 2-D dataset)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if key is None:
                two_d = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 2]
                key = "depth" if "depth" in f else (two_d[0] if len(two_d) == 1 else None)
            if key is None or key not in f:
                raise InputFileError(f"{path}: no dataset {key!r}; it holds {', '.join(f)} (set key=...)")
            arr = f[key][()]
    except OSError as e:
        if isinstance(e, InputFileError):
            raise
        raise InputFileError(f"{path}: not a readable HDF5 file ({e})") from None
    return _as_depth(arr, path)


def read_depth(
    path: str | Path,
    *,
    fmt: str | None = None,
    scale_per_m: float | None = None,
    key: str | None = None,
    data: bytes | None = None,
) -> np.ndarray:
    """Read one depth map.

    Args:
        path: the file.
        fmt: a `READERS` name, or None to pick by suffix.
        scale_per_m: PNG scale (required for ``png16``).
        key: array / channel / dataset name for npz, exr, h5.
        data: the file's bytes when already read.

    Returns:
        (H, W) float32 depth in metres, 0 (or NaN, from float files) where missing.

    Raises:
        InputFileError: missing or unreadable file, 8-bit PNG, PNG without a scale, integer array.
        ShapeError: not a 2-D map.
        ConfigError: unknown format name.
    """
    path = Path(path)
    if data is None and not path.is_file():
        raise InputFileError(f"depth file not found: {path}")
    fmt = format_of(path) if fmt is None else fmt
    try:
        reader = READERS.get(fmt)
    except RegistryError as e:
        raise ConfigError(str(e)) from None
    return reader(path, data, scale_per_m=scale_per_m, key=key)
