"""Charts of a score folder: what each chart draws is the score folder's numbers, in the table's order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from leaderboard.charts import (
    bin_rmse,
    depth_bins_figure,
    errors_figure,
    memory_figure,
    method_colors,
    metric_with_ci,
    region_rmse,
    regions_figure,
    weight_sizes,
)
from leaderboard.io.sources import PredictionSource, open_ground_truth
from leaderboard.methods import MethodSpec
from leaderboard.score import score
from leaderboard.score_folder import ScoreFolder
from leaderboard.stats import bootstrap_ci

H, W, N_FRAMES = 24, 32, 6
#: name -> (noise sigma in m, weight metadata); "W4A4" is listed before "float32" on purpose (table order != sorted)
METHODS = {
    "W4A4": (0.06, {"weight_bytes": 150_000}),
    "float32": (0.02, {"weight_mb": 1.2}),
    "nearest": (0.15, {"weight_bytes": 0}),
    "external": (0.04, {}),
}


def scored_folder(root: Path, *, spots: bool = True) -> ScoreFolder:
    """GT with depths 1..6 m, noisy predictions, sparse spots on a grid; scored by `leaderboard.score.score`."""
    rng = np.random.default_rng(7)
    gt_dir, sparse_dir = root / "gt", root / "sparse"
    gt_dir.mkdir(parents=True)
    sparse_dir.mkdir()
    for n in METHODS:
        (root / "preds" / n).mkdir(parents=True)
    for i in range(N_FRAMES):
        gt = (1.0 + 5.0 * np.linspace(0.0, 1.0, W)[None].repeat(H, 0) + 0.05 * i).astype(np.float32)
        gt[:, W // 2 :] += 0.5  # a depth edge down the middle
        np.save(gt_dir / f"{i:06d}.npy", gt)
        sparse = np.zeros_like(gt)
        sparse[::4, ::4] = gt[::4, ::4]
        np.save(sparse_dir / f"{i:06d}.npy", sparse)
        for n, (sigma, _) in METHODS.items():
            pred = gt + rng.normal(0.0, sigma, gt.shape) * (1.0 + gt / 3.0)
            np.save(root / "preds" / n / f"{i:06d}.npy", pred.astype(np.float32))
    specs = [
        MethodSpec(name=n, source=PredictionSource(path=root / "preds" / n, fmt="npy"), metadata=meta)
        for n, (_, meta) in METHODS.items()
    ]
    sparse = PredictionSource(path=sparse_dir, fmt="npy") if spots else None
    score(open_ground_truth(gt_dir, sparse=sparse), specs, root / "scores")
    return ScoreFolder.read(root / "scores")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> ScoreFolder:
    return scored_folder(tmp_path_factory.mktemp("charts"))


def axes_by_label(fig) -> dict:
    return {ax.get_label(): ax for ax in fig.axes}


def test_error_bars_are_the_table_values_and_the_stats_module_intervals(folder):
    fig = errors_figure(folder)
    axes = axes_by_label(fig)
    per_image = folder.per_image.frame()
    seed = folder.protocol["seed"]
    n_boot, level = folder.protocol["bootstrap_samples"], folder.protocol["confidence"]
    expected: dict[str, dict[str, tuple[float, float]]] = {}
    for m in folder.method_names:  # as `leaderboard score` draws them: one generator per method, rmse then mae
        rng = np.random.default_rng(seed)
        rows = per_image[per_image["method"] == m]
        expected[m] = {
            k: bootstrap_ci(rows[k].to_numpy(), rng=rng, n_boot=n_boot, confidence=level) for k in ("rmse", "mae")
        }
    for metric in ("rmse", "mae"):
        ax = axes[f"errors:{metric}"]
        names_axis = axes["errors:rmse"]  # the MAE panel shares the rows and hides their names
        assert [t.get_text() for t in names_axis.get_yticklabels()] == list(METHODS)  # table order, top to bottom
        assert list(ax.get_yticks()) == list(range(len(METHODS)))
        assert ax.get_ylim()[0] > ax.get_ylim()[1]  # first method at the top
        bars = [p for p in ax.patches if p.get_height() > 0.5]
        table = {str(r["method"]): float(r[metric]) for r in folder.metrics.rows}
        np.testing.assert_allclose([b.get_width() for b in bars], [table[m] * 1000 for m in METHODS], rtol=1e-9)
        (whiskers,) = ax.collections  # the bars are patches; the whiskers are one LineCollection
        segments = whiskers.get_segments()
        assert len(segments) == len(METHODS)
        for m, seg in zip(METHODS, segments, strict=True):
            (x_lo, y_lo), (x_hi, y_hi) = seg
            assert y_lo == y_hi == list(METHODS).index(m)
            np.testing.assert_allclose([x_lo, x_hi], np.array(expected[m][metric]) * 1000, rtol=1e-9)
            assert x_lo < table[m] * 1000 < x_hi  # per-image aggregation: the mean lies inside its interval
    data = metric_with_ci(folder, "rmse")
    assert [d.method for d in data] == list(METHODS) and all(d.has_ci for d in data)


def test_one_colour_per_method_in_every_chart(folder):
    colors = method_colors(folder.method_names)
    assert len({tuple(c) for c in colors.values()}) == len(METHODS)
    bars = [p for p in axes_by_label(errors_figure(folder))["errors:rmse"].patches if p.get_height() > 0.5]
    assert [tuple(b.get_facecolor()) for b in bars] == [tuple(to_rgba(colors[m])) for m in METHODS]
    lines = axes_by_label(depth_bins_figure(folder))["bins"].get_lines()
    assert [ln.get_label() for ln in lines] == list(METHODS)
    assert [to_rgba(ln.get_color()) for ln in lines] == [tuple(to_rgba(colors[m])) for m in METHODS]


def test_depth_bin_lines_are_bins_csv(folder):
    labels, per_method = bin_rmse(folder)
    assert labels == ["0-1", "1-2", "2-3", "3-5", "5-10"]  # the protocol's default bins, in order
    ax = axes_by_label(depth_bins_figure(folder))["bins"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{b} m" for b in labels]
    bins = folder.bins.frame()
    for line, m in zip(ax.get_lines(), METHODS, strict=True):
        rows = bins[bins["method"] == m].set_index("bin")
        want = [rows.loc[b, "rmse"] * 1000 if rows.loc[b, "n_pixels"] > 0 else np.nan for b in labels]
        np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-9)
        assert np.isnan(line.get_ydata()[0])  # no ground truth nearer than 1 m: a gap, not a zero
        assert per_method[m][1] > 0


def test_region_bars_are_regions_csv(folder, tmp_path):
    regions = region_rmse(folder)
    axes = axes_by_label(regions_figure(folder))
    for label, first, second in (("regions:spots", "at_spot", "away_from_spot"), ("regions:edges", "edge", "flat")):
        ax = axes[label]
        assert [t.get_text() for t in axes["regions:spots"].get_yticklabels()] == list(METHODS)
        assert list(ax.get_yticks()) == list(range(len(METHODS)))
        widths = [p.get_width() for p in ax.patches]
        want = [regions[m][first] * 1000 for m in METHODS] + [regions[m][second] * 1000 for m in METHODS]
        np.testing.assert_allclose(widths, want, rtol=1e-9)
        assert all(w > 0 for w in widths)
    no_spots = scored_folder(tmp_path / "nospots", spots=False)
    ax = axes_by_label(regions_figure(no_spots))["regions:spots"]
    assert "not scored" in " ".join(t.get_text() for t in ax.texts)
    assert all(np.isnan(region_rmse(no_spots)[m]["at_spot"]) for m in METHODS)


def test_memory_chart_places_known_sizes_and_names_the_rest(folder):
    known, why = weight_sizes(folder)
    assert known == {"W4A4": 150_000.0, "float32": 1.2e6}  # weight_bytes, else weight_mb x 10^6
    assert why == {"nearest": "no learned weights", "external": "no recorded weight size"}
    ax = axes_by_label(memory_figure(folder))["memory"]
    assert ax.get_xscale() == "log"
    points = {c.get_label(): c.get_offsets()[0] for c in ax.collections if c.get_label() in METHODS}
    assert sorted(points) == ["W4A4", "float32"]
    table = {str(r["method"]): float(r["rmse"]) for r in folder.metrics.rows}
    for m, (x, y) in points.items():
        assert x == pytest.approx(known[m] / 1e6) and y == pytest.approx(table[m] * 1000)
    assert sorted(t.get_text() for t in ax.texts) == ["W4A4", "float32"]


def test_memory_chart_without_any_size_is_none(tmp_path):
    sf = ScoreFolder.read(scored_folder(tmp_path).path)
    rows = [{k: v for k, v in r.items() if k not in ("weight_bytes", "weight_mb")} for r in sf.metrics.rows]
    bare = ScoreFolder(
        path=sf.path, metrics=type(sf.metrics)(tuple(rows[0]), rows), per_image=sf.per_image, bins=sf.bins,
        regions=sf.regions, paired=sf.paired, protocol=sf.protocol, methods=sf.methods, summary=sf.summary,
    )  # fmt: skip
    assert memory_figure(bare) is None
    assert set(weight_sizes(bare)[1].values()) == {"no recorded weight size"}
