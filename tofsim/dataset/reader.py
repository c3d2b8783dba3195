"""Read a tofsim dataset: `open_dataset(path, split=None) -> TofDataset`, indexable and iterable.

Shards are opened lazily and the handles are dropped on pickling and after a fork, so a `TofDataset` can be
handed to torch ``DataLoader`` workers as is.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.dataset import schema
from tofsim.dataset.manifest import read_manifest
from tofsim.errors import ConfigError, InputFileError
from tofsim.frame import SPOT_DTYPE, Sample
from tofsim.provenance import sha256_file

__all__ = ["TofDataset", "open_dataset", "shard_info"]

#: Shard files kept open per process (least recently used ones are closed).
MAX_OPEN_SHARDS = 8
#: Field names `TofDataset.read` accepts.
FIELDS = ("rgb", "depth_m", "sparse_m", "spot_mask", "spots", "K", "pose", "meta", "zones")


def shard_info(path: Path) -> dict[str, Any]:
    """The manifest entry of an existing shard, as `write_shard` returned it (e.g. to resume a killed run).

    Returns:
        ``{"file": name, "count": n, "sha256": ..., "first_index": ...}``.

    Raises:
        InputFileError: missing or unreadable file, or not a tofsim shard.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != schema.FORMAT_NAME:
                raise InputFileError(f"{path}: not a {schema.FORMAT_NAME} shard")
            count, first = int(f.attrs["count"]), int(f.attrs["first_index"])
    except FileNotFoundError:
        raise InputFileError(f"{path}: shard not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read shard ({e})") from None
    return {"file": path.name, "count": count, "sha256": sha256_file(path), "first_index": first}


class TofDataset:
    """A tofsim dataset folder: ``len(ds)``, ``ds[i] -> Sample``, iteration, ``ds.subset("val")``.

    ``i`` is the position within the chosen split (or in global sample order without a split); negative indices
    count from the end. Use `open_dataset` to create one.

    Attributes:
        path: the dataset folder.
        manifest: the parsed ``manifest.json``.
        split: the chosen split name, or None for all samples.
        indices: (len,) int64 global sample indices in this view, ascending.
    """

    def __init__(self, path: Path, split: str | None = None, *, verify: bool = False) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        shards = sorted(self.manifest["shards"], key=lambda s: int(s["first_index"]))
        expected = 0
        for s in shards:
            if int(s["first_index"]) != expected:
                raise InputFileError(
                    f"{self.path}: manifest shard {s['file']} starts at {s['first_index']}, expected {expected}"
                )
            if not (self.path / s["file"]).is_file():
                raise InputFileError(f"{self.path / s['file']}: shard listed in the manifest is missing")
            expected += int(s["count"])
        if expected != int(self.manifest["count"]):
            raise InputFileError(
                f"{self.path}: shards hold {expected} samples but the manifest says {self.manifest['count']}"
            )
        self._shards = shards
        self._starts = [int(s["first_index"]) for s in shards]
        self.split = split
        if split is None:
            self.indices = np.arange(expected, dtype=np.int64)
        else:
            if split not in self.splits:
                valid = ", ".join(sorted(self.splits)) or "none (the manifest has no splits)"
                raise ConfigError(f"unknown split {split!r}; valid splits: {valid}")
            self.indices = np.asarray(sorted(self.splits[split]), dtype=np.int64)
            if len(self.indices) and (self.indices[0] < 0 or self.indices[-1] >= expected):
                raise InputFileError(f"{self.path}: split {split!r} holds indices outside 0..{expected - 1}")
        self._handles: OrderedDict[int, Any] = OrderedDict()
        self._offsets: dict[int, np.ndarray] = {}
        self._pid = os.getpid()
        if verify:
            self.verify()

    # -- views ---------------------------------------------------------------------------------------------
    @property
    def splits(self) -> dict[str, list[int]]:
        """Split name -> global sample indices, from the manifest ({} when it has none)."""
        return dict(self.manifest.get("splits") or {})

    def subset(self, split: str) -> TofDataset:
        """The same dataset restricted to `split` (``"train"``, ``"val"``, ``"test"``)."""
        return TofDataset(self.path, split)

    def __len__(self) -> int:
        return len(self.indices)

    def global_index(self, i: int) -> int:
        """Global sample index of position `i` in this view (negative counts from the end)."""
        n = len(self.indices)
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} samples")
        return int(self.indices[i])

    def __getitem__(self, i: int) -> Sample:
        return self.read(i)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split is not None else ""
        return f"TofDataset({str(self.path)!r}{split}, {len(self)} samples)"

    # -- file handles ----------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def _file(self, k: int) -> Any:
        import h5py

        if self._pid != os.getpid():  # forked: the parent's handles are not ours to use
            self._handles = OrderedDict()
            self._pid = os.getpid()
        f = self._handles.get(k)
        if f is not None:
            self._handles.move_to_end(k)
            return f
        path = self.path / self._shards[k]["file"]
        try:
            f = h5py.File(path, "r")
        except FileNotFoundError:
            raise InputFileError(f"{path}: shard is missing") from None
        except OSError as e:
            raise InputFileError(f"{path}: cannot open shard ({e})") from None
        entry = self._shards[k]
        found = (f.attrs.get("count"), f.attrs.get("first_index"))
        if found != (int(entry["count"]), int(entry["first_index"])):
            f.close()
            raise InputFileError(
                f"{path}: shard holds count/first_index {found}, but {schema.MANIFEST_NAME} says "
                f"{(entry['count'], entry['first_index'])}; the folder mixes files of different runs"
            )
        self._handles[k] = f
        while len(self._handles) > MAX_OPEN_SHARDS:
            _, old = self._handles.popitem(last=False)
            old.close()
        return f

    def close(self) -> None:
        """Close open shard files (they reopen on the next access)."""
        while self._handles:
            _, f = self._handles.popitem()
            f.close()

    def __enter__(self) -> TofDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _locate(self, i: int) -> tuple[int, int]:
        g = self.global_index(i)
        k = bisect.bisect_right(self._starts, g) - 1
        return k, g - self._starts[k]

    # -- reading ---------------------------------------------------------------------------------------------
    def read(self, i: int, fields: Sequence[str] = FIELDS) -> Sample:
        """Sample at position `i`, reading only `fields` (the others are left as None / empty).

        Raises:
            IndexError: `i` past either end.
            ConfigError: an unknown field name.
        """
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ConfigError(f"unknown fields {sorted(unknown)}; valid: {', '.join(FIELDS)}")
        k, j = self._locate(i)
        f = self._file(k)
        out: dict[str, Any] = {name: None for name in FIELDS}
        for name, stored in schema.SAMPLE_FIELDS.items():  # the on-disk names: depth, sparse, mask, ...
            if name in fields:
                out[name] = f[stored][j]
        if out["spot_mask"] is not None:
            out["spot_mask"] = out["spot_mask"].astype(bool)  # stored as uint8 0/1
        if "spots" in fields:
            off = self._offsets.get(k)
            if off is None:
                off = self._offsets[k] = f[schema.SPOT_OFFSETS][()]
            out["spots"] = f[schema.SPOTS][off[j] : off[j + 1]].astype(SPOT_DTYPE, copy=False)
        out["meta"] = json.loads(f[schema.META].asstr()[j]) if "meta" in fields else {}
        if "zones" in fields and schema.ZONE_MAP in f:  # optional: zone sensors with zone_statistics
            out["zones"] = {key: f[name][j] for name, (key, _) in schema.ZONE_DATASETS.items()}
        return Sample(**out)

    def verify(self) -> None:
        """Check every shard's sha256 against the manifest.

        Raises:
            InputFileError: a missing shard or a checksum mismatch (naming the file).
        """
        for s in self._shards:
            path = self.path / s["file"]
            if not path.is_file():
                raise InputFileError(f"{path}: shard listed in the manifest is missing")
            if s.get("sha256") and sha256_file(path) != s["sha256"]:
                raise InputFileError(f"{path}: checksum mismatch with {schema.MANIFEST_NAME} (corrupt or modified)")


def open_dataset(path: str | Path, split: str | None = None, *, verify: bool = False) -> TofDataset:
    """Open a tofsim dataset folder.

    Args:
        path: folder with ``manifest.json`` and its shards.
        split: ``"train"``, ``"val"``, ``"test"`` (from the manifest), or None for every sample.
        verify: check every shard's sha256 now (reads all bytes).

    Returns:
        `TofDataset`.

    Raises:
        InputFileError: not a dataset (no manifest), a missing shard, a checksum mismatch (with `verify`).
        ConfigError: unknown split.

    Example:
        >>> ds = open_dataset("runs/sds-demo", split="val")  # doctest: +SKIP
        >>> sample = ds[0]; sample.depth_m.shape
    """
    return TofDataset(Path(path), split, verify=verify)
