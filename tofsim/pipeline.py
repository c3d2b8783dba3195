"""Dataset generation and conversion: plan shards, run them in-process or on Dask, resume, write the manifest.

One task per shard. Sample ``i``'s randomness depends only on ``(seed, i)`` (and its scene index), so the data
are bit-identical whatever the shard size, the number of workers or the order in which shards finish; with the
same shard size the files are byte-identical too.

Resume: every shard is published atomically by the writer (temporary name + ``os.replace``) and, once written,
recorded in ``OUT/.tofsim-progress/<shard>.json`` with its SHA-256. On start, a shard whose file exists and whose
checksum matches its record (or the manifest's entry) is kept; every other shard is (re)written; stale temporary
files are removed. The manifest is written last and the progress records are then removed, so a folder with a
``manifest.json`` is complete. A run stopped by anything (kill, Ctrl-C, an exception in the progress callback)
resumes with nothing lost or duplicated. A run that fails on bad input (`TofsimError`) removes the shards it
wrote, so it leaves no partial output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.config import ConvertConfig, GenerateConfig, config_hash
from tofsim.dataset.folders import folder_lock, prepare_output_dir
from tofsim.errors import ConfigError, TofsimError
from tofsim.frame import Sample
from tofsim.memory import keep_freed_memory
from tofsim.provenance import sha256_file, write_json
from tofsim.rng import sample_rng
from tofsim.threads import set_thread_budget

#: Split names, in the order `tofsim.dataset.manifest.split_by_scene` takes their fractions.
SPLIT_NAMES = ("train", "val", "test")

__all__ = ["generate", "convert", "ProgressFn", "PROGRESS_DIR", "scene_index_of"]

#: ``progress(samples_done, samples_total)``, called once at start and after every finished shard.
ProgressFn = Callable[[int, int], None]

#: Hidden folder (inside the output folder) that records finished shards until the manifest is written.
PROGRESS_DIR = ".tofsim-progress"

#: Environment of local Dask worker processes: one thread per worker for NumPy/BLAS, Open3D's raycaster and the
#: render kernels (`tofsim.threads` reads OMP_NUM_THREADS).
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def scene_index_of(sample_index: int, frames_per_scene: int) -> int:
    """The scene a generated sample belongs to: ``sample_index // frames_per_scene``."""
    return int(sample_index) // int(frames_per_scene)


def _tofsim_version() -> str:
    import tofsim

    version = getattr(tofsim, "__version__", None)
    if version is None:  # a namespace-package import (stale editable install): ask the distribution
        from importlib.metadata import version as dist_version

        version = dist_version("tofbench")
    return version


def _sensor_name(sensor: Any) -> str | None:
    for attr in ("name", "preset"):
        value = getattr(sensor, attr, None)
        if isinstance(value, str):
            return value
    return None


# ---------------------------------------------------------------------------------------------------------------
# The plan: everything a shard task needs, picklable (sent to Dask workers).


@dataclass(frozen=True)
class _Plan:
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
        return -(-self.n_samples // self.shard_size)

    def shard_range(self, shard_index: int) -> range:
        start = shard_index * self.shard_size
        return range(start, min(start + self.shard_size, self.n_samples))

    def shard_attrs(self, shard_index: int) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "seed": int(self.config.seed),
            "config_hash": self.config_hash,
            "run_hash": self.run_hash,
            "tofsim_version": self.version,
            "shard_index": int(shard_index),
        }


def _meta(plan: _Plan, i: int, **extra: Any) -> dict[str, Any]:
    meta = {
        "index": int(i),
        "scene_id": plan.scene_ids[i],
        "split": plan.splits[i],
        "seed": int(plan.config.seed),
        "sensor_preset": _sensor_name(plan.config.sensor),
        "source_file": None,
        "tofsim_version": plan.version,
    }
    meta.update(extra)
    return meta


def _sample_from(frame: Any, out: Any, pose: np.ndarray, meta: dict[str, Any]) -> Sample:
    depth = np.where(frame.valid, frame.depth_m, 0.0).astype(np.float32)
    return Sample(
        rgb=np.ascontiguousarray(frame.rgb, dtype=np.uint8),
        depth=depth,
        sparse=np.asarray(out.sparse_m, dtype=np.float32),
        mask=np.asarray(out.mask, dtype=bool),
        spots=out.spots,
        K=frame.intrinsics.K,
        pose=np.asarray(pose, dtype=np.float64),
        meta=meta,
    )


class _SceneCache:
    """Builds a scene, its renderer and its camera poses once per scene index (frames of a scene are contiguous)."""

    def __init__(self, config: GenerateConfig) -> None:
        self.config = config
        self.intrinsics = config.camera.intrinsics()
        self._index: int | None = None
        self._mesh_scene: Any = None

    def _scene(self, scene_index: int) -> Any:
        if self.config.mesh_path is not None:
            if self._mesh_scene is None:
                from tofsim.scene.mesh import load_mesh

                self._mesh_scene = load_mesh(self.config.mesh_path)
            return self._mesh_scene
        from tofsim.scene.procedural import generate_room

        return generate_room(self.config.room, rng=sample_rng(self.config.seed, scene_index, "scene"))

    def get(self, scene_index: int) -> tuple[Any, np.ndarray]:
        """(renderer, (frames_per_scene, 4, 4) camera-to-world poses) of scene `scene_index`."""
        if self._index != scene_index:
            from tofsim.render import Renderer
            from tofsim.scene.cameras import sample_camera_poses

            scene = self._scene(scene_index)
            self.renderer = Renderer(scene)
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


def _generate_samples(plan: _Plan, indices: range) -> Iterator[Sample]:
    from tofsim.sensor import simulate

    cfg: GenerateConfig = plan.config
    cache = _SceneCache(cfg)
    for i in indices:
        scene_index = scene_index_of(i, cfg.frames_per_scene)
        renderer, poses = cache.get(scene_index)
        pose = poses[i - scene_index * cfg.frames_per_scene]
        frame = renderer.render(cache.intrinsics, pose)
        out = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        source = cfg.mesh_path if cfg.mesh_path is not None else None
        yield _sample_from(frame, out, pose, _meta(plan, i, source_file=source))


def _convert_samples(plan: _Plan, indices: range) -> Iterator[Sample]:
    from tofsim.sensor import simulate

    cfg: ConvertConfig = plan.config
    for i in indices:
        j = plan.source_indices[i]
        frame = plan.source.load(j)
        out = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
        source_file = str(frame.meta.get("source_file", plan.source.name(j)))
        yield _sample_from(
            frame, out, frame.pose, _meta(plan, i, source_file=source_file, source_name=plan.source.name(j))
        )


def _simulate_shard(plan: _Plan, shard_index: int, encoder: Executor | None) -> tuple[list[Sample], list[Any]]:
    """The samples of one shard and their encoded chunks (futures of `encoder` when given, else bytes).

    Encoding on `encoder`'s thread overlaps with simulating the next sample: zlib releases the GIL, and the
    simulation's single-threaded stretches leave a core idle.
    """
    from tofsim.dataset.writer import encode_chunks

    make = _generate_samples if plan.kind == "generate" else _convert_samples
    samples, chunks = [], []
    for sample in make(plan, plan.shard_range(shard_index)):
        samples.append(sample)
        chunks.append(encoder.submit(encode_chunks, sample) if encoder is not None else encode_chunks(sample))
    return samples, chunks


def _write_shard(plan: _Plan, shard_index: int, samples: list[Sample], chunks: list[Any]) -> dict[str, Any]:
    """Write one shard (atomically, by the writer) and its progress record; return the writer's record."""
    from tofsim.dataset.schema import shard_filename
    from tofsim.dataset.writer import write_shard

    chunks = [c.result() if isinstance(c, Future) else c for c in chunks]
    out_dir = Path(plan.out_dir)
    record = dict(
        write_shard(out_dir / shard_filename(shard_index), samples, attrs=plan.shard_attrs(shard_index), chunks=chunks)
    )
    record["file"] = Path(record["file"]).name
    record["shard_index"] = int(shard_index)
    progress_path = _progress_path(out_dir, shard_index)
    progress_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(progress_path, {"run_hash": plan.run_hash, **record}, sort_keys=True, what="progress record")
    return record


def _dask_worker_threads() -> int | None:
    """The thread count of the Dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def _run_shard(plan: _Plan, shard_index: int) -> dict[str, Any]:
    """Simulate and write one shard on the calling thread (a Dask task).

    The raycaster and the render kernels use as many cores as the worker has threads: a single-threaded worker
    uses one, so that N workers on N cores run side by side instead of taking turns (`tofsim.threads`).
    """
    keep_freed_memory()
    set_thread_budget(_dask_worker_threads())
    return _write_shard(plan, shard_index, *_simulate_shard(plan, shard_index, None))


# ---------------------------------------------------------------------------------------------------------------
# Files: progress records, checksums, stale temporaries, writability.


def _progress_path(out_dir: Path, shard_index: int) -> Path:
    from tofsim.dataset.schema import shard_filename

    return out_dir / PROGRESS_DIR / (Path(shard_filename(shard_index)).name + ".json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _known_records(out_dir: Path, plan: _Plan) -> dict[int, dict[str, Any]]:
    """Shard records from a previous run of the same config (manifest or progress records).

    Raises:
        ConfigError: if the folder holds a dataset (or an unfinished run) made with a different config.
    """
    from tofsim.dataset.manifest import read_manifest

    records: dict[int, dict[str, Any]] = {}
    if (out_dir / "manifest.json").exists():
        try:
            manifest = read_manifest(out_dir)
        except TofsimError:
            manifest = None
        if manifest is not None:
            if manifest.get("run_hash") != plan.run_hash:
                raise ConfigError(
                    f"{out_dir} already holds a dataset made with another config or source (config hash "
                    f"{str(manifest.get('config_hash'))[:16]}, this run {plan.config_hash[:16]}); choose another "
                    "--out folder or delete it"
                )
            for k, rec in enumerate(manifest.get("shards", [])):
                records[int(rec.get("shard_index", k))] = dict(rec)
    for path in sorted((out_dir / PROGRESS_DIR).glob("*.json")):
        rec = _read_json(path)
        if rec is None:
            continue
        if rec.get("run_hash") != plan.run_hash:
            raise ConfigError(
                f"{out_dir} holds an unfinished run with another config or source; choose another --out folder "
                "or delete it"
            )
        records[int(rec["shard_index"])] = rec
    return records


def _complete_shards(out_dir: Path, plan: _Plan) -> dict[int, dict[str, Any]]:
    """Shards that already exist, complete, with a matching checksum and sample count."""
    from tofsim.dataset.schema import shard_filename

    done: dict[int, dict[str, Any]] = {}
    for k, rec in _known_records(out_dir, plan).items():
        if not 0 <= k < plan.n_shards:
            continue
        path = out_dir / shard_filename(k)
        expected = plan.shard_range(k)
        if (
            path.is_file()
            and rec.get("count") == len(expected)
            and rec.get("first_index", expected.start) == expected.start
            and rec.get("sha256") == sha256_file(path)
        ):
            done[k] = {key: v for key, v in rec.items() if key != "run_hash"}
    return done


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete half-written files of an interrupted run (temporary names of shards, records and manifest)."""
    for folder in (out_dir, out_dir / PROGRESS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and (".tmp" in path.name or path.name.endswith((".partial", ".part"))):
                with contextlib.suppress(OSError):
                    path.unlink()


# ---------------------------------------------------------------------------------------------------------------
# Execution: in-process or on Dask.


def _run_in_process(plan: _Plan, todo: Sequence[int], on_done: Callable[[dict[str, Any]], None]) -> None:
    keep_freed_memory()
    # One I/O thread, first in first out: it encodes each sample as it is made and writes (and hashes, and
    # fsyncs) shard k while the main thread simulates shard k + 1. File contents do not depend on the timing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tofsim-io") as io:
        pending: Future | None = None
        for k in todo:
            samples, chunks = _simulate_shard(plan, k, io)
            if pending is not None:
                on_done(pending.result())
            pending = io.submit(_write_shard, plan, k, samples, chunks)
        if pending is not None:
            on_done(pending.result())


def _run_on_dask(
    plan: _Plan,
    todo: Sequence[int],
    on_done: Callable[[dict[str, Any]], None],
    *,
    workers: int | None,
    scheduler: str | None,
) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed, wait
    except ImportError:  # pragma: no cover - dask is an optional extra
        raise ConfigError("Dask is not installed: pip install 'tofbench[dask]' (or run without --workers)") from None

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as err:
                raise ConfigError(f"cannot connect to the Dask scheduler at {scheduler!r}: {err}") from None
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                    env=dict(_WORKER_ENV),
                )
            )
            client = stack.enter_context(Client(cluster))
        plan_future = client.scatter(plan, broadcast=True)
        run_id = uuid.uuid4().hex[:12]  # fresh task keys: a long-lived cluster never returns an old result
        futures = [client.submit(_run_shard, plan_future, k, key=f"tofsim-shard-{run_id}-{k}") for k in todo]
        try:
            for future in as_completed(futures):
                on_done(future.result())
        except TofsimError:
            wait(futures)  # let running shards finish, so the caller can remove everything this run wrote
            raise
        finally:
            for future in futures:
                future.cancel()


def _execute(
    plan: _Plan,
    *,
    workers: int | None,
    scheduler: str | None,
    progress: ProgressFn | None,
) -> Path:
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers: must be a positive number of processes or None (in-process), got {workers!r}")
    out_dir = Path(plan.out_dir)
    created = prepare_output_dir(out_dir)
    with folder_lock(out_dir):  # one run at a time per folder
        return _execute_locked(plan, out_dir, created, workers=workers, scheduler=scheduler, progress=progress)


def _execute_locked(
    plan: _Plan,
    out_dir: Path,
    created: bool,
    *,
    workers: int | None,
    scheduler: str | None,
    progress: ProgressFn | None,
) -> Path:
    from tofsim.dataset.manifest import write_manifest

    try:
        records = _complete_shards(out_dir, plan)  # refuses a folder that holds another run's data
    except TofsimError:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    preexisting = set(records)
    try:
        _remove_stale_temporaries(out_dir)
        todo = [k for k in range(plan.n_shards) if k not in records]
        done = sum(records[k]["count"] for k in records)
        if progress is not None:
            progress(done, plan.n_samples)

        def on_done(record: dict[str, Any]) -> None:
            nonlocal done
            records[record["shard_index"]] = record
            done += record["count"]
            if progress is not None:
                progress(done, plan.n_samples)

        if todo and (workers is not None or scheduler is not None):
            _run_on_dask(plan, todo, on_done, workers=workers, scheduler=scheduler)
        else:
            _run_in_process(plan, todo, on_done)
        write_manifest(out_dir, _manifest(plan, [records[k] for k in range(plan.n_shards)]))
    except TofsimError:
        _discard(out_dir, plan, preexisting, created)
        raise
    shutil.rmtree(out_dir / PROGRESS_DIR, ignore_errors=True)
    return out_dir


def _discard(out_dir: Path, plan: _Plan, preexisting: set[int], created: bool) -> None:
    """After a failure on bad input: remove what this run wrote (and the folder if this run created it)."""
    from tofsim.dataset.schema import shard_filename

    if created:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for k in range(plan.n_shards):
        if k not in preexisting:
            with contextlib.suppress(OSError):
                (out_dir / shard_filename(k)).unlink()
            with contextlib.suppress(OSError):
                _progress_path(out_dir, k).unlink()
    _remove_stale_temporaries(out_dir)
    with contextlib.suppress(OSError):
        (out_dir / PROGRESS_DIR).rmdir()  # only if empty: records of an earlier interrupted run stay


def _manifest(plan: _Plan, shard_records: list[dict[str, Any]]) -> dict[str, Any]:
    from tofsim.dataset.manifest import make_manifest

    splits = {name: [i for i, s in enumerate(plan.splits) if s == name] for name in plan.config.split_fractions}
    scenes = list(dict.fromkeys(plan.scene_ids))
    split_of_scene = dict(zip(plan.scene_ids, plan.splits, strict=True))
    extra = {
        "kind": plan.kind,
        "n_scenes": len(scenes),
        "shard_size": plan.shard_size,
        "split_scenes": {name: [s for s in scenes if split_of_scene[s] == name] for name in splits},
        "source": plan.source_root,
        "run_hash": plan.run_hash,
    }
    shards = [{k: r[k] for k in ("file", "count", "sha256", "first_index", "shard_index")} for r in shard_records]
    return make_manifest(
        shards,
        config=plan.config.to_dict(),
        splits=splits,
        seed=int(plan.config.seed),
        preset=_sensor_name(plan.config.sensor),
        image_size=plan.image_size,
        extra=extra,
    )


def _assign_splits(scene_ids: Sequence[str], fractions: dict[str, float], seed: int) -> tuple[str, ...]:
    """Per-sample split names from `split_by_scene` (all frames of a scene share one split)."""
    from tofsim.dataset.manifest import split_by_scene

    result = split_by_scene(list(scene_ids), tuple(fractions[name] for name in SPLIT_NAMES), seed)
    split_of = [""] * len(scene_ids)
    for name, positions in result.items():
        for i in positions:
            split_of[i] = name
    return tuple(split_of)


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def generate(
    config: GenerateConfig,
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Generate a dataset of procedural rooms (or one mesh) into `out_dir` (HDF5 shards + ``manifest.json``).

    Args:
        config: the resolved `GenerateConfig` (see `tofsim.config`).
        out_dir: output folder; created if needed. A folder with an unfinished run of the same config is
            resumed; one with another config's data is refused.
        workers: None runs in this process; N starts a local Dask cluster of N single-threaded processes.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``); overrides `workers`.
        progress: ``progress(samples_done, samples_total)`` called at start and after every shard.

    Returns:
        The output folder.

    Raises:
        ConfigError: bad workers value, a folder holding another config's data, an unreachable scheduler.
        OutputError: the output folder cannot be written.
        InputFileError: the mesh file is missing, unreadable or empty.

    Example:
        >>> from tofsim.config import get_generate_preset  # doctest: +SKIP
        >>> generate(get_generate_preset("sds").replace(n_frames=8), "out/sds-8")  # doctest: +SKIP
    """
    if not isinstance(config, GenerateConfig):
        raise ConfigError(f"config: expected a GenerateConfig, got {type(config).__name__}")
    if config.mesh_path is not None:  # fail before writing anything if the mesh is bad
        from tofsim.scene.mesh import load_mesh

        load_mesh(config.mesh_path)
    stem = Path(config.mesh_path).stem if config.mesh_path is not None else "room"
    scene_ids = tuple(f"{stem}-{scene_index_of(i, config.frames_per_scene):05d}" for i in range(config.n_frames))
    plan = _Plan(
        kind="generate",
        config=config,
        config_hash=config_hash(config),
        out_dir=str(out_dir),
        n_samples=config.n_frames,
        shard_size=config.shard_size,
        scene_ids=scene_ids,
        splits=_assign_splits(scene_ids, config.split_fractions, config.seed),
        version=_tofsim_version(),
        image_size=(config.camera.height_px, config.camera.width_px),
    )
    return _execute(plan, workers=workers, scheduler=scheduler, progress=progress)


def _intrinsics_for(src: Any, config: ConvertConfig) -> Any:
    """Intrinsics from `config.intrinsics_path`, sized like the source's first frame.

    Raises:
        InputFileError: missing or malformed file. ShapeError: NaN entries.
    """
    from PIL import Image

    from tofsim.sources import open_source
    from tofsim.sources.intrinsics_file import read_intrinsics_file

    path = Path(config.intrinsics_path)
    read_intrinsics_file(path, width_px=1, height_px=1)  # validate the numbers before anything else
    try:  # the source's own intrinsics (file or per-kind default) give the size of its frames
        probe = open_source(src, kind=config.kind, depth_scale_per_m=config.depth_scale_per_m)
        height_px, width_px = probe.load(0).shape
    except TofsimError:  # no intrinsics of its own: read the size of the first depth image
        placeholder = read_intrinsics_file(path, width_px=1, height_px=1)
        probe = open_source(src, kind=config.kind, depth_scale_per_m=config.depth_scale_per_m, intrinsics=placeholder)
        first = getattr(probe, "items", [None])[0]
        try:
            with Image.open(first[0]) as image:
                width_px, height_px = image.size
        except (TypeError, IndexError, OSError):
            raise ConfigError(f"{src}: cannot tell the image size to go with --intrinsics {path}") from None
    return read_intrinsics_file(path, width_px=width_px, height_px=height_px)


def convert(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: ConvertConfig | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Convert real RGB-D frames (a folder of PNG16 depth, NYUv2 ``.h5`` files, Hypersim) into a dataset.

    Each source frame goes through the sensor of `config`; sample ``i`` gets its noise from
    ``sample_rng(config.seed, i, "noise")``, and its meta records the source file.

    Args:
        src: the source folder or file (see `tofsim.sources.open_source`).
        out_dir: output folder (as for `generate`).
        config: a `ConvertConfig`; None uses the defaults (``sds`` sensor, seed 0).
        workers, scheduler, progress: as for `generate`.

    Returns:
        The output folder.

    Raises:
        InputFileError: the source is missing, empty or unreadable.
        ShapeError: the source has bad intrinsics (NaN) or frames of the wrong size or type.
        ConfigError: bad options.
        OutputError: the output folder cannot be written.
    """
    from tofsim.sources import open_source

    config = ConvertConfig() if config is None else config
    if not isinstance(config, ConvertConfig):
        raise ConfigError(f"config: expected a ConvertConfig, got {type(config).__name__}")
    intrinsics = None
    if config.intrinsics_path is not None:
        intrinsics = _intrinsics_for(src, config)
    source = open_source(src, kind=config.kind, depth_scale_per_m=config.depth_scale_per_m, intrinsics=intrinsics)
    indices = tuple(range(0, len(source), config.frame_stride))
    if config.max_frames is not None:
        indices = indices[: config.max_frames]
    if not indices:
        raise ConfigError(f"{src}: no frames to convert")
    first = source.load(indices[0])  # fail early (bad intrinsics, wrong depth type) before writing anything
    scene_ids = tuple(str(source.scene_id(j)) for j in indices)
    plan = _Plan(
        kind="convert",
        config=config,
        config_hash=config_hash(config),
        out_dir=str(out_dir),
        n_samples=len(indices),
        shard_size=config.shard_size,
        scene_ids=scene_ids,
        splits=_assign_splits(scene_ids, config.split_fractions, config.seed),
        version=_tofsim_version(),
        source=source,
        source_indices=indices,
        source_root=str(src),
        image_size=tuple(first.shape),
    )
    return _execute(plan, workers=workers, scheduler=scheduler, progress=progress)
