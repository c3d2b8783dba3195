"""Export layout ``nlspn-nyu``: one HDF5 file per sample and a split file, as NLSPN's and CompletionFormer's read.

Their NYU loaders read the NYU Depth v2 files of sparse-to-dense / CSPN; this layout writes the same keys.

Layout (``k`` = position in the split, ten digits; see `tofsim.dataset.export_base`)::

    out_dir/nyu.json                 {"train": [{"filename": "train/0000000000.h5"}, ...], "val": [...], "test": [...]}
    out_dir/{split}/{k:010d}.h5      one sample (below)
    out_dir/export.json              layout, per split its dataset indices (position k -> indices[k]), units

Each ``.h5`` file holds what the NYU loaders read and, in extra keys they ignore, tofsim's spots:

=========  ================  ====================================================================
key        shape, dtype      meaning
=========  ================  ====================================================================
``rgb``    (3, H, W) uint8   colour, channels first (the loaders read ``f["rgb"][:].transpose(1, 2, 0)``)
``depth``  (H, W) float32    ground-truth z-depth in metres, 0 = invalid
``sparse`` (H, W) float32    simulated ToF z-depth in metres at spot pixels, 0 = no measurement
``mask``   (H, W) uint8      1 where ``sparse > 0``
``spots``  (N,) compound     the spot table (`tofsim.frame.SPOT_DTYPE`)
``K``      (3, 3) float64    pinhole intrinsics (pixels)
``pose``   (4, 4) float64    ``T_world_from_cam``, metres
=========  ================  ====================================================================

File attributes: ``tofsim_index`` (dataset index), ``split``, ``position``, ``meta`` (the sample's meta as JSON).
Arrays are stored bit for bit as the dataset holds them.

NLSPN's loader resizes to 240 x 320, centre-crops 228 x 304 and draws its own random spots from ``depth``; to use
tofsim's frames and spots unchanged, see docs/bridges.md (a three-line change to its loader).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tofsim.dataset.export_base import (
    SplitGroup,
    group_summary,
    position_name,
    publish_export,
    sample_index,
    split_groups,
)
from tofsim.frame import SPOT_DTYPE, Sample
from tofsim.provenance import canonical_json, json_text, versions

__all__ = ["export_nlspn_nyu", "NLSPN_SPLIT_FILE"]

#: Name of the split file (NLSPN's ``--split_json``).
NLSPN_SPLIT_FILE = "nyu.json"

_DEPTH_ATTRS = {"units": "m", "depth_kind": "z", "invalid_value": 0.0}


def export_nlspn_nyu(dataset: Any, out_dir: str | Path) -> Path:
    """Write `dataset` in the ``nlspn-nyu`` layout (see the module docstring).

    Args:
        dataset: a `TofDataset` (a split view writes that split; a full view every non-empty split) or a
            sequence of `Sample` (written as split ``test``).
        out_dir: the folder to create; it must not exist (or be empty).

    Returns:
        `out_dir` as a `Path`.

    Raises:
        OutputError: `out_dir` exists and is not empty, its parent is missing, or a file cannot be written.
    """
    groups = split_groups(dataset)
    return publish_export(out_dir, "NLSPN/NYU export", lambda tmp: _write(groups, tmp))


def _write(groups: list[SplitGroup], tmp: Path) -> None:
    split_file: dict[str, list[dict[str, str]]] = {}
    for group in groups:
        (tmp / group.name).mkdir()
        entries = []
        for pos in range(len(group.dataset)):
            rel = f"{group.name}/{position_name(pos)}.h5"
            sample = group.dataset[pos]
            _write_sample(tmp / rel, sample, index=sample_index(group.dataset, pos, sample), split=group.name, pos=pos)
            entries.append({"filename": rel})
        split_file[group.name] = entries
    (tmp / NLSPN_SPLIT_FILE).write_text(json.dumps(split_file, indent=4) + "\n")
    info = {
        "layout": "nlspn-nyu",
        "split_file": NLSPN_SPLIT_FILE,
        "splits": group_summary(groups),
        "numbering": "file k of a split is its k-th sample (ascending dataset index): dataset index = indices[k]",
        "depth_units": "m",
        "depth_kind": "z",
        "invalid_value": 0,
        "versions": versions(["tofbench", "h5py", "hdf5", "numpy"], project_key="tofsim"),
    }
    (tmp / "export.json").write_text(json_text(info, sort_keys=True))


def _write_sample(path: Path, sample: Sample, *, index: int, split: str, pos: int) -> None:
    sparse = np.asarray(sample.sparse_m, dtype=np.float32)
    with h5py.File(path, "w", track_order=True) as f:
        f.create_dataset("rgb", data=np.ascontiguousarray(np.asarray(sample.rgb, dtype=np.uint8).transpose(2, 0, 1)))
        f["rgb"].attrs["layout"] = "CHW"
        f.create_dataset(
            "depth", data=np.asarray(sample.depth_m, dtype=np.float32), compression="gzip", compression_opts=1
        )
        f["depth"].attrs.update(_DEPTH_ATTRS)
        f.create_dataset("sparse", data=sparse, compression="gzip", compression_opts=1)
        f["sparse"].attrs.update(_DEPTH_ATTRS)
        mask = np.asarray(sample.spot_mask if sample.spot_mask is not None else sparse > 0, dtype=np.uint8)
        f.create_dataset("mask", data=mask, compression="gzip", compression_opts=1)
        f.create_dataset("spots", data=np.asarray(sample.spots).astype(SPOT_DTYPE, copy=False))
        f.create_dataset("K", data=np.asarray(sample.K, dtype=np.float64))
        f.create_dataset("pose", data=np.asarray(sample.pose, dtype=np.float64))
        f.attrs["tofsim_index"] = index
        f.attrs["split"] = split
        f.attrs["position"] = pos
        f.attrs["meta"] = _meta_json(sample.meta)


def _meta_json(meta: dict[str, Any]) -> str:
    try:
        return canonical_json(meta)
    except TypeError:  # a value JSON cannot hold: stored as its text
        return json.dumps(meta, sort_keys=True, default=str)
