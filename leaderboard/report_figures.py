"""The report's pictures of predictions: the comparison figure and native-resolution depth / error maps per frame.

`draw_frame_figures` reads the ground truth and prediction folders a score folder names (`ScoreFolder`) and
writes, under the report's ``figures/`` folder, ``{stem}comparison.png`` (`leaderboard.figures.comparison_figure`)
and per chosen frame ``{stem}f{i}_color.png``, ``{stem}f{i}_gt_depth.png``, ``{stem}f{i}_{method}_depth.png``
and ``{stem}f{i}_{method}_error.png``. When the folders cannot be read it draws nothing and says why.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from leaderboard.error_maps import shared_depth_range
from leaderboard.errors import LeaderboardError
from leaderboard.score_folder import ScoreFolder

__all__ = ["FrameFigures", "draw_frame_figures"]


@dataclass(frozen=True)
class FrameFigures:
    """HTML of the drawn pictures of one score folder.

    Attributes:
        comparison: the comparison figure (``<figure>``), or a note saying why it was not drawn.
        maps: the per-frame depth and error maps (tables of images); empty when not drawn.
        drawn: True when the figures exist.
    """

    comparison: str
    maps: str
    drawn: bool


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "method"


def _note(why: str) -> FrameFigures:
    return FrameFigures(f'<p class="note">Figures not drawn: {html.escape(why)}</p>', "", False)


def draw_frame_figures(
    sf: ScoreFolder, report_dir: Path, frames: Sequence[int], err_range_mm: float, *, stem: str = ""
) -> FrameFigures:
    """Draw the comparison figure and per-frame maps of `sf` into ``report_dir / "figures"``.

    Args:
        sf: the score folder (its ground-truth path and ``methods.json`` prediction folders are read).
        report_dir: the report folder being built.
        frames: ground-truth frame positions to show.
        err_range_mm: half-width of the signed-error colour scale in mm.
        stem: prefix of every file name (``""`` for the report's main scores, e.g. ``"s1_"`` for another folder).

    Returns:
        A `FrameFigures` (a note instead of figures when the frames cannot be read).
    """
    from leaderboard.figures import comparison_figure, depth_png, error_map_png, load_frame_panels, rgb_png

    names = sf.method_names
    specs, missing = sf.prediction_specs()
    if sf.gt_path is None or missing or not names:
        why = "no ground-truth path in metrics.json/protocol.json" if sf.gt_path is None else ""
        return _note((why or f"methods.json gives no prediction folder for {missing}") + ".")
    try:
        panels = load_frame_panels(sf.gt_path, specs, list(frames), gt_scale_per_m=sf.gt_scale_per_m)
        fig_dir = report_dir / "figures"
        comparison_figure(panels, names, fig_dir / f"{stem}comparison.png", err_range_mm=err_range_mm)
        comparison = (
            f'<figure class="wide"><img class="fig" src="figures/{stem}comparison.png" alt="comparison figure">'
            f"<figcaption>Per frame: depth (magma, dark = near) of GT and every method, then the signed error "
            f"prediction - GT (seismic over &plusmn;{err_range_mm:g} mm: red = too far, blue = too near, "
            "white = exact, black = no ground truth).</figcaption></figure>"
        )
        out = [
            f"<p>Signed error prediction - GT, seismic over &plusmn;{err_range_mm:g} mm: red = too far, "
            "blue = too near, white = exact, black = no ground truth, grey = no prediction. "
            "Depth in magma (dark = near), one range per frame.</p>",
        ]
        for fr, idx in zip(panels, frames, strict=True):
            rng_m = shared_depth_range([fr.gt_m])
            cells_d, cells_e = [], []
            if fr.rgb is not None:
                rgb_png(fr.rgb, fig_dir / f"{stem}f{idx}_color.png")
                cells_d.append(("Color", f"figures/{stem}f{idx}_color.png"))
                cells_e.append(("", ""))
            depth_png(fr.gt_m, fig_dir / f"{stem}f{idx}_gt_depth.png", range_m=rng_m)
            cells_d.append(("GT", f"figures/{stem}f{idx}_gt_depth.png"))
            cells_e.append(("", ""))
            for n, pred in zip(names, fr.preds_m, strict=True):
                s = _slug(n)
                depth_png(pred, fig_dir / f"{stem}f{idx}_{s}_depth.png", range_m=rng_m)
                error_map_png(pred, fr.gt_m, fig_dir / f"{stem}f{idx}_{s}_error.png", range_mm=err_range_mm)
                cells_d.append((n, f"figures/{stem}f{idx}_{s}_depth.png"))
                cells_e.append((f"{n} error", f"figures/{stem}f{idx}_{s}_error.png"))
            rows = []
            for cells in (cells_d, cells_e):
                tds = "".join(
                    f'<td><img src="{html.escape(src)}" alt="{html.escape(cap)}">{html.escape(cap)}</td>'
                    if src
                    else "<td></td>"
                    for cap, src in cells
                )
                rows.append(f"<tr>{tds}</tr>")
            out.append(f'<h4>{html.escape(fr.label)}</h4>\n<table class="panels">{"".join(rows)}</table>')
        return FrameFigures(comparison, "\n".join(out), True)
    except LeaderboardError as exc:
        return _note(str(exc))
