"""Camera poses: sampled inside a scene's free space, or read from pose files.

Conventions: world z is up (metres); cameras use OpenCV axes (x right, y down, z forward); a pose is the
(4, 4) float64 camera-to-world transform ``T_world_from_cam`` (``X_world = T @ [x_cam, y_cam, z_cam, 1]``), as
in 7-Scenes ``frame-*.pose.txt``. A level camera (pitch = roll = 0) has its optical axis horizontal and its
image y axis pointing straight down (world -z).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError
from tofsim.scene.types import Scene

__all__ = ["camera_pose", "sample_camera_poses", "load_poses", "clearance_directions"]


def camera_pose(position_m, *, yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Camera-to-world pose of a camera at `position_m` (z-up world).

    Args:
        position_m: (3,) camera centre in world metres.
        yaw_deg: heading of the optical axis, counter-clockwise from world +x (0 looks along +x, 90 along +y).
        pitch_deg: positive tilts the optical axis up.
        roll_deg: positive turns the camera's x axis towards its y axis (clockwise about the optical axis as
            seen from behind the camera).

    Returns:
        (4, 4) float64 ``T_world_from_cam``.
    """
    pose = np.eye(4)
    pose[:3, :3] = _rotations(np.array([yaw_deg]), np.array([pitch_deg]), np.array([roll_deg]))[0]
    pose[:3, 3] = np.asarray(position_m, dtype=np.float64)
    return pose


def _rotations(yaw_deg: np.ndarray, pitch_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """(B,) angles -> (B, 3, 3) camera-to-world rotations (see `camera_pose`), vectorised."""
    yaw, pitch, roll = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    b = len(yaw)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    # Level camera: columns x = right = down x forward, y = down = -z_world, z = forward (heading yaw).
    level = np.zeros((b, 3, 3))
    level[:, 0, 0], level[:, 1, 0] = sy, -cy
    level[:, 2, 1] = -1.0
    level[:, 0, 2], level[:, 1, 2] = cy, sy
    # Pitch about the camera x axis (positive: forward tilts towards -y_cam, i.e. up), then roll about z.
    rot_x = np.zeros((b, 3, 3))
    rot_x[:, 0, 0] = 1.0
    rot_x[:, 1, 1], rot_x[:, 1, 2], rot_x[:, 2, 1], rot_x[:, 2, 2] = cp, -sp, sp, cp
    rot_z = np.zeros((b, 3, 3))
    rot_z[:, 0, 0], rot_z[:, 0, 1], rot_z[:, 1, 0], rot_z[:, 1, 1] = cr, -sr, sr, cr
    rot_z[:, 2, 2] = 1.0
    return level @ rot_x @ rot_z


def clearance_directions(n: int = 64) -> np.ndarray:
    """(n, 3) float64 unit directions spread evenly over the sphere (Fibonacci), plus exact down and up first."""
    k = np.arange(n - 2) + 0.5
    z = 1.0 - 2.0 * k / (n - 2)
    phi = np.pi * (1.0 + 5.0**0.5) * k
    r = np.sqrt(1.0 - z * z)
    fib = np.column_stack([r * np.cos(phi), r * np.sin(phi), z])
    return np.vstack([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], fib])


def sample_camera_poses(
    scene: Scene,
    intrinsics: Intrinsics,
    n: int,
    *,
    rng: np.random.Generator,
    height_range_m: tuple[float, float] = (1.0, 1.8),
    min_clearance_m: float = 0.3,
    min_view_distance_m: float = 0.4,
    pitch_mean_deg: float = -5.0,
    pitch_std_deg: float = 8.0,
    max_pitch_deg: float = 25.0,
    roll_std_deg: float = 2.0,
    max_roll_deg: float = 6.0,
    min_enclosed_fraction: float = 0.75,
    min_front_face_fraction: float | None = None,
    min_view_hit_fraction: float = 0.5,
    max_candidates: int | None = None,
    renderer=None,
) -> np.ndarray:
    """Sample plausible camera poses inside the free space of a room or mesh.

    A candidate is a position uniform over the scene's horizontal bounds at a height drawn from
    `height_range_m` above the floor (``meta["floor_z_m"]``, else the lowest vertex), a heading towards open
    space (drawn with weight (free distance)^2 over near-horizontal directions, +-20 deg jitter), and a small
    pitch and roll (normal, clipped). It is kept when

    - the nearest surface (exact point-to-mesh distance) is at least `min_clearance_m` away;
    - of 64 rays in all directions, at least `min_enclosed_fraction` hit something (the camera is enclosed,
      not outside the room), the ray straight down hits something, and at least `min_front_face_fraction`
      of the hits see a surface from its front (the camera is not inside an object);
    - of a 16 x 12 grid of pixel rays, none hits a surface nearer than `min_view_distance_m` (range along
      the ray) and at least `min_view_hit_fraction` hit (not staring out of a window).

    Args:
        scene: the scene (z up).
        intrinsics: the camera that will render (its field of view is checked for blocking surfaces).
        n: number of poses.
        rng: the only source of randomness.
        height_range_m: camera height above the floor.
        min_clearance_m: free radius around the camera centre.
        min_view_distance_m: nearest allowed surface in the field of view (range along the ray).
        pitch_mean_deg, pitch_std_deg, max_pitch_deg: pitch ~ N(mean, std) clipped to +-max (positive = up).
        roll_std_deg, max_roll_deg: roll ~ N(0, std) clipped to +-max.
        min_enclosed_fraction: see above.
        min_front_face_fraction: see above; default 0.9 when ``meta["normals_oriented"]`` is true (procedural
            rooms), else 0 (meshes with unknown winding).
        min_view_hit_fraction: see above.
        max_candidates: give up after this many candidates (default 400 * n + 2000).
        renderer: an existing `tofsim.render.Renderer` of `scene` to reuse (else one is built).

    Returns:
        (n, 4, 4) float64 camera-to-world poses.

    Raises:
        ConfigError: bad arguments, or not enough valid poses found (the message says which test failed most).
    """
    from tofsim.render import Renderer

    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if not 0 <= height_range_m[0] <= height_range_m[1]:
        raise ConfigError(f"height_range_m must be (low, high) with 0 <= low <= high, got {height_range_m}")
    if n == 0:
        return np.zeros((0, 4, 4))
    renderer = Renderer(scene) if renderer is None else renderer
    if min_front_face_fraction is None:
        min_front_face_fraction = 0.9 if scene.meta.get("normals_oriented", False) else 0.0
    max_candidates = 400 * n + 2000 if max_candidates is None else max_candidates
    bounds = scene.bounds_m
    floor_z = float(scene.meta.get("floor_z_m", bounds[0, 2]))
    lo_xy = bounds[0, :2] + min_clearance_m
    hi_xy = np.maximum(bounds[1, :2] - min_clearance_m, lo_xy)

    dirs = clearance_directions(64)
    horizontal = np.flatnonzero(np.abs(dirs[:, 2]) < 0.35)
    horizontal_yaw_deg = np.rad2deg(np.arctan2(dirs[horizontal, 1], dirs[horizontal, 0]))
    gu, gv = np.meshgrid(np.linspace(0, intrinsics.width_px - 1, 16), np.linspace(0, intrinsics.height_px - 1, 12))
    view_cam = np.column_stack(
        [(gu.ravel() - intrinsics.cx_px) / intrinsics.fx_px, (gv.ravel() - intrinsics.cy_px) / intrinsics.fy_px,
         np.ones(gu.size)]
    )  # fmt: skip
    view_cam /= np.linalg.norm(view_cam, axis=1, keepdims=True)

    poses: list[np.ndarray] = []
    failures = {"clearance": 0, "enclosed": 0, "floor": 0, "front_face": 0, "view_blocked": 0, "view_empty": 0}
    tried = 0
    batch = 64
    while len(poses) < n and tried < max_candidates:
        xy = rng.uniform(lo_xy, hi_xy, size=(batch, 2))
        z = floor_z + rng.uniform(height_range_m[0], height_range_m[1], size=batch)
        centres = np.column_stack([xy, z])
        n_dir, n_view = len(dirs), view_cam.shape[0]
        ans = renderer.cast_rays(np.repeat(centres, n_dir, axis=0), np.tile(dirs, (batch, 1)))
        t_all = ans["t_hit"].reshape(batch, n_dir)
        hit_all = ans["hit"].reshape(batch, n_dir)
        front = ans["front_face"].reshape(batch, n_dir)
        # Heading: towards open space, drawn with weight (free distance)^2 over the near-horizontal clearance
        # rays (misses count as 5 m), plus +-20 deg jitter; so cameras look into the room, not at a wall.
        free = np.minimum(np.where(hit_all, t_all, 5.0), 5.0)[:, horizontal] ** 2
        cum = np.cumsum(free, axis=1)
        pick = (cum < rng.uniform(0, 1, size=(batch, 1)) * cum[:, -1:]).sum(1)
        yaw = horizontal_yaw_deg[np.minimum(pick, horizontal.size - 1)] + rng.uniform(-20.0, 20.0, size=batch)
        pitch = np.clip(rng.normal(pitch_mean_deg, pitch_std_deg, size=batch), -max_pitch_deg, max_pitch_deg)
        roll = np.clip(rng.normal(0.0, roll_std_deg, size=batch), -max_roll_deg, max_roll_deg)
        cand = np.tile(np.eye(4), (batch, 1, 1))
        cand[:, :3, :3] = _rotations(yaw, pitch, roll)
        cand[:, :3, 3] = centres
        view_world = np.swapaxes(cand[:, :3, :3] @ view_cam.T, 1, 2)  # (B, K, 3)
        t_view = renderer.cast_rays(np.repeat(centres, n_view, axis=0), view_world.reshape(-1, 3))["t_hit"]
        t_view = t_view.reshape(batch, n_view)
        hits = hit_all.sum(1)
        checks = {
            "clearance": renderer.distance_m(centres) >= min_clearance_m,
            "enclosed": hits >= min_enclosed_fraction * n_dir,
            "floor": hit_all[:, 0],
            "front_face": front.sum(1) >= min_front_face_fraction * np.maximum(hits, 1),
            "view_blocked": np.where(np.isfinite(t_view), t_view, np.inf).min(1) >= min_view_distance_m,
            "view_empty": np.isfinite(t_view).sum(1) >= min_view_hit_fraction * n_view,
        }
        ok = np.ones(batch, bool)
        for name, passed in checks.items():
            failures[name] += int(np.count_nonzero(ok & ~passed))
            ok &= passed
        take = np.flatnonzero(ok)[: n - len(poses)]
        poses.extend(cand[take])
        tried += batch
    if len(poses) < n:
        worst = max(failures, key=failures.get)
        hint = {
            "clearance": "lower min_clearance_m",
            "enclosed": "lower min_enclosed_fraction for open scenes (a bare floor needs < 0.5)",
            "floor": "check that the mesh is z-up (load_mesh(..., up_axis='y') for y-up files)",
            "front_face": "lower min_front_face_fraction (or check the mesh's triangle winding)",
            "view_blocked": "lower min_view_distance_m",
            "view_empty": "lower min_view_hit_fraction",
        }[worst]
        raise ConfigError(
            f"found only {len(poses)} of {n} camera poses in scene {scene.scene_id!r} after {tried} candidates; "
            f"most were rejected by the {worst!r} test ({failures}): {hint}, or change height_range_m"
        )
    return np.stack(poses).astype(np.float64)


def load_poses(path: str | Path, *, orthonormalize: bool = False) -> np.ndarray:
    """Read camera-to-world poses from a text file (or every ``*.pose.txt`` in a folder, sorted by name).

    Accepted layouts (whitespace-separated numbers, ``#`` comments allowed): 4 columns with 4 rows per pose
    (7-Scenes ``frame-*.pose.txt``: one pose; several 4 x 4 blocks stacked: several poses); 16 columns, one
    flattened row-major pose per line; 12 columns, one row-major 3 x 4 ``[R | t]`` per line (KITTI style).

    Args:
        path: a pose file or a folder of ``*.pose.txt`` files.
        orthonormalize: project each rotation block onto the nearest rotation (SVD); otherwise it is returned
            as read (it must still be orthonormal to within 1e-2).

    Returns:
        (n, 4, 4) float64 ``T_world_from_cam`` in metres.

    Raises:
        InputFileError: missing path, a folder without pose files, unparsable text, a wrong number of values,
            NaN or infinite entries, a bottom row other than ``0 0 0 1``, or a rotation block that is not a
            rotation. The message names the file.
    """
    from tofsim.render import ROTATION_TOLERANCE

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.pose.txt"))
        if not files:
            raise InputFileError(f"no *.pose.txt files in folder {path}")
        return np.concatenate([load_poses(f, orthonormalize=orthonormalize) for f in files])
    if not path.is_file():
        raise InputFileError(f"pose file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
            data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not a table of numbers ({str(exc).splitlines()[0]})") from None
    if data.size == 0:
        raise InputFileError(f"{path}: no poses in the file")
    if data.shape[1] == 4 and data.shape[0] % 4 == 0:
        poses = data.reshape(-1, 4, 4)
    elif data.shape[1] == 16:
        poses = data.reshape(-1, 4, 4)
    elif data.shape[1] == 12:
        poses = np.concatenate([data.reshape(-1, 3, 4), np.tile([[[0.0, 0.0, 0.0, 1.0]]], (len(data), 1, 1))], 1)
    else:
        raise InputFileError(
            f"{path}: expected 4 x 4 blocks (rows of 4 values, a multiple of 4 rows) or rows of 16 or 12 values, "
            f"got a table of {data.shape[0]} rows x {data.shape[1]} columns"
        )
    for i, pose in enumerate(poses):
        where = f"{path}: pose {i}" if len(poses) > 1 else str(path)
        if not np.all(np.isfinite(pose)):
            raise InputFileError(f"{where}: contains NaN or infinite values")
        if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
            raise InputFileError(f"{where}: bottom row must be 0 0 0 1, got {pose[3].tolist()}")
        rot = pose[:3, :3]
        err = float(np.abs(rot.T @ rot - np.eye(3)).max())
        if err > ROTATION_TOLERANCE or np.linalg.det(rot) <= 0:
            raise InputFileError(f"{where}: the 3 x 3 block is not a rotation (max |R^T R - I| = {err:.3g})")
        if orthonormalize:
            u, _, vt = np.linalg.svd(rot)
            pose[:3, :3] = u @ vt
    return poses
