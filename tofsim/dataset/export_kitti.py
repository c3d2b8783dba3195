"""Export layout ``kitti``: KITTI depth-completion folders (16-bit PNG, metres x 256) plus NLSPN's KITTI split file.

Each split is a folder shaped like the devkit's ``depth_selection/val_selection_cropped`` (one folder per kind,
every frame under the same ten-digit name ``k`` = position in the split; see `tofsim.dataset.export_base`)::

    out_dir/kitti_dc.json                           {"test": [{"rgb", "depth", "gt", "K"}, ...]} (relative paths)
    out_dir/{split}/image/{k:010d}.png              8-bit RGB
    out_dir/{split}/velodyne_raw/{k:010d}.png       sparse ToF z-depth: uint16 = rint(metres x 256), 0 = none
    out_dir/{split}/groundtruth_depth/{k:010d}.png  ground-truth z-depth: uint16 = rint(metres x 256), 0 = invalid
    out_dir/{split}/intrinsics/{k:010d}.txt         the 9 values of K, row-major, on one line, space-separated
    out_dir/{split}/spots/{k:010d}.csv              the spot table (`tofsim.dataset.export_base`)
    out_dir/export.json                             layout, per split its dataset indices, the PNG scale

Depth is written by `tofsim.depth_png` at ``scale_per_m = 256``: rounded to the nearest 1/256 m (at most
1.95 mm off; KITTI's devkit and NLSPN read ``value / 256``), 0 for invalid pixels and for depths beyond
65534 / 256 = 255.99 m. The ``sparse`` map's exact float32 values are in the spot table's ``z_m``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tofsim.dataset.export_base import (
    SplitGroup,
    group_summary,
    position_name,
    publish_export,
    split_groups,
    write_rgb_png,
    write_spot_table,
)
from tofsim.depth_png import write_png16
from tofsim.frame import Sample
from tofsim.provenance import json_text, versions

__all__ = ["export_kitti", "KITTI_DEPTH_SCALE_PER_M", "KITTI_SPLIT_FILE", "KITTI_FOLDERS"]

#: PNG value per metre in KITTI depth completion files.
KITTI_DEPTH_SCALE_PER_M = 256.0
#: Name of the split file (NLSPN's and CompletionFormer's ``--split_json`` for ``--data_name KITTIDC``).
KITTI_SPLIT_FILE = "kitti_dc.json"
#: Folder of each kind of file within a split.
KITTI_FOLDERS = {
    "rgb": "image",
    "depth": "velodyne_raw",
    "gt": "groundtruth_depth",
    "K": "intrinsics",
    "spots": "spots",
}


def export_kitti(dataset: Any, out_dir: str | Path) -> Path:
    """Write `dataset` in the ``kitti`` layout (see the module docstring).

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
    return publish_export(out_dir, "KITTI export", lambda tmp: _write(groups, tmp))


def _write(groups: list[SplitGroup], tmp: Path) -> None:
    split_file: dict[str, list[dict[str, str]]] = {}
    for group in groups:
        for sub in KITTI_FOLDERS.values():
            (tmp / group.name / sub).mkdir(parents=True)
        entries = []
        for pos in range(len(group.dataset)):
            entries.append(_write_sample(tmp, group.name, position_name(pos), group.dataset[pos]))
        split_file[group.name] = entries
    (tmp / KITTI_SPLIT_FILE).write_text(json_text(split_file))
    info = {
        "layout": "kitti",
        "split_file": KITTI_SPLIT_FILE,
        "splits": group_summary(groups),
        "numbering": "file k of a split is its k-th sample (ascending dataset index): dataset index = indices[k]",
        "depth_scale_per_m": KITTI_DEPTH_SCALE_PER_M,
        "depth_rounding": "nearest (numpy rint)",
        "depth_kind": "z",
        "invalid_value": 0,
        "versions": versions(["tofbench", "pillow", "numpy"], project_key="tofsim"),
    }
    (tmp / "export.json").write_text(json_text(info, sort_keys=True))


def _write_sample(tmp: Path, split: str, name: str, sample: Sample) -> dict[str, str]:
    rel = {kind: f"{split}/{sub}/{name}" for kind, sub in KITTI_FOLDERS.items()}
    write_rgb_png(tmp / f"{rel['rgb']}.png", sample.rgb)
    for kind, depth_m in (("depth", sample.sparse_m), ("gt", sample.depth_m)):
        write_png16(tmp / f"{rel[kind]}.png", depth_m, scale_per_m=KITTI_DEPTH_SCALE_PER_M, compress_level=1)
    K = np.asarray(sample.K, dtype=np.float64)  # noqa: N806
    (tmp / f"{rel['K']}.txt").write_text(" ".join(repr(float(x)) for x in K.ravel()) + "\n")
    write_spot_table(tmp / f"{rel['spots']}.csv", sample.spots)
    return {
        "rgb": f"{rel['rgb']}.png",
        "depth": f"{rel['depth']}.png",
        "gt": f"{rel['gt']}.png",
        "K": f"{rel['K']}.txt",
    }
