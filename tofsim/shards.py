"""Shards of a run: the plan every shard task gets, how its samples are made, and how a shard is written.

`ShardPlan` holds everything a shard task needs and pickles (it is sent to Dask workers). A generated sample
comes from its scene (built once per scene by `SceneCache`), a converted one from its source frame; both go
through the sensor model with ``sample_rng(seed, i, "noise")``. `run_shard` makes and writes one shard on the
calling thread (a Dask task); `tofsim.pipeline` plans the run and schedules the shards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.config import ConvertConfig, GenerateConfig
from tofsim.dataset.schema import shard_filename
from tofsim.dataset.writer import encode_chunks, write_shard
from tofsim.errors import ConfigError
from tofsim.frame import Sample
from tofsim.memory import keep_freed_memory
from tofsim.provenance import write_json
from tofsim.resume import progress_path
from tofsim.rng import sample_rng
from tofsim.threads import set_thread_budget

__all__ = [
    "ShardPlan",
    "SceneCache",
    "config_mesh",
    "config_file_poses",
    "check_config_mesh",
    "scene_index_of",
    "sequence_poses",
    "sequence_meta",
    "sensor_name",
    "sample_meta",
    "sample_from",
    "rgb_camera_sample",
    "generate_samples",
    "convert_samples",
    "simulate_shard",
    "write_plan_shard",
    "run_shard",
]


def scene_index_of(sample_index: int, frames_per_scene: int) -> int:
    """The scene a generated sample belongs to: ``sample_index // frames_per_scene``."""
    return int(sample_index) // int(frames_per_scene)


def sensor_name(sensor: Any) -> str | None:
    """The preset name a sensor config carries (``name`` or ``preset``), or None."""
    for attr in ("name", "preset"):
        value = getattr(sensor, attr, None)
        if isinstance(value, str):
            return value
    return None


@dataclass(frozen=True)
class ShardPlan:
    """Everything a shard task needs (picklable): the run's config, its samples' scenes and splits, its source."""

    kind: str  # "generate" | "convert"
    config: Any  # GenerateConfig | ConvertConfig
    config_hash: str
    out_dir: str
    n_samples: int
    shard_size: int
    scene_ids: tuple[str, ...]  # per sample
    splits: tuple[str, ...]  # per sample
    version: str
    source: Any = None  # FrameSource (convert)
    source_indices: tuple[int, ...] = ()  # per sample (convert)
    source_root: str | None = None  # the source path given to convert
    image_size: tuple[int, int] | None = None  # (H, W)

    @property
    def run_hash(self) -> str:
        """Identity of the run's data: kind, config hash and source (a folder holds the shards of one run)."""
        text = json.dumps([self.kind, self.config_hash, self.source_root])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def n_shards(self) -> int:
        """Number of shards, ``ceil(n_samples / shard_size)``."""
        return -(-self.n_samples // self.shard_size)

    def shard_range(self, shard_index: int) -> range:
        """Global sample indices of shard `shard_index`."""
        start = shard_index * self.shard_size
        return range(start, min(start + self.shard_size, self.n_samples))

    def shard_attrs(self, shard_index: int) -> dict[str, Any]:
        """Root attributes of shard `shard_index`'s HDF5 file."""
        return {
            "kind": self.kind,
            "seed": int(self.config.seed),
            "config_hash": self.config_hash,
            "run_hash": self.run_hash,
            "tofsim_version": self.version,
            "shard_index": int(shard_index),
        }


def sample_meta(plan: ShardPlan, i: int, **extra: Any) -> dict[str, Any]:
    """The ``meta`` of sample `i`: index, scene, split, seed, sensor preset, source file, version (+ `extra`)."""
    meta = {
        "index": int(i),
        "scene_id": plan.scene_ids[i],
        "split": plan.splits[i],
        "seed": int(plan.config.seed),
        "sensor_preset": sensor_name(plan.config.sensor),
        "source_file": None,
        "tofsim_version": plan.version,
    }
    meta.update(extra)
    return meta


def sample_from(frame: Any, out: Any, pose: np.ndarray, meta: dict[str, Any]) -> Sample:
    """A `Sample` from a dense frame, the sensor's output for it, its (4, 4) camera-to-world pose and `meta`."""
    depth = np.where(frame.valid, frame.depth_m, 0.0).astype(np.float32)
    # a zone sensor with zone_statistics also reports what each zone saw (its measurements are the spot table)
    zones = getattr(out, "zones", None) or {}
    stats = {k: v for k, v in zones.items() if k not in ("distance_m", "sigma_m", "status")}
    saturated = getattr(out, "saturated", None)  # DROPOUT spots that saturated (sensors with saturation_e)
    if saturated is not None:
        meta = {**meta, "saturated_spots": int(np.count_nonzero(saturated))}
    return Sample(
        rgb=np.ascontiguousarray(frame.rgb, dtype=np.uint8),
        depth_m=depth,
        sparse_m=np.asarray(out.sparse_m, dtype=np.float32),
        spot_mask=np.asarray(out.mask, dtype=bool),
        spots=out.spots,
        K=frame.intrinsics.K,
        pose=np.asarray(pose, dtype=np.float64),
        meta=meta,
        zones=stats if "zone_map" in stats else None,
    )


class SceneCache:
    """Builds a scene, its renderer and its camera poses once per scene index (frames of a scene are contiguous)."""

    def __init__(self, config: GenerateConfig) -> None:
        self.config = config
        self.intrinsics = config.camera.intrinsics()
        self._index: int | None = None
        self._mesh_scene: Any = None
        self.file_timestamps_s: np.ndarray | None = None  # per frame of the run, with a TUM pose file

    def _scene(self, scene_index: int) -> Any:
        if self.config.mesh_path is not None:
            if self._mesh_scene is None:
                self._mesh_scene = config_mesh(self.config)
            return self._mesh_scene
        from tofsim.scene.procedural import generate_room

        return generate_room(self.config.room, rng=sample_rng(self.config.seed, scene_index, "scene"))

    def get(self, scene_index: int) -> tuple[Any, np.ndarray]:
        """(renderer, (frames_per_scene, 4, 4) camera-to-world poses) of scene `scene_index`.

        In sequence mode the poses are one trajectory (`sequence_poses`) and ``self.timestamps_s`` holds their times.
        """
        if self._index != scene_index:
            from tofsim.render import Renderer
            from tofsim.scene.cameras import sample_camera_poses

            scene = self._scene(scene_index)
            self.renderer = Renderer(scene, dense=self.config.renderer)
            if self.config.pose_file is not None:
                all_poses, self.file_timestamps_s = config_file_poses(self.config)
                fps = self.config.frames_per_scene
                self.poses = all_poses[scene_index * fps : (scene_index + 1) * fps]
                self._index = scene_index
                return self.renderer, self.poses
            if self.config.sequence.enabled:
                self.poses, self.timestamps_s = sequence_poses(self.config, scene, self.renderer, scene_index)
                self._index = scene_index
                return self.renderer, self.poses
            self.poses = np.asarray(
                sample_camera_poses(
                    scene,
                    self.intrinsics,
                    self.config.frames_per_scene,
                    rng=sample_rng(self.config.seed, scene_index, "camera"),
                    renderer=self.renderer,
                    **self.config.poses.kwargs(),
                ),
                dtype=np.float64,
            )
            self._index = scene_index
        return self.renderer, self.poses


def config_mesh(cfg: GenerateConfig) -> Any:
    """The `Scene` of ``cfg.mesh_path``, loaded with the run's ``mesh_up_axis`` and ``mesh_scale_per_m``."""
    from tofsim.scene.mesh import load_mesh

    return load_mesh(cfg.mesh_path, up_axis=cfg.mesh_up_axis, scale_per_m=cfg.mesh_scale_per_m)


def config_file_poses(cfg: GenerateConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """((n_frames, 4, 4) camera-to-world poses, (n_frames,) timestamps in s or None) of ``cfg.pose_file``.

    The file's poses go through the mesh's up-axis rotation and scale, so they stay registered to the mesh.

    Raises:
        InputFileError: an unreadable pose file. ConfigError: its number of poses is not ``cfg.n_frames``.
    """
    from tofsim.scene.mesh import poses_to_world
    from tofsim.scene.pose_file import read_pose_file

    read = read_pose_file(cfg.pose_file)
    if len(read.poses) != cfg.n_frames:
        raise ConfigError(
            f"{cfg.pose_file}: {len(read.poses)} poses, but n_frames is {cfg.n_frames}; with a pose file the frames "
            f"follow the file: leave out --frames (n_frames) or set it to {len(read.poses)}"
        )
    return poses_to_world(read.poses, cfg.mesh_up_axis, cfg.mesh_scale_per_m), read.timestamps_s


def check_config_mesh(cfg: GenerateConfig) -> None:
    """Load the run's mesh and pose file and check every file pose (before anything is written).

    Raises:
        InputFileError: a missing, unreadable or empty mesh or pose file. ConfigError: a mesh in the wrong units,
            a pose count other than ``n_frames``, or a file pose that sees nothing or sits inside geometry.
    """
    if cfg.mesh_path is None:
        return
    scene = config_mesh(cfg)
    if cfg.pose_file is None:
        return
    from tofsim.render import Renderer
    from tofsim.scene.pose_file import check_file_poses

    poses, _ = config_file_poses(cfg)
    check_file_poses(
        scene, Renderer(scene), cfg.camera.intrinsics(), poses, min_view_hit_fraction=cfg.poses.min_view_hit_fraction,
        min_view_distance_m=cfg.poses.close_up_min_view_distance_m, source=str(cfg.pose_file),
    )  # fmt: skip


def sequence_poses(cfg: GenerateConfig, scene: Any, renderer: Any, scene_index: int) -> tuple[np.ndarray, np.ndarray]:
    """((frames_per_scene, 4, 4) poses, (frames_per_scene,) timestamps in s) of scene `scene_index`'s trajectory.

    Drawn from ``sample_rng(seed, scene_index, "camera")``; dropped poses are reported as a `TrajectoryWarning`.
    """
    import warnings

    from tofsim.scene.trajectories import sample_trajectory
    from tofsim.sequence import TrajectoryWarning

    traj = sample_trajectory(
        scene,
        cfg.camera.intrinsics(),
        cfg.frames_per_scene,
        rng=sample_rng(cfg.seed, scene_index, "camera"),
        config=cfg.sequence,
        renderer=renderer,
        pose_kwargs=cfg.poses.kwargs(),
    )
    if traj.n_dropped:
        warnings.warn(
            f"scene {scene.scene_id!r}: trajectory re-sampled, {traj.n_dropped} proposed poses dropped (left the "
            f"room, too close to or through furniture: {', '.join(f'{k} {v}' for k, v in traj.failures.items() if v)})",
            TrajectoryWarning,
            stacklevel=2,
        )
    return np.asarray(traj.poses, dtype=np.float64), traj.timestamps_s


def sequence_meta(cfg: GenerateConfig, cache: SceneCache, scene_id: str, frame: int) -> dict[str, Any]:
    """The meta keys of frame `frame` of a sequence (none outside sequence mode, so old datasets keep their bytes)."""
    if not cfg.sequence.enabled:
        return {}
    return {"sequence_id": scene_id, "sequence_frame": int(frame), "timestamp_s": float(cache.timestamps_s[frame])}


def rgb_camera_sample(
    cfg: GenerateConfig, renderer: Any, frame: Any, out: Any, i: int, scene_index: int, meta: dict[str, Any]
) -> Sample:
    """Sample `i` seen from the colour camera: rgb and ground truth rendered from its pose, the ToF frame's sensor
    output `out` registered into it with the believed extrinsics, and the rig in ``meta["rgb_camera"]``.
    """  # noqa: D205
    from tofsim.rgb_camera import CALIBRATION_STREAM, believed_extrinsics, rgb_pose
    from tofsim.sensor.registration import nominal_depth_m, register_spots

    rig = cfg.rgb_camera
    intr_rgb = rig.intrinsics(frame.intrinsics)
    true_T = rig.extrinsics()  # noqa: N806
    stream = sample_rng(cfg.seed, rig.calibration_index(i, scene_index), CALIBRATION_STREAM)
    believed_T = believed_extrinsics(rig, rng=stream)  # noqa: N806
    pose = rgb_pose(frame.pose, true_T)
    rgb_frame = renderer.render(intr_rgb, pose)
    rig_meta = {
        "K_tof": frame.intrinsics.K.tolist(),
        "K_rgb": intr_rgb.K.tolist(),
        "T_rgb_from_tof": true_T.tolist(),
        "T_rgb_from_tof_believed": believed_T.tolist(),
        "nominal_depth_m": nominal_depth_m(out.spots),
    }
    registered = register_spots(out, frame.intrinsics, intr_rgb, believed_T)
    return sample_from(rgb_frame, registered, pose, {**meta, "rgb_camera": rig_meta})


def generate_samples(plan: ShardPlan, indices: range) -> Iterator[Sample]:
    """The generated samples `indices` (consecutive), rendering each scene once.

    With ``cfg.rgb_camera.enabled`` each sample is seen from the colour camera (`rgb_camera_sample`).
    """
    from tofsim.sensor import simulate

    cfg: GenerateConfig = plan.config
    cache = SceneCache(cfg)
    for i in indices:
        scene_index = scene_index_of(i, cfg.frames_per_scene)
        renderer, poses = cache.get(scene_index)
        k = i - scene_index * cfg.frames_per_scene
        pose = poses[k]
        frame = renderer.render(cache.intrinsics, pose)
        out = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        source = cfg.mesh_path if cfg.mesh_path is not None else None
        extra = sequence_meta(cfg, cache, plan.scene_ids[i], k)
        if cache.file_timestamps_s is not None:  # frames along a TUM trajectory keep its times
            extra["timestamp_s"] = float(cache.file_timestamps_s[i])
        meta = sample_meta(plan, i, source_file=source, **extra)
        if cfg.rgb_camera.enabled:
            yield rgb_camera_sample(cfg, renderer, frame, out, i, scene_index, meta)
        else:
            yield sample_from(frame, out, pose, meta)


def convert_samples(plan: ShardPlan, indices: range) -> Iterator[Sample]:
    """The converted samples `indices`: the plan's source frames through the sensor model."""
    from tofsim.sensor import simulate

    cfg: ConvertConfig = plan.config
    for i in indices:
        j = plan.source_indices[i]
        frame = plan.source.load(j)
        out = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        source_file = str(frame.meta.get("source_file", plan.source.name(j)))
        seq = plan.source.sequence_of(j)
        extra = {} if seq is None else {"sequence_id": seq[0], "sequence_frame": seq[1], "timestamp_s": seq[2]}
        meta = sample_meta(plan, i, source_file=source_file, source_name=plan.source.name(j), **extra)
        yield sample_from(frame, out, frame.pose, meta)


def simulate_shard(plan: ShardPlan, shard_index: int, encoder: Executor | None) -> tuple[list[Sample], list[Any]]:
    """The samples of one shard and their encoded chunks (futures of `encoder` when given, else bytes).

    Encoding on `encoder`'s thread overlaps with simulating the next sample: zlib releases the GIL, and the
    simulation's single-threaded stretches leave a core idle.
    """
    make = generate_samples if plan.kind == "generate" else convert_samples
    samples, chunks = [], []
    for sample in make(plan, plan.shard_range(shard_index)):
        samples.append(sample)
        chunks.append(encoder.submit(encode_chunks, sample) if encoder is not None else encode_chunks(sample))
    return samples, chunks


def write_plan_shard(plan: ShardPlan, shard_index: int, samples: list[Sample], chunks: list[Any]) -> dict[str, Any]:
    """Write one shard (atomically, by the writer) and its progress record; return the writer's record."""
    chunks = [c.result() if isinstance(c, Future) else c for c in chunks]
    out_dir = Path(plan.out_dir)
    record = dict(
        write_shard(out_dir / shard_filename(shard_index), samples, attrs=plan.shard_attrs(shard_index), chunks=chunks)
    )
    record["file"] = Path(record["file"]).name
    record["shard_index"] = int(shard_index)
    record_path = progress_path(out_dir, shard_index)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record_path, {"run_hash": plan.run_hash, **record}, sort_keys=True, what="progress record")
    return record


def dask_worker_threads() -> int | None:
    """The thread count of the Dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def run_shard(plan: ShardPlan, shard_index: int) -> dict[str, Any]:
    """Simulate and write one shard on the calling thread (a Dask task).

    The raycaster and the render kernels use as many cores as the worker has threads: a single-threaded worker
    uses one, so that N workers on N cores run side by side instead of taking turns (`tofsim.threads`).
    """
    keep_freed_memory()
    set_thread_budget(dask_worker_threads())
    return write_plan_shard(plan, shard_index, *simulate_shard(plan, shard_index, None))
