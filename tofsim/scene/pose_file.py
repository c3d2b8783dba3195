"""Camera trajectories from a file, for rendering a mesh along them (``tofsim generate --mesh M --poses FILE``).

Two kinds of text file, told apart by their number of columns (``#`` comments allowed):

- **TUM** (8 numbers a line): ``timestamp tx ty tz qx qy qz qw``, camera-to-world, quaternion scalar last, as
  TUM RGB-D ``groundtruth.txt`` (read by `tofsim.sources.timestamps.read_tum_trajectory`);
- **matrices**: one camera-to-world 4 x 4 per line as 16 numbers, row-major; also read (by
  `tofsim.scene.cameras.load_poses`) are stacked 4 x 4 blocks of 4 lines (7-Scenes ``frame-*.pose.txt``), one
  3 x 4 ``[R | t]`` of 12 numbers a line (KITTI), and a folder of ``*.pose.txt`` files.

Poses are in the mesh file's coordinates and units, with OpenCV camera axes (x right, y down, z forward): the
mesh's ``up_axis`` and ``scale_per_m`` apply to them too (`tofsim.scene.mesh.poses_to_world`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError
from tofsim.scene.types import Scene

__all__ = ["PoseFile", "read_pose_file", "check_file_poses", "TUM_COLUMNS"]

#: Numbers per line of a TUM trajectory.
TUM_COLUMNS = 8


@dataclass(frozen=True)
class PoseFile:
    """Poses read from a file.

    Attributes:
        poses: (N, 4, 4) float64 camera-to-file ``T_file_from_cam`` (file units).
        timestamps_s: (N,) float64 seconds (TUM files), else None.
        kind: "tum" or "matrices".
    """

    poses: np.ndarray
    timestamps_s: np.ndarray | None
    kind: str


def _first_row_length(path: Path) -> int | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                text = line.split("#", 1)[0].strip()
                if text:
                    return len(text.split())
    except OSError as err:
        raise InputFileError(f"cannot read pose file {path}: {err.strerror or err}") from None
    return None


def read_pose_file(path: str | Path) -> PoseFile:
    """Read a trajectory (TUM) or a file of 4 x 4 camera-to-world matrices (see the module docstring).

    Raises:
        InputFileError: a missing or unreadable file, a line of another length than the first, unparsable numbers,
            a zero quaternion, a matrix that is not a rigid transform, or no pose at all (the message names the file
            and, for TUM files, the line).
    """
    from tofsim.scene.cameras import load_poses
    from tofsim.sources.timestamps import read_tum_trajectory

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"pose file not found: {path}")
    if path.is_file() and _first_row_length(path) == TUM_COLUMNS:
        times, poses = read_tum_trajectory(path)
        return PoseFile(poses=poses, timestamps_s=times, kind="tum")
    try:
        poses = load_poses(path)
    except InputFileError as err:
        raise InputFileError(f"{err} (or a TUM trajectory: 'timestamp tx ty tz qx qy qz qw' per line)") from None
    return PoseFile(poses=poses, timestamps_s=None, kind="matrices")


def check_file_poses(
    scene: Scene,
    renderer,
    intrinsics: Intrinsics,
    poses: np.ndarray,
    *,
    min_view_hit_fraction: float,
    min_view_distance_m: float,
    source: str,
) -> None:
    """Refuse world poses from a file that would give an empty frame or a camera inside geometry.

    A 16 x 12 grid of pixel rays is cast from each pose: at least `min_view_hit_fraction` of them must hit the
    mesh, and at most half may hit it nearer than `min_view_distance_m` (range along the ray).

    Args:
        scene: the mesh scene (world frame).
        renderer: its `tofsim.render.Renderer`.
        intrinsics: the camera that will render.
        poses: (N, 4, 4) float64 camera-to-world poses.
        min_view_hit_fraction: ``poses.min_view_hit_fraction`` of the run.
        min_view_distance_m: ``poses.close_up_min_view_distance_m`` of the run.
        source: the pose file, for the message.

    Raises:
        ConfigError: the first pose that fails, naming its index and the settings to check.
    """
    k = intrinsics
    gu, gv = np.meshgrid(np.linspace(0, k.width_px - 1, 16), np.linspace(0, k.height_px - 1, 12))
    rays = np.column_stack([(gu.ravel() - k.cx_px) / k.fx_px, (gv.ravel() - k.cy_px) / k.fy_px, np.ones(gu.size)])
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    origins = np.repeat(poses[:, :3, 3], len(rays), axis=0)
    dirs = np.einsum("nij,kj->nki", poses[:, :3, :3], rays).reshape(-1, 3)
    t_hit = renderer.cast_rays(origins, dirs)["t_hit"].reshape(len(poses), len(rays))
    hit = np.isfinite(t_hit)
    seen = hit.mean(axis=1)
    near = (hit & (t_hit < min_view_distance_m)).mean(axis=1)
    for i in range(len(poses)):
        where = f"{source}: pose {i} (camera at {np.round(poses[i, :3, 3], 3).tolist()} m in scene {scene.scene_id!r})"
        if seen[i] < min_view_hit_fraction:
            raise ConfigError(
                f"{where} sees the mesh in {seen[i]:.0%} of its view, below poses.min_view_hit_fraction = "
                f"{min_view_hit_fraction:g}: the poses must be camera-to-world in the mesh file's coordinates with "
                "OpenCV axes (x right, y down, z forward); check --up-axis and --mesh-scale-per-m"
            )
        if near[i] > 0.5:
            raise ConfigError(
                f"{where} has {near[i]:.0%} of its view nearer than poses.close_up_min_view_distance_m = "
                f"{min_view_distance_m:g} m: the camera is inside or against geometry; check the pose file, "
                "--up-axis and --mesh-scale-per-m"
            )
