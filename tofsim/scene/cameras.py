"""Camera poses: sampled inside a scene's free space, or read from pose files.

Conventions: world z is up (metres); cameras use OpenCV axes (x right, y down, z forward); a pose is the
(4, 4) float64 camera-to-world transform ``T_world_from_cam`` (``X_world = T @ [x_cam, y_cam, z_cam, 1]``), as
in 7-Scenes ``frame-*.pose.txt``. A level camera (pitch = roll = 0) has its optical axis horizontal and its
image y axis pointing straight down (world -z).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError
from tofsim.scene.types import Scene

__all__ = ["PoseConfig", "camera_pose", "sample_camera_poses", "load_poses", "clearance_directions"]


@dataclass(frozen=True, kw_only=True)
class PoseConfig:
    """How `tofsim generate` samples camera poses (see `sample_camera_poses` for each setting).

    The defaults model a hand-held or robot-mounted sensor: heights from 0.3 m (a robot) to 1.9 m (a raised
    hand), pitches of N(-10, 12) deg clipped to +-45, rolls of N(0, 3) deg clipped to +-10, 25 % close-ups
    of objects from 0.3-1.0 m (their nearest surface may be 0.2 m away), and half of the other poses standing
    behind an object and looking past it into the room.
    """

    height_range_m: tuple[float, float] = (0.3, 1.9)
    min_clearance_m: float = 0.3
    min_view_distance_m: float = 0.4
    pitch_mean_deg: float = -10.0
    pitch_std_deg: float = 12.0
    max_pitch_deg: float = 45.0
    roll_std_deg: float = 3.0
    max_roll_deg: float = 10.0
    close_up_fraction: float = 0.25
    close_up_distance_range_m: tuple[float, float] = (0.3, 1.0)
    close_up_min_view_distance_m: float = 0.2
    foreground_fraction: float = 0.5
    min_enclosed_fraction: float = 0.75
    min_front_face_fraction: float | None = None
    min_view_hit_fraction: float = 0.5

    def __post_init__(self) -> None:
        for name in ("height_range_m", "close_up_distance_range_m"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ConfigError(f"poses.{name}: expected (low, high) with 0 <= low <= high, got {(lo, hi)}")
        for name in ("close_up_fraction", "foreground_fraction", "min_enclosed_fraction", "min_view_hit_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"poses.{name}: expected a fraction in [0, 1], got {getattr(self, name)}")

    def kwargs(self) -> dict:
        """The settings as keyword arguments of `sample_camera_poses`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    close_up_fraction: float = 0.0,
    close_up_distance_range_m: tuple[float, float] = (0.3, 1.0),
    close_up_min_view_distance_m: float = 0.2,
    foreground_fraction: float = 0.0,
    min_enclosed_fraction: float = 0.75,
    min_front_face_fraction: float | None = None,
    min_view_hit_fraction: float = 0.5,
    max_candidates: int | None = None,
    renderer=None,
) -> np.ndarray:
    """Sample plausible camera poses inside the free space of a room or mesh.

    The defaults describe a level camera at eye height; `PoseConfig()` holds the hand-held / robot-mounted
    model that ``tofsim generate`` uses (``sample_camera_poses(..., **PoseConfig().kwargs())``).

    A *free* candidate is a position uniform over the scene's horizontal bounds (over the footprint's bounds,
    and inside the footprint, when ``meta["footprint_m"]`` exists) at a height drawn from `height_range_m` above
    the floor (``meta["floor_z_m"]``, else the lowest vertex), a heading towards open space (drawn with weight
    (free distance)^3 over near-horizontal directions, +-20 deg jitter), and a pitch and roll (normal,
    clipped). A *close-up* candidate (a fraction `close_up_fraction` of the poses, drawn per pose, when the
    scene lists ``meta["close_up_targets_m"]``) looks at one of those object points from a distance in
    `close_up_distance_range_m`, from up to 45 deg above or 10 deg below it (no higher than
    ``height_range_m[1]``), with a few degrees of aim jitter.
    A candidate is kept when

    - the nearest surface (exact point-to-mesh distance) is at least `min_clearance_m` away (close-ups: a
      third of it);
    - of 64 rays in all directions, at least `min_enclosed_fraction` hit something (the camera is enclosed,
      not outside the room), the ray straight down hits something, and at least `min_front_face_fraction`
      of the hits see a surface from its front (the camera is not inside an object);
    - of a 16 x 12 grid of pixel rays, none hits a surface nearer than `min_view_distance_m` (close-ups:
      `close_up_min_view_distance_m`; range along the ray) and at least `min_view_hit_fraction` hit.

    Args:
        scene: the scene (z up).
        intrinsics: the camera that will render (its field of view is checked for blocking surfaces).
        n: number of poses.
        rng: the only source of randomness.
        height_range_m: camera height above the floor of free poses.
        min_clearance_m: free radius around the camera centre.
        min_view_distance_m: nearest allowed surface in the field of view (range along the ray).
        pitch_mean_deg, pitch_std_deg, max_pitch_deg: pitch ~ N(mean, std) clipped to +-max (positive = up).
        roll_std_deg, max_roll_deg: roll ~ N(0, std) clipped to +-max.
        close_up_fraction: chance that a pose is a close-up of an object (0 disables them).
        close_up_distance_range_m: camera-to-target distance of close-ups.
        close_up_min_view_distance_m: nearest allowed surface in the field of view of a close-up.
        foreground_fraction: chance that a free candidate stands 0.6-1.6 m behind an object point and looks past
            it (the object low in the image, the room beyond), instead of anywhere looking into open space.
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
    if not 0.0 <= close_up_fraction <= 1.0:
        raise ConfigError(f"close_up_fraction must be in [0, 1], got {close_up_fraction}")
    if not 0 < close_up_distance_range_m[0] <= close_up_distance_range_m[1]:
        raise ConfigError(f"close_up_distance_range_m must be (low, high) with 0 < low <= high, got "
                          f"{close_up_distance_range_m}")  # fmt: skip
    if n == 0:
        return np.zeros((0, 4, 4))
    renderer = Renderer(scene) if renderer is None else renderer
    if min_front_face_fraction is None:
        min_front_face_fraction = 0.9 if scene.meta.get("normals_oriented", False) else 0.0
    max_candidates = 400 * n + 2000 if max_candidates is None else max_candidates
    targets = np.asarray(scene.meta.get("close_up_targets_m", []), float).reshape(-1, 3)
    is_close = rng.random(n) < close_up_fraction if len(targets) else np.zeros(n, bool)
    search = _PoseSearch(scene, renderer, intrinsics, rng, min_clearance_m, min_enclosed_fraction,
                         min_front_face_fraction, min_view_hit_fraction)  # fmt: skip
    n_close = int(is_close.sum())
    close = search.run(
        n_close,
        max_candidates // 2,
        lambda b: search.close_ups(
            b, targets, close_up_distance_range_m, roll_std_deg, max_roll_deg, height_range_m[1]
        ),
        close_up_min_view_distance_m,
        1 / 3,
    )
    if len(close) < n_close:  # too few close-ups fit: free poses instead
        is_close[np.flatnonzero(is_close)[len(close) :]] = False
    free = search.run(int((~is_close).sum()), max_candidates, lambda b: search.free(
        b, height_range_m, pitch_mean_deg, pitch_std_deg, max_pitch_deg, roll_std_deg, max_roll_deg, targets,
        foreground_fraction),
        min_view_distance_m, 1.0)  # fmt: skip
    if len(free) < int((~is_close).sum()):
        raise ConfigError(_not_enough_poses(scene, search, len(free) + len(close), n))
    out = np.zeros((n, 4, 4))
    out[is_close], out[~is_close] = close.reshape(-1, 4, 4), free.reshape(-1, 4, 4)
    return out


#: What to change when most candidates fail a test (setting names as in `PoseConfig` and ``tofsim generate``).
_REJECTION_HINTS = {
    "outside": "check the footprint in scene.meta",
    "clearance": "lower min_clearance_m (--min-clearance-m)",
    "enclosed": "lower min_enclosed_fraction (--min-enclosed-fraction) for open scenes and partial scans, whose "
    "rays escape through missing walls and ceilings (a bare floor needs < 0.5)",
    "floor": "check that the mesh is z-up (--up-axis: y for glTF and Blender files, -y for 7-Scenes or "
    "KinectFusion scans; load_mesh(..., up_axis=...)) and in metres (--mesh-scale-per-m)",
    "front_face": "lower min_front_face_fraction (or check the mesh's triangle winding)",
    "view_blocked": "lower min_view_distance_m",
    "view_empty": "lower min_view_hit_fraction",
}


def _not_enough_poses(scene: Scene, search: _PoseSearch, found: int, n: int) -> str:
    """The message when too few poses pass: the test that stops most candidates and the setting to change.

    That test is the one most candidates fail *alone* (the setting that would let them through), else the one most
    fail first.
    """
    alone = search.alone
    worst = max(alone, key=alone.get) if max(alone.values()) > 0 else max(search.failures, key=search.failures.get)
    hint = _REJECTION_HINTS[worst]
    if worst == "enclosed" and search.enclosed:
        hint += f" (the median candidate's rays hit something in {np.median(np.concatenate(search.enclosed)):.0%} "
        hint += "of directions)"
    hint += " ([poses] table of a config file), or change height_range_m"
    if scene.meta.get("generator") == "tofsim.scene.mesh.load_mesh" and worst != "floor":
        hint += f"; for a mesh also check --up-axis (now {scene.meta.get('up_axis')!r})"
    return (
        f"found only {found} of {n} camera poses in scene {scene.scene_id!r} after {search.tried} candidates; most "
        f"were stopped by the {worst!r} test ({alone[worst]} failed it alone; first failed test: {search.failures}): "
        f"{hint}"
    )


class _PoseSearch:
    """Candidate generators (free and close-up) and the shared acceptance tests of `sample_camera_poses`."""

    def __init__(self, scene, renderer, intrinsics, rng, min_clearance_m, min_enclosed, min_front, min_view_hit):
        self.renderer, self.rng = renderer, rng
        self.min_clearance_m, self.min_enclosed, self.min_front, self.min_view_hit = (
            min_clearance_m, min_enclosed, min_front, min_view_hit)  # fmt: skip
        bounds = scene.bounds_m
        self.floor_z = float(scene.meta.get("floor_z_m", bounds[0, 2]))
        self.footprint = np.asarray(scene.meta["footprint_m"], float) if "footprint_m" in scene.meta else None
        lo, hi = (bounds[0, :2], bounds[1, :2]) if self.footprint is None else (
            self.footprint.min(0), self.footprint.max(0))  # fmt: skip
        self.lo_xy = lo + min_clearance_m
        self.hi_xy = np.maximum(hi - min_clearance_m, self.lo_xy)
        self.dirs = clearance_directions(64)
        self.horizontal = np.flatnonzero(np.abs(self.dirs[:, 2]) < 0.35)
        self.horizontal_yaw_deg = np.rad2deg(np.arctan2(self.dirs[self.horizontal, 1], self.dirs[self.horizontal, 0]))
        k = intrinsics
        gu, gv = np.meshgrid(np.linspace(0, k.width_px - 1, 16), np.linspace(0, k.height_px - 1, 12))
        view = np.column_stack([(gu.ravel() - k.cx_px) / k.fx_px, (gv.ravel() - k.cy_px) / k.fy_px, np.ones(gu.size)])
        self.view_cam = view / np.linalg.norm(view, axis=1, keepdims=True)
        self.failures = {"outside": 0, "clearance": 0, "enclosed": 0, "floor": 0, "front_face": 0,
                         "view_blocked": 0, "view_empty": 0}  # fmt: skip
        self.alone = dict.fromkeys(self.failures, 0)  # candidates that fail only this test
        self.enclosed: list[np.ndarray] = []  # fraction of clearance rays that hit, per candidate
        self.tried = 0

    def _cast_all(self, centres):
        b = len(centres)
        ans = self.renderer.cast_rays(np.repeat(centres, len(self.dirs), axis=0), np.tile(self.dirs, (b, 1)))
        return (ans["t_hit"].reshape(b, -1), ans["hit"].reshape(b, -1), ans["front_face"].reshape(b, -1))

    def free(self, batch, height_range_m, pitch_mean, pitch_std, max_pitch, roll_std, max_roll, targets, fg):
        rng = self.rng
        xy = rng.uniform(self.lo_xy, self.hi_xy, size=(batch, 2))
        z = self.floor_z + rng.uniform(height_range_m[0], height_range_m[1], size=batch)
        # Foreground views: 0.6-1.6 m behind an object point, facing past it (it sits low in the image).
        is_fg = (rng.random(batch) < fg) if len(targets) else np.zeros(batch, bool)
        target = (
            targets[rng.integers(max(len(targets), 1), size=batch) % max(len(targets), 1)] if len(targets) else None
        )
        r = rng.uniform(0.6, 1.6, size=batch)
        phi = rng.uniform(-np.pi, np.pi, size=batch)
        if target is not None:  # look past the object towards open space (weight: free distance^3 from it)
            t_t, hit_t, _ = self._cast_all(target + [0.0, 0.0, 0.05])
            w = np.minimum(np.where(hit_t, t_t, 10.0), 10.0)[:, self.horizontal] ** 3
            cum = np.cumsum(w, axis=1)
            pick = np.minimum((cum < rng.uniform(0, 1, size=(batch, 1)) * cum[:, -1:]).sum(1), self.horizontal.size - 1)
            phi = np.deg2rad(self.horizontal_yaw_deg[pick] + rng.uniform(-15.0, 15.0, size=batch))
            fg_xy = target[:, :2] - r[:, None] * np.column_stack([np.cos(phi), np.sin(phi)])
            xy = np.where(is_fg[:, None], fg_xy, xy)
        centres = np.column_stack([xy, z])
        t_all, hit_all, front = self._cast_all(centres)
        # Heading: towards open space, drawn with weight (free distance)^3 over the near-horizontal clearance
        # rays (misses count as 10 m), plus +-20 deg jitter; so cameras look into the room (and through its
        # doorways), not at a wall.
        free = np.minimum(np.where(hit_all, t_all, 10.0), 10.0)[:, self.horizontal] ** 3
        cum = np.cumsum(free, axis=1)
        pick = (cum < rng.uniform(0, 1, size=(batch, 1)) * cum[:, -1:]).sum(1)
        yaw = self.horizontal_yaw_deg[np.minimum(pick, self.horizontal.size - 1)] + rng.uniform(-20, 20, size=batch)
        pitch = np.clip(rng.normal(pitch_mean, pitch_std, size=batch), -max_pitch, max_pitch)
        if target is not None:
            down = np.rad2deg(np.arctan2(target[:, 2] - z, r))  # angle to the object point
            yaw = np.where(is_fg, np.rad2deg(phi) + rng.normal(0.0, 12.0, size=batch), yaw)
            fg_pitch = np.clip(down + 14.0 + rng.normal(0.0, 5.0, size=batch), -max_pitch, max_pitch)
            pitch = np.where(is_fg, fg_pitch, pitch)
        roll = np.clip(rng.normal(0.0, roll_std, size=batch), -max_roll, max_roll)
        return centres, yaw, pitch, roll, (t_all, hit_all, front)

    def close_ups(self, batch, targets, distance_range_m, roll_std, max_roll, max_height_m):
        rng = self.rng
        target = targets[rng.integers(len(targets), size=batch)]
        dist = rng.uniform(*distance_range_m, size=batch)
        yaw = rng.uniform(-180.0, 180.0, size=batch)
        elev = rng.uniform(-10.0, 45.0, size=batch)  # camera above the target looks down
        ce, se = np.cos(np.deg2rad(elev)), np.sin(np.deg2rad(elev))
        back = np.column_stack([ce * np.cos(np.deg2rad(yaw)), ce * np.sin(np.deg2rad(yaw)), se])
        centres = target + dist[:, None] * back
        centres[:, 2] = np.minimum(centres[:, 2], self.floor_z + max_height_m)  # no higher than a raised hand
        aim = target - centres
        yaw = np.rad2deg(np.arctan2(aim[:, 1], aim[:, 0])) + rng.normal(0.0, 6.0, size=batch)
        pitch = np.rad2deg(np.arctan2(aim[:, 2], np.hypot(aim[:, 0], aim[:, 1]))) + rng.normal(0.0, 4.0, size=batch)
        roll = np.clip(rng.normal(0.0, roll_std, size=batch), -max_roll, max_roll)
        return centres, yaw, pitch, roll, None

    def run(self, n, max_candidates, make, min_view_distance_m, clearance_scale):
        """Up to `n` accepted (n, 4, 4) poses from candidates of `make(batch)`."""
        poses: list[np.ndarray] = []
        tried, batch = 0, 64
        while len(poses) < n and tried < max_candidates:
            centres, yaw, pitch, roll, cast = make(batch)
            cand = np.tile(np.eye(4), (batch, 1, 1))
            cand[:, :3, :3] = _rotations(yaw, pitch, roll)
            cand[:, :3, 3] = centres
            ok = self.check(cand, cast, min_view_distance_m, clearance_scale)
            poses.extend(cand[np.flatnonzero(ok)[: n - len(poses)]])
            tried += batch
        self.tried += tried
        return np.array(poses, dtype=np.float64).reshape(-1, 4, 4)

    def check(self, cand, cast, min_view_distance_m, clearance_scale):
        """(B,) bool: which (B, 4, 4) candidate poses pass every test (failures counted in ``self.failures``)."""
        from tofsim.scene.procedural import points_in_polygon

        batch, centres = len(cand), cand[:, :3, 3]
        t_all, hit_all, front = self._cast_all(centres) if cast is None else cast
        view_world = np.swapaxes(cand[:, :3, :3] @ self.view_cam.T, 1, 2)  # (B, K, 3)
        n_view = self.view_cam.shape[0]
        t_view = self.renderer.cast_rays(np.repeat(centres, n_view, axis=0), view_world.reshape(-1, 3))["t_hit"]
        t_view = t_view.reshape(batch, n_view)
        hits = hit_all.sum(1)
        inside = (np.ones(batch, bool) if self.footprint is None
                  else points_in_polygon(centres[:, :2], self.footprint))  # fmt: skip
        checks = {
            "outside": inside,
            "clearance": self.renderer.distance_m(centres) >= self.min_clearance_m * clearance_scale,
            "enclosed": hits >= self.min_enclosed * len(self.dirs),
            "floor": hit_all[:, 0] & (centres[:, 2] > self.floor_z),
            "front_face": front.sum(1) >= self.min_front * np.maximum(hits, 1),
            "view_blocked": np.where(np.isfinite(t_view), t_view, np.inf).min(1) >= min_view_distance_m,
            "view_empty": np.isfinite(t_view).sum(1) >= self.min_view_hit * n_view,
        }
        ok = np.ones(batch, bool)
        for name, passed in checks.items():
            self.failures[name] += int(np.count_nonzero(ok & ~passed))
            ok &= passed
        n_failed = sum((~passed).astype(int) for passed in checks.values())
        for name, passed in checks.items():
            self.alone[name] += int(np.count_nonzero(~passed & (n_failed == 1)))
        self.enclosed.append(hits / len(self.dirs))
        return ok


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
