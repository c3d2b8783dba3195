"""tofsim datasets on disk: HDF5 shards + ``manifest.json`` (layout in ``docs/dataset-format.md``)."""

from __future__ import annotations

from tofsim.dataset.manifest import make_manifest, read_manifest, split_by_scene, write_manifest
from tofsim.dataset.reader import TofDataset, open_dataset, shard_info
from tofsim.dataset.schema import shard_filename
from tofsim.dataset.writer import write_shard

__all__ = [
    "TofDataset",
    "make_manifest",
    "open_dataset",
    "read_manifest",
    "shard_filename",
    "shard_info",
    "split_by_scene",
    "write_manifest",
    "write_shard",
]
