"""Prediction: run a model over a dataset (or a folder of RGB + sparse inputs) and write depth files.

Output folder (written into a temporary sibling folder, then renamed into place)::

    000000.npy ...      (H, W) float32 predicted z-depth in metres, one per sample; the number is the sample's
                        index in the dataset, so sorted names follow the dataset's sample order
    000000.png ...      optional 16-bit PNG (`tofsim.depth_png`): value = rint(depth_m * png_scale_per_m), 0 = none
    latency.csv         index, name, height_px, width_px, latency_s (model forward incl. device transfer;
                        after one untimed warm-up pass)
    predictions.json    model name and config, checkpoint, dataset path, split, count, median latency, ...

Input folder format (`InputFolder`)::

    rgb/NAME.png        8-bit RGB
    sparse/NAME.png     16-bit sparse z-depth (`tofsim.depth_png`), value / sparse_scale_per_m = metres (default
                        1000: mm), 0 and 65535 = none; 8-bit PNGs are refused
    intrinsics.txt      the (3, 3) matrix K, or one line "fx fy cx cy" (pixels)
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from completion.checkpoint import load_model
from completion.data import as_sample, make_inputs, to_batch, validate_sample
from completion.errors import CompletionError, InputFileError, ShapeError
from tofsim.depth_png import decode_png16, read_png16, write_png16
from tofsim.errors import TofsimError
from tofsim.frame import Sample, empty_spots
from tofsim.provenance import atomic_folder, json_text, read_json

__all__ = ["InputFolder", "open_inputs", "predict", "read_summary", "PREDICTIONS_JSON"]

#: The summary of a prediction folder (model, dataset, count, median latency, PNG scale, ...).
PREDICTIONS_JSON = "predictions.json"


class InputFolder:
    """A folder of ``rgb/*.png`` + ``sparse/*.png`` (16-bit) + ``intrinsics.txt`` as an indexable of `Sample`.

    Samples have no ground truth (``depth`` is all zeros). Sample ``i`` is the i-th name in sorted order.

    Raises:
        InputFileError: a missing sub-folder or intrinsics file, unpaired names, or an unreadable image.
    """

    def __init__(self, path: str | Path, *, sparse_scale_per_m: float = 1000.0) -> None:
        self.path = Path(path)
        rgb_dir, sparse_dir, k_file = self.path / "rgb", self.path / "sparse", self.path / "intrinsics.txt"
        for p in (rgb_dir, sparse_dir, k_file):
            if not p.exists():
                raise InputFileError(
                    f"{self.path}: missing {p.name} (an input folder needs rgb/, sparse/, intrinsics.txt)"
                )
        rgb_names = sorted(p.stem for p in rgb_dir.glob("*.png"))
        sparse_names = sorted(p.stem for p in sparse_dir.glob("*.png"))
        if rgb_names != sparse_names:
            only = sorted(set(rgb_names) ^ set(sparse_names))[:5]
            raise InputFileError(f"{self.path}: rgb/ and sparse/ must hold the same names; unpaired: {only}")
        if not rgb_names:
            raise InputFileError(f"{self.path}: no PNG files in rgb/")
        self.names = rgb_names
        self.sparse_scale_per_m = float(sparse_scale_per_m)
        self.K = _read_intrinsics(k_file)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> Sample:
        name = self.names[i]
        try:
            rgb = np.asarray(Image.open(self.path / "rgb" / f"{name}.png").convert("RGB"))
        except OSError as err:
            raise InputFileError(f"{self.path}: cannot read {name}.png: {err}") from None
        sparse = decode_png16(read_png16(self.path / "sparse" / f"{name}.png"), scale_per_m=self.sparse_scale_per_m)
        return Sample(
            rgb=rgb, depth_m=np.zeros(sparse.shape, np.float32), sparse_m=sparse, spot_mask=sparse > 0,
            spots=empty_spots(0), K=self.K.copy(), pose=np.eye(4), meta={"name": name, "source": str(self.path)},
        )  # fmt: skip


def _read_intrinsics(path: Path) -> np.ndarray:
    try:
        values = np.loadtxt(path, dtype=np.float64).ravel()
    except ValueError as err:
        raise InputFileError(f"{path}: cannot parse intrinsics: {err}") from None
    if values.size == 9:
        return values.reshape(3, 3)
    if values.size == 4:
        fx, fy, cx, cy = values
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
    raise InputFileError(f"{path}: expected a 3x3 matrix or 'fx fy cx cy', got {values.size} numbers")


def open_inputs(data: Any, split: str | None = None) -> tuple[Any, list[int], str]:
    """Resolve `data` to (indexable of samples, indices to predict, description).

    `data` is a tofsim dataset folder, an input folder (``rgb/`` + ``sparse/``), or an in-memory indexable.

    Raises:
        InputFileError: a path that is neither kind of folder.
        CompletionError: a split the dataset does not have, or one with no samples.
    """
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if (path / "rgb").is_dir() and (path / "sparse").is_dir():
            ds, desc = InputFolder(path), str(path)
        elif path.is_dir():
            from tofsim.dataset import open_dataset

            ds, desc = open_dataset(path), str(path)
        else:
            raise InputFileError(f"data folder not found: {path}")
    else:
        ds, desc = data, f"<in-memory {type(data).__name__}>"
    if split is None:
        return ds, list(range(len(ds))), desc
    splits = getattr(ds, "splits", None) or {}
    if split not in splits:
        raise CompletionError(f"split {split!r} not found in {desc}; splits: {', '.join(splits) or 'none'}")
    indices = sorted(int(i) for i in splits[split])
    if not indices:
        others = ", ".join(f"{k} ({len(v)})" for k, v in splits.items() if len(v)) or "none"
        raise CompletionError(
            f"split {split!r} of {desc} is empty; pass another --split (non-empty: {others}) or leave it out"
        )
    return ds, indices, desc


def predict(
    model_or_run: nn.Module | str | Path,
    data: Any,
    out_dir: str | Path,
    *,
    png_scale_per_m: float | None = None,
    device: str | torch.device = "cpu",
    split: str | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Predict depth for every sample of `data` and write one ``{index:06d}.npy`` per sample.

    Args:
        model_or_run: an `nn.Module` (taking the batch dict of `completion.data`), or anything `load_model` takes:
            a run folder, a ``.pt`` checkpoint, a pretrained name (``tofnet-sds``) or a baseline name (``nearest``).
        data: a tofsim dataset folder, an input folder (``rgb/``, ``sparse/``, ``intrinsics.txt``) or an
            in-memory indexable of `tofsim.frame.Sample`.
        out_dir: output folder (must not exist unless `overwrite`).
        png_scale_per_m: also write 16-bit PNGs with this scale (1000 = mm); None writes none.
        device: torch device to run on.
        split: predict only this split of a tofsim dataset (file names keep the dataset index).
        overwrite: replace an existing `out_dir`.
        progress: called as ``progress(done, total)`` after each sample.

    Returns:
        `out_dir`.

    Raises:
        InputFileError: missing data folder or checkpoint; `out_dir` exists and not `overwrite`.
        ShapeError: a sample that breaks the contract, or a model output of the wrong shape.
        CompletionError: an unknown model name, or a split that is missing or empty (no folder is written).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise InputFileError(f"output folder {out_dir} exists; choose another or pass overwrite")
    if png_scale_per_m is not None and not png_scale_per_m > 0:
        raise CompletionError(f"png_scale_per_m must be > 0, got {png_scale_per_m}")
    device = torch.device(device)
    checkpoint = None
    if isinstance(model_or_run, nn.Module):
        model = model_or_run
    else:
        checkpoint = str(model_or_run)
        model = load_model(model_or_run)
    ds, indices, desc = open_inputs(data, split)
    model = model.to(device).eval()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out_dir, what="predictions", replace=True) as tmp:
        rows = _predict_into(model, ds, indices, tmp, png_scale_per_m, device, progress)
        latencies = [r["latency_s"] for r in rows]
        summary = {
            "model": getattr(model, "name", type(model).__name__),
            "model_config": dict(getattr(model, "config", {}) or {}),
            "checkpoint": checkpoint,
            "dataset": desc,
            "split": split,
            "count": len(rows),
            "indices": [r["index"] for r in rows],
            "names": [r["name"] for r in rows],
            "median_latency_s": float(np.median(latencies)) if latencies else None,
            "device": str(device),
            "png_scale_per_m": png_scale_per_m,
            "depth_kind": "z",
            "units": "m",
        }
        (tmp / PREDICTIONS_JSON).write_text(json_text(summary))
    return out_dir


@torch.inference_mode()
def _predict_into(
    model: nn.Module,
    ds: Any,
    indices: Sequence[int],
    folder: Path,
    png_scale_per_m: float | None,
    device: torch.device,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    rows = []
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["index", "name", "height_px", "width_px", "latency_s"])
    for done, index in enumerate(indices, start=1):
        sample = as_sample(ds[index], name=f"sample {index}")
        h, w = validate_sample(sample, name=f"sample {index}")
        inputs = make_inputs(sample, prefill=getattr(model, "prefill", "linear"))
        if done == 1:  # one untimed warm-up pass: first-call allocations are not per-sample latency
            model(to_batch(inputs, device))
        t0 = time.perf_counter()
        batch = to_batch(inputs, device)
        pred = model(batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        pred = pred.float().cpu().numpy()
        latency_s = time.perf_counter() - t0
        if pred.shape != (1, 1, h, w):
            raise ShapeError(f"model output for sample {index} has shape {pred.shape}, expected (1, 1, {h}, {w})")
        depth_m = np.ascontiguousarray(pred[0, 0], dtype=np.float32)
        np.save(folder / f"{index:06d}.npy", depth_m)
        if png_scale_per_m is not None:
            write_png16(folder / f"{index:06d}.png", depth_m, scale_per_m=png_scale_per_m)
        meta = sample.meta
        name = str(next((meta[k] for k in ("name", "scene_id", "scene") if k in meta), index))
        rows.append({"index": int(index), "name": name, "latency_s": latency_s})
        writer.writerow([index, name, h, w, f"{latency_s:.6f}"])
        if progress is not None:
            progress(done, len(indices))
    (folder / "latency.csv").write_text(table.getvalue())
    return rows


def read_summary(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``predictions.json`` of a prediction folder written by `predict`.

    Raises:
        InputFileError: the file is missing or unreadable.
    """
    try:
        return dict(read_json(Path(folder) / PREDICTIONS_JSON, what="predictions summary"))
    except TofsimError as err:  # one error family per package
        raise InputFileError(str(err)) from None
