"""Throughput of tofsim generation: full `sds` frames at 640x480, vs a bare Open3D raycast, and on Dask.

Measures, in one run:
  (a) frames/s of the whole in-process pipeline for full `sds` frames at 640 x 480 (room rendering, spots,
      sensor noise, compressed HDF5 shard write), via `tofsim.pipeline.generate`;
  (b) the ratio of that per-frame time to one bare Open3D ``RaycastingScene.cast_rays`` of the same frame's
      640 x 480 pixel rays on the same room (rays prepared outside the timing);
  (c) the speed-up of 2 Dask worker processes over 1 on the same job (clusters started before the timing,
      so start-up is reported separately and not counted), beside the machine's own ceiling for it: two
      single-threaded processes doing nothing but bare cast_rays, started together, vs one.

Usage:
    python benchmarks/sim_throughput.py [--frames 96] [--dask-frames 64] [--dask-rounds 3] \\
        [--json bench-out/sim_throughput.json]

Targets (issue 2): ratio_vs_raycast <= 1.5, frames_per_s >= 50, dask_speedup_2_vs_1 >= 1.8. Figures depend on
the machine and on its load (the load average before and after is recorded). ``bare_cast_rays_frames_per_s`` is
the ceiling any raycasting pipeline has on the machine: the bare cast alone, on every core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tofsim.config import get_generate_preset
from tofsim.pipeline import _WORKER_ENV, generate
from tofsim.rng import sample_rng

TARGETS = {"frames_per_s": 50.0, "ratio_vs_raycast": 1.5, "dask_speedup_2_vs_1": 1.8}


def _cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process, all its threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure_pipeline(n_frames: int, seed: int) -> dict:
    """(a): the whole pipeline in-process, one room shared by all frames (its build counted once).

    A one-frame warm-up run first pays the one-off costs (importing Open3D, first-call set-up)."""
    cfg = get_generate_preset("sds").replace(
        n_frames=n_frames, frames_per_scene=n_frames, shard_size=min(32, n_frames), seed=seed
    )
    import open3d  # noqa: F401  - its import (~2 s) is a one-off cost, not a per-frame one

    with tempfile.TemporaryDirectory() as tmp:
        generate(cfg.replace(n_frames=1, frames_per_scene=1, shard_size=1), Path(tmp) / "warm-up")
        start, cpu = time.perf_counter(), _cpu_s()
        generate(cfg, Path(tmp) / "ds")
        seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu
    return {
        "frames": n_frames,
        "seconds": seconds,
        "frames_per_s": n_frames / seconds,
        "cpu_s_per_frame": cpu / n_frames,
        "config": cfg,
    }


def _bare_raycaster(scene):
    """Open3D's own RaycastingScene of the scene's triangles, nothing of tofsim around it."""
    import open3d as o3d

    raycaster = o3d.t.geometry.RaycastingScene()
    raycaster.add_triangles(
        o3d.core.Tensor(np.asarray(scene.vertices, dtype=np.float32)),
        o3d.core.Tensor(np.asarray(scene.triangles, dtype=np.uint32)),
    )
    return raycaster


def _pixel_rays(intr, poses) -> list:
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


def measure_stages(cfg, n_frames: int) -> dict:
    """Per-frame times of each stage on scene 0 (render, sensor, write) and of a bare cast_rays of its rays."""
    from tofsim.dataset.writer import write_shard
    from tofsim.render import Renderer
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room
    from tofsim.sensor import simulate
    from tofsim.shards import ShardPlan, sample_from

    intr = cfg.camera.intrinsics()
    t0 = time.perf_counter()
    scene = generate_room(cfg.room, rng=sample_rng(cfg.seed, 0, "scene"))
    t_room = time.perf_counter() - t0
    t0 = time.perf_counter()
    renderer = Renderer(scene)
    t_bvh = time.perf_counter() - t0
    poses = sample_camera_poses(scene, intr, n_frames, rng=sample_rng(cfg.seed, 0, "camera"))

    # Bare Open3D: its own RaycastingScene of the same triangles, the same pixel rays (z = 1 directions).
    raycaster = _bare_raycaster(scene)
    ray_sets = _pixel_rays(intr, poses)
    raycaster.cast_rays(ray_sets[0])  # warm-up
    cpu = _cpu_s()
    for rays in ray_sets:
        raycaster.cast_rays(rays)["t_hit"].numpy()
    cast_cpu_s = (_cpu_s() - cpu) / len(ray_sets)
    cast, render, sense, write = [], [], [], []
    cpu_render = cpu_sense = 0.0
    samples = []
    plan = ShardPlan(
        kind="generate", config=cfg, config_hash="bench", out_dir="", n_samples=n_frames, shard_size=n_frames,
        scene_ids=("room-00000",) * n_frames, splits=("train",) * n_frames, version="bench",
    )  # fmt: skip
    from tofsim.shards import sample_meta

    for i, (pose, rays) in enumerate(zip(poses, ray_sets, strict=True)):
        t0 = time.perf_counter()
        ans = raycaster.cast_rays(rays)
        ans["t_hit"].numpy()
        cast.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), _cpu_s()
        frame = renderer.render(intr, pose)
        render.append(time.perf_counter() - t0)
        t0, c1 = time.perf_counter(), _cpu_s()
        out = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        sense.append(time.perf_counter() - t0)
        c2 = _cpu_s()
        cpu_render += c1 - c0
        cpu_sense += c2 - c1
        samples.append(sample_from(frame, out, pose, sample_meta(plan, i)))
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), _cpu_s()
        write_shard(Path(tmp) / "shard-00000.h5", samples, attrs={"seed": cfg.seed})
        write.append((time.perf_counter() - t0) / n_frames)
        cpu_write = (_cpu_s() - c0) / n_frames
        shard_bytes = (Path(tmp) / "shard-00000.h5").stat().st_size
    med = statistics.median
    return {
        "frames": n_frames,
        "triangles": int(scene.n_triangles),
        "room_build_s": t_room,
        "raycaster_build_s": t_bvh,
        "bare_cast_rays_s_per_frame": med(cast),
        "bare_cast_rays_cpu_s_per_frame": cast_cpu_s,
        "render_s_per_frame": med(render),
        "sensor_s_per_frame": med(sense),
        "hdf5_write_s_per_frame": write[0],
        "cpu_s_per_frame": {
            "bare_cast_rays": cast_cpu_s,
            "render": cpu_render / n_frames,
            "sensor": cpu_sense / n_frames,
            "hdf5_write": cpu_write,
        },
        "shard_bytes_per_frame": shard_bytes / n_frames,
        "valid_spots_mean": float(
            np.mean([int(np.count_nonzero(s.spots["status"] == 0)) for s in samples])  # SpotStatus.VALID
        ),
        "spots_per_frame": int(len(samples[0].spots)),
    }


def _warm_up_worker() -> None:
    """Pay a worker's one-off costs (imports, numba cache loads, Open3D's first BVH) before any timing."""
    import h5py  # noqa: F401

    from tofsim.render import Renderer
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room
    from tofsim.sensor import simulate

    cfg = get_generate_preset("sds")
    scene = generate_room(cfg.room, rng=sample_rng(cfg.seed, 0, "scene"))
    intr = cfg.camera.intrinsics()
    (pose,) = sample_camera_poses(scene, intr, 1, rng=sample_rng(cfg.seed, 0, "camera"))
    simulate(Renderer(scene).render(intr, pose), cfg.sensor, rng=sample_rng(cfg.seed, 0, "noise"))


def measure_dask(n_frames: int, shard_size: int, seed: int, rounds: int) -> dict:
    """(c): the same job on a local cluster of 1 and of 2 single-threaded worker processes.

    Both clusters are started and warmed up first (start-up reported, not counted); the job then runs
    alternately on each, `rounds` times, so that a change in the machine's load hits both alike. The speed-up is
    the ratio of the median times.
    """
    from distributed import Client, LocalCluster

    cfg = get_generate_preset("sds").replace(
        n_frames=n_frames, frames_per_scene=shard_size, shard_size=shard_size, seed=seed
    )
    result: dict = {"frames": n_frames, "shard_size": shard_size, "rounds": rounds}
    hashes: dict[int, list[str]] = {}
    times: dict[int, list[float]] = {1: [], 2: []}
    with contextlib.ExitStack() as stack:
        clusters = {}
        for n_workers in (1, 2):
            t0 = time.perf_counter()
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR, env=dict(_WORKER_ENV),
                )
            )  # fmt: skip
            client = stack.enter_context(Client(cluster))
            client.wait_for_workers(n_workers)
            client.run(_warm_up_worker)  # on every worker: imports (Open3D ~2 s), JIT caches, first render
            with tempfile.TemporaryDirectory() as tmp:
                warm = cfg.replace(n_frames=n_workers, frames_per_scene=1, shard_size=1)
                generate(warm, Path(tmp) / "warm-up", scheduler=cluster.scheduler_address)
            clusters[n_workers] = cluster
            result[f"workers_{n_workers}"] = {"startup_s": time.perf_counter() - t0}
        for _ in range(rounds):
            for n_workers, cluster in clusters.items():
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    out = generate(cfg, Path(tmp) / "ds", scheduler=cluster.scheduler_address)
                    times[n_workers].append(time.perf_counter() - t0)
                    manifest = json.loads((out / "manifest.json").read_text())
                    hashes[n_workers] = [s["sha256"] for s in manifest["shards"]]
    for n_workers in (1, 2):
        seconds = statistics.median(times[n_workers])
        result[f"workers_{n_workers}"].update(
            seconds=seconds, all_seconds=times[n_workers], frames_per_s=n_frames / seconds
        )
    result["identical_shards_1_vs_2"] = hashes[1] == hashes[2]
    result["speedup_per_round"] = [a / b for a, b in zip(times[1], times[2], strict=True)]
    result["dask_speedup_2_vs_1"] = result["workers_1"]["seconds"] / result["workers_2"]["seconds"]
    return result


def _cast_worker(n_frames: int, seed: int, barrier, queue) -> None:
    """One single-threaded process: bare cast_rays of `n_frames` VGA frames, timed from a shared start."""
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room

    cfg = get_generate_preset("sds")
    intr = cfg.camera.intrinsics()
    scene = generate_room(cfg.room, rng=sample_rng(seed, 0, "scene"))
    poses = sample_camera_poses(scene, intr, 8, rng=sample_rng(seed, 0, "camera"))
    raycaster = _bare_raycaster(scene)
    rays = _pixel_rays(intr, poses)
    raycaster.cast_rays(rays[0], nthreads=1)
    barrier.wait()
    t0 = time.perf_counter()
    for i in range(n_frames):
        raycaster.cast_rays(rays[i % len(rays)], nthreads=1)["t_hit"].numpy()
    queue.put(time.perf_counter() - t0)


def measure_process_scaling(n_frames: int, seed: int) -> dict:
    """(c'): the machine's own ceiling for (c): 2 single-threaded processes doing bare cast_rays vs 1.

    Each process casts `n_frames` frames; both start together (a barrier), so the ratio is what two cores give
    two independent raycasting processes here, with no Dask and no pipeline.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    seconds = {}
    for n_proc in (1, 2):
        barrier, queue = ctx.Barrier(n_proc), ctx.Queue()
        procs = [ctx.Process(target=_cast_worker, args=(n_frames, seed, barrier, queue)) for _ in range(n_proc)]
        for proc in procs:
            proc.start()
        times = [queue.get() for _ in procs]
        for proc in procs:
            proc.join()
        seconds[n_proc] = max(times)
    return {
        "frames_per_process": n_frames,
        "seconds_1": seconds[1],
        "seconds_2": seconds[2],
        "speedup_2_vs_1": 2 * seconds[1] / seconds[2],
    }


def _report(figures: dict, stages: dict, dask: dict | None, per_frame_s: float, ratio: float) -> None:
    ms = 1e3
    lines = [
        f"(a) full sds frame 640x480 (render + spots + noise + HDF5): {figures['frames_per_s']:.1f} frames/s "
        f"({per_frame_s * ms:.1f} ms/frame; target >= {TARGETS['frames_per_s']:.0f})",
        f"    stages per frame: render {stages['render_s_per_frame'] * ms:.1f} ms, "
        f"sensor {stages['sensor_s_per_frame'] * ms:.1f} ms, HDF5 {stages['hdf5_write_s_per_frame'] * ms:.1f} ms; "
        f"{stages['spots_per_frame']} spots, {stages['valid_spots_mean']:.0f} valid",
        "    CPU time per frame: " + ", ".join(f"{k} {v * ms:.1f} ms" for k, v in stages["cpu_s_per_frame"].items()),
        f"(b) ratio to a bare Open3D cast_rays of the same rays ({stages['bare_cast_rays_s_per_frame'] * ms:.1f} ms): "
        f"{ratio:.2f}x (target <= {TARGETS['ratio_vs_raycast']}); in CPU time "
        f"{figures['pipeline']['cpu_s_per_frame'] * ms:.1f} vs {stages['bare_cast_rays_cpu_s_per_frame'] * ms:.1f} ms "
        f"= {stages['ratio_vs_raycast_cpu']:.2f}x",
        f"    ceiling: the bare cast_rays alone, on every core, gives {figures['bare_cast_rays_frames_per_s']:.1f} "
        "frames/s",
    ]
    if dask is not None:
        w1, w2 = dask["workers_1"], dask["workers_2"]
        lines += [
            f"(c) Dask 2 workers vs 1 on {dask['frames']} frames: {dask['dask_speedup_2_vs_1']:.2f}x "
            f"(median of {dask['rounds']} alternating runs, 1: {w1['seconds']:.1f} s, 2: {w2['seconds']:.1f} s; "
            f"per round {', '.join(f'{r:.2f}' for r in dask['speedup_per_round'])}; "
            f"target >= {TARGETS['dask_speedup_2_vs_1']})",
            f"    start-up {w1['startup_s']:.1f} / {w2['startup_s']:.1f} s not counted; "
            f"identical shards: {dask['identical_shards_1_vs_2']}",
        ]
        scaling = dask.get("bare_cast_process_scaling")
        if scaling is not None:
            lines.append(
                f"    the machine's ceiling: 2 single-threaded processes of bare cast_rays vs 1: "
                f"{scaling['speedup_2_vs_1']:.2f}x"
            )
    m = figures["machine"]
    lines.append(
        f"machine: {m['cpu_count']} CPUs, load average before {m['loadavg_before']}, after {m['loadavg_after']}"
    )
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=96, help="frames for (a) and (b)")
    parser.add_argument("--dask-frames", type=int, default=64, help="frames for (c)")
    parser.add_argument("--dask-shard-size", type=int, default=8, help="frames per shard (and per room) in (c)")
    parser.add_argument("--dask-rounds", type=int, default=3, help="alternating runs on each cluster in (c)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-dask", action="store_true", help="skip (c)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    load_before = _loadavg()
    t_start = time.perf_counter()
    pipe = measure_pipeline(args.frames, args.seed)
    stages = measure_stages(pipe.pop("config"), min(args.frames, 32))
    per_frame_s = 1.0 / pipe["frames_per_s"]
    ratio = per_frame_s / stages["bare_cast_rays_s_per_frame"]
    # Load-robust twins: CPU seconds per frame (all threads) of the pipeline and of the bare raycast.
    stages["ratio_vs_raycast_cpu"] = pipe["cpu_s_per_frame"] / stages["bare_cast_rays_cpu_s_per_frame"]
    dask = None if args.skip_dask else measure_dask(args.dask_frames, args.dask_shard_size, args.seed, args.dask_rounds)
    if dask is not None:
        dask["bare_cast_process_scaling"] = measure_process_scaling(args.dask_frames, args.seed)
    figures = {
        "frames_per_s": pipe["frames_per_s"],
        "ratio_vs_raycast": ratio,
        "dask_speedup_2_vs_1": None if dask is None else dask["dask_speedup_2_vs_1"],
        # No pipeline that renders every pixel with cast_rays can beat this on the machine.
        "bare_cast_rays_frames_per_s": 1.0 / stages["bare_cast_rays_s_per_frame"],
        "targets": TARGETS,
        "pipeline": pipe,
        "stages": stages,
        "dask": dask,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
        },
        "total_s": time.perf_counter() - t_start,
    }
    _report(figures, stages, dask, per_frame_s, ratio)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(figures, indent=1, default=str))
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
