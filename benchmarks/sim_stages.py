"""Per-stage figures of `sim_throughput.py`: bare Open3D raycast, bare rasterisation, render, sensor, HDF5 write.

Every stage runs on the same frames of one room, in one process, alternating the renderers frame by frame, so
that a change in the machine's load hits each alike; CPU seconds (all threads) beside wall seconds.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tofsim.rng import sample_rng


def cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process, all its threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_raycaster(scene):
    """Open3D's own RaycastingScene of the scene's triangles, nothing of tofsim around it."""
    import open3d as o3d

    raycaster = o3d.t.geometry.RaycastingScene()
    raycaster.add_triangles(
        o3d.core.Tensor(np.asarray(scene.vertices, dtype=np.float32)),
        o3d.core.Tensor(np.asarray(scene.triangles, dtype=np.uint32)),
    )
    return raycaster


def pixel_rays(intr, poses) -> list:
    """Open3D ray tensors, one (H*W, 6) float32 set per pose: every pixel's ray, direction with camera z = 1."""
    import open3d as o3d

    v, u = np.mgrid[0 : intr.height_px, 0 : intr.width_px].astype(np.float32)
    dirs_cam = np.stack([(u - intr.cx_px) / intr.fx_px, (v - intr.cy_px) / intr.fy_px, np.ones_like(u)], -1)
    dirs_cam = dirs_cam.reshape(-1, 3)
    ray_sets = []
    for pose in poses:
        rays = np.empty((dirs_cam.shape[0], 6), dtype=np.float32)
        rays[:, :3] = pose[:3, 3]
        rays[:, 3:] = dirs_cam @ pose[:3, :3].T.astype(np.float32)
        ray_sets.append(o3d.core.Tensor.from_numpy(rays))
    return ray_sets


def _timed(fn):
    """(result, wall seconds, CPU seconds) of ``fn()``."""
    t0, c0 = time.perf_counter(), cpu_s()
    out = fn()
    return out, time.perf_counter() - t0, cpu_s() - c0


def measure_stages(cfg, n_frames: int, renderers: tuple[str, ...]) -> dict:
    """Per-frame times of each stage on scene 0, for each dense renderer, and of the bare first-hit passes.

    ``render_s_per_frame`` (and ``cpu_s_per_frame["render"]``) are those of ``renderers[-1]``; ``by_renderer``
    holds every renderer's. ``bare_raster_hits_*`` is `tofsim.raster.Rasterizer.hits` alone, the raster twin of
    the bare ``cast_rays``.
    """
    from tofsim.dataset.writer import write_shard
    from tofsim.raster import Rasterizer
    from tofsim.render import Renderer
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room
    from tofsim.sensor import simulate
    from tofsim.shards import ShardPlan, sample_from, sample_meta

    intr = cfg.camera.intrinsics()
    scene, t_room, _ = _timed(lambda: generate_room(cfg.room, rng=sample_rng(cfg.seed, 0, "scene")))
    made = {name: _timed(lambda name=name: Renderer(scene, dense=name)) for name in renderers}
    poses = sample_camera_poses(scene, intr, n_frames, rng=sample_rng(cfg.seed, 0, "camera"))
    raycaster, rasterizer = bare_raycaster(scene), Rasterizer(scene)
    ray_sets = pixel_rays(intr, poses)
    raycaster.cast_rays(ray_sets[0])  # warm-up
    rasterizer.hits(intr, poses[0])
    for name in renderers:
        made[name][0].render(intr, poses[0])
    wall: dict[str, list[float]] = {k: [] for k in ("cast", "bare_raster", "sensor", *renderers)}
    cpu: dict[str, float] = dict.fromkeys(wall, 0.0)
    samples = []
    plan = ShardPlan(
        kind="generate", config=cfg, config_hash="bench", out_dir="", n_samples=n_frames, shard_size=n_frames,
        scene_ids=("room-00000",) * n_frames, splits=("train",) * n_frames, version="bench",
    )  # fmt: skip

    def record(name: str, fn):
        out, seconds, cpu_seconds = _timed(fn)
        wall[name].append(seconds)
        cpu[name] += cpu_seconds
        return out

    for i, (pose, rays) in enumerate(zip(poses, ray_sets, strict=True)):
        record("cast", lambda rays=rays: raycaster.cast_rays(rays)["t_hit"].numpy())
        record("bare_raster", lambda pose=pose: rasterizer.hits(intr, pose))
        order = renderers if i % 2 == 0 else renderers[::-1]
        frames = {name: record(name, lambda name=name, pose=pose: made[name][0].render(intr, pose)) for name in order}
        frame = frames[renderers[-1]]
        out = record(
            "sensor", lambda frame=frame, i=i: simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        )
        samples.append(sample_from(frame, out, pose, sample_meta(plan, i)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard-00000.h5"
        _, write_s, write_cpu = _timed(lambda: write_shard(path, samples, attrs={"seed": cfg.seed}))
        shard_bytes = path.stat().st_size
    med = statistics.median
    by_renderer = {
        name: {
            "dense": made[name][0].dense,
            "build_s": made[name][1],
            "render_s_per_frame": med(wall[name]),
            "render_cpu_s_per_frame": cpu[name] / n_frames,
        }
        for name in renderers
    }
    last = renderers[-1]
    return {
        "frames": n_frames,
        "triangles": int(scene.n_triangles),
        "room_build_s": t_room,
        "raycaster_build_s": made[renderers[0]][1],
        "bare_cast_rays_s_per_frame": med(wall["cast"]),
        "bare_cast_rays_cpu_s_per_frame": cpu["cast"] / n_frames,
        "bare_raster_hits_s_per_frame": med(wall["bare_raster"]),
        "bare_raster_hits_cpu_s_per_frame": cpu["bare_raster"] / n_frames,
        "render_s_per_frame": med(wall[last]),
        "sensor_s_per_frame": med(wall["sensor"]),
        "hdf5_write_s_per_frame": write_s / n_frames,
        "cpu_s_per_frame": {
            "bare_cast_rays": cpu["cast"] / n_frames,
            "bare_raster_hits": cpu["bare_raster"] / n_frames,
            "render": cpu[last] / n_frames,
            "sensor": cpu["sensor"] / n_frames,
            "hdf5_write": write_cpu / n_frames,
        },
        "by_renderer": by_renderer,
        "shard_bytes_per_frame": shard_bytes / n_frames,
        "valid_spots_mean": float(
            np.mean([int(np.count_nonzero(s.spots["status"] == 0)) for s in samples])  # SpotStatus.VALID
        ),
        "spots_per_frame": int(len(samples[0].spots)),
    }
