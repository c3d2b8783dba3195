"""Tables: CSV (SI units), Markdown and LaTeX booktabs (best value per column in bold).

CSV and JSON hold metres, 1/m and fractions. Markdown and LaTeX show RMSE, MAE and SqRel in millimetres and
say so in the header; "best" follows each metric's direction (`METRIC_INFO.higher_is_better`); ties are all bold.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leaderboard.metrics import METRIC_INFO
from tofsim.provenance import write_text_atomic

__all__ = [
    "write_csv",
    "to_csv",
    "to_markdown",
    "to_latex",
    "best_indices",
    "HEADLINE_COLUMNS",
    "DISPLAY",
]

#: The columns of the Markdown / LaTeX tables (metadata columns follow when present).
HEADLINE_COLUMNS = ("rmse", "mae", "irmse", "imae", "rel", "d1", "d2", "d3")
#: column -> (header, factor from the CSV unit, format) for Markdown / LaTeX, from the metric declarations.
DISPLAY: dict[str, tuple[str, float, str]] = {
    name: (info.label, info.display_scale, info.display_format) for name, info in METRIC_INFO.items()
}
_LATEX_HEADER = {"δ<1.25": r"$\delta_{1.25}$", "δ<1.25²": r"$\delta_{1.25^2}$", "δ<1.25³": r"$\delta_{1.25^3}$"}


def _cell(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text of `rows` with `columns` (missing values and NaN as empty cells; floats at full precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c, "")) for c in columns])
    return buf.getvalue()


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write `rows` as CSV (atomically)."""
    return write_text_atomic(path, to_csv(rows, columns))


def best_indices(rows: Sequence[dict[str, Any]], column: str) -> set[int]:
    """Indices of the rows holding the best finite value of a metric column (all of them on a tie)."""
    info = METRIC_INFO.get(column)
    if info is None:
        return set()
    vals = [(i, r.get(column)) for i, r in enumerate(rows)]
    vals = [(i, float(v)) for i, v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return set()
    best = max(v for _, v in vals) if info.higher_is_better else min(v for _, v in vals)
    return {i for i, v in vals if v == best}


def _display(column: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return "–"
    if column in DISPLAY and isinstance(v, (int, float)):
        _, factor, fmt = DISPLAY[column]
        return fmt.format(v * factor)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _header(column: str) -> str:
    return DISPLAY[column][0] if column in DISPLAY else column


def to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, name_column: str = "method") -> str:
    """A Markdown table with the best value of each metric column in bold."""
    cols = [name_column, *[c for c in columns if c != name_column]]
    best = {c: best_indices(rows, c) for c in cols}
    arrows = {c: (" ↑" if METRIC_INFO[c].higher_is_better else " ↓") if c in METRIC_INFO else "" for c in cols}
    lines = ["| " + " | ".join(_header(c) + arrows[c] for c in cols) + " |"]
    lines.append("|" + "|".join("---" if c == name_column else "---:" for c in cols) + "|")
    for i, r in enumerate(rows):
        cells = []
        for c in cols:
            s = _display(c, r.get(c)).replace("|", "\\|")
            cells.append(f"**{s}**" if i in best[c] else s)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        s = s.replace(a, b)
    return s.replace("–", "--")


def to_latex(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    name_column: str = "method",
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """A LaTeX booktabs table (needs the booktabs package) with the best value of each metric column bold."""
    cols = [name_column, *[c for c in columns if c != name_column]]
    best = {c: best_indices(rows, c) for c in cols}

    def head(c: str) -> str:
        h = _header(c)
        h = _LATEX_HEADER.get(h, _latex_escape(h))
        if c in METRIC_INFO:
            h += r" $\uparrow$" if METRIC_INFO[c].higher_is_better else r" $\downarrow$"
        return h

    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        out.append(rf"\label{{{label}}}")
    out.append(r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}")
    out.append(r"\toprule")
    out.append(" & ".join(head(c) for c in cols) + r" \\")
    out.append(r"\midrule")
    for i, r in enumerate(rows):
        cells = []
        for c in cols:
            s = _latex_escape(_display(c, r.get(c)))
            cells.append(rf"\textbf{{{s}}}" if i in best[c] else s)
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"
