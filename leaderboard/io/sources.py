"""Where frames come from: ground truth (a tofsim dataset or a folder) and predictions (a folder or a stacked file).

Frames are matched by **key**: a file's name up to its first dot (``000012.npy`` -> ``000012``,
``frame-000012.depth.png`` -> ``frame-000012``), read as an integer when it is all digits, so NLSPN's
``0000000012.png`` matches the dataset's frame 12 and ``000012.npy``. A **list file** overrides this: one line per
GT frame in GT order holding the prediction's file name, or two columns ``gt_name pred_file``.

**Numbering** (`NUMBERINGS`): ``index`` (default) keys a tofsim dataset's frames by their dataset index (as
``completion predict`` names its files, also under ``--split``) and a folder's frames by file name; ``split``
keys every GT frame by its position 0, 1, ... among the frames scored (the split's frames in ascending dataset
index), as NLSPN, CompletionFormer and ``tofsim export --layout nlspn-nyu|kitti`` number a split's files. Frame
names (the rows of ``per_image.csv``) stay the dataset's, so both numberings give the same tables.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.io.readers import KNOWN_SCALES_PER_M, READERS, SUFFIX_FORMATS, read_depth
from tofsim.frame import Sample

__all__ = [
    "frame_key",
    "PredictionSource",
    "ResolvedPredictions",
    "GtFrame",
    "GroundTruth",
    "open_ground_truth",
    "PRED_FORMATS",
    "FORMAT_ALIASES",
    "NUMBERINGS",
    "STACKED_NAMES",
]

#: Formats a prediction source accepts: the readers plus ``nlspn`` (``{index:010d}.png``, 16-bit, x256) and auto.
PRED_FORMATS = ("auto", *READERS.names(), "nlspn")
#: Other spellings accepted for a format: ``png`` is ``png16``, ``hdf5`` is ``h5``.
FORMAT_ALIASES = {"png": "png16", "hdf5": "h5"}
#: File names of a stacked prediction file: a folder holding only one of these is read as that file.
STACKED_NAMES = ("preds.h5", "preds.hdf5")
#: How prediction files are matched to GT frames (see the module docstring).
NUMBERINGS = ("index", "split")


def frame_key(name: str) -> int | str:
    """Matching key of a file name: the part before the first dot, as an int when all digits."""
    stem = Path(name).name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else stem


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _list_files(folder: Path, pattern: str | None) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if pattern is not None:
        files = [p for p in files if fnmatch.fnmatch(p.name, pattern)]
    return files


def _detect_format(folder: Path, files: list[Path]) -> str:
    suffixes = sorted({p.suffix.lower() for p in files})
    known = sorted({SUFFIX_FORMATS[s] for s in suffixes if s in SUFFIX_FORMATS})
    if len(known) == 1:
        return known[0]
    if not known:
        found = ", ".join(suffixes) or "no files"
        raise InputFileError(
            f"{folder}: cannot detect the depth format (found {found}); "
            f"known: {', '.join(sorted(SUFFIX_FORMATS))}, or set the format"
        )
    raise InputFileError(f"{folder}: mixed depth formats ({', '.join(known)}); set the format or a file pattern")


@dataclass(frozen=True, kw_only=True)
class PredictionSource:
    """A method's predictions.

    Attributes:
        path: a folder of per-frame files, or one HDF5 file holding an (N, H, W) dataset.
        fmt: one of `PRED_FORMATS`; ``auto`` detects it from the file suffixes.
        scale_per_m: PNG scale (256 KITTI/NLSPN, 1000 mm, 5000 TUM); required for PNG, implied 256 by ``nlspn``.
        float_scale_per_m: units per metre of float files (npy, npz, exr, h5, stacked h5) that do not hold
            metres (1000 for millimetres); None = metres. ``--pred NAME=PATH:scale=S`` sets both scales.
        key: array / channel / dataset name inside npz, exr, h5 files.
        list_file: optional list file (see the module docstring).
        pattern: optional glob on file names (e.g. ``"*.depth.png"``).
    """

    path: Path
    fmt: str = "auto"
    scale_per_m: float | None = None
    key: str | None = None
    list_file: Path | None = None
    pattern: str | None = None
    float_scale_per_m: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "fmt", FORMAT_ALIASES.get(self.fmt, self.fmt))
        if self.list_file is not None:
            object.__setattr__(self, "list_file", Path(self.list_file))
        if self.fmt not in PRED_FORMATS:
            raise ConfigError(f"unknown prediction format {self.fmt!r}; valid: {', '.join(PRED_FORMATS)}")
        f = self.float_scale_per_m
        if f is not None and not (isinstance(f, int | float) and 0 < f < math.inf):
            raise ConfigError(f"float_scale_per_m must be a positive number, got {f!r}")

    def resolve(self) -> ResolvedPredictions:
        """List the files and fix the format.

        Raises:
            InputFileError: missing path, undetectable or mixed formats, PNG without a scale, bad list file.
        """
        return ResolvedPredictions(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description."""
        return {
            "path": str(self.path.resolve()),
            "fmt": self.fmt,
            "scale_per_m": self.scale_per_m,
            "key": self.key,
            "list_file": None if self.list_file is None else str(self.list_file.resolve()),
            "pattern": self.pattern,
            "float_scale_per_m": self.float_scale_per_m,
        }


def _stacked_file(folder: Path, pattern: str | None, fmt: str) -> Path | None:
    """The stacked file a folder stands for: its only depth file when that is named as in `STACKED_NAMES`."""
    if not folder.is_dir() or pattern is not None or fmt not in ("auto", "h5"):
        return None
    files = [p for p in _list_files(folder, None) if p.suffix.lower() in SUFFIX_FORMATS]
    if len(files) == 1 and files[0].name.lower() in STACKED_NAMES:
        return files[0]
    return None


class ResolvedPredictions:
    """A `PredictionSource` with its files listed: ``lookup`` a GT frame, ``read`` its prediction."""

    def __init__(self, source: PredictionSource) -> None:
        self.source = source
        path = source.path
        self.scale_per_m = source.scale_per_m
        self.key = source.key
        self.stacked: str | None = None  # dataset name in a stacked HDF5 file
        self.by_key: dict[int | str, Path] = {}
        self.by_gt_name: dict[str, Path] | None = None
        self.by_position: list[Path] | None = None
        self.stacked_path: Path | None = None
        if not path.exists():
            raise InputFileError(f"prediction path not found: {path}")
        fmt = source.fmt
        if fmt == "nlspn":
            fmt = "png16"
            self.scale_per_m = 256.0 if self.scale_per_m is None else self.scale_per_m
        stacked = _stacked_file(path, source.pattern, fmt)
        if stacked is not None:
            path = stacked
        if path.is_file():
            if path.suffix.lower() not in (".h5", ".hdf5"):
                raise InputFileError(
                    f"{path}: predictions must be a folder, or one HDF5 file with an (N, H, W) dataset"
                )
            self._open_stacked(path)
            self.stacked_path = path
            self.fmt = "h5-stacked"
            return
        files = _list_files(path, source.pattern)
        if fmt == "auto":
            fmt = _detect_format(path, files)
        self.fmt = fmt
        suffixes = {s for s, f in SUFFIX_FORMATS.items() if f == fmt}
        files = [p for p in files if p.suffix.lower() in suffixes]
        if fmt == "png16" and self.scale_per_m is None:
            raise InputFileError(
                f"{path}: PNG predictions need an explicit scale_per_m ({KNOWN_SCALES_PER_M}); "
                "pass --png-scale-per-m or scale_per_m in the methods file"
            )
        for p in files:
            k = frame_key(p.name)
            if k in self.by_key:
                raise InputFileError(f"{path}: two files share the frame key {k!r}: {self.by_key[k].name}, {p.name}")
            self.by_key[k] = p
        if source.list_file is not None:
            self._read_list(source.list_file)

    def _open_stacked(self, path: Path) -> None:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                key = self.key
                if key is None:
                    three_d = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 3]
                    key = next((k for k in ("depth", "pred") if k in f), three_d[0] if len(three_d) == 1 else None)
                if key is None or key not in f or f[key].ndim != 3:
                    raise InputFileError(f"{path}: no (N, H, W) dataset {key!r}; it holds {', '.join(f)}")
                n = f[key].shape[0]
        except OSError as e:
            if isinstance(e, InputFileError):
                raise
            raise InputFileError(f"{path}: not a readable HDF5 file ({e})") from None
        self.stacked = key
        self.by_key = dict.fromkeys(range(n), path)

    def _read_list(self, list_file: Path) -> None:
        if not list_file.is_file():
            raise InputFileError(f"list file not found: {list_file}")
        lines = [ln.split() for ln in list_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        base = self.source.path
        if all(len(ln) == 1 for ln in lines):
            self.by_position = [base / ln[0] for ln in lines]
        elif all(len(ln) == 2 for ln in lines):
            self.by_gt_name = {ln[0]: base / ln[1] for ln in lines}
        else:
            raise InputFileError(f"{list_file}: every line must hold one prediction file, or 'gt_name pred_file'")

    def lookup(self, gt_key: int | str, gt_name: str, position: int) -> Path | None:
        """The prediction file of a GT frame (None when there is none)."""
        if self.by_position is not None:
            if position >= len(self.by_position):
                return None
            p = self.by_position[position]
            return p if p.is_file() else None
        if self.by_gt_name is not None:
            p = self.by_gt_name.get(gt_name)
            return p if p is not None and p.is_file() else None
        return self.by_key.get(gt_key)

    def read(self, path: Path, gt_key: int | str | None = None) -> tuple[np.ndarray, str]:
        """``(depth_m, sha256)`` of one prediction file (of frame `gt_key` of a stacked file)."""
        if self.stacked is not None:
            import h5py

            with h5py.File(path, "r") as f:
                arr = np.asarray(f[self.stacked][int(gt_key)], dtype=np.float32)
            sha = _sha256(arr.tobytes())
            return self._float_scaled(arr), sha
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputFileError(f"cannot read {path}: {e.strerror or e}") from None
        depth = read_depth(path, fmt=self.fmt, scale_per_m=self.scale_per_m, key=self.key, data=data)
        return (depth if self.fmt == "png16" else self._float_scaled(depth)), _sha256(data)

    def _float_scaled(self, depth: np.ndarray) -> np.ndarray:
        f = self.source.float_scale_per_m
        return depth if f is None or f == 1 else depth / np.float32(f)

    @property
    def value_scale_per_m(self) -> float | None:
        """The scale the values were read with: PNG's `scale_per_m`, else ``float_scale_per_m`` (None: metres)."""
        return self.scale_per_m if self.fmt == "png16" else self.source.float_scale_per_m

    def describe(self) -> dict[str, Any]:
        """Resolved folder, format, scale and key (written to ``methods.json``)."""
        return {
            "path": str((self.stacked_path or self.source.path).resolve()),
            "format": self.fmt,
            "scale_per_m": self.scale_per_m,
            "key": self.stacked if self.stacked is not None else self.key,
            "list_file": None if self.source.list_file is None else str(self.source.list_file.resolve()),
            "pattern": self.source.pattern,
            "float_scale_per_m": self.source.float_scale_per_m,
            "n_files": self.n_files,
        }

    @property
    def n_files(self) -> int:
        """Prediction files (frames of a stacked file, lines of a list file) the source holds."""
        return len(self.by_key) if self.by_position is None else len(self.by_position)


@dataclass
class GtFrame:
    """One ground-truth frame.

    Attributes:
        depth_m: (H, W) float32 z-depth in metres, 0 where invalid.
        spot_mask: (H, W) bool pixels with a ToF spot, or None when unknown.
        sparse_m: (H, W) float32 sparse input depth in metres (0 = none), or None when unknown.
        name: frame name (``000012`` for datasets, the file stem for folders).
        key: matching key (`frame_key`).
        sha256: checksum of the GT file (or the depth array for datasets).
    """

    depth_m: np.ndarray
    spot_mask: np.ndarray | None
    sparse_m: np.ndarray | None
    name: str
    key: int | str
    sha256: str


class GroundTruth:
    """Ground truth from a tofsim dataset, a dataset object, or a folder of depth files.

    Use `open_ground_truth`. ``len(gt)``, ``gt.names``, ``gt.keys``, ``gt.read(i) -> GtFrame``.
    """

    def __init__(self) -> None:
        self.kind = ""
        self.path: Path | None = None
        self.names: list[str] = []
        self.keys: list[int | str] = []
        self._dataset: Any = None
        self._files: list[Path] = []
        self._scale_per_m: float | None = None
        self._fmt = "auto"
        self._key: str | None = None
        self._pattern: str | None = None
        self._sparse: ResolvedPredictions | None = None
        self.numbering = "index"

    def __len__(self) -> int:
        return len(self.names)

    def read(self, i: int) -> GtFrame:
        """Frame `i` (0-based position)."""
        name, key = self.names[i], self.keys[i]
        if self._dataset is not None:
            s: Sample = self._dataset[i]
            depth = s.depth_m
            mask = s.spot_mask if s.spot_mask is not None or s.sparse_m is None else s.sparse_m > 0
            return GtFrame(
                depth_m=depth,
                spot_mask=mask,
                sparse_m=s.sparse_m,
                name=name,
                key=key,
                sha256=_sha256(depth.tobytes()),
            )
        path = self._files[i]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputFileError(f"cannot read GT file {path}: {e.strerror or e}") from None
        depth = read_depth(path, fmt=self._fmt, scale_per_m=self._scale_per_m, key=self._key, data=data)
        sparse = mask = None
        if self._sparse is not None:
            sp = self._sparse.lookup(key, name, i)
            if sp is None:
                raise InputFileError(f"no sparse input for GT frame {name} in {self._sparse.source.path}")
            sparse, _ = self._sparse.read(sp, key)
            if sparse.shape != depth.shape:
                raise ShapeError(f"sparse input {sp} has shape {sparse.shape} but GT {path} has {depth.shape}")
            mask = sparse > 0
        return GtFrame(depth_m=depth, spot_mask=mask, sparse_m=sparse, name=name, key=key, sha256=_sha256(data))

    def describe(self) -> dict[str, Any]:
        """Kind, path, frame count, format and scale (for ``metrics.json``)."""
        return {
            "kind": self.kind,
            "path": None if self.path is None else str(self.path.resolve()),
            "n_frames": len(self),
            "format": self._fmt if self.kind == "folder" else "tofsim",
            "scale_per_m": self._scale_per_m,
            "pattern": self._pattern,
            "key": self._key,
            "sparse": None if self._sparse is None else self._sparse.describe(),
            # recorded only when not the default, so that outputs scored as before stay byte-identical
            **({"numbering": self.numbering} if self.numbering != "index" else {}),
        }

    def renumbered(self, numbering: str) -> GroundTruth:
        """This ground truth with its frames keyed by `numbering` (``index`` or ``split``, see the module docstring).

        Raises:
            ConfigError: an unknown numbering.
        """
        if numbering not in NUMBERINGS:
            raise ConfigError(f"unknown numbering {numbering!r}; valid: {', '.join(NUMBERINGS)}")
        if numbering == self.numbering:
            return self
        if numbering != "split":
            raise ConfigError(f"ground truth numbered {self.numbering!r} cannot be renumbered {numbering!r}")
        out = copy.copy(self)
        out.keys = list(range(len(self)))
        out.numbering = numbering
        return out


def open_ground_truth(
    gt: Any,
    *,
    fmt: str = "auto",
    scale_per_m: float | None = None,
    key: str | None = None,
    pattern: str | None = None,
    sparse: PredictionSource | str | Path | None = None,
    split: str | None = None,
    numbering: str = "index",
) -> GroundTruth:
    """Open ground truth.

    Args:
        gt: a tofsim dataset folder (with ``manifest.json``), a dataset object (``len`` and ``ds[i]``, a
            `tofsim.frame.Sample`), or a folder of depth files.
        fmt: file format for folders (``auto`` by suffix).
        scale_per_m: PNG scale for folders of PNGs.
        key: array / channel / dataset name inside npz, exr, h5 files.
        pattern: glob on GT file names (e.g. ``"*.depth.png"`` for 7-Scenes folders).
        sparse: optional folder (or source) of sparse input depth maps matching a GT folder, for RDS and the
            at-spot regions (a tofsim dataset carries its own).
        split: only this split of a tofsim dataset (frame names keep the dataset's sample index, as
            ``completion predict`` writes them).
        numbering: ``index`` (default) or ``split``: match prediction files by the frame's position among the
            frames scored (NLSPN's and CompletionFormer's ``{k:010d}.png``; see the module docstring).

    Returns:
        A `GroundTruth`.

    Raises:
        InputFileError: missing folder, no depth files, PNG without a scale.
        ConfigError: an unknown numbering.
    """
    if numbering not in NUMBERINGS:
        raise ConfigError(f"unknown numbering {numbering!r}; valid: {', '.join(NUMBERINGS)}")
    return _open_ground_truth(
        gt, fmt=fmt, scale_per_m=scale_per_m, key=key, pattern=pattern, sparse=sparse, split=split
    ).renumbered(numbering)


def _open_ground_truth(
    gt: Any,
    *,
    fmt: str,
    scale_per_m: float | None,
    key: str | None,
    pattern: str | None,
    sparse: PredictionSource | str | Path | None,
    split: str | None,
) -> GroundTruth:
    out = GroundTruth()
    if not isinstance(gt, (str, Path)):
        if not (hasattr(gt, "__len__") and hasattr(gt, "__getitem__")):
            raise InputFileError(f"ground truth must be a path or a dataset object, got {type(gt).__name__}")
        out.kind = "dataset"
        out._dataset = gt
        index = getattr(gt, "global_index", lambda i: i)  # a split of a tofsim dataset keeps its indices
        out.keys = [index(i) for i in range(len(gt))]
        out.names = [f"{k:06d}" for k in out.keys]
        return out
    path = Path(gt)
    if not path.exists():
        raise InputFileError(f"ground truth not found: {path}")
    out.path = path
    if path.is_dir() and (path / "manifest.json").is_file():
        import tofsim

        ds = tofsim.open_dataset(path, split=split)
        inner = open_ground_truth(ds)
        inner.path, inner.kind = path, "tofsim"
        return inner
    if split is not None:
        raise ConfigError(f"--split needs a tofsim dataset as ground truth; {path} has no manifest.json")
    if not path.is_dir():
        raise InputFileError(f"ground truth must be a tofsim dataset or a folder of depth files: {path}")
    if fmt not in PRED_FORMATS:
        raise ConfigError(f"unknown GT format {fmt!r}; valid: {', '.join(PRED_FORMATS)}")
    files = _list_files(path, pattern)
    if fmt == "nlspn":
        fmt, scale_per_m = "png16", 256.0 if scale_per_m is None else scale_per_m
    if fmt == "auto":
        fmt = _detect_format(path, files)
    suffixes = {s for s, f in SUFFIX_FORMATS.items() if f == fmt}
    files = [p for p in files if p.suffix.lower() in suffixes]
    if not files:
        raise InputFileError(f"no {fmt} GT files in {path}")
    if fmt == "png16" and scale_per_m is None:
        raise InputFileError(
            f"{path}: PNG ground truth needs an explicit scale_per_m ({KNOWN_SCALES_PER_M}); pass --gt-scale-per-m"
        )
    out.kind = "folder"
    out._files = files
    out._fmt, out._scale_per_m, out._key, out._pattern = fmt, scale_per_m, key, pattern
    out.names = [p.name.split(".", 1)[0] for p in files]
    out.keys = [frame_key(p.name) for p in files]
    seen: dict[int | str, str] = {}
    for p, k in zip(files, out.keys, strict=True):
        if k in seen:
            raise InputFileError(
                f"{path}: GT files {seen[k]} and {p.name} share the frame key {k!r}; "
                "pass a file pattern (e.g. '*.depth.png') to pick one kind"
            )
        seen[k] = p.name
    if sparse is not None:
        src = sparse if isinstance(sparse, PredictionSource) else PredictionSource(path=Path(sparse))
        out._sparse = src.resolve()
    return out
