"""Export a dataset in a layout other tools read: `export_dataset(dataset, out_dir, layout=...)`.

Layouts (`EXPORT_LAYOUTS`; each writes its folder whole or not at all):

- ``png`` (`export_folder`, below): flat folders named by dataset index, depth in millimetres.
- ``nlspn-nyu`` (`tofsim.dataset.export_nlspn`): NYU-style ``.h5`` files and ``nyu.json``, as NLSPN and
  CompletionFormer read them, numbered by position within each split.
- ``kitti`` (`tofsim.dataset.export_kitti`): KITTI depth-completion folders (16-bit PNG, metres x 256) and
  ``kitti_dc.json``, numbered by position within each split.

All three carry the spots: the sparse map and, per sample, the spot table. docs/bridges.md has worked examples.

Layout ``png`` (``index`` = global sample index, six digits)::

    out_dir/rgb/{index:06d}.png      8-bit RGB
    out_dir/depth/{index:06d}.png    16-bit ground-truth z-depth, millimetres (rounded), 0 = invalid
    out_dir/sparse/{index:06d}.png   16-bit simulated ToF z-depth, millimetres (rounded), 0 = no measurement
    out_dir/spots/{index:06d}.csv    the spot table (`tofsim.dataset.export_base`)
    out_dir/meta/{index:06d}.json    {"K": 3x3, "pose": 4x4 T_world_from_cam (m), "meta": {...}}
    out_dir/intrinsics.txt           3x3 K, written when every sample shares one K
    out_dir/export.json              depth_scale_per_m (1000), count, indices, source dataset
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.dataset.export_base import publish_export, sample_index, write_rgb_png, write_spot_table
from tofsim.dataset.export_kitti import export_kitti
from tofsim.dataset.export_nlspn import export_nlspn_nyu
from tofsim.depth_png import write_png16
from tofsim.errors import ConfigError, RegistryError
from tofsim.provenance import json_text
from tofsim.registry import Registry

__all__ = ["EXPORT_DEPTH_SCALE_PER_M", "EXPORT_LAYOUTS", "export_dataset", "export_folder"]

#: PNG value per metre of exported depth (millimetres).
EXPORT_DEPTH_SCALE_PER_M = 1000.0

#: layout name -> ``f(dataset, out_dir) -> Path``.
EXPORT_LAYOUTS: Registry = Registry("export layout")


def _write_png(path: Path, arr: np.ndarray) -> None:
    write_rgb_png(path, arr)


def export_folder(dataset, out_dir: str | Path) -> Path:
    """Write `dataset` (a `TofDataset` or any sequence of `Sample`) as flat PNG folders (see the module docstring).

    Written into a temporary folder beside `out_dir` and renamed when complete, so `out_dir` appears whole or
    not at all.

    Args:
        dataset: `tofsim.dataset.reader.TofDataset` (global indices name the files) or a sequence of samples
            (their position names the files unless ``meta["index"]`` is set).
        out_dir: the folder to create; it must not exist (or be empty).

    Returns:
        `out_dir` as a `Path`.

    Raises:
        OutputError: `out_dir` exists and is not empty, or cannot be written.
    """
    return publish_export(out_dir, "flat export", lambda tmp: _write_folder(dataset, tmp))


def _write_folder(dataset, tmp: Path) -> None:
    """Write the export's files into the (new, empty) folder `tmp`."""
    for sub in ("rgb", "depth", "sparse", "spots", "meta"):
        (tmp / sub).mkdir(parents=True)
    indices, k_first, same_k = [], None, True
    for pos in range(len(dataset)):
        sample = dataset[pos]
        index = sample_index(dataset, pos, sample)
        name = f"{index:06d}"
        _write_png(tmp / "rgb" / f"{name}.png", np.asarray(sample.rgb, dtype=np.uint8))
        write_png16(
            tmp / "depth" / f"{name}.png", sample.depth_m, scale_per_m=EXPORT_DEPTH_SCALE_PER_M, compress_level=1
        )
        write_png16(
            tmp / "sparse" / f"{name}.png", sample.sparse_m, scale_per_m=EXPORT_DEPTH_SCALE_PER_M, compress_level=1
        )
        write_spot_table(tmp / "spots" / f"{name}.csv", sample.spots)
        K = np.asarray(sample.K, dtype=np.float64)  # noqa: N806
        record = {"K": K.tolist(), "pose": np.asarray(sample.pose, dtype=np.float64).tolist(), "meta": sample.meta}
        (tmp / "meta" / f"{name}.json").write_text(json.dumps(record, sort_keys=True, indent=1, default=str))
        k_first = K if k_first is None else k_first
        same_k = same_k and np.array_equal(K, k_first)
        indices.append(index)
    if k_first is not None and same_k:
        np.savetxt(tmp / "intrinsics.txt", k_first, fmt="%.10e")
    info = {
        "count": len(indices),
        "indices": indices,
        "depth_scale_per_m": EXPORT_DEPTH_SCALE_PER_M,
        "depth_kind": "z",
        "invalid_value": 0,
        "source": str(getattr(dataset, "path", "")),
        "split": getattr(dataset, "split", None),
    }
    (tmp / "export.json").write_text(json_text(info, sort_keys=True))


EXPORT_LAYOUTS.register("png")(export_folder)
EXPORT_LAYOUTS.register("nlspn-nyu")(export_nlspn_nyu)
EXPORT_LAYOUTS.register("kitti")(export_kitti)


def export_dataset(dataset: Any, out_dir: str | Path, *, layout: str = "png") -> Path:
    """Write `dataset` into the new folder `out_dir` in `layout` (one of `EXPORT_LAYOUTS`).

    Args:
        dataset: a `TofDataset` (a split view, ``open_dataset(path, split="test")``, exports that split) or a
            sequence of `Sample`.
        out_dir: the folder to create; it must not exist (or be empty).
        layout: ``png``, ``nlspn-nyu`` or ``kitti`` (see the module docstring).

    Returns:
        `out_dir` as a `Path`.

    Raises:
        ConfigError: an unknown layout (listing the valid ones).
        OutputError: `out_dir` exists and is not empty, its parent is missing, or a file cannot be written.

    Example:
        >>> test = open_dataset("out/rooms", split="test")  # doctest: +SKIP
        >>> export_dataset(test, "out/rooms-nyu", layout="nlspn-nyu")  # doctest: +SKIP
    """
    try:
        write = EXPORT_LAYOUTS.get(layout)
    except RegistryError as e:
        raise ConfigError(str(e)) from None
    return write(dataset, out_dir)
