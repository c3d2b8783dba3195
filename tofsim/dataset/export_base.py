"""What every export layout shares: the output-folder rules, split groups, sample names and the spot table file.

An export is written into a temporary folder beside its destination and renamed when complete
(`tofsim.provenance.atomic_folder`), so the destination appears whole or not at all.

**Split groups.** A layout writes one group of samples per split: the chosen split of a split view
(``open_dataset(path, split="test")``), else every non-empty split of the manifest, else (a dataset without
splits, or a plain sequence of samples) one group named ``test`` holding every sample. Within a group a sample's
**position** (0, 1, ...) is its rank in the split in ascending dataset index: the numbering other codebases give
their outputs (NLSPN and CompletionFormer name prediction ``k`` of the test split ``{k:010d}.png``).

**Spot table file** (``*.csv``): a header ``u,v,range_m,z_m,amplitude,sigma_m,status`` and one row per spot
(`tofsim.frame.SPOT_DTYPE`): floats with 9 significant digits (enough to read every float32 back exactly),
status as an integer (`tofsim.frame.SpotStatus`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tofsim.errors import OutputError
from tofsim.frame import SPOT_DTYPE, Sample
from tofsim.provenance import atomic_folder

__all__ = [
    "DEFAULT_GROUP",
    "SPOT_COLUMNS",
    "SplitGroup",
    "group_summary",
    "position_name",
    "publish_export",
    "sample_index",
    "split_groups",
    "write_rgb_png",
    "write_spot_table",
]

#: Group name of a dataset without splits (NLSPN's test mode reads this key of its split file).
DEFAULT_GROUP = "test"
#: Columns of a spot table file, in order.
SPOT_COLUMNS = tuple(SPOT_DTYPE.names or ())


@dataclass(frozen=True)
class SplitGroup:
    """The samples one layout writes under one split name.

    Attributes:
        name: split name (``train``, ``val``, ``test``; `DEFAULT_GROUP` for a dataset without splits).
        dataset: the samples (a `TofDataset` view or a sequence of `Sample`), in ascending dataset index.
        indices: dataset index of each position.
    """

    name: str
    dataset: Any
    indices: list[int]


def sample_index(dataset: Any, pos: int, sample: Sample) -> int:
    """Dataset index of position `pos`: ``dataset.global_index(pos)``, else ``sample.meta["index"]``, else `pos`."""
    if hasattr(dataset, "global_index"):
        return int(dataset.global_index(pos))
    return int(sample.meta.get("index", pos))


def _indices(dataset: Any) -> list[int]:
    if hasattr(dataset, "global_index"):
        return [int(dataset.global_index(i)) for i in range(len(dataset))]
    return [int(dataset[i].meta.get("index", i)) for i in range(len(dataset))]


def split_groups(dataset: Any) -> list[SplitGroup]:
    """The split groups of `dataset` (see the module docstring), in the order train, val, test, others."""
    chosen = getattr(dataset, "split", None)
    splits = getattr(dataset, "splits", None) or {}
    if chosen is not None or not hasattr(dataset, "subset") or not any(splits.values()):
        return [SplitGroup(chosen or DEFAULT_GROUP, dataset, _indices(dataset))]
    order = {"train": 0, "val": 1, "test": 2}
    names = sorted((k for k, v in splits.items() if v), key=lambda k: (order.get(k, 3), k))
    groups = []
    for name in names:
        view = dataset.subset(name)
        groups.append(SplitGroup(name, view, _indices(view)))
    return groups


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 colour as an 8-bit RGB PNG (fast compression; the folder is published whole)."""
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path, compress_level=1)


def write_spot_table(path: Path, spots: np.ndarray) -> None:
    """Write a spot table (`SPOT_DTYPE` records) as CSV (see the module docstring)."""
    spots = np.asarray(spots).astype(SPOT_DTYPE, copy=False)
    lines = [",".join(SPOT_COLUMNS)]
    for rec in spots:
        floats = [f"{float(rec[c]):.9g}" for c in SPOT_COLUMNS[:-1]]
        lines.append(",".join([*floats, str(int(rec["status"]))]))
    path.write_text("\n".join(lines) + "\n")


def publish_export(out_dir: str | Path, what: str, write: Callable[[Path], None]) -> Path:
    """Create `out_dir` whole: call ``write(tmp)`` on a new temporary folder beside it, then rename.

    Args:
        out_dir: the folder to create; it must not exist (or be empty), and its parent must exist.
        what: what is written, for error messages (``"NLSPN export"``).
        write: fills the temporary folder.

    Returns:
        `out_dir` as a `Path`.

    Raises:
        OutputError: `out_dir` exists and is not empty, its parent is missing, or a file cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir}: already exists and is not empty; remove it or choose another folder")
    if not out_dir.parent.is_dir():
        raise OutputError(f"{out_dir.parent}: parent folder does not exist")
    try:
        with atomic_folder(out_dir, what=what) as tmp:
            write(tmp)
    except OutputError as e:
        raise OutputError(f"{out_dir}: cannot export ({e})") from None
    return out_dir


def position_name(pos: int) -> str:
    """File stem of split position `pos`: ten digits, as NLSPN and the KITTI devkit number frames."""
    return f"{pos:010d}"


def group_summary(groups: Sequence[SplitGroup]) -> dict[str, dict[str, Any]]:
    """``{split: {"count": n, "indices": [...]}}`` for ``export.json``: position k of a split is ``indices[k]``."""
    return {g.name: {"count": len(g.indices), "indices": list(g.indices)} for g in groups}
