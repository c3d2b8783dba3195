"""A static HTML report of a score folder: one self-contained folder that works offline.

``write_report(score_dir)`` reads what ``leaderboard score`` wrote (`leaderboard.score_folder.ScoreFolder`) and
writes ``index.html`` with:

- the headline table (method, RMSE, MAE, iRMSE, iMAE, REL, d1-d3, shown in mm and 1/km) and every other column
  of ``metrics.csv`` in a second table, the per-bin table from ``bins.csv``, ``regions.csv`` and ``paired.csv``;
  all sortable by clicking a column header (a small inline script, no CDN; the best value of each known metric
  column is bold);
- the paper-layout comparison figure and, per chosen frame, native-resolution colour / depth / error-map PNGs,
  when the ground truth and the prediction folders named in the score folder can be read (otherwise a note
  says why, and the tables are still written);
- the protocol as JSON and copies of the small CSV/JSON/Markdown/LaTeX tables under ``data/`` (not
  ``per_image.csv``, which grows with the number of frames).

Every link is relative to the report folder (no http(s) URLs). A sorted view can be linked:
``index.html#sort=metrics:1:asc`` sorts table ``metrics`` by its column 1 (0-based) ascending on load.

The folder is built under a temporary name beside the target and renamed into place; an existing report
folder (one holding ``index.html``) is replaced, any other existing folder is refused.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.error_maps import DEFAULT_ERR_RANGE_MM, shared_depth_range
from leaderboard.errors import ConfigError, LeaderboardError
from leaderboard.metrics import METRIC_INFO
from leaderboard.score_folder import FILES, ScoreFolder
from tofsim.provenance import atomic_folder

__all__ = ["write_report"]

#: Headline columns, in display order (the paper's table and NLSPN's metric set).
HEADLINE = ("method", "rmse", "mae", "irmse", "imae", "rel", "d1", "d2", "d3")

# How a unit is displayed: (multiplier, display unit, decimals).
_DISPLAY = {"m": (1000.0, "mm", 1), "1/m": (1000.0, "1/km", 2), "fraction": (1.0, "", 4)}


def _metric_info() -> dict[str, tuple[str, bool]]:
    """Column -> (unit, higher is better) of every declared metric."""
    return {name: (mi.unit, bool(mi.higher_is_better)) for name, mi in METRIC_INFO.items()}


# --- tables -----------------------------------------------------------------------------------------------------


def _column_meta(col: str, info: Mapping[str, tuple[str, bool]]) -> tuple[str | None, bool | None, bool]:
    """(unit, higher_is_better, exact) for a column: exact name, else the longest metric name it starts with."""
    if col in info:
        unit, hib = info[col]
        return unit, hib, True
    if col.startswith("pooled_") and col[len("pooled_") :] in info:  # the pixel-pooled twin of a metric
        unit, hib = info[col[len("pooled_") :]]
        return unit, hib, True
    for name in sorted(info, key=len, reverse=True):
        if col.startswith(name + "_"):
            return info[name][0], None, False
    return None, None, False


def _fmt(v: Any, unit: str | None) -> tuple[str, str]:
    """(text shown, raw value for sorting)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v)), str(int(bool(v)))
    if isinstance(v, int | np.integer):
        return str(int(v)), str(int(v))
    if isinstance(v, float | np.floating):
        if unit in _DISPLAY:
            mult, _, dec = _DISPLAY[unit]
            return f"{float(v) * mult:.{dec}f}", repr(float(v))
        return f"{float(v):.4g}", repr(float(v))
    return str(v), str(v)


def _html_table(df, table_id: str, info: Mapping[str, tuple[str, bool]], *, bold_best: bool = True) -> str:
    cols = [str(c) for c in df.columns]
    metas = [_column_meta(c, info) for c in cols]
    heads = []
    for i, (c, (unit, _, _)) in enumerate(zip(cols, metas, strict=True)):
        shown = _DISPLAY[unit][1] if unit in _DISPLAY else (unit or "")
        label = html.escape(c) + (f" <span class=unit>({html.escape(shown)})</span>" if shown else "")
        heads.append(f'<th data-col="{i}" title="click to sort">{label}</th>')
    best: dict[int, float] = {}
    if bold_best and len(df) > 1:
        for i, (c, (_, hib, exact)) in enumerate(zip(cols, metas, strict=True)):
            if exact and hib is not None:
                vals = np.asarray(df[c], dtype=float) if df[c].dtype.kind in "fiu" else None
                if vals is not None and np.isfinite(vals).any():
                    best[i] = float(np.nanmax(vals) if hib else np.nanmin(vals))
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for i, (v, (unit, _, _)) in enumerate(zip(rec, metas, strict=True)):
            text, raw = _fmt(v, unit)
            is_best = i in best and raw != "" and float(raw) == best[i]
            body = f"<b>{html.escape(text)}</b>" if is_best else html.escape(text)
            kind = "" if isinstance(v, int | float | np.number) else ' class="t"'  # text cells align left
            cells.append(f'<td data-v="{html.escape(raw, quote=True)}"{kind}>{body}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable" id="{html.escape(table_id)}">\n<thead><tr>{"".join(heads)}</tr></thead>\n'
        f"<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


_SORT_JS = r"""
(function () {
  function key(td) { return td.getAttribute('data-v'); }
  function isNum(s) { return s !== '' && !isNaN(Number(s)); }
  function sortTable(table, col, dir) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var numeric = rows.every(function (r) { var k = key(r.cells[col]); return k === '' || isNum(k); });
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === '' && y !== '') return 1;   // empty cells last, whatever the direction
      if (y === '' && x !== '') return -1;
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute('aria-sort', i === col ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
    });
    table.setAttribute('data-sorted', col + ':' + dir);
  }
  window.tofbenchSort = sortTable;
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        sortTable(table, i, asc ? 'asc' : 'desc');
      });
    });
  });
  var m = /sort=([\w-]+):(\d+):(asc|desc)/.exec(window.location.hash);
  if (m) {
    var t = document.getElementById(m[1]);
    if (t) sortTable(t, parseInt(m[2], 10), m[3]);
  }
})();
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table.sortable { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
table.sortable th, table.sortable td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.sortable td.t, table.sortable th:first-child { text-align: left; }
table.sortable th { background: #eee; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.unit { font-weight: normal; color: #666; }
img.fig { max-width: 100%; border: 1px solid #ddd; }
table.panels td { vertical-align: top; text-align: center; font-size: 12px; padding: 2px; }
table.panels img { width: 200px; image-rendering: pixelated; display: block; }
.note { background: #fff4d6; padding: 0.5em; border-left: 4px solid #e0a800; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 12px; }
"""


#: Score-folder files copied under ``data/`` (not ``per_image.csv``, which grows with the number of frames).
_COPIED = tuple(name for name in FILES if name != "per_image.csv")

# --- figures ----------------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "method"


def _draw_figures(sf: ScoreFolder, tmp: Path, frames: Sequence[int], err_range_mm: float) -> str:
    """Draw figures into ``tmp/figures``; return the HTML section (or a note saying why not)."""
    from leaderboard.figures import comparison_figure, depth_png, error_map_png, load_frame_panels, rgb_png

    names = sf.method_names
    specs, missing = sf.prediction_specs()
    if sf.gt_path is None or missing or not names:
        why = "no ground-truth path in metrics.json/protocol.json" if sf.gt_path is None else ""
        why = why or f"methods.json gives no prediction folder for {missing}"
        return f'<p class="note">Figures not drawn: {html.escape(why)}.</p>'
    try:
        panels = load_frame_panels(sf.gt_path, specs, list(frames), gt_scale_per_m=sf.gt_scale_per_m)
        fig_dir = tmp / "figures"
        comparison_figure(panels, names, fig_dir / "comparison.png", err_range_mm=err_range_mm)
        out = [
            "<h2>Comparison figure</h2>",
            '<img class="fig" src="figures/comparison.png" alt="comparison figure">',
            "<h2>Error and depth maps (native resolution)</h2>",
            f"<p>Signed error prediction - GT, seismic over &plusmn;{err_range_mm:g} mm: red = too far, "
            "blue = too near, white = exact, black = no ground truth, grey = no prediction. "
            "Depth in magma (dark = near), one range per frame.</p>",
        ]
        for fr, idx in zip(panels, frames, strict=True):
            rng_m = shared_depth_range([fr.gt_m])
            cells_d, cells_e = [], []
            if fr.rgb is not None:
                rgb_png(fr.rgb, fig_dir / f"f{idx}_color.png")
                cells_d.append(("Color", f"figures/f{idx}_color.png"))
                cells_e.append(("", ""))
            depth_png(fr.gt_m, fig_dir / f"f{idx}_gt_depth.png", range_m=rng_m)
            cells_d.append(("GT", f"figures/f{idx}_gt_depth.png"))
            cells_e.append(("", ""))
            for n, pred in zip(names, fr.preds_m, strict=True):
                s = _slug(n)
                depth_png(pred, fig_dir / f"f{idx}_{s}_depth.png", range_m=rng_m)
                error_map_png(pred, fr.gt_m, fig_dir / f"f{idx}_{s}_error.png", range_mm=err_range_mm)
                cells_d.append((n, f"figures/f{idx}_{s}_depth.png"))
                cells_e.append((f"{n} error", f"figures/f{idx}_{s}_error.png"))
            rows = []
            for cells in (cells_d, cells_e):
                tds = "".join(
                    f'<td><img src="{html.escape(src)}" alt="{html.escape(cap)}">{html.escape(cap)}</td>'
                    if src
                    else "<td></td>"
                    for cap, src in cells
                )
                rows.append(f"<tr>{tds}</tr>")
            out.append(f'<h3>{html.escape(fr.label)}</h3>\n<table class="panels">{"".join(rows)}</table>')
        return "\n".join(out)
    except LeaderboardError as exc:
        return f'<p class="note">Figures not drawn: {html.escape(str(exc))}</p>'


# --- the report -------------------------------------------------------------------------------------------------


def write_report(
    score_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    title: str = "tofbench leaderboard",
    frames: Sequence[int] = (0,),
    err_range_mm: float = DEFAULT_ERR_RANGE_MM,
    figures: bool = True,
) -> Path:
    """Write the static HTML report of a score folder (see the module docstring).

    Args:
        score_dir: what ``leaderboard score --out`` wrote (``metrics.csv`` at least).
        out_dir: the report folder; None = ``score_dir / "report"``. An earlier report there is replaced.
        title: page title and heading.
        frames: frame indices shown in the figures.
        err_range_mm: half-width of the signed-error colour scale in mm.
        figures: draw figures (needs the ground truth and prediction folders the score folder names).

    Returns:
        Path of the written ``index.html``.

    Raises:
        InputFileError: if ``metrics.csv`` is missing or unreadable.
        ConfigError: if ``out_dir`` exists and is not a report folder, or ``err_range_mm`` is not positive.

    Example:
        >>> write_report("scores/")  # doctest: +SKIP
        PosixPath('scores/report/index.html')
    """
    if not (math.isfinite(float(err_range_mm)) and float(err_range_mm) > 0):
        raise ConfigError(f"err_range_mm: must be a positive number of millimetres, got {err_range_mm}")
    sf = ScoreFolder.read(score_dir)
    out = Path(out_dir) if out_dir is not None else sf.path / "report"
    if out.exists() and not (out.is_dir() and (out / "index.html").is_file()):
        raise ConfigError(f"{out}: exists and is not a report folder (no index.html); choose another --out")
    if out.resolve() == sf.path.resolve():
        raise ConfigError(f"{out}: the report folder cannot be the score folder itself; use e.g. {out / 'report'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out, what="report", replace=True) as tmp:
        (tmp / "data").mkdir()
        for name in _COPIED:
            shutil.copy2(sf.path / name, tmp / "data" / name)
        info = _metric_info()
        metrics = sf.metrics.frame()
        head_cols = [c for c in HEADLINE if c in metrics.columns]
        other_cols = ["method"] + [c for c in metrics.columns if c not in head_cols]
        parts = [
            f"<h1>{html.escape(title)}</h1>",
            f"<p>Scores from <code>{html.escape(sf.path.name)}</code>: {len(metrics)} method(s). "
            "Click a column header to sort. Lengths in mm, inverse depths in 1/km, fractions as 0..1; "
            "the best value of each metric is bold. Data: "
            + ", ".join(f'<a href="data/{n}">{n}</a>' for n in sorted(p.name for p in (tmp / "data").iterdir()))
            + ".</p>",
            "<h2>Headline metrics</h2>",
            _html_table(metrics[head_cols], "metrics", info),
        ]
        if len(other_cols) > 1:
            parts += [
                "<details><summary>All columns of metrics.csv</summary>",
                _html_table(metrics[other_cols], "metrics-all", info),
                "</details>",
            ]
        if sf.bins.rows:
            parts += ["<h2>Per depth bin</h2>", _html_table(sf.bins.frame(), "bins", info, bold_best=False)]
        parts += [
            "<h2>Per region (at spots / away, edges / flat)</h2>",
            _html_table(sf.regions.frame(), "regions", info, bold_best=False),
        ]
        parts += [
            "<h2>Paired tests</h2>",
            "<p>mean_diff = mean over images of (metric of method_a - metric of method_b), in the metric's "
            "unit (m for RMSE/MAE).</p>",
            _html_table(sf.paired.frame(), "paired", {}, bold_best=False),
        ]
        if figures:
            parts.append(_draw_figures(sf, tmp, frames, float(err_range_mm)))
        if sf.protocol:
            parts += [
                "<h2>Protocol</h2>",
                f"<pre>{html.escape(json.dumps(sf.protocol, indent=2, sort_keys=True, default=str))}</pre>",
            ]
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts)
            + f"\n<script>{_SORT_JS}</script>\n</body>\n</html>\n"
        )
        (tmp / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
