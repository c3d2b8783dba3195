"""Contact sheet of a dataset: one row per sample, RGB | GT depth | spots over RGB | sparse depth.

Depth panels share one fixed colour range (``magma``, dark = near; invalid pixels grey) so rows compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tofsim.errors import ConfigError, OutputError
from tofsim.frame import SpotStatus
from tofsim.provenance import atomic_path

__all__ = ["contact_sheet", "sheet_size_px", "STATUS_COLOURS", "HEADER_PX", "FOOTER_PX"]

#: Spot colours by status in the "spots" panel.
STATUS_COLOURS = {
    SpotStatus.VALID: "#2ecc40",
    SpotStatus.DROPOUT: "#ff4136",
    SpotStatus.MIXED: "#ff851b",
    SpotStatus.OUT_OF_RANGE: "#0074d9",
    SpotStatus.NO_HIT: "#aaaaaa",
}
#: Height of the title strip above the panels and of the legend strip below them, pixels.
HEADER_PX = 24
FOOTER_PX = 20
_COLUMNS = ("RGB", "GT depth", "spots (by status)", "sparse ToF depth")
_INVALID_GREY = (0.5, 0.5, 0.5, 1.0)


def sheet_size_px(n_rows: int, image_hw: tuple[int, int], panel_width_px: int = 320) -> tuple[int, int]:
    """(width, height) in pixels of a contact sheet with `n_rows` rows of (H, W) images."""
    h, w = image_hw
    panel_h = max(1, round(h * panel_width_px / w))
    return 4 * panel_width_px, HEADER_PX + n_rows * panel_h + FOOTER_PX


def _default_rows(n: int, max_rows: int) -> list[int]:
    if n == 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(n, max_rows))})


def contact_sheet(
    dataset,
    out_png: str | Path,
    *,
    indices: Sequence[int] | None = None,
    max_rows: int = 4,
    panel_width_px: int = 320,
    depth_range_m: tuple[float, float] | None = None,
) -> Path:
    """Write a PNG contact sheet of some samples.

    Args:
        dataset: a `TofDataset` (or any sequence of `tofsim.frame.Sample`).
        out_png: output PNG path (written to a temporary name, then renamed).
        indices: positions to show (at most `max_rows` of them are used); default `max_rows` evenly spaced ones.
        max_rows: the most rows drawn.
        panel_width_px: width of each of the 4 panels; the height follows the image aspect ratio.
        depth_range_m: (near, far) of the shared depth colour scale; default 0 to the 99th percentile of the
            shown samples' valid ground truth, rounded up to 0.5 m.

    Returns:
        `out_png` as a `Path`; its size is `sheet_size_px(rows, (H, W), panel_width_px)`.

    Raises:
        ConfigError: no samples to show, or an index out of range.
        OutputError: the output folder is missing or not writable.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    out_png = Path(out_png)
    if max_rows < 1:
        raise ConfigError(f"max_rows must be >= 1, got {max_rows}")
    n = len(dataset)
    rows = _default_rows(n, max_rows) if indices is None else [int(i) for i in indices][:max_rows]
    if not rows:
        raise ConfigError("contact_sheet: no samples to show (empty dataset or empty indices)")
    for i in rows:
        if not -n <= i < n:
            raise ConfigError(f"contact_sheet: index {i} out of range for {n} samples")
    if not out_png.parent.is_dir():
        raise OutputError(f"{out_png.parent}: output folder does not exist")
    samples = [dataset[i] for i in rows]
    h, w = samples[0].depth_m.shape
    if depth_range_m is None:
        valid = np.concatenate([s.depth_m[s.depth_m > 0].ravel() for s in samples])
        far = float(np.ceil(np.percentile(valid, 99) * 2.0) / 2.0) if valid.size else 1.0
        depth_range_m = (0.0, max(far, 0.5))
    norm = Normalize(vmin=depth_range_m[0], vmax=depth_range_m[1])
    cmap = colormaps["magma"].with_extremes(bad=_INVALID_GREY)

    width_px, height_px = sheet_size_px(len(rows), (h, w), panel_width_px)
    panel_h = (height_px - HEADER_PX - FOOTER_PX) // len(rows)
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)

    def axes(col: int, row: int):
        x0, y0 = col * panel_width_px, HEADER_PX + row * panel_h
        ax = fig.add_axes(
            (x0 / width_px, 1.0 - (y0 + panel_h) / height_px, panel_width_px / width_px, panel_h / height_px)
        )
        ax.set_axis_off()
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        return ax

    marker = max(1.5, (panel_width_px / w) * 4.0) ** 2  # area in pt^2 (1 pt = 1.39 px at dpi 100)
    for r, s in enumerate(samples):
        rgb = np.asarray(s.rgb)
        axes(0, r).imshow(rgb, interpolation="antialiased")
        depth = np.ma.masked_where(~(s.depth_m > 0), s.depth_m)
        axes(1, r).imshow(depth, cmap=cmap, norm=norm, interpolation="nearest")
        ax = axes(2, r)
        ax.imshow(rgb, interpolation="antialiased")
        spots = s.spots
        for status, colour in STATUS_COLOURS.items():
            sel = spots["status"] == status
            if sel.any():
                ax.scatter(spots["u"][sel], spots["v"][sel], s=marker, c=colour, linewidths=0)
        ax = axes(3, r)
        ax.imshow(np.full((h, w), 0.15), cmap="gray", vmin=0, vmax=1, interpolation="nearest")  # dark grey: no return
        vv, uu = np.nonzero(s.spot_mask & (s.sparse_m > 0))
        if len(uu):
            ax.scatter(uu, vv, s=marker, c=s.sparse_m[vv, uu], cmap=cmap, norm=norm, linewidths=0)
    for c, title in enumerate(_COLUMNS):
        fig.text((c + 0.5) * panel_width_px / width_px, 1.0 - (HEADER_PX / 2) / height_px, title,
                 ha="center", va="center", fontsize=10)  # fmt: skip
    legend = [f"depth {depth_range_m[0]:g}-{depth_range_m[1]:g} m (magma, grey = invalid)"]
    fig.text(0.005, (FOOTER_PX / 2) / height_px, legend[0], ha="left", va="center", fontsize=8)
    x = 0.40
    for status, colour in STATUS_COLOURS.items():
        label = "\u25cf " + status.name.lower().replace("_", " ")
        fig.text(x, (FOOTER_PX / 2) / height_px, label, color=colour, ha="left", va="center", fontsize=8)
        x += 0.11
    with atomic_path(out_png, what="contact sheet") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", facecolor="white")
    return out_png
