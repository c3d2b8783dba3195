"""The static HTML report: local links only, tables, figures, atomic replacement, CLI, and a headless Chromium run."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from leaderboard.cli_figures import report_command
from leaderboard.error_maps import signed_error_rgb
from leaderboard.errors import ConfigError, InputFileError
from leaderboard.report import write_report
from leaderboard.score_folder import ScoreFolder, Table

H, W = 30, 40
METHODS = {"float32": 0.0, "W8A8": 0.6, "NLSPN": -0.6}  # constant offsets: exact, +600 mm, -600 mm
RMSE = {"float32": 0.0199, "W8A8": 0.0219, "NLSPN": 2.5e-05}  # 2.5e-05 sorts first numerically, last as text


def _table(columns: dict[str, list]) -> Table:
    names = tuple(columns)
    return Table(names, [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)])


def make_score_dir(root: Path, *, with_methods: bool = True, with_bins: bool = True) -> Path:
    """A score folder as `leaderboard score` writes it, built by hand, plus GT and prediction .npy folders."""
    gt_dir = root / "gt"
    gt_dir.mkdir(parents=True)
    x = np.arange(W, dtype=np.float32)[None].repeat(H, 0)
    for n in METHODS:
        (root / "preds" / n).mkdir(parents=True)
    for i in range(2):
        gt = 1.0 + 2.0 * x / W + 0.1 * i
        gt[:4, :4] = 0.0
        np.save(gt_dir / f"{i:06d}.npy", gt)
        for n, off in METHODS.items():
            np.save(root / "preds" / n / f"{i:06d}.npy", np.where(gt > 0, gt + off, 0).astype(np.float32))
    metrics = {
        "method": list(METHODS),
        "rmse": [RMSE[n] for n in METHODS],
        "mae": [0.0072, 0.0075, 0.104],
        "irmse": [0.003, 0.004, 0.02],
        "imae": [0.001, 0.002, 0.01],
        "rel": [0.01, 0.012, 0.05],
        "d1": [0.99, 0.985, 0.9],
        "d2": [0.999, 0.998, 0.95],
        "d3": [1.0, 0.999, 0.97],
        "density": [1.0, 1.0, 0.98],
        "rmse_ci_lo": [0.018, 0.02, 0.2],
    }
    bins = {"method": ["float32", "NLSPN"], "bin": ["0-1", "0-1"], "rmse": [0.01, 0.2], "n_pixels": [10, 10]}
    sd = root / "scores"
    ScoreFolder(
        path=sd,
        metrics=_table(metrics),
        per_image=_table({"method": [], "index": [], "name": []}),
        bins=_table(bins if with_bins else dict.fromkeys(bins, [])),
        regions=_table({"method": [], "region": [], "rmse": []}),
        paired=_table({"method_a": [], "method_b": [], "metric": []}),
        protocol={"valid_min_m": 1e-4, "aggregation": "per_image"},
        methods={
            n: {"path": str(root / "preds" / n) if with_methods else None, "format": "npy", "scale_per_m": None}
            for n in METHODS
        },
        summary={"ground_truth": {"kind": "folder", "path": str(gt_dir), "scale_per_m": None}},
    ).write()
    return sd


WEIGHT_MB = {"float32": 4.6, "W8A8": 1.2}  # NLSPN records no size: it is left off the memory chart


def scored_dir(root: Path, name: str = "scored") -> Path:
    """A score folder written by `leaderboard.score.score` (with weight sizes) for the folders of `make_score_dir`."""
    from leaderboard.io.sources import PredictionSource
    from leaderboard.methods import MethodSpec
    from leaderboard.score import score

    case = root / f"{name}-case"
    make_score_dir(case)
    specs = [
        MethodSpec(
            name=n,
            source=PredictionSource(path=case / "preds" / n, fmt="npy"),
            metadata={"weight_mb": WEIGHT_MB[n]} if n in WEIGHT_MB else {},
        )
        for n in METHODS
    ]
    score(case / "gt", specs, root / name)
    return root / name


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """Cells (text without tags) of a table's body rows, in document order."""
    m = re.search(rf'<table[^>]*id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', page, re.S)
    assert m, f"table {table_id} not found"
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)
    ]


def test_report_is_self_contained_with_tables_and_figures(tmp_path):
    sd = make_score_dir(tmp_path)
    index = write_report(sd, frames=(0, 1), title="My board")
    assert index == sd / "report" / "index.html"
    page = index.read_text()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    parser = _Links()
    parser.feed(page)
    assert parser.links, "the report links its figures"
    for link in parser.links:
        assert not re.match(r"^[a-z]+:", link) and not link.startswith("/"), link
        assert (index.parent / link).is_file(), f"broken local link {link}"
    assert "figures/comparison.png" in parser.links
    assert "figures/f1_W8A8_error.png" in parser.links and "data/metrics.csv" in parser.links
    assert "<title>My board</title>" in page and "<script>" in page and "tofbenchSort" in page
    rows = table_rows(page, "metrics")
    assert [r[0] for r in rows] == list(METHODS)  # CSV order until sorted
    assert rows[0][1] == "19.9" and rows[2][1] == "0.0"  # metres shown as mm
    assert rows[0][3] == "3.00"  # 1/m shown as 1/km
    assert re.search(r'<td data-v="2.5e-05"><b>0.0</b></td>', page)  # lowest RMSE is bold
    assert re.search(r'<td data-v="0.99"><b>0.9900</b></td>', page)  # highest d1 is bold
    assert "density" in page and "rmse_ci_lo" in page  # extra columns are kept, in the full table
    assert [r[:2] for r in table_rows(page, "bins")] == [["float32", "0-1"], ["NLSPN", "0-1"]]
    assert '"aggregation": "per_image"' in html.unescape(page)  # the protocol is shown


def _before(page: str, a: str, b: str) -> bool:
    return a in page and b in page and page.index(a) < page.index(b)


def _folded(page: str, marker: str) -> bool:
    """True when `marker` sits inside a <details> element."""
    head = page[: page.index(marker)]
    return head.count("<details") > head.count("</details>")


def test_report_leads_with_charts_and_folds_the_long_tables(tmp_path):
    sd = scored_dir(tmp_path)
    index = write_report(sd, frames=(0, 1))
    page = index.read_text()
    parser = _Links()
    parser.feed(page)
    images = [link for link in parser.links if link.endswith(".png")]
    charts = ["charts/s0_errors.png", "charts/s0_depth_bins.png", "charts/s0_regions.png", "charts/s0_memory.png"]
    assert images[:5] == [*charts, "figures/comparison.png"]  # the first pictures: charts, then the figure
    assert _before(page, "charts/s0_memory.png", 'id="metrics"')  # every chart comes before the first table
    assert not _folded(page, 'id="metrics"')  # the headline table stays open
    for table in ("metrics-all", "bins", "regions", "paired"):
        assert _folded(page, f'id="{table}"'), table  # the long tables fold away
    assert _folded(page, "figures/f1_W8A8_error.png") and _folded(page, "&quot;aggregation&quot;")
    for link in charts:
        img = Image.open(index.parent / link)
        assert img.size[0] == 640 and np.asarray(img.convert("L")).std() > 10, link  # drawn, not blank
    assert "Left off: NLSPN (no recorded weight size)" in page  # the memory chart says who is missing
    assert "percentile bootstrap over images (1000 resamples)" in page  # the CI caption is the score folder's


def test_report_shows_extra_score_folders_as_sections(tmp_path):
    sd = scored_dir(tmp_path, "synthetic")
    real = scored_dir(tmp_path, "real")
    out = tmp_path / "rep"
    note = "Real frames: a sentence from the caller."
    index = write_report(sd, out, label="Synthetic test split", extra={"Real frames": real}, notes=[note])
    page = index.read_text()
    parser = _Links()
    parser.feed(page)
    for link in parser.links:
        assert (out / link).is_file(), f"broken local link {link}"
    assert _before(page, ">Synthetic test split</h3>", ">Real frames</h3>")
    assert _before(page, "charts/s1_memory.png", "figures/comparison.png")  # both sections' charts lead
    assert _before(page, 'id="metrics"', 'id="s1-metrics"') and _folded(page, 'id="s1-bins"')
    assert [r[0] for r in table_rows(page, "s1-metrics")] == list(METHODS)
    assert (out / "figures" / "s1_comparison.png").is_file() and (out / "data" / "s1" / "metrics.csv").is_file()
    assert (out / "charts" / "s1_errors.png").is_file() and html.escape(note) in page
    with pytest.raises(InputFileError, match="no metrics.csv here"):
        write_report(sd, out, extra={"Real frames": tmp_path / "nowhere"})


def test_report_error_map_pixels_follow_the_convention(tmp_path):
    sd = make_score_dir(tmp_path)
    index = write_report(sd)
    fig = index.parent / "figures"
    far = np.asarray(Image.open(fig / "f0_W8A8_error.png"))
    near = np.asarray(Image.open(fig / "f0_NLSPN_error.png"))
    exact = np.asarray(Image.open(fig / "f0_float32_error.png"))
    assert far.shape == (H, W, 3)
    assert far[10, 10].tolist() == [128, 0, 0] and near[10, 10].tolist() == [0, 0, 76]
    assert exact[10, 10].tolist() == [255, 255, 255] and far[1, 1].tolist() == [0, 0, 0]
    gt = np.load(sd.parent / "gt" / "000000.npy")
    pred = np.load(sd.parent / "preds" / "W8A8" / "000000.npy")
    np.testing.assert_array_equal(far, signed_error_rgb(pred, gt))
    comp = np.asarray(Image.open(fig / "comparison.png").convert("RGB"))
    assert comp.shape[1] > 5 * W


def test_report_without_prediction_paths_still_has_tables(tmp_path):
    sd = make_score_dir(tmp_path, with_methods=False, with_bins=False)
    page = write_report(sd).read_text()
    assert "Figures not drawn" in page and "prediction folder" in page
    assert len(table_rows(page, "metrics")) == 3
    assert 'id="bins"' not in page
    sd2 = make_score_dir(tmp_path / "b")
    shutil.rmtree(sd2.parent / "preds" / "NLSPN")
    page2 = write_report(sd2).read_text()
    assert "Figures not drawn" in page2 and "prediction path not found" in page2


def test_report_replaces_an_old_report_atomically(tmp_path):
    sd = make_score_dir(tmp_path)
    out = tmp_path / "site" / "rep"
    write_report(sd, out, figures=False)
    (out / "stale.txt").write_text("old")
    write_report(sd, out, figures=False)
    assert (out / "index.html").is_file() and not (out / "stale.txt").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["rep"]  # no temporary folders left


def test_report_bad_inputs(tmp_path):
    with pytest.raises(InputFileError, match="no metrics.csv here"):
        write_report(tmp_path)
    sd = make_score_dir(tmp_path)
    not_report = tmp_path / "mine"
    not_report.mkdir()
    (not_report / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a report folder"):
        write_report(sd, not_report)
    assert (not_report / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="err_range_mm"):
        write_report(sd, err_range_mm=0)
    pd.DataFrame({"name": ["a"], "rmse": [1.0]}).to_csv(sd / "metrics.csv", index=False)
    with pytest.raises(InputFileError, match="needs a 'method' column"):
        ScoreFolder.read(sd)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing to a single command
    return app


def test_report_cli_happy_path_and_error(tmp_path):
    sd = make_score_dir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(_app(), ["report", str(sd), "--out", str(tmp_path / "r"), "--frames", "1"])
    assert res.exit_code == 0, res.output
    assert "report:" in res.stdout and (tmp_path / "r" / "figures" / "f1_NLSPN_error.png").is_file()
    res = runner.invoke(_app(), ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error:") and "no metrics.csv" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(_app(), ["report", str(sd), "--frames", "x"])
    assert res.exit_code == 2 and "--frames" in res.stderr
    assert runner.invoke(_app(), ["report", "--help"]).exit_code == 0


# --- headless Chromium ------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium/chromium-browser on PATH (install Debian's chromium: apt-get install chromium)")


def run_chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    exe = find_chromium()
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=120, check=False)


TAB10_ORANGE = (255, 127, 14)  # the second method's (W8A8, 600 mm off) colour in every chart
HEADER_GREY = (238, 238, 238)  # table header background #eee


def colour_rows(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 2, min_pixels: int = 20) -> np.ndarray:
    """Row indices of a screenshot holding at least `min_pixels` pixels of colour `rgb`."""
    hits = (np.abs(img - np.array(rgb)).max(axis=2) <= tol).sum(axis=1)
    return np.flatnonzero(hits >= min_pixels)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path):
    sd = scored_dir(tmp_path)
    index = write_report(sd)
    shot = tmp_path / "shot.png"
    res = run_chromium([f"--screenshot={shot}", "--window-size=1280,3000", index.as_uri()], tmp_path)
    assert shot.is_file(), res.stderr.decode(errors="replace")[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (3000, 1280)
    chart_rows = colour_rows(img, TAB10_ORANGE)
    assert chart_rows.size and chart_rows[0] < 500, "the page does not open with the charts"
    top = img[chart_rows[0] : chart_rows[0] + 300]
    assert top.std() > 20 and (np.abs(top - 255).max(axis=2) > 30).mean() > 0.05  # the chart region is drawn
    header_rows = colour_rows(img, HEADER_GREY, tol=1, min_pixels=200)
    assert header_rows.size and header_rows[0] > chart_rows[0] + 300  # the tables come after the charts
    dark_red = (np.abs(img - [128, 0, 0]).max(axis=2) <= 12).sum()
    dark_blue = (np.abs(img - [0, 0, 76]).max(axis=2) <= 12).sum()
    assert dark_red > 500 and dark_blue > 500, (dark_red, dark_blue)  # the comparison figure's error maps


@pytest.mark.browser
def test_tables_sort_in_headless_chromium(tmp_path):
    sd = make_score_dir(tmp_path)
    index = write_report(sd, figures=False)

    def rendered(fragment: str) -> str:
        res = run_chromium(["--dump-dom", index.as_uri() + fragment], tmp_path)
        assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
        return res.stdout.decode()

    by_rmse = sorted(METHODS, key=RMSE.get)
    asc = rendered("#sort=metrics:1:asc")
    assert [r[0] for r in table_rows(asc, "metrics")] == by_rmse  # numeric, not text order
    assert 'data-sorted="1:asc"' in asc and 'aria-sort="ascending"' in asc
    desc = rendered("#sort=metrics:1:desc")
    assert [r[0] for r in table_rows(desc, "metrics")] == by_rmse[::-1]
    by_name = rendered("#sort=metrics:0:asc")
    assert [r[0] for r in table_rows(by_name, "metrics")] == sorted(METHODS, key=str.lower)
    unsorted = rendered("")
    assert [r[0] for r in table_rows(unsorted, "metrics")] == list(METHODS)


def test_report_from_a_folder_written_by_leaderboard_score(tmp_path):
    """Integration with the scoring side: `leaderboard.score.score` output -> report with figures."""
    score_mod = pytest.importorskip("leaderboard.score")
    root = tmp_path / "case"
    make_score_dir(root)  # for its GT and prediction folders
    out = tmp_path / "scored"
    preds = {n: root / "preds" / n for n in METHODS}
    score_mod.score(root / "gt", preds, out)
    index = write_report(out, frames=(1,))
    page = index.read_text()
    assert "Figures not drawn" not in page
    rows = table_rows(page, "metrics")
    assert [r[0] for r in rows] == list(METHODS)
    assert rows[1][1] == "600.0" and rows[2][1] == "600.0"  # constant +-600 mm offsets, shown in mm
    assert 'id="bins"' in page and 'id="regions"' in page and 'id="paired"' in page
    far = np.asarray(Image.open(index.parent / "figures" / "f1_W8A8_error.png"))
    assert far[10, 10].tolist() == [128, 0, 0]
