"""Comparison figures in the paper's layout (matplotlib, Agg) and single panels as native-resolution PNGs.

Layout of `comparison_figure`, for each chosen frame (M methods, C = ``ncols`` panels per row):

- a **depth block**: ``Color | GT | method 1 | ... | method M`` in ``magma`` (dark = near), one depth range
  shared by every panel of the frame (the ground truth's valid min-max unless ``depth_range_m`` is given);
- an **error block** with the same layout: ``Color`` repeated (to locate errors), ``GT valid`` (white where the
  ground truth is valid, black where it is not: the pixels that are black in every error map), then each
  method's signed error prediction - GT in ``seismic`` over ``[-err_range_mm, +err_range_mm]`` (red = too far,
  blue = too near, white = exact), titled with its MAE / RMSE in mm over the pixels where both are valid.

With the default ``ncols=None`` a block is one row of ``2 + M`` panels; ``ncols=4`` with six methods gives the
paper's "2 rows of 4". A colour bar with units sits to the right of each block. Panels are the exact RGB arrays
from `leaderboard.error_maps` (no resampling of colours), so a pixel's colour is the documented LUT colour.

No pyplot: figures are plain `matplotlib.figure.Figure` objects on an Agg canvas (no global state, no display).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leaderboard.error_maps import (
    DEFAULT_ERR_RANGE_MM,
    abs_error_rgb,
    colormap_lut,
    depth_rgb,
    shared_depth_range,
    signed_error_mm,
    signed_error_rgb,
    valid_depth,
)
from leaderboard.errors import ConfigError, InputFileError, LeaderboardError, ShapeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FramePanels",
    "build_comparison_figure",
    "comparison_figure",
    "save_figure",
    "error_map_png",
    "depth_png",
    "rgb_png",
    "load_frame_panels",
]

PANEL_WIDTH_IN = 2.4
"""Width of one panel in inches; the height follows the frame's aspect ratio."""


@dataclass(frozen=True, kw_only=True)
class FramePanels:
    """One frame's inputs to a comparison figure.

    Attributes:
        gt_m: (H, W) float ground-truth z-depth in metres, 0 where invalid.
        preds_m: one (H, W) float predicted z-depth in metres per method, in the order of ``method_names``.
        rgb: (H, W, 3) uint8 colour image, or None (the Color panels then stay grey).
        label: a name for the frame (e.g. ``"frame 3"``), shown beside its rows.
    """

    gt_m: np.ndarray
    preds_m: tuple[np.ndarray, ...]
    rgb: np.ndarray | None = None
    label: str = field(default="")


def _check_frames(frames: Sequence[FramePanels], method_names: Sequence[str]) -> None:
    if len(frames) == 0:
        raise ConfigError("frames: need at least one FramePanels (choose frames with --frames 0,3,7)")
    if len(method_names) == 0:
        raise ConfigError("method_names: need at least one method to compare")
    for i, fr in enumerate(frames):
        gt = np.asarray(fr.gt_m)
        if gt.ndim != 2:
            raise ShapeError(f"frames[{i}].gt_m: expected (H, W) depth in metres, got shape {gt.shape}")
        if len(fr.preds_m) != len(method_names):
            raise ConfigError(
                f"frames[{i}].preds_m has {len(fr.preds_m)} predictions but there are {len(method_names)} "
                f"method names {list(method_names)}; give one prediction per method, in the same order"
            )
        for name, p in zip(method_names, fr.preds_m, strict=True):
            if np.shape(p) != gt.shape:
                raise ShapeError(
                    f"frames[{i}]: prediction of {name!r} has shape {np.shape(p)} but the ground truth has "
                    f"{gt.shape}; they must match"
                )
        if fr.rgb is not None and np.shape(fr.rgb) != (*gt.shape, 3):
            raise ShapeError(f"frames[{i}].rgb: expected shape {(*gt.shape, 3)} uint8, got {np.shape(fr.rgb)}")


def _mae_rmse_mm(pred_m: np.ndarray, gt_m: np.ndarray) -> tuple[float, float]:
    """MAE and RMSE in mm over pixels where both are valid (a figure caption, not the scoring protocol)."""
    err = signed_error_mm(pred_m, gt_m)
    e = err[np.isfinite(err)].astype(np.float64)
    if e.size == 0:
        return math.nan, math.nan
    return float(np.mean(np.abs(e))), float(np.sqrt(np.mean(e * e)))


def _listed_cmap(name: str, half: bool = False):
    from matplotlib.colors import ListedColormap

    lut = colormap_lut(name)
    if half:
        lut = lut[lut.shape[0] // 2 :]
    return ListedColormap(lut.astype(np.float64) / 255.0, name=f"{name}_lut")


def _show(ax, image: np.ndarray, title: str) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def build_comparison_figure(
    frames: Sequence[FramePanels],
    method_names: Sequence[str],
    *,
    err_range_mm: float = DEFAULT_ERR_RANGE_MM,
    depth_range_m: tuple[float, float] | None = None,
    ncols: int | None = None,
    panel_width_in: float = PANEL_WIDTH_IN,
) -> Figure:
    """Build the comparison figure (see the module docstring for the layout) without saving it.

    Every axes gets a label for inspection: ``"f{i}:depth:{panel}"``, ``"f{i}:error:{panel}"`` with panel
    ``Color``, ``GT``, ``GT valid`` or a method name, and ``"f{i}:cbar:depth"`` / ``"f{i}:cbar:error"``.

    Args:
        frames: the frames to show, one `FramePanels` each.
        method_names: names of the methods, in the order of each frame's ``preds_m``.
        err_range_mm: half-width of the signed-error scale in mm.
        depth_range_m: ``(near_m, far_m)`` for every depth panel; None = each frame's GT valid min-max.
        ncols: panels per row; None = all ``2 + M`` panels of a block in one row.
        panel_width_in: width of one panel in inches.

    Returns:
        A matplotlib Figure on an Agg canvas.

    Raises:
        ConfigError: on no frames / methods, a method count mismatch, bad ``ncols`` or ranges.
        ShapeError: if an array has the wrong shape.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    _check_frames(frames, method_names)
    n_panels = 2 + len(method_names)
    cols = n_panels if ncols is None else int(ncols)
    if cols < 1:
        raise ConfigError(f"ncols: must be >= 1 or None, got {ncols}")
    rows_per_block = math.ceil(n_panels / cols)
    h0, w0 = np.shape(frames[0].gt_m)
    panel_h_in = panel_width_in * h0 / w0 + 0.45  # room for a two-line title
    n_rows = len(frames) * 2 * rows_per_block
    width_in, height_in = panel_width_in * cols + 1.0, panel_h_in * n_rows + 0.1
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(
        n_rows,
        cols + 1,
        width_ratios=[1.0] * cols + [0.06],
        left=0.25 / width_in,
        right=1.0 - 0.55 / width_in,
        top=1.0 - 0.4 / height_in,
        bottom=0.05 / height_in,
    )
    gs.update(wspace=0.05, hspace=0.3)
    seismic = _listed_cmap("seismic")
    magma = _listed_cmap("magma")

    for i, fr in enumerate(frames):
        gt = np.asarray(fr.gt_m)
        rng_m = depth_range_m if depth_range_m is not None else shared_depth_range([gt])
        rgb = np.full((*gt.shape, 3), 128, np.uint8) if fr.rgb is None else np.asarray(fr.rgb, np.uint8)
        color_title = "Color" if fr.rgb is not None else "Color (none)"
        valid_img = np.where(valid_depth(gt)[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
        depth_panels = [("Color", rgb, color_title), ("GT", depth_rgb(gt, range_m=rng_m), "GT")]
        error_panels = [("Color", rgb, color_title), ("GT valid", valid_img, "GT valid")]
        for name, pred in zip(method_names, fr.preds_m, strict=True):
            depth_panels.append((name, depth_rgb(np.asarray(pred), range_m=rng_m), name))
            mae, rmse = _mae_rmse_mm(np.asarray(pred), gt)
            err_img = signed_error_rgb(np.asarray(pred), gt, range_mm=err_range_mm)
            error_panels.append((name, err_img, f"{name}\nMAE {mae:.1f} mm, RMSE {rmse:.1f} mm"))

        for b, (kind, panels) in enumerate((("depth", depth_panels), ("error", error_panels))):
            row0 = (2 * i + b) * rows_per_block
            for k, (name, img, title) in enumerate(panels):
                ax = fig.add_subplot(gs[row0 + k // cols, k % cols])
                _show(ax, img, title)
                ax.set_label(f"f{i}:{kind}:{name}")
                if k == 0 and fr.label:
                    ax.set_ylabel(f"{fr.label}", fontsize=8)
            cax = fig.add_subplot(gs[row0 : row0 + rows_per_block, cols])
            cax.set_label(f"f{i}:cbar:{kind}")
            if kind == "depth":
                sm = ScalarMappable(Normalize(*rng_m), magma)
                cb = fig.colorbar(sm, cax=cax)
                cb.set_label("depth (m)", fontsize=7)
            else:
                sm = ScalarMappable(Normalize(-err_range_mm, err_range_mm), seismic)
                cb = fig.colorbar(sm, cax=cax)
                cb.set_label("pred - GT (mm)", fontsize=7)
            cb.ax.tick_params(labelsize=7)
    return fig


def save_figure(fig: Figure, out_path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a figure atomically (temporary name, then `os.replace`); the format follows the suffix.

    Raises:
        ConfigError: if the suffix is not one matplotlib writes (png, pdf, svg, ...).
    """
    out = Path(out_path)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in fig.canvas.get_supported_filetypes():
        raise ConfigError(f"out_path: unsupported figure format {out.suffix!r}; use .png, .pdf or .svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def comparison_figure(
    frames: Sequence[FramePanels],
    method_names: Sequence[str],
    out_path: str | os.PathLike,
    *,
    err_range_mm: float = DEFAULT_ERR_RANGE_MM,
    depth_range_m: tuple[float, float] | None = None,
    ncols: int | None = None,
    dpi: int = 150,
) -> Path:
    """Draw the paper-layout comparison figure (see the module docstring) and save it.

    Args:
        frames: the frames to show, one `FramePanels` each.
        method_names: names of the methods, in the order of each frame's ``preds_m``.
        out_path: where to write (.png, .pdf, .svg); written atomically.
        err_range_mm: half-width of the signed-error scale in mm (default 500).
        depth_range_m: ``(near_m, far_m)`` for every depth panel; None = each frame's GT valid min-max.
        ncols: panels per row (None = one row per block; 4 = the paper's 2 rows of 4 for six methods).
        dpi: resolution of raster output.

    Returns:
        The written path.

    Raises:
        ConfigError: on no frames / methods, a method count mismatch, bad ranges or an unknown format.
        ShapeError: if an array has the wrong shape.

    Example:
        >>> gt = np.full((4, 6), 2.0, np.float32)
        >>> fr = FramePanels(gt_m=gt, preds_m=(gt + 0.1,))
        >>> comparison_figure([fr], ["float32"], tmp_path / "fig.png").name  # doctest: +SKIP
        'fig.png'
    """
    fig = build_comparison_figure(
        frames, method_names, err_range_mm=err_range_mm, depth_range_m=depth_range_m, ncols=ncols
    )
    return save_figure(fig, out_path, dpi=dpi)


def _write_png(rgb: np.ndarray, out_path: str | os.PathLike) -> Path:
    from PIL import Image

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(tmp, format="PNG")
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def error_map_png(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    out_path: str | os.PathLike,
    *,
    range_mm: float = DEFAULT_ERR_RANGE_MM,
    absolute: bool = False,
) -> Path:
    """Save one error map as an RGB PNG at the frame's native resolution (one image pixel = one PNG pixel).

    Args:
        pred_m: (H, W) float predicted z-depth in metres, 0 or NaN where missing.
        gt_m: (H, W) float ground-truth z-depth in metres, 0 where invalid.
        out_path: the .png to write (atomically).
        range_mm: colour-scale range in mm (signed: +-range_mm; absolute: 0..range_mm).
        absolute: colour |error| (white -> dark red) instead of the signed error.

    Returns:
        The written path.

    Raises:
        ShapeError: if the inputs are not (H, W) of the same shape.
        ConfigError: if ``range_mm`` is not positive.
    """
    fn = abs_error_rgb if absolute else signed_error_rgb
    return _write_png(fn(pred_m, gt_m, range_mm=range_mm), out_path)


def depth_png(
    depth_m: np.ndarray, out_path: str | os.PathLike, *, range_m: tuple[float, float], cmap: str = "magma"
) -> Path:
    """Save one coloured depth map as an RGB PNG at native resolution (a picture, not a PNG16 depth file).

    Args:
        depth_m: (H, W) float z-depth in metres, 0 or NaN where invalid (drawn black).
        out_path: the .png to write (atomically).
        range_m: ``(near_m, far_m)``, shared by every depth panel you compare.
        cmap: matplotlib colormap (``magma``: dark = near).

    Returns:
        The written path.

    Raises:
        ShapeError: if ``depth_m`` is not (H, W).
        ConfigError: if the range is not ``near < far`` or the colormap is unknown.
    """
    return _write_png(depth_rgb(depth_m, range_m=range_m, cmap=cmap), out_path)


def rgb_png(rgb: np.ndarray, out_path: str | os.PathLike) -> Path:
    """Save an (H, W, 3) uint8 colour image as PNG (atomically).

    Raises:
        ShapeError: if ``rgb`` is not (H, W, 3) uint8.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ShapeError(f"rgb: expected (H, W, 3) uint8, got shape {rgb.shape} dtype {rgb.dtype}")
    return _write_png(rgb, out_path)


# --- loading frames from disk -------------------------------------------------------------------------------------


def _read_npy(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                key = "depth" if "depth" in z.files else z.files[0]
                arr = z[key]
        else:
            arr = np.load(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read depth array ({exc})") from exc
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputFileError(f"{path}: expected an (H, W) depth map in metres, got shape {arr.shape}")
    return arr


def _io_reader():
    """E's readers (`leaderboard.io.read_depth`) when present, else None (then .npy/.npz only)."""
    try:
        from leaderboard import io as lb_io
    except ImportError:
        return None
    return getattr(lb_io, "read_depth", None)


def _depth_files(folder: Path) -> list[Path]:
    exts = {".npy", ".npz", ".png", ".exr", ".h5", ".hdf5"}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise InputFileError(f"{folder}: no depth files (.npy, .npz, .png, .exr, .h5) found")
    return files


def _read_depth_file(path: Path, png_scale_per_m: float | None) -> np.ndarray:
    if path.suffix in (".npy", ".npz"):
        return _read_npy(path)
    reader = _io_reader()
    if reader is None:
        raise InputFileError(f"{path}: only .npy/.npz depth files can be read here (no leaderboard.io reader)")
    try:
        kwargs = {} if png_scale_per_m is None else {"scale_per_m": png_scale_per_m}
        return np.asarray(reader(path, **kwargs), dtype=np.float32)
    except LeaderboardError:
        raise
    except Exception as exc:  # a reader with another signature: report, don't guess
        raise InputFileError(f"{path}: cannot read depth file ({exc})") from exc


def _nth_file(folder: Path, index: int, what: str) -> Path:
    if not folder.is_dir():
        raise InputFileError(f"{folder}: {what} folder does not exist")
    files = _depth_files(folder)
    if not 0 <= index < len(files):
        raise InputFileError(f"{folder}: frame {index} requested but the folder has {len(files)} depth files")
    return files[index]


def _read_pred(folder: Path, index: int, png_scale_per_m: float | None) -> np.ndarray:
    return _read_depth_file(_nth_file(folder, index, "prediction"), png_scale_per_m)


def _read_gt(gt: Path, index: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(rgb or None, depth_m) of frame ``index`` from a tofsim dataset or a folder of depth files."""
    if not gt.exists():
        raise InputFileError(f"{gt}: ground truth not found (a tofsim dataset or a folder of .npy depth files)")
    if gt.is_dir() and not (gt / "manifest.json").exists():
        return None, _read_depth_file(_nth_file(gt, index, "ground-truth"), None)
    try:
        import tofsim

        ds = tofsim.open_dataset(gt)
    except Exception as exc:
        raise InputFileError(f"{gt}: cannot open as a tofsim dataset ({exc})") from exc
    if not 0 <= index < len(ds):
        raise InputFileError(f"{gt}: frame {index} requested but the dataset has {len(ds)} samples")
    s = ds[index]
    return np.asarray(s.rgb, np.uint8), np.asarray(s.depth, np.float32)


def load_frame_panels(
    gt: str | os.PathLike,
    preds: Mapping[str, str | os.PathLike],
    indices: Sequence[int],
    *,
    png_scale_per_m: float | Mapping[str, float] | None = None,
) -> list[FramePanels]:
    """Load chosen frames of the ground truth and of each method's predictions.

    Frame ``i`` is the i-th sample of a tofsim dataset (``tofsim.open_dataset(gt)[i]``) or the i-th file
    in sorted order of a ground-truth folder of .npy/.npz depth files, and the i-th depth file in sorted
    order of each prediction folder (``{index:06d}.npy`` as `completion.predict` writes). Non-.npy
    predictions are read through `leaderboard.io.read_depth` when that module provides it.

    Args:
        gt: tofsim dataset path, or a folder of (H, W) float32 .npy depth files in metres.
        preds: method name -> prediction folder, in display order.
        indices: frame indices to load.
        png_scale_per_m: scale of 16-bit PNG predictions (256 for NLSPN/KITTI, 1000 for mm), one for all
            methods or a mapping method name -> scale (methods not in it: None).

    Returns:
        One `FramePanels` per index, labelled ``"frame {i}"``.

    Raises:
        InputFileError: if a path is missing, a frame index is out of range or a file cannot be read.
        ConfigError: if no method or no index is given.
    """
    if not preds:
        raise ConfigError("preds: give at least one method as NAME=PATH")
    if len(indices) == 0:
        raise ConfigError("indices: give at least one frame index")
    gt = Path(gt)
    if isinstance(png_scale_per_m, Mapping):
        scales = dict(png_scale_per_m)
    else:
        scales = dict.fromkeys(preds, png_scale_per_m)
    out = []
    for i in indices:
        rgb, gt_m = _read_gt(gt, int(i))
        preds_m = tuple(_read_pred(Path(p), int(i), scales.get(name)) for name, p in preds.items())
        out.append(FramePanels(gt_m=gt_m, preds_m=preds_m, rgb=rgb, label=f"frame {int(i)}"))
    return out
