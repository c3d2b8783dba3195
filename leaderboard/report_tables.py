"""HTML tables of the report: units shown (mm, 1/km), the best value bold, sortable by a small inline script.

`html_table(df, table_id, info)` writes one ``<table class="sortable">``; every cell keeps its raw CSV value in
``data-v`` for sorting. `SORT_JS` (inline, no CDN) sorts on a header click and on load from the address:
``index.html#sort=metrics:1:asc`` sorts table ``metrics`` by its column 1 (0-based) ascending.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from leaderboard.metrics import METRIC_INFO

__all__ = ["HEADLINE", "SORT_JS", "html_table", "metric_info"]

#: Headline columns, in display order (the paper's table and NLSPN's metric set).
HEADLINE = ("method", "rmse", "mae", "irmse", "imae", "rel", "d1", "d2", "d3")

# How a unit is displayed: (multiplier, display unit, decimals).
_DISPLAY = {"m": (1000.0, "mm", 1), "1/m": (1000.0, "1/km", 2), "fraction": (1.0, "", 4)}


def metric_info() -> dict[str, tuple[str, bool]]:
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


def html_table(df, table_id: str, info: Mapping[str, tuple[str, bool]], *, bold_best: bool = True) -> str:
    """One sortable ``<table>`` of `df`; `info` is `metric_info()` (units and directions of known columns)."""
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


SORT_JS = r"""
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
