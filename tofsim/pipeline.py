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
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tofsim.config import ConvertConfig, GenerateConfig, config_hash
from tofsim.dataset.folders import folder_lock, prepare_output_dir
from tofsim.dataset.manifest import make_manifest, split_by_scene, write_manifest
from tofsim.dataset.schema import shard_filename
from tofsim.errors import ConfigError, TofsimError
from tofsim.memory import keep_freed_memory
from tofsim.provenance import versions
from tofsim.resume import PROGRESS_DIR, complete_shards, progress_path, remove_stale_temporaries
from tofsim.shards import (
    ShardPlan,
    check_config_mesh,
    run_shard,
    scene_index_of,
    sensor_name,
    simulate_shard,
    write_plan_shard,
)

#: Split names, in the order `tofsim.dataset.manifest.split_by_scene` takes their fractions.
SPLIT_NAMES = ("train", "val", "test")

__all__ = ["generate", "convert", "ProgressFn"]

#: ``progress(samples_done, samples_total)``, called once at start and after every finished shard.
ProgressFn = Callable[[int, int], None]

#: Environment of local Dask worker processes: one thread per worker for NumPy/BLAS, Open3D's raycaster and the
#: render kernels (`tofsim.threads` reads OMP_NUM_THREADS).
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------------------------
# Execution: in-process or on Dask.


def _run_in_process(plan: ShardPlan, todo: Sequence[int], on_done: Callable[[dict[str, Any]], None]) -> None:
    keep_freed_memory()
    # One I/O thread, first in first out: it encodes each sample as it is made and writes (and hashes, and
    # fsyncs) shard k while the main thread simulates shard k + 1. File contents do not depend on the timing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tofsim-io") as io:
        pending: Future | None = None
        for k in todo:
            samples, chunks = simulate_shard(plan, k, io)
            if pending is not None:
                on_done(pending.result())
            pending = io.submit(write_plan_shard, plan, k, samples, chunks)
        if pending is not None:
            on_done(pending.result())


def _run_on_dask(
    plan: ShardPlan,
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
        futures = [client.submit(run_shard, plan_future, k, key=f"tofsim-shard-{run_id}-{k}") for k in todo]
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
    plan: ShardPlan,
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
    plan: ShardPlan,
    out_dir: Path,
    created: bool,
    *,
    workers: int | None,
    scheduler: str | None,
    progress: ProgressFn | None,
) -> Path:
    try:
        records = complete_shards(out_dir, plan)  # refuses a folder that holds another run's data
    except TofsimError:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    preexisting = set(records)
    try:
        remove_stale_temporaries(out_dir)
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


def _discard(out_dir: Path, plan: ShardPlan, preexisting: set[int], created: bool) -> None:
    """After a failure on bad input: remove what this run wrote (and the folder if this run created it)."""
    if created:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for k in range(plan.n_shards):
        if k not in preexisting:
            with contextlib.suppress(OSError):
                (out_dir / shard_filename(k)).unlink()
            with contextlib.suppress(OSError):
                progress_path(out_dir, k).unlink()
    remove_stale_temporaries(out_dir)
    with contextlib.suppress(OSError):
        (out_dir / PROGRESS_DIR).rmdir()  # only if empty: records of an earlier interrupted run stay


def _manifest(plan: ShardPlan, shard_records: list[dict[str, Any]]) -> dict[str, Any]:
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
        preset=sensor_name(plan.config.sensor),
        image_size=plan.image_size,
        extra=extra,
    )


def _assign_splits(scene_ids: Sequence[str], fractions: dict[str, float], seed: int) -> tuple[str, ...]:
    """Per-sample split names from `split_by_scene` (all frames of a scene share one split)."""
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
        ConfigError: bad workers value, a folder holding another config's data, an unreachable scheduler, a
            mesh in the wrong units, a pose file whose count is not `n_frames`, or a file pose that sees nothing
            or sits inside geometry.
        OutputError: the output folder cannot be written.
        InputFileError: the mesh file (or pose file) is missing, unreadable or empty.

    Example:
        >>> from tofsim.config import get_generate_preset  # doctest: +SKIP
        >>> generate(get_generate_preset("sds").replace(n_frames=8), "out/sds-8")  # doctest: +SKIP
    """
    if not isinstance(config, GenerateConfig):
        raise ConfigError(f"config: expected a GenerateConfig, got {type(config).__name__}")
    check_config_mesh(config)  # fail before writing anything if the mesh or the pose file is bad
    stem = Path(config.mesh_path).stem if config.mesh_path is not None else "room"
    scene_ids = tuple(f"{stem}-{scene_index_of(i, config.frames_per_scene):05d}" for i in range(config.n_frames))
    plan = ShardPlan(
        kind="generate",
        config=config,
        config_hash=config_hash(config),
        out_dir=str(out_dir),
        n_samples=config.n_frames,
        shard_size=config.shard_size,
        scene_ids=scene_ids,
        splits=_assign_splits(scene_ids, config.split_fractions, config.seed),
        version=versions(["tofbench"])["tofbench"],
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
    if getattr(source, "depth_scale_per_m", None) is not None:  # PNG sources: a wrong scale gives odd depths
        from tofsim.sources.base import check_depth_scale

        where = first.meta.get("source_file", f"{src} frame {indices[0]}")
        check_depth_scale(first.depth_m, source.depth_scale_per_m, where=str(where))
    scene_ids = tuple(str(source.scene_id(j)) for j in indices)
    plan = ShardPlan(
        kind="convert",
        config=config,
        config_hash=config_hash(config),
        out_dir=str(out_dir),
        n_samples=len(indices),
        shard_size=config.shard_size,
        scene_ids=scene_ids,
        splits=_assign_splits(scene_ids, config.split_fractions, config.seed),
        version=versions(["tofbench"])["tofbench"],
        source=source,
        source_indices=indices,
        source_root=str(src),
        image_size=tuple(first.shape),
    )
    return _execute(plan, workers=workers, scheduler=scheduler, progress=progress)
