"""Camera trajectories for ``tofsim generate --sequence N``: smooth, bounded motion through a scene's free space.

A trajectory starts at a pose drawn by `tofsim.scene.cameras.sample_camera_poses` (so it starts where a single
frame could) and moves with a smoothed random velocity:

- ``handheld``: the position's velocity and the yaw / pitch / roll rates are Ornstein-Uhlenbeck processes
  (correlation time ``tau_s``), pitch and roll pulled back towards their start; speed and rotation rate
  are clipped to ``max_speed_m_s`` and ``max_rotation_deg_s`` (the rotation angle between two frames is at
  most ``max_rotation_deg_s / fps_hz``).
- ``robot``: a planar base: fixed height, pitch and roll; forward speed along the heading in
  ``[0, max_speed_m_s]`` and a yaw rate, both smoothed the same way.
- ``static``: the camera stays at its start pose (the MIPI challenge's static sequences, where only the
  sensor noise changes from frame to frame).

Every pose passes the same tests as a sampled pose (inside the footprint, clearance, enclosed, front faces, field
of view not blocked) and the straight segment from the previous camera centre must not cross a surface. A step
that fails is dropped and re-drawn from the previous pose with the velocity turned away (the count is returned
and reported as a `TrajectoryWarning`); when more than ``20 n + 100`` steps fail the trajectory is refused with a
`ConfigError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError
from tofsim.scene.types import Scene
from tofsim.sequence import MOTIONS, SequenceConfig, TrajectoryWarning

__all__ = ["SequenceConfig", "Trajectory", "TrajectoryWarning", "MOTIONS", "sample_trajectory", "pose_angles_deg"]


@dataclass(frozen=True)
class Trajectory:
    """A sampled trajectory.

    Attributes:
        poses: (n, 4, 4) float64 ``T_world_from_cam`` per frame, metres.
        timestamps_s: (n,) float64 seconds, ``k / fps_hz``.
        n_dropped: proposed poses that failed a test and were re-drawn.
        failures: test name -> how many proposed poses it rejected.
    """

    poses: np.ndarray
    timestamps_s: np.ndarray
    n_dropped: int
    failures: dict[str, int]


def pose_angles_deg(pose: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a camera-to-world pose, as `tofsim.scene.cameras.camera_pose` takes them."""
    from tofsim.scene.cameras import _rotations

    rot = np.asarray(pose, dtype=np.float64)[:3, :3]
    fwd = rot[:, 2]
    yaw = math.degrees(math.atan2(fwd[1], fwd[0]))
    pitch = math.degrees(math.asin(float(np.clip(fwd[2], -1.0, 1.0))))
    rz = _rotations(np.array([yaw]), np.array([pitch]), np.array([0.0]))[0].T @ rot
    return yaw, pitch, math.degrees(math.atan2(rz[1, 0], rz[0, 0]))


def _rotation_angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> float:
    c = (np.trace(r_a.T @ r_b) - 1.0) / 2.0
    return math.degrees(math.acos(float(np.clip(c, -1.0, 1.0))))


def sample_trajectory(
    scene: Scene,
    intrinsics: Intrinsics,
    n: int,
    *,
    rng: np.random.Generator,
    config: SequenceConfig,
    renderer=None,
    pose_kwargs: dict | None = None,
) -> Trajectory:
    """A smooth camera trajectory of `n` frames through `scene` (see the module docstring).

    Args:
        scene: the scene (z up).
        intrinsics: the camera that will render (its field of view is checked).
        n: number of frames.
        rng: the only source of randomness.
        config: motion model, frame rate and bounds.
        renderer: an existing `tofsim.render.Renderer` of `scene` (else one is built).
        pose_kwargs: keyword arguments of `sample_camera_poses` (a `PoseConfig`'s ``kwargs()``): the start pose
            and the tests every pose must pass.

    Returns:
        A `Trajectory`.

    Raises:
        ConfigError: `n` < 1, no start pose found, or more than ``20 n + 100`` proposed steps rejected (the
            message names the test that rejected most).
    """
    from tofsim.render import Renderer
    from tofsim.scene.cameras import _PoseSearch, _rotations, sample_camera_poses

    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    kw = dict(pose_kwargs or {})
    renderer = Renderer(scene) if renderer is None else renderer
    start = sample_camera_poses(scene, intrinsics, 1, rng=rng, renderer=renderer, **kw)[0]
    times = np.arange(n, dtype=np.float64) / config.fps_hz
    if config.motion == "static" or n == 1:
        return Trajectory(np.repeat(start[None], n, axis=0), times, 0, {})
    min_front = kw.get("min_front_face_fraction")
    if min_front is None:
        min_front = 0.9 if scene.meta.get("normals_oriented", False) else 0.0
    clearance = float(kw.get("min_clearance_m", 0.3))
    search = _PoseSearch(scene, renderer, intrinsics, rng, clearance, kw.get("min_enclosed_fraction", 0.75),
                         min_front, kw.get("min_view_hit_fraction", 0.5))  # fmt: skip
    min_view = float(kw.get("close_up_min_view_distance_m", 0.2))
    failures = dict(search.failures, path_blocked=0)

    dt = 1.0 / config.fps_hz
    a = math.exp(-dt / config.tau_s)  # OU decay per frame
    b = math.sqrt(1.0 - a * a)
    v_max, w_max = config.max_speed_m_s, config.max_rotation_deg_s
    robot = config.motion == "robot"
    pos = start[:3, 3].copy()
    yaw0, pitch0, roll0 = pose_angles_deg(start)
    ang = np.array([yaw0, pitch0, roll0])
    vel = np.zeros(3)  # m/s (robot: forward speed in vel[0])
    rate = np.zeros(3)  # deg/s of yaw, pitch, roll
    sigma_v = np.array([0.3, 0.3, 0.1]) * v_max
    sigma_w = np.array([0.5, 0.25, 0.08]) * w_max
    poses, dropped, budget = [start], 0, 20 * n + 100
    push = np.zeros(3)  # away from the nearest surfaces, from the last accepted pose's clearance rays
    while len(poses) < n:
        if robot:
            vel[0] = np.clip(a * vel[0] + b * 0.5 * v_max * rng.normal() + (1 - a) * 0.5 * v_max, 0.0, v_max)
            rate[0] = a * rate[0] + b * sigma_w[0] * rng.normal()
            rate[1:] = 0.0
            heading = math.radians(ang[0])
            step_v = vel[0] * np.array([math.cos(heading), math.sin(heading), 0.0])
        else:
            vel = a * vel + b * sigma_v * rng.normal(size=3) + (1 - a) * push
            rate = a * rate + b * sigma_w * rng.normal(size=3)
            rate[1:] -= (1 - a) * (ang[1:] - [pitch0, roll0]) / dt * 0.1  # drift back towards the start tilt
            speed = float(np.linalg.norm(vel))
            if speed > v_max:
                vel *= v_max / speed
            step_v = vel
        new_ang = ang + rate * dt
        new_ang[1] = np.clip(new_ang[1], -80.0, 80.0)
        rot_prev = poses[-1][:3, :3]
        rot = _rotations(new_ang[:1], new_ang[1:2], new_ang[2:])[0]
        angle = _rotation_angle_deg(rot_prev, rot)
        if angle > w_max * dt:  # bound the true rotation between frames, whatever the Euler rates
            new_ang = ang + rate * dt * (w_max * dt / angle) * 0.999
            rot = _rotations(new_ang[:1], new_ang[1:2], new_ang[2:])[0]
        cand = np.eye(4)
        cand[:3, :3], cand[:3, 3] = rot, pos + step_v * dt
        cast = search._cast_all(cand[None, :3, 3])
        ok = bool(search.check(cand[None], cast, min_view, 1.0)[0])
        seg = cand[:3, 3] - pos
        length = float(np.linalg.norm(seg))
        if ok and length > 0:
            hit = search.renderer.cast_rays(pos[None], (seg / length)[None])["t_hit"][0]
            if np.isfinite(hit) and hit <= length + clearance:
                failures["path_blocked"] += 1
                ok = False
        if ok:
            poses.append(cand)
            pos, ang = cand[:3, 3].copy(), new_ang
            t_all, hit_all, _ = cast
            near = np.where(hit_all[0], t_all[0], np.inf) < 3 * clearance
            push = -(search.dirs[near].sum(0) * np.array([1.0, 1.0, 0.3])) * v_max if near.any() else np.zeros(3)
            continue
        dropped += 1
        if dropped > budget:
            for name, count in search.failures.items():
                failures[name] = count
            worst = max(failures, key=failures.get)
            raise ConfigError(
                f"trajectory in scene {scene.scene_id!r} refused: {dropped} proposed poses rejected after "
                f"{len(poses)} of {n} frames, most by the {worst!r} test ({failures}); lower "
                "sequence.max_speed_m_s or poses.min_clearance_m, or use fewer frames"
            )
        # Turn away: reverse and damp the velocity, turn the heading the other way.
        vel = -0.5 * vel + rng.normal(size=3) * 0.1 * v_max * np.array([1.0, 1.0, 0.2])
        rate = -rate
        if robot:
            vel[0] = 0.0
            rate[0] = rng.choice([-1.0, 1.0]) * 0.5 * w_max
    for name, count in search.failures.items():
        failures[name] = count
    return Trajectory(np.stack(poses), times, dropped, failures)
