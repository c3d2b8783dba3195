"""``manifest.json``: the dataset's table of contents, written last (its presence marks a complete dataset).

Keys (see ``docs/dataset-format.md``): ``format``, ``format_version``, ``count``, ``shards`` (list of
``{"file", "count", "sha256", "first_index"}`` in global-index order), ``splits`` (``{"train": [indices], ...}``),
``config`` (the full resolved config), ``config_hash``, ``seed``, ``preset``, ``versions``, ``image_size``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.dataset import schema
from tofsim.errors import ConfigError, InputFileError
from tofsim.provenance import json_sha256, read_json, versions, write_json

__all__ = ["write_manifest", "read_manifest", "make_manifest", "split_by_scene"]


def split_by_scene(
    scene_ids: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[int]]:
    """Split sample positions into train / val / test so that no scene is in two splits.

    Scenes are shuffled with a generator seeded by `seed`, laid end to end by frame count, and each scene goes to
    the split in which the middle of its run of frames falls (cumulative `fractions`). The split sizes follow
    `fractions` in frames as closely as whole scenes allow (one scene -> everything in ``train``).

    Args:
        scene_ids: scene id of each sample, in sample order.
        fractions: (train, val, test), non-negative, summing to 1.
        seed: shuffling seed (0 is a seed).

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``: ascending sample positions; every position once.

    Raises:
        ConfigError: fractions not three non-negative numbers summing to 1.

    Example:
        >>> split_by_scene(["a", "a", "b"], (1.0, 0.0, 0.0), seed=0)
        {'train': [0, 1, 2], 'val': [], 'test': []}
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise ConfigError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1, got {fractions}"
        )
    if seed is None:
        raise ConfigError("split_by_scene: seed is required (0 is a valid seed)")
    scene_ids = [str(s) for s in scene_ids]
    scenes = sorted(set(scene_ids))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(b"split_by_scene")]))
    order = [scenes[k] for k in rng.permutation(len(scenes))]
    counts: dict[str, int] = {}
    for s in scene_ids:
        counts[s] = counts.get(s, 0) + 1
    total = len(scene_ids)
    bounds = np.cumsum(fr) * total
    split_of: dict[str, str] = {}
    start = 0
    for scene in order:
        middle = start + counts[scene] / 2.0
        k = int(np.searchsorted(bounds, middle, side="right"))
        split_of[scene] = schema.SPLIT_NAMES[min(k, 2)]
        start += counts[scene]
    out: dict[str, list[int]] = {name: [] for name in schema.SPLIT_NAMES}
    for i, s in enumerate(scene_ids):
        out[split_of[s]].append(i)
    return out


def make_manifest(
    shards: Sequence[Mapping[str, Any]],
    *,
    config: Mapping[str, Any],
    splits: Mapping[str, Sequence[int]] | None = None,
    seed: int | None = None,
    preset: str | None = None,
    image_size: tuple[int, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a manifest from `write_shard` results (sorted by ``first_index``) and the run's settings.

    Args:
        shards: the dicts returned by `tofsim.dataset.writer.write_shard`.
        config: the full resolved config (stored with its hash).
        splits: split name -> global sample indices (e.g. from `split_by_scene`); None: no splits.
        seed, preset: the run's global seed and sensor preset name.
        image_size: (H, W) of the samples.
        extra: more top-level keys (e.g. ``source``).

    Raises:
        ConfigError: shards that do not tile 0..count-1 contiguously.
    """
    shards = sorted((dict(s) for s in shards), key=lambda s: s["first_index"])
    expected = 0
    for s in shards:
        if s["first_index"] != expected:
            raise ConfigError(
                f"shard {s['file']} starts at index {s['first_index']}, expected {expected} (gap/overlap)"
            )
        expected += int(s["count"])
    manifest: dict[str, Any] = {
        "format": schema.FORMAT_NAME,
        "format_version": schema.FORMAT_VERSION,
        "count": expected,
        "shards": shards,
        "splits": {k: [int(i) for i in v] for k, v in (splits or {}).items()},
        "config": dict(config),
        "config_hash": json_sha256(config),
        "seed": seed,
        "preset": preset,
        "versions": versions(schema.VERSIONED_LIBRARIES, project_key="tofsim"),
        "image_size": list(image_size) if image_size is not None else None,
    }
    manifest.update(extra or {})
    return manifest


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``out_dir/manifest.json`` atomically (sorted keys, indented); call it after every shard exists.

    Raises:
        OutputError: the folder is missing or not writable, or the manifest is not JSON-serialisable.
    """
    out_dir = Path(out_dir)
    path = out_dir / schema.MANIFEST_NAME
    return write_json(path, manifest, sort_keys=True, what="manifest")


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """Read ``out_dir/manifest.json``.

    Raises:
        InputFileError: no such folder, no manifest (not a dataset or an unfinished run), invalid JSON, or a
            manifest of another format.
    """
    out_dir = Path(out_dir)
    path = out_dir / schema.MANIFEST_NAME
    if not out_dir.is_dir():
        raise InputFileError(f"{out_dir}: dataset folder not found")
    if not path.is_file():
        raise InputFileError(f"{out_dir}: not a tofsim dataset (no {schema.MANIFEST_NAME}; unfinished run?)")
    manifest = read_json(path, what="manifest")
    if not isinstance(manifest, dict):
        raise InputFileError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != schema.FORMAT_NAME:
        raise InputFileError(f"{path}: not a {schema.FORMAT_NAME} manifest (format={manifest.get('format')!r})")
    for key in ("count", "shards"):
        if key not in manifest:
            raise InputFileError(f"{path}: manifest lacks the key {key!r}")
    return manifest
