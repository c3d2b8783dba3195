"""Validation at the public boundary: one small module, messages that name the argument and the fix.

Inner functions trust their inputs; only public entry points call these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tofsim.errors import ShapeError

__all__ = ["check_shape", "check_finite", "check_same_shape", "check_dtype", "check_pose", "ROTATION_TOLERANCE"]

#: Largest allowed deviation of a pose's rotation block from orthonormal (max abs entry of R^T R - I).
ROTATION_TOLERANCE = 1e-2


def check_shape(x: np.ndarray, dims: Sequence[str | int], *, name: str) -> dict[str, int]:
    """Check that `x` has the named dimensions and return their sizes.

    Args:
        x: the array to check.
        dims: one entry per axis, an int for a fixed size or a string naming a free size; a
            string used twice must match (``("H", "W", 3)``).
        name: the argument's name, used in the message.

    Returns:
        A dict from each named dimension to its size.

    Raises:
        ShapeError: if the number of axes or a size does not match.

    Example:
        >>> check_shape(np.zeros((4, 5, 3)), ("H", "W", 3), name="rgb")
        {'H': 4, 'W': 5}
    """
    x = np.asarray(x)
    want = "(" + ", ".join(str(d) for d in dims) + ")"
    if x.ndim != len(dims):
        raise ShapeError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    sizes: dict[str, int] = {}
    for axis, (dim, size) in enumerate(zip(dims, x.shape, strict=True)):
        if isinstance(dim, int):
            if size != dim:
                raise ShapeError(f"{name}: expected shape {want}, got {tuple(x.shape)} (axis {axis} must be {dim})")
        elif dim in sizes and sizes[dim] != size:
            raise ShapeError(f"{name}: expected shape {want}, got {tuple(x.shape)} ({dim} differs)")
        else:
            sizes[dim] = size
    return sizes


def check_same_shape(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str]) -> None:
    """Raise `ShapeError` unless `a` and `b` have the same shape."""
    if np.shape(a) != np.shape(b):
        raise ShapeError(f"{names[0]} has shape {np.shape(a)} but {names[1]} has shape {np.shape(b)}; they must match")


def check_finite(x: np.ndarray, *, name: str) -> None:
    """Raise `ShapeError` if `x` holds NaN or infinity (e.g. intrinsics, poses)."""
    if not np.all(np.isfinite(x)):
        raise ShapeError(f"{name}: contains NaN or infinite values: {np.asarray(x).ravel()[:9]}")


def check_dtype(x: np.ndarray, dtypes: Sequence[type | str], *, name: str) -> None:
    """Raise `ShapeError` unless `x.dtype` is one of `dtypes`."""
    allowed = [np.dtype(d) for d in dtypes]
    if np.asarray(x).dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise ShapeError(f"{name}: expected dtype {names}, got {np.asarray(x).dtype}")


def check_pose(pose: np.ndarray, *, name: str = "pose") -> np.ndarray:
    """Validate a (4, 4) camera-to-world pose and return it as float64.

    Raises:
        ShapeError: wrong shape, NaN/inf entries, or a rotation block that is not orthonormal (within
            `ROTATION_TOLERANCE`) with determinant +1.
    """
    pose = np.asarray(pose, dtype=np.float64)
    check_shape(pose, (4, 4), name=name)
    check_finite(pose, name=name)
    rot = pose[:3, :3]
    err = float(np.abs(rot.T @ rot - np.eye(3)).max())
    if err > ROTATION_TOLERANCE or np.linalg.det(rot) <= 0:
        raise ShapeError(
            f"{name}: the rotation block must be a proper rotation (orthonormal, det +1); "
            f"max |R^T R - I| = {err:.3g}, det = {np.linalg.det(rot):.3g}"
        )
    return pose
