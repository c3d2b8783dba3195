"""Timestamps of RGB-D recordings: TUM ``groundtruth.txt`` trajectories and nearest-timestamp association.

TUM RGB-D (https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats) stores one pose per line,
``timestamp tx ty tz qx qy qz qw``: the position (metres) and orientation (unit quaternion, scalar last) of the
colour camera's optical centre in the motion-capture world frame, i.e. camera-to-world (``T_world_from_cam``).
Lines starting with ``#`` are comments. Frames and poses are paired by the nearest timestamp within a tolerance
(TUM's ``associate.py`` uses 20 ms); SUN3D pairs colour and depth by the nearest timestamp in the file names.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from tofsim.errors import InputFileError

__all__ = ["associate_nearest", "quaternion_to_matrix", "read_tum_trajectory", "TUM_POSE_MAX_DT_S"]

#: Maximum depth-to-pose timestamp difference for TUM ``groundtruth.txt`` (seconds; poses come at 100 Hz or more).
TUM_POSE_MAX_DT_S = 0.02


def associate_nearest(query_t: np.ndarray, ref_t: np.ndarray, *, max_dt: float = np.inf) -> np.ndarray:
    """For each query timestamp, the index of the nearest reference timestamp, or -1 when none is within `max_dt`.

    Args:
        query_t: (N,) float64 timestamps to pair (any order).
        ref_t: (M,) float64 reference timestamps (any order).
        max_dt: largest accepted difference (inclusive), in the timestamps' unit.

    Returns:
        (N,) int64 indices into `ref_t` (-1: no partner); on an exact tie the earlier reference wins.
    """
    ref = np.asarray(ref_t, dtype=np.float64)
    order = np.argsort(ref, kind="stable")
    sorted_t = ref[order].tolist()
    out = np.full(len(query_t), -1, dtype=np.int64)
    for n, t in enumerate(np.asarray(query_t, dtype=np.float64).tolist()):
        k = bisect.bisect_left(sorted_t, t)
        cands = [j for j in (k - 1, k) if 0 <= j < len(sorted_t)]
        if not cands:
            continue
        j = min(cands, key=lambda j: abs(sorted_t[j] - t))
        if abs(sorted_t[j] - t) <= max_dt:
            out[n] = order[j]
    return out


def quaternion_to_matrix(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """(3, 3) float64 rotation of a quaternion (scalar last, Hamilton convention), normalised first.

    Raises:
        InputFileError: a zero or non-finite quaternion.
    """
    q = np.array([qx, qy, qz, qw], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not (np.isfinite(norm) and norm > 0):
        raise InputFileError(f"quaternion ({qx}, {qy}, {qz}, {qw}) is zero or not finite")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_tum_trajectory(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory file (``groundtruth.txt``).

    Args:
        path: the text file, one ``timestamp tx ty tz qx qy qz qw`` per line (``#`` comments).

    Returns:
        ``(timestamps_s, T_world_from_cam)``: (N,) float64 seconds and (N, 4, 4) float64 camera-to-world poses
        in metres.

    Raises:
        InputFileError: missing or unreadable file, a line without 8 numbers (named by its line number), a zero
            quaternion, or no pose at all.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the trajectory ({e.strerror or e})") from None
    times, poses = [], []
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            v = [float(t) for t in text.split()]
        except ValueError:
            v = []
        if len(v) != 8 or not np.all(np.isfinite(v)):
            raise InputFileError(f"{path}:{n}: expected 'timestamp tx ty tz qx qy qz qw' (8 numbers), got {text!r}")
        try:
            rot = quaternion_to_matrix(*v[4:])
        except InputFileError as e:
            raise InputFileError(f"{path}:{n}: {e}") from None
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rot, v[1:4]
        times.append(v[0])
        poses.append(pose)
    if not poses:
        raise InputFileError(f"{path}: no poses (expected lines 'timestamp tx ty tz qx qy qz qw')")
    return np.array(times, dtype=np.float64), np.stack(poses)
