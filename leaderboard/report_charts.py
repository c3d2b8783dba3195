"""The report's "at a glance" charts: `leaderboard.charts` drawn to PNG in the report folder, with captions.

`glance_charts(sf, report_dir, stem)` writes ``charts/{stem}_errors.png``, ``{stem}_depth_bins.png``,
``{stem}_regions.png`` and ``{stem}_memory.png`` (when some method records its weight size) and returns the HTML
grid of ``<figure>`` elements that shows them, each with a caption saying where its numbers come from.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from leaderboard.charts import depth_bins_figure, errors_figure, memory_figure, regions_figure, weight_sizes
from leaderboard.figures import save_figure
from leaderboard.score_folder import ScoreFolder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["glance_charts", "CHART_DPI", "CHART_KINDS"]

#: Resolution of the chart PNGs (a 6.4-inch chart is 640 pixels wide: two side by side on a 1280-pixel page).
CHART_DPI = 100
#: Chart file kinds, in the order the grid shows them.
CHART_KINDS = ("errors", "depth_bins", "regions", "memory")


def _figure_html(src: str, alt: str, caption: str) -> str:
    return (
        f'<figure class="chart"><img src="{html.escape(src)}" alt="{html.escape(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _ci_caption(sf: ScoreFolder) -> str:
    ci = sf.summary.get("confidence_intervals")
    how = ci.get("method") if isinstance(ci, dict) else None
    aggregation = str(sf.protocol.get("aggregation", "per_image")).replace("_", "-")
    return (
        f"RMSE and MAE per method, in the table's order. Bar: the headline value ({html.escape(aggregation)} mean). "
        "Whisker: the confidence interval of metrics.csv (<code>rmse_ci_lo</code> .. <code>rmse_ci_hi</code>), "
        f"{html.escape(str(how)) if how else 'bootstrap over images'}."
    )


def _memory_caption(sf: ScoreFolder) -> str:
    _, why = weight_sizes(sf)
    text = (
        "RMSE (whisker: its interval) against the stored weights (weights, biases and per-channel scales, from the "
        "<code>weight_bytes</code> or <code>weight_mb</code> column): the quantization trade-off."
    )
    if why:
        left = "; ".join(f"{html.escape(m)} ({html.escape(r)})" for m, r in why.items())
        text += f" Left off: {left}."
    return text


def glance_charts(sf: ScoreFolder, report_dir: Path, stem: str) -> str:
    """Draw the charts of `sf` into ``report_dir / "charts"`` and return their HTML grid.

    Args:
        sf: the score folder.
        report_dir: the report folder being built.
        stem: file-name prefix of this score folder's charts (``s0``, ``s1``, ...).

    Returns:
        ``<div class="charts">`` with one ``<figure>`` per chart (a note where a chart has no data).
    """
    chart_dir = report_dir / "charts"

    def save(fig: Figure, kind: str) -> str:
        save_figure(fig, chart_dir / f"{stem}_{kind}.png", dpi=CHART_DPI)
        return f"charts/{stem}_{kind}.png"

    items = [_figure_html(save(errors_figure(sf), "errors"), "RMSE and MAE per method", _ci_caption(sf))]
    if sf.bins.rows:
        items.append(
            _figure_html(
                save(depth_bins_figure(sf), "depth_bins"),
                "RMSE per depth bin",
                "Error against depth: RMSE pooled over the pixels whose ground truth falls in each bin (bins.csv); "
                "a gap is an empty bin.",
            )
        )
    else:
        items.append('<p class="note">No per-depth-bin table (bins.csv is empty).</p>')
    items.append(
        _figure_html(
            save(regions_figure(sf), "regions"),
            "RMSE at spots vs away, edges vs flat",
            "Where the error lives: RMSE pooled over the pixels at the ToF spots vs the others, and at depth "
            "edges vs flat ground (regions.csv).",
        )
    )
    memory = memory_figure(sf)
    if memory is not None:
        items.append(_figure_html(save(memory, "memory"), "RMSE against weight memory", _memory_caption(sf)))
    else:
        items.append(
            '<p class="note">Accuracy against weight memory: no method records its weight size '
            "(<code>weight_bytes</code> or <code>weight_mb</code> in the methods file).</p>"
        )
    return '<div class="charts">\n' + "\n".join(items) + "\n</div>"
