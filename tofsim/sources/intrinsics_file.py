"""Plain-text camera files of real RGB-D datasets: a 3x3 K (7-Scenes, SUN3D) and 4x4 poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import InputFileError, ShapeError

__all__ = ["read_intrinsics_file", "read_pose_file", "INTRINSICS_FILENAMES"]

#: File names looked for, in this order, beside the frames (or one folder up).
INTRINSICS_FILENAMES = ("camera-intrinsics.txt", "intrinsics.txt", "K.txt")


def _load_numbers(path: Path) -> np.ndarray:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return np.array([float(t) for t in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        raise InputFileError(f"{path}: expected whitespace-separated numbers") from None


def read_intrinsics_file(path: Path, *, width_px: int, height_px: int) -> Intrinsics:
    """Read pinhole intrinsics from text: a 3x3 K matrix (9 numbers) or ``fx fy cx cy`` (4 numbers).

    Args:
        path: the text file.
        width_px, height_px: the image size the intrinsics belong to.

    Returns:
        `Intrinsics`.

    Raises:
        InputFileError: missing or unreadable file, or a wrong count of numbers.
        ShapeError: NaN/infinite entries or non-positive focal lengths.
    """
    path = Path(path)
    v = _load_numbers(path)
    if v.size == 9:
        K = v.reshape(3, 3)
    elif v.size == 4:
        K = np.array([[v[0], 0, v[2]], [0, v[1], v[3]], [0, 0, 1]], dtype=np.float64)
    else:
        raise InputFileError(f"{path}: expected a 3x3 intrinsic matrix (9 numbers) or 'fx fy cx cy', got {v.size}")
    if not np.all(np.isfinite(K)):
        raise ShapeError(f"{path}: intrinsics contain NaN or infinite values")
    return Intrinsics.from_K(K, width_px, height_px)


def read_pose_file(path: Path) -> np.ndarray:
    """Read a 4x4 camera-to-world pose (metres) written as 4 rows of 4 numbers.

    Raises:
        InputFileError: missing file, wrong count of numbers, NaN entries.
    """
    path = Path(path)
    v = _load_numbers(path)
    if v.size != 16 or not np.all(np.isfinite(v)):
        raise InputFileError(f"{path}: expected a finite 4x4 pose matrix (16 numbers), got {v.size} numbers")
    return v.reshape(4, 4)
