"""Resume: which shards of an earlier run of the same config are complete, and the leftovers to clean up.

Every finished shard is recorded in ``OUT/.tofsim-progress/<shard>.json`` (written by `tofsim.shards`) with its
SHA-256 until the manifest is written. On start, a shard whose file exists and whose checksum matches its record
(or the manifest's entry) is kept; a folder that holds another run's data is refused.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tofsim.dataset.manifest import read_manifest
from tofsim.dataset.schema import shard_filename
from tofsim.errors import ConfigError, TofsimError
from tofsim.provenance import read_json, sha256_file

if TYPE_CHECKING:
    from tofsim.shards import ShardPlan

__all__ = ["PROGRESS_DIR", "progress_path", "complete_shards", "remove_stale_temporaries"]

#: Hidden folder (inside the output folder) that records finished shards until the manifest is written.
PROGRESS_DIR = ".tofsim-progress"


def progress_path(out_dir: Path, shard_index: int) -> Path:
    """The progress record of shard `shard_index` in `out_dir`."""
    return out_dir / PROGRESS_DIR / (Path(shard_filename(shard_index)).name + ".json")


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = read_json(path, what="progress record")
    except TofsimError:  # a record cut short by a crash: its shard is made again
        return None
    return record if isinstance(record, dict) else None


def _known_records(out_dir: Path, plan: ShardPlan) -> dict[int, dict[str, Any]]:
    """Shard records from a previous run of the same config (manifest or progress records).

    Raises:
        ConfigError: if the folder holds a dataset (or an unfinished run) made with a different config.
    """
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
        rec = _read_record(path)
        if rec is None:
            continue
        if rec.get("run_hash") != plan.run_hash:
            raise ConfigError(
                f"{out_dir} holds an unfinished run with another config or source; choose another --out folder "
                "or delete it"
            )
        records[int(rec["shard_index"])] = rec
    return records


def complete_shards(out_dir: Path, plan: ShardPlan) -> dict[int, dict[str, Any]]:
    """Shards that already exist, complete, with a matching checksum and sample count."""
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


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete half-written files of an interrupted run (temporary names of shards, records and manifest)."""
    for folder in (out_dir, out_dir / PROGRESS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and (".tmp" in path.name or path.name.endswith((".partial", ".part"))):
                with contextlib.suppress(OSError):
                    path.unlink()
