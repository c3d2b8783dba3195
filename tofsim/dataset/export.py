"""Export a dataset to flat folders of PNG images for tools that do not read HDF5.

Layout (``index`` = global sample index, six digits)::

    out_dir/rgb/{index:06d}.png      8-bit RGB
    out_dir/depth/{index:06d}.png    16-bit ground-truth z-depth, millimetres (rounded), 0 = invalid
    out_dir/sparse/{index:06d}.png   16-bit simulated ToF z-depth, millimetres (rounded), 0 = no measurement
    out_dir/meta/{index:06d}.json    {"K": 3x3, "pose": 4x4 T_world_from_cam (m), "meta": {...}}
    out_dir/intrinsics.txt           3x3 K, written when every sample shares one K
    out_dir/export.json              depth_scale_per_m (1000), count, indices, source dataset
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tofsim.depth_png import write_png16
from tofsim.errors import OutputError
from tofsim.provenance import atomic_folder, json_text

__all__ = ["export_folder", "EXPORT_DEPTH_SCALE_PER_M"]

#: PNG value per metre of exported depth (millimetres).
EXPORT_DEPTH_SCALE_PER_M = 1000.0


def _write_png(path: Path, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path, compress_level=1)


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
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir}: already exists and is not empty; remove it or choose another folder")
    if not out_dir.parent.is_dir():
        raise OutputError(f"{out_dir.parent}: parent folder does not exist")
    try:
        with atomic_folder(out_dir, what="flat export") as tmp:
            _write_folder(dataset, tmp)
    except OutputError as e:
        raise OutputError(f"{out_dir}: cannot export ({e})") from None
    return out_dir


def _write_folder(dataset, tmp: Path) -> None:
    """Write the export's files into the (new, empty) folder `tmp`."""
    for sub in ("rgb", "depth", "sparse", "meta"):
        (tmp / sub).mkdir(parents=True)
    indices, k_first, same_k = [], None, True
    for pos in range(len(dataset)):
        sample = dataset[pos]
        if hasattr(dataset, "global_index"):
            index = dataset.global_index(pos)
        else:
            index = int(sample.meta.get("index", pos))
        name = f"{index:06d}"
        _write_png(tmp / "rgb" / f"{name}.png", np.asarray(sample.rgb, dtype=np.uint8))
        write_png16(tmp / "depth" / f"{name}.png", sample.depth, scale_per_m=EXPORT_DEPTH_SCALE_PER_M, compress_level=1)
        write_png16(
            tmp / "sparse" / f"{name}.png", sample.sparse, scale_per_m=EXPORT_DEPTH_SCALE_PER_M, compress_level=1
        )
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
