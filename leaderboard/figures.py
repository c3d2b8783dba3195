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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from leaderboard.errors import ConfigError, InputFileError, ShapeError
from tofsim.provenance import atomic_path

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
    with atomic_path(out, what="figure") as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
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

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))  # (H, W, 3) uint8 -> RGB
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, what="image") as tmp:
        img.save(tmp, format="PNG")
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


def _prediction_source(name: str, spec: Any, scale_per_m: float | None):
    """A resolved `leaderboard.io.PredictionSource` from a source, a path or a ``methods.json``-style dict."""
    import dataclasses

    from leaderboard.io import PRED_FORMATS, PredictionSource

    if isinstance(spec, PredictionSource):
        if spec.scale_per_m is None and scale_per_m is not None:
            spec = dataclasses.replace(spec, scale_per_m=scale_per_m)
        return spec.resolve()
    spec = dict(spec) if isinstance(spec, Mapping) else {"path": spec}
    if not spec.get("path"):
        raise ConfigError(f"method {name!r}: no prediction path given")
    fmt = spec.get("format") or spec.get("fmt") or "auto"
    fmt = fmt if fmt in PRED_FORMATS else "auto"  # e.g. "h5-stacked" as recorded: detected again from the path
    scale = spec.get("scale_per_m") if spec.get("scale_per_m") is not None else scale_per_m
    src = PredictionSource(
        path=Path(spec["path"]),
        fmt=fmt,
        scale_per_m=scale,
        key=spec.get("key"),
        list_file=spec.get("list_file"),
        pattern=spec.get("pattern"),
        float_scale_per_m=spec.get("float_scale_per_m"),
    )
    return src.resolve()


def load_frame_panels(
    gt: str | os.PathLike,
    preds: Mapping[str, Any],
    indices: Sequence[int],
    *,
    png_scale_per_m: float | Mapping[str, float | None] | None = None,
    gt_scale_per_m: float | None = None,
) -> list[FramePanels]:
    """Load chosen frames of the ground truth and, for each, every method's prediction.

    Reading and matching are `leaderboard.io`'s, the same as scoring: frame ``i`` is the i-th GT frame (the
    i-th sample of a tofsim dataset, which also gives the colour image, or the i-th depth file of a GT folder),
    and each method's prediction for it is found by frame key or list file (``000012.npy`` and NLSPN's
    ``0000000012.png`` both match frame 12).

    Args:
        gt: tofsim dataset folder (with ``manifest.json``) or a folder of depth files.
        preds: method name -> prediction folder (or stacked .h5), a `leaderboard.io.PredictionSource`, or a
            dict as in ``methods.json`` (``path``, ``format``, ``scale_per_m``, ``key``, ``list_file``,
            ``pattern``); in display order.
        indices: GT frame positions to load.
        png_scale_per_m: scale of 16-bit PNG predictions (256 for NLSPN/KITTI, 1000 for mm), one for all
            methods or a mapping method name -> scale; a ``scale_per_m`` in a method's dict wins.
        gt_scale_per_m: scale of 16-bit PNG ground truth in a folder.

    Returns:
        One `FramePanels` per index, labelled ``"frame {i}"`` (plus the file name for GT folders).

    Raises:
        InputFileError: if a path is missing, a frame index is out of range, a frame has no prediction, or a
            file cannot be read.
        ConfigError: if no method or no index is given.
    """
    from leaderboard.io import open_ground_truth

    if not preds:
        raise ConfigError("preds: give at least one method as NAME=PATH")
    if len(indices) == 0:
        raise ConfigError("indices: give at least one frame index")
    gt = Path(gt)
    if not gt.exists():
        raise InputFileError(f"{gt}: ground truth not found (a tofsim dataset or a folder of depth files)")
    dataset = None
    if gt.is_dir() and (gt / "manifest.json").is_file():
        try:
            import tofsim

            dataset = tofsim.open_dataset(gt)
        except Exception as exc:
            raise InputFileError(f"{gt}: cannot open as a tofsim dataset ({exc})") from exc
        truth = open_ground_truth(dataset)
    else:
        truth = open_ground_truth(gt, scale_per_m=gt_scale_per_m)
    if isinstance(png_scale_per_m, Mapping):
        scales = dict(png_scale_per_m)
    else:
        scales = dict.fromkeys(preds, png_scale_per_m)
    sources = {name: _prediction_source(name, spec, scales.get(name)) for name, spec in preds.items()}
    out = []
    for i in (int(i) for i in indices):
        if not 0 <= i < len(truth):
            raise InputFileError(f"{gt}: frame {i} requested but the ground truth has {len(truth)} frames")
        frame = truth.read(i)
        preds_m = []
        for name, res in sources.items():
            path = res.lookup(frame.key, frame.name, i)
            if path is None:
                raise InputFileError(f"method {name!r}: no prediction for GT frame {frame.name} in {res.source.path}")
            preds_m.append(np.asarray(res.read(path, frame.key)[0], dtype=np.float32))
        rgb = None if dataset is None else np.asarray(dataset[i].rgb, dtype=np.uint8)
        label = f"frame {i}" if dataset is not None or frame.name == f"{i:06d}" else f"frame {i} ({frame.name})"
        out.append(FramePanels(gt_m=frame.depth_m, preds_m=tuple(preds_m), rgb=rgb, label=label))
    return out
