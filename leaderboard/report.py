"""A static HTML report of a score folder: one self-contained folder that works offline.

``write_report(score_dir)`` reads what ``leaderboard score`` wrote (`leaderboard.score_folder.ScoreFolder`) and
writes ``index.html`` that leads with pictures and folds the long tables away:

1. **At a glance** (`leaderboard.report_charts`, `leaderboard.charts`), per score folder: RMSE and MAE per
   method with their bootstrap confidence intervals, error against depth bin, at spots vs away and edges vs flat,
   and accuracy against weight memory (methods without a recorded weight size are left off and named);
2. **Comparison figure** (`leaderboard.report_figures`) when the ground truth and prediction folders the score
   folder names can be read (otherwise a note says why);
3. **Tables** (`leaderboard.report_tables`): the headline table (method, RMSE, MAE, iRMSE, iMAE, REL, d1-d3 in mm
   and 1/km, best value bold, sortable), then, folded in ``<details>``, every column of ``metrics.csv``, the
   per-bin, per-region and paired-test tables; the per-frame depth and error maps and the protocol, folded too.

More score folders of the same methods (``extra={"Real frames": path}``: `leaderboard reproduce` adds its
real-frame scores) get their own charts, comparison figure and tables, in the same order. Copies of the small
CSV/JSON/Markdown/LaTeX files go under ``data/`` (``data/s1/`` ... for the extra folders; not ``per_image.csv``,
which grows with the number of frames).

Every link is relative to the report folder (no http(s) URLs, no script from the network). A sorted view can be
linked: ``index.html#sort=metrics:1:asc`` sorts table ``metrics`` by its column 1 (0-based) ascending on load.

The folder is built under a temporary name beside the target and renamed into place; an existing report
folder (one holding ``index.html``) is replaced, any other existing folder is refused.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leaderboard.error_maps import DEFAULT_ERR_RANGE_MM
from leaderboard.errors import ConfigError
from leaderboard.report_charts import glance_charts
from leaderboard.report_figures import FrameFigures, draw_frame_figures
from leaderboard.report_tables import HEADLINE, SORT_JS, html_table, metric_info
from leaderboard.score_folder import FILES, ScoreFolder
from tofsim.provenance import atomic_folder

__all__ = ["write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table.sortable { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
table.sortable th, table.sortable td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.sortable td.t, table.sortable th:first-child { text-align: left; }
table.sortable th { background: #eee; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.unit { font-weight: normal; color: #666; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 0.8em 1.2em; }
figure { margin: 0; }
figure.chart img { width: 100%; max-width: 640px; display: block; }
figcaption { font-size: 12px; color: #555; max-width: 640px; margin-top: 0.2em; }
figure.wide { margin: 0.5em 0 1em; }
img.fig { max-width: 100%; border: 1px solid #ddd; }
details { margin: 0.3em 0; } summary { cursor: pointer; font-weight: 600; padding: 0.2em 0; }
table.panels td { vertical-align: top; text-align: center; font-size: 12px; padding: 2px; }
table.panels img { width: 200px; image-rendering: pixelated; display: block; }
.note { background: #fff4d6; padding: 0.5em; border-left: 4px solid #e0a800; }
.sub { color: #555; margin-top: -0.5em; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 12px; }
"""

#: Score-folder files copied under ``data/`` (not ``per_image.csv``, which grows with the number of frames).
_COPIED = tuple(name for name in FILES if name != "per_image.csv")


@dataclass(frozen=True)
class _Section:
    """One score folder in the report: its heading, files and the prefixes of its chart files and table ids."""

    label: str
    folder: ScoreFolder
    stem: str  # chart files: charts/{stem}_*.png
    ids: str  # table ids: "" for the main folder (metrics, bins, ...), "s1-" ... for the others
    data: str  # where its files are copied, relative to the report folder
    figure_stem: str  # figure files: figures/{figure_stem}comparison.png


def _tables(sec: _Section, info: Mapping[str, tuple[str, bool]]) -> list[str]:
    sf, ids = sec.folder, sec.ids
    metrics = sf.metrics.frame()
    head_cols = [c for c in HEADLINE if c in metrics.columns]
    other_cols = ["method"] + [c for c in metrics.columns if c not in head_cols]
    parts = [f"<h3>{html.escape(sec.label)}</h3>", html_table(metrics[head_cols], f"{ids}metrics", info)]

    def fold(summary: str, body: str) -> None:
        parts.append(f"<details><summary>{summary}</summary>\n{body}\n</details>")

    if len(other_cols) > 1:
        fold("All columns of metrics.csv", html_table(metrics[other_cols], f"{ids}metrics-all", info))
    if sf.bins.rows:
        fold(
            f"Per depth bin ({len(sf.bins.rows)} rows)",
            html_table(sf.bins.frame(), f"{ids}bins", info, bold_best=False),
        )
    fold(
        f"Per region: at spots / away, edges / flat ({len(sf.regions.rows)} rows)",
        html_table(sf.regions.frame(), f"{ids}regions", info, bold_best=False),
    )
    fold(
        f"Paired tests ({len(sf.paired.rows)} rows)",
        "<p>mean_diff = mean over images of (metric of method_a - metric of method_b), in the metric's unit "
        "(m for RMSE/MAE).</p>\n" + html_table(sf.paired.frame(), f"{ids}paired", {}, bold_best=False),
    )
    return parts


def _sections(sf: ScoreFolder, label: str, extra: Mapping[str, str | os.PathLike]) -> list[_Section]:
    secs = [_Section(label, sf, "s0", "", "data", "")]
    for i, (name, path) in enumerate(extra.items(), start=1):
        secs.append(_Section(str(name), ScoreFolder.read(path), f"s{i}", f"s{i}-", f"data/s{i}", f"s{i}_"))
    return secs


def write_report(
    score_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    title: str = "tofbench leaderboard",
    frames: Sequence[int] = (0,),
    err_range_mm: float = DEFAULT_ERR_RANGE_MM,
    figures: bool = True,
    label: str = "Scores",
    extra: Mapping[str, str | os.PathLike] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write the static HTML report of a score folder (see the module docstring).

    Args:
        score_dir: what ``leaderboard score --out`` wrote (``metrics.csv`` at least).
        out_dir: the report folder; None = ``score_dir / "report"``. An earlier report there is replaced.
        title: page title and heading.
        frames: frame indices shown in the figures of `score_dir` (the extra folders show their frame 0).
        err_range_mm: half-width of the signed-error colour scale in mm.
        figures: draw figures (needs the ground truth and prediction folders the score folder names).
        label: heading of `score_dir`'s charts and tables (e.g. ``"Synthetic test split"``).
        extra: more score folders shown after it, heading -> folder (e.g. ``{"Real frames": "realdata/scores"}``).
        notes: sentences shown under the heading (plain text), e.g. why a part of a study is missing.

    Returns:
        Path of the written ``index.html``.

    Raises:
        InputFileError: if ``metrics.csv`` (of `score_dir` or of an `extra` folder) is missing or unreadable.
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
    secs = _sections(sf, label, extra or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out, what="report", replace=True) as tmp:
        for sec in secs:
            (tmp / sec.data).mkdir(parents=True)
            for name in _COPIED:
                shutil.copy2(sec.folder.path / name, tmp / sec.data / name)
        info = metric_info()
        n_methods = len(sf.method_names)
        data_links = ", ".join(
            f'<a href="data/{n}">{n}</a>' for n in sorted(p.name for p in (tmp / "data").iterdir() if p.is_file())
        )
        parts = [
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="sub">Scores from <code>{html.escape(sf.path.name)}</code>: {n_methods} method(s). '
            "Lengths in mm, inverse depths in 1/km, fractions as 0..1. Tables below the charts: click a column "
            f"header to sort; the best value of each metric is bold. Data: {data_links}.</p>",
            *(f'<p class="note">{html.escape(n)}</p>' for n in notes),
            '<h2 id="glance">At a glance</h2>',
        ]
        for sec in secs:
            parts += [
                f'<h3 id="glance-{sec.stem}">{html.escape(sec.label)}</h3>',
                f'<p class="sub">{html.escape(sec.folder.caption)}</p>',
                glance_charts(sec.folder, tmp, sec.stem),
            ]
        drawn: list[tuple[_Section, FrameFigures]] = []
        if figures:
            for k, sec in enumerate(secs):
                shown = frames if k == 0 else (0,)
                drawn.append(
                    (sec, draw_frame_figures(sec.folder, tmp, shown, float(err_range_mm), stem=sec.figure_stem))
                )
            parts.append('<h2 id="comparison">Comparison figure</h2>')
            for sec, figs in drawn:
                parts += [f"<h3>{html.escape(sec.label)}</h3>", figs.comparison]
        parts.append('<h2 id="tables">Tables</h2>')
        for sec in secs:
            parts += _tables(sec, info)
        for sec, figs in drawn:
            if figs.drawn:
                parts.append(
                    f"<details><summary>Error and depth maps (native resolution): {html.escape(sec.label)}</summary>"
                    f"\n{figs.maps}\n</details>"
                )
        if sf.protocol:
            protocol = html.escape(json.dumps(sf.protocol, indent=2, sort_keys=True, default=str))
            parts.append(f"<details><summary>Protocol</summary>\n<pre>{protocol}</pre>\n</details>")
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts)
            + f"\n<script>{SORT_JS}</script>\n</body>\n</html>\n"
        )
        (tmp / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
