"""16-bit PNG depth: the one encoder, the one file reader and the one 8-bit policy of every depth image.

A depth PNG is a single-channel 16-bit image whose value is ``round(depth_m * scale_per_m)``: 1000 for
millimetres, 256 for KITTI / NLSPN, 5000 for TUM. The scale is never stored in the file, so every reader and
writer takes it explicitly. 0 means "no depth", and so does 65535 (Kinect's "no reading"): the encoder writes 0
for a depth it cannot store (non-finite, not positive, or rounding to more than 65534) and never writes 65535.

The rounding rule is NumPy's ``rint`` (to the nearest step, ties to even), never truncation.

8-bit policy: an 8-bit (or colour) PNG is refused wherever depth is read (`read_png16`): 256 levels cannot
hold depth, and a per-image min-max depth PNG (see ``../shared/style.md``) is not a measurement.

Example:
    >>> encode_png16(np.array([[1.2345, 0.0, np.nan]], np.float32), scale_per_m=1000.0).tolist()
    [[1234, 0, 0]]
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tofsim.errors import ConfigError, InputFileError, OutputError

__all__ = [
    "PNG_INVALID_VALUES",
    "MAX_PNG16_VALUE",
    "encode_png16",
    "decode_png16",
    "write_png16",
    "read_png16",
    "png_header",
]

#: Stored values that mean "no depth".
PNG_INVALID_VALUES = (0, 65535)
#: The largest value the encoder writes (65535 is "no reading").
MAX_PNG16_VALUE = 65534

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def _check_scale(scale_per_m: float) -> float:
    scale = float(scale_per_m)
    if not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"scale_per_m must be a positive number (1000 for mm, 256 for KITTI), got {scale_per_m}")
    return scale


def encode_png16(depth_m: np.ndarray, *, scale_per_m: float) -> np.ndarray:
    """Metres -> 16-bit PNG values.

    Args:
        depth_m: (H, W) float z-depth in metres; 0, negative or non-finite where invalid.
        scale_per_m: stored value per metre.

    Returns:
        (H, W) uint16 ``rint(depth_m * scale_per_m)``; 0 where invalid or where the value would exceed 65534.

    Raises:
        ConfigError: `scale_per_m` is not a positive number.
    """
    scale = _check_scale(scale_per_m)
    d = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.rint(d * scale)
        bad = ~np.isfinite(v) | (v <= 0) | (v > MAX_PNG16_VALUE)
    return np.where(bad, 0, v).astype(np.uint16)


def decode_png16(values: np.ndarray, *, scale_per_m: float) -> np.ndarray:
    """16-bit PNG values -> metres: ``values / scale_per_m`` (correctly rounded float32), 0 where invalid.

    Args:
        values: (H, W) uint16 stored values.
        scale_per_m: stored value per metre.

    Returns:
        (H, W) float32 z-depth in metres, 0 where the value is 0 or 65535.

    Raises:
        ConfigError: `scale_per_m` is not a positive number.
    """
    scale = _check_scale(scale_per_m)
    raw = np.asarray(values, dtype=np.uint16)
    depth_m = raw.astype(np.float32) / np.float32(scale)
    depth_m[np.isin(raw, PNG_INVALID_VALUES)] = 0.0
    return depth_m


def write_png16(
    path: str | os.PathLike[str], depth_m: np.ndarray, *, scale_per_m: float, compress_level: int = 6
) -> Path:
    """Write (H, W) depth in metres as a 16-bit PNG (`encode_png16`); return the path.

    Depth PNGs are written into a folder that is published whole (`tofsim.provenance.atomic_folder`), so the
    file itself is written in place.

    Raises:
        ConfigError: `scale_per_m` is not a positive number.
        OutputError: the folder is missing or not writable.
    """
    values = encode_png16(depth_m, scale_per_m=scale_per_m)
    path = Path(path)
    try:
        Image.fromarray(values).save(path, format="PNG", compress_level=compress_level)
    except OSError as e:
        raise OutputError(f"{path}: cannot write depth PNG ({e.strerror or e})") from None
    return path


def png_header(data: bytes) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR chunk.

    Raises:
        InputFileError: the bytes are not a PNG.
    """
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise InputFileError("not a PNG file")
    return data[24], data[25]


def read_png16(path: str | os.PathLike[str], data: bytes | None = None) -> np.ndarray:
    """The stored values of a 16-bit grayscale depth PNG (decode them with `decode_png16`).

    Args:
        path: the PNG file (named in errors; read unless `data` is given).
        data: the file's bytes, when the caller already has them.

    Returns:
        (H, W) uint16 stored values.

    Raises:
        InputFileError: a missing or unreadable file, not a PNG, or an 8-bit / colour PNG (the 8-bit policy).
    """
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputFileError(f"{path}: depth file not found") from None
        except OSError as e:
            raise InputFileError(f"{path}: cannot read depth image ({e.strerror or e})") from None
    try:
        bits, colour = png_header(data)
    except InputFileError:
        raise InputFileError(f"{path}: not a PNG file") from None
    if bits != 16 or colour != 0:
        kind = _COLOUR_TYPES.get(colour, str(colour))
        raise InputFileError(
            f"{path}: {bits}-bit {kind} PNG; depth must be a 16-bit grayscale PNG "
            "(8-bit PNGs cannot hold depth: write uint16 values = metres x scale_per_m)"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.asarray(img)
    except OSError as e:
        raise InputFileError(f"{path}: cannot read depth image ({e})") from None
    return arr.astype(np.uint16, copy=False)
