"""Charts of a score folder (matplotlib, Agg, no pyplot): what a reader takes in at a glance.

Every chart reads a `leaderboard.score_folder.ScoreFolder`, shows the methods in the order of ``metrics.csv``
(one colour per method, the same in every chart) and lengths in millimetres:

- `errors_figure`: RMSE and MAE per method; bar = the headline value, whisker = the bootstrap confidence
  interval over images (``{metric}_ci_lo`` / ``_ci_hi`` of ``metrics.csv``, `leaderboard.stats.bootstrap_ci`);
- `depth_bins_figure`: pooled RMSE per ground-truth depth bin (``bins.csv``), one line per method;
- `regions_figure`: pooled RMSE at the ToF spots vs away from them, and at depth edges vs flat ground
  (``regions.csv``);
- `memory_figure`: RMSE (with its interval) against stored weight memory on a log axis, for the methods whose
  weight size the score folder records (``weight_bytes``, else ``weight_mb`` x 10^6, as the methods file or
  `leaderboard reproduce` gives them); `weight_sizes` says which methods are left off and why.

The data behind each chart comes from a plain function (`metric_with_ci`, `bin_rmse`, `region_rmse`,
`weight_sizes`) so a test can compare what is drawn with the tables. Each axes carries a label
(``errors:rmse``, ``errors:mae``, ``bins``, ``regions:spots``, ``regions:edges``, ``memory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from leaderboard.score_folder import ScoreFolder

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MetricCI",
    "metric_with_ci",
    "bin_rmse",
    "region_rmse",
    "weight_sizes",
    "method_colors",
    "errors_figure",
    "depth_bins_figure",
    "regions_figure",
    "memory_figure",
    "REGION_PAIRS",
]

#: m -> mm.
MM_PER_M = 1000.0
#: The two region comparisons: (axes label, title, first region, second region).
REGION_PAIRS = (
    ("regions:spots", "at spot vs away from spot", "at_spot", "away_from_spot"),
    ("regions:edges", "at depth edges vs flat", "edge", "flat"),
)
_PAIR_SHADES = ("#3b5b92", "#a9bde0")  # dark = first region of a pair, light = second
CHART_WIDTH_IN = 6.4
"""Width of every chart in inches (two fit side by side in a 1280-pixel-wide page at 100 dpi)."""


@dataclass(frozen=True)
class MetricCI:
    """One method's value of a metric with its confidence interval (metres; NaN where unknown).

    Attributes:
        method: row name in ``metrics.csv``.
        value_m: the headline value (per-image or pooled mean, as the protocol says).
        lo_m, hi_m: the bootstrap interval of the per-image mean.
    """

    method: str
    value_m: float
    lo_m: float
    hi_m: float

    @property
    def has_ci(self) -> bool:
        """True when both ends of the interval are finite."""
        return math.isfinite(self.lo_m) and math.isfinite(self.hi_m)


def _num(v: object) -> float:
    """A table cell as a float (NaN for empty, text or None)."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    return math.nan


def metric_with_ci(sf: ScoreFolder, metric: str) -> list[MetricCI]:
    """`MetricCI` of `metric` for every method of ``metrics.csv``, in its order."""
    return [
        MetricCI(
            str(r["method"]),
            _num(r.get(metric)),
            _num(r.get(f"{metric}_ci_lo")),
            _num(r.get(f"{metric}_ci_hi")),
        )
        for r in sf.metrics.rows
    ]


def bin_rmse(sf: ScoreFolder) -> tuple[list[str], dict[str, list[float]]]:
    """(bin labels in ``bins.csv`` order, method -> pooled RMSE in metres per bin; NaN for an empty bin)."""
    labels: list[str] = []
    for r in sf.bins.rows:
        if str(r["bin"]) not in labels:
            labels.append(str(r["bin"]))
    out: dict[str, list[float]] = {}
    for m in sf.method_names:
        by_bin = {str(r["bin"]): r for r in sf.bins.rows if str(r["method"]) == m}
        vals = []
        for b in labels:
            r = by_bin.get(b, {})
            n = _num(r.get("n_pixels"))
            vals.append(_num(r.get("rmse")) if (math.isnan(n) or n > 0) else math.nan)
        out[m] = vals
    return labels, out


def region_rmse(sf: ScoreFolder) -> dict[str, dict[str, float]]:
    """Method -> region -> pooled RMSE in metres (NaN where unknown, e.g. no spot masks were scored)."""
    out: dict[str, dict[str, float]] = {m: {} for m in sf.method_names}
    for r in sf.regions.rows:
        m = str(r["method"])
        if m in out:
            out[m][str(r["region"])] = _num(r.get("rmse"))
    return out


def weight_sizes(sf: ScoreFolder) -> tuple[dict[str, float], dict[str, str]]:
    """(method -> stored weight bytes, method -> why it has no point on the memory chart).

    The size is ``weight_bytes`` of ``metrics.csv``, else ``weight_mb`` x 10^6 (MB = 10^6 bytes). A method with
    neither is "no recorded weight size"; one with 0 bytes is "no learned weights" (a classical baseline).
    """
    known: dict[str, float] = {}
    why: dict[str, str] = {}
    for r in sf.metrics.rows:
        m = str(r["method"])
        size = _num(r.get("weight_bytes"))
        if not math.isfinite(size):
            size = _num(r.get("weight_mb")) * 1e6
        if not math.isfinite(size):
            why[m] = "no recorded weight size"
        elif size <= 0:
            why[m] = "no learned weights"
        else:
            known[m] = size
    return known, why


def method_colors(names: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per method, by position in the table (tab10, then tab20 beyond ten methods)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _figure(n_axes: int, height_in: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(CHART_WIDTH_IN, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    return fig, list(axes)


def _method_axis(ax: Axes, names: list[str]) -> None:
    """Methods on the y axis, first method at the top (the table's order read downwards)."""
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _rows_height(n_methods: int) -> float:
    return 1.0 + 0.3 * max(n_methods, 2)


def errors_figure(sf: ScoreFolder) -> Figure:
    """RMSE and MAE per method in mm: bars = headline values, whiskers = bootstrap CI (see the module docstring)."""
    names = sf.method_names
    colors = method_colors(names)
    fig, axes = _figure(2, _rows_height(len(names)))
    level = sf.summary.get("confidence_intervals", {}).get("level") if isinstance(sf.summary, dict) else None
    ci_text = f"{float(level):.0%} CI" if isinstance(level, int | float) else "CI"
    for ax, metric in zip(axes, ("rmse", "mae"), strict=True):
        data = metric_with_ci(sf, metric)
        y = np.arange(len(data))
        vals = np.array([d.value_m for d in data]) * MM_PER_M
        ax.barh(y, np.nan_to_num(vals), color=[colors[d.method] for d in data], height=0.7)
        with_ci = [i for i, d in enumerate(data) if d.has_ci]
        if with_ci:
            lo = np.array([data[i].lo_m for i in with_ci]) * MM_PER_M
            hi = np.array([data[i].hi_m for i in with_ci]) * MM_PER_M
            mid = (lo + hi) / 2.0
            ax.errorbar(mid, y[with_ci], xerr=(hi - lo) / 2.0, fmt="none", ecolor="black", elinewidth=1.2,
                        capsize=3, label="ci")  # fmt: skip
        ends = [max(v, data[i].hi_m * MM_PER_M if data[i].has_ci else v) for i, v in enumerate(vals)]
        finite = [e for e in ends if math.isfinite(e)]
        right = max(finite) * 1.3 if finite and max(finite) > 0 else 1.0
        for i, (v, e) in enumerate(zip(vals, ends, strict=True)):
            if math.isfinite(v):
                ax.text(e + 0.02 * right, i, f"{v:.1f}", va="center", fontsize=7)
        ax.set_xlim(0, right)
        _method_axis(ax, names)
        ax.set_title(f"{metric.upper()} (mm), whisker = {ci_text}", fontsize=9)
        ax.set_label(f"errors:{metric}")
    axes[1].tick_params(axis="y", labelleft=False)
    return fig


def depth_bins_figure(sf: ScoreFolder) -> Figure:
    """Pooled RMSE in mm per ground-truth depth bin, one line per method (log axis when the spread is large)."""
    labels, per_method = bin_rmse(sf)
    colors = method_colors(sf.method_names)
    fig, (ax,) = _figure(1, 3.4)
    x = np.arange(len(labels))
    every = np.array([v for vals in per_method.values() for v in vals], dtype=float) * MM_PER_M
    every = every[np.isfinite(every) & (every > 0)]
    for m, vals in per_method.items():
        ax.plot(x, np.array(vals) * MM_PER_M, marker="o", markersize=4, linewidth=1.5, color=colors[m], label=m)
    if every.size and every.max() / every.min() > 30:
        ax.set_yscale("log")
    ax.set_xticks(x, [f"{b} m" for b in labels], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("ground-truth depth bin", fontsize=8)
    ax.set_ylabel("RMSE (mm), pooled", fontsize=8)
    ax.grid(color="#ddd", linewidth=0.6)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("error against depth", fontsize=9)
    ax.set_label("bins")
    return fig


def regions_figure(sf: ScoreFolder) -> Figure:
    """Pooled RMSE in mm at spots vs away from spots, and at edges vs flat ground, per method."""
    names = sf.method_names
    regions = region_rmse(sf)
    fig, axes = _figure(2, _rows_height(len(names)))
    y = np.arange(len(names))
    for ax, (label, title, first, second) in zip(axes, REGION_PAIRS, strict=True):
        a = np.array([regions[m].get(first, math.nan) for m in names]) * MM_PER_M
        b = np.array([regions[m].get(second, math.nan) for m in names]) * MM_PER_M
        ax.barh(y - 0.19, np.nan_to_num(a), height=0.38, color=_PAIR_SHADES[0], label=first.replace("_", " "))
        ax.barh(y + 0.19, np.nan_to_num(b), height=0.38, color=_PAIR_SHADES[1], label=second.replace("_", " "))
        _method_axis(ax, names)
        if not np.isfinite(np.concatenate([a, b])).any():
            ax.set_xlim(0, 1)
            ax.set_xticks([])
            ax.text(0.5, 0.5, "not scored\n(no spot masks: score with --sparse)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8, color="#666")  # fmt: skip
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        ax.set_title(f"RMSE (mm), {title}", fontsize=9)
        ax.set_label(label)
    axes[1].tick_params(axis="y", labelleft=False)
    return fig


def memory_figure(sf: ScoreFolder) -> Figure | None:
    """RMSE in mm (whisker = CI) against stored weight memory in MB (log axis); None when no size is known."""
    known, _ = weight_sizes(sf)
    if not known:
        return None
    colors = method_colors(sf.method_names)
    data = {d.method: d for d in metric_with_ci(sf, "rmse")}
    fig, (ax,) = _figure(1, 3.4)
    shown: list[float] = []  # log10 sizes already labelled: labels of near-equal sizes are stacked, not overprinted
    for m, size in known.items():
        d = data[m]
        stack = sum(abs(math.log10(size) - s) < 0.06 for s in shown)
        shown.append(math.log10(size))
        x, v = size / 1e6, d.value_m * MM_PER_M
        ax.scatter([x], [v], color=colors[m], s=36, zorder=3, label=m)
        if d.has_ci:  # drawn from lo to hi (a pooled headline value may lie outside the per-image interval)
            lo, hi = d.lo_m * MM_PER_M, d.hi_m * MM_PER_M
            ax.errorbar([x], [(lo + hi) / 2.0], yerr=[(hi - lo) / 2.0], fmt="none", ecolor=colors[m],
                        elinewidth=1.2, capsize=3)  # fmt: skip
        ax.annotate(m, (x, v), xytext=(5, 4 - 11 * stack), textcoords="offset points", fontsize=8)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    xs = np.array(list(known.values())) / 1e6
    ax.set_xlim(xs.min() / 2.0, xs.max() * 3.0)
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("stored weight memory (MB = 10^6 bytes, log scale)", fontsize=8)
    ax.set_ylabel("RMSE (mm)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(color="#ddd", linewidth=0.6, which="both")
    ax.set_title("accuracy against weight memory (lower left is better)", fontsize=9)
    ax.set_label("memory")
    return fig
