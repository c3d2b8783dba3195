"""Comparison figure layout, colours of known pixels in the saved PNG, single-panel PNGs and frame loading."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from leaderboard.error_maps import depth_rgb, signed_error_rgb
from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.figures import (
    FramePanels,
    build_comparison_figure,
    comparison_figure,
    depth_png,
    error_map_png,
    load_frame_panels,
    rgb_png,
    save_figure,
)

H, W = 24, 32
DARK_RED, DARK_BLUE, WHITE, BLACK = [128, 0, 0], [0, 0, 76], [255, 255, 255], [0, 0, 0]


def ramp_frame(offsets_m: list[float], label: str = "frame 0") -> FramePanels:
    """A depth ramp 1..4 m with an invalid top-left block; method k = GT + offsets_m[k] everywhere."""
    x = np.arange(W, dtype=np.float32)[None, :].repeat(H, 0)
    gt = 1.0 + 3.0 * x / (W - 1)
    gt[:6, :8] = 0.0
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 1] = 200
    preds = tuple(np.where(gt > 0, gt + off, 0).astype(np.float32) for off in offsets_m)
    return FramePanels(gt_m=gt.astype(np.float32), preds_m=preds, rgb=rgb, label=label)


def by_label(fig) -> dict:
    return {ax.get_label(): ax for ax in fig.axes}


def grid_pos(ax) -> tuple[int, int, int, int]:
    ss = ax.get_subplotspec()
    return ss.rowspan.start, ss.rowspan.stop, ss.colspan.start, ss.colspan.stop


def test_layout_one_row_per_block():
    names = ["float32", "W8A8", "NLSPN"]
    frames = [ramp_frame([0.0, 0.5, -0.5]), ramp_frame([0.1, 0.2, 0.3], label="frame 3")]
    fig = build_comparison_figure(frames, names)
    axes = by_label(fig)
    panels = ["Color", "GT", *names]
    err_panels = ["Color", "GT valid", *names]
    assert len(fig.axes) == 2 * 2 * 5 + 2 * 2  # 20 image panels + 4 colour bars
    for i in range(2):
        for k, p in enumerate(panels):
            assert grid_pos(axes[f"f{i}:depth:{p}"]) == (2 * i, 2 * i + 1, k, k + 1)
        for k, p in enumerate(err_panels):
            assert grid_pos(axes[f"f{i}:error:{p}"]) == (2 * i + 1, 2 * i + 2, k, k + 1)
        assert grid_pos(axes[f"f{i}:cbar:depth"]) == (2 * i, 2 * i + 1, 5, 6)
        assert grid_pos(axes[f"f{i}:cbar:error"]) == (2 * i + 1, 2 * i + 2, 5, 6)
    assert axes["f0:depth:GT"].get_title() == "GT"
    assert axes["f0:error:W8A8"].get_title() == "W8A8\nMAE 500.0 mm, RMSE 500.0 mm"
    assert axes["f1:depth:Color"].get_ylabel() == "frame 3"
    assert "mm" in axes["f0:cbar:error"].get_ylabel() and "(m)" in axes["f0:cbar:depth"].get_ylabel()
    assert axes["f0:cbar:error"].get_ylim() == (-500.0, 500.0)


def test_layout_paper_two_rows_of_four():
    names = ["float32", "W8A8", "W4A8", "W4A4", "W*", "NLSPN"]
    fig = build_comparison_figure([ramp_frame([0.0] * 6)], names, ncols=4, err_range_mm=250)
    axes = by_label(fig)
    assert len(fig.axes) == 2 * 8 + 2
    order = ["Color", "GT", *names]
    for k, p in enumerate(order):
        r, c = divmod(k, 4)
        assert grid_pos(axes[f"f0:depth:{p}"]) == (r, r + 1, c, c + 1)
        assert grid_pos(axes[f"f0:error:{p if k != 1 else 'GT valid'}"]) == (2 + r, 3 + r, c, c + 1)
    assert grid_pos(axes["f0:cbar:depth"]) == (0, 2, 4, 5)
    assert grid_pos(axes["f0:cbar:error"]) == (2, 4, 4, 5)
    assert axes["f0:cbar:error"].get_ylim() == (-250.0, 250.0)


def png_pixel(png: np.ndarray, fig, ax, col: float, row: float, dpi: float) -> np.ndarray:
    """Colour in the saved PNG at image pixel (col, row) of the panel drawn in `ax`."""
    x, y = ax.transData.transform((col, row))  # display coords at fig.dpi, origin bottom-left
    s = dpi / fig.dpi
    return png[int(round(png.shape[0] - y * s)), int(round(x * s)), :3]


def test_saved_png_has_documented_colours_at_known_pixels(tmp_path):
    names = ["far", "near", "exact", "way_far"]
    fig = build_comparison_figure([ramp_frame([0.5, -0.5, 0.0, 2.0])], names, depth_range_m=(1.0, 4.0))
    dpi = 100
    out = save_figure(fig, tmp_path / "cmp.png", dpi=dpi)
    png = np.asarray(Image.open(out).convert("RGB"))
    axes = by_label(fig)
    at = lambda label, c, r: png_pixel(png, fig, axes[label], c, r, dpi).tolist()  # noqa: E731
    assert at("f0:error:far", 20, 15) == DARK_RED  # +500 mm: saturated dark red
    assert at("f0:error:way_far", 20, 15) == DARK_RED  # +2000 mm saturates
    assert at("f0:error:near", 20, 15) == DARK_BLUE  # -500 mm: dark blue
    assert at("f0:error:exact", 20, 15) == WHITE
    assert at("f0:error:far", 3, 2) == BLACK  # invalid GT
    assert at("f0:error:GT valid", 3, 2) == BLACK and at("f0:error:GT valid", 20, 15) == WHITE
    assert at("f0:depth:Color", 20, 15) == [0, 200, 0]
    # the depth panels share one range: an exact prediction looks exactly like the GT
    gt_col = depth_rgb(ramp_frame([0.0]).gt_m, range_m=(1.0, 4.0))[15, 20].tolist()
    assert at("f0:depth:GT", 20, 15) == gt_col == at("f0:depth:exact", 20, 15)
    assert at("f0:depth:far", 20, 15) != gt_col


def test_comparison_figure_writes_atomically(tmp_path):
    out = comparison_figure([ramp_frame([0.0])], ["m"], tmp_path / "sub" / "fig.pdf")
    assert out.exists() and out.read_bytes()[:4] == b"%PDF"
    assert [p.name for p in out.parent.iterdir()] == ["fig.pdf"]  # no temporary file left behind


def test_figure_bad_inputs(tmp_path):
    fr = ramp_frame([0.0, 0.1])
    with pytest.raises(ConfigError, match="has 2 predictions but there are 1 method names"):
        build_comparison_figure([fr], ["only"])
    with pytest.raises(ConfigError, match="need at least one FramePanels"):
        build_comparison_figure([], ["a"])
    with pytest.raises(ConfigError, match="ncols"):
        build_comparison_figure([fr], ["a", "b"], ncols=0)
    bad = FramePanels(gt_m=fr.gt_m, preds_m=(fr.gt_m[:, :5],), rgb=None)
    with pytest.raises(ShapeError, match="prediction of 'a' has shape"):
        build_comparison_figure([bad], ["a"])
    with pytest.raises(ShapeError, match="rgb: expected shape"):
        build_comparison_figure([FramePanels(gt_m=fr.gt_m, preds_m=(fr.gt_m,), rgb=fr.rgb[:, :, :2])], ["a"])
    with pytest.raises(ConfigError, match="unsupported figure format"):
        comparison_figure([fr], ["a", "b"], tmp_path / "fig.xyz")


def test_single_panel_pngs_at_native_resolution(tmp_path, rng):
    gt = rng.uniform(1, 5, (H, W)).astype(np.float32)
    gt[0, 0] = 0
    pred = gt + rng.normal(0, 0.3, gt.shape).astype(np.float32)
    p = error_map_png(pred, gt, tmp_path / "err.png", range_mm=400)
    img = np.asarray(Image.open(p))
    assert img.shape == (H, W, 3)
    np.testing.assert_array_equal(img, signed_error_rgb(pred, gt, range_mm=400))
    assert img[0, 0].tolist() == BLACK
    a = np.asarray(Image.open(error_map_png(pred, gt, tmp_path / "abs.png", absolute=True)))
    assert (a[..., 0] >= a[..., 2]).all()  # white -> red only, never blue
    d = np.asarray(Image.open(depth_png(gt, tmp_path / "d.png", range_m=(1, 5))))
    np.testing.assert_array_equal(d, depth_rgb(gt, range_m=(1, 5)))
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(rgb_png(rgb, tmp_path / "c.png"))), rgb)
    with pytest.raises(ShapeError, match=r"rgb: expected \(H, W, 3\) uint8"):
        rgb_png(rgb.astype(np.float32), tmp_path / "c2.png")


def test_load_frame_panels_from_npy_folders(tmp_path, rng):
    gt_dir, a_dir, b_dir = tmp_path / "gt", tmp_path / "a", tmp_path / "b"
    for d in (gt_dir, a_dir, b_dir):
        d.mkdir()
    gts = [rng.uniform(1, 3, (H, W)).astype(np.float32) for _ in range(3)]
    for i, g in enumerate(gts):
        np.save(gt_dir / f"{i:06d}.npy", g)
        np.save(a_dir / f"{i:06d}.npy", g + 0.1)
        np.savez(b_dir / f"{i:06d}.npz", depth=g - 0.1)
    frames = load_frame_panels(gt_dir, {"a": a_dir, "b": b_dir}, [2, 0])
    assert [f.label for f in frames] == ["frame 2", "frame 0"]
    np.testing.assert_array_equal(frames[0].gt_m, gts[2])
    np.testing.assert_allclose(frames[0].preds_m[0], gts[2] + 0.1)
    np.testing.assert_allclose(frames[1].preds_m[1], gts[0] - 0.1)
    assert frames[0].rgb is None
    with pytest.raises(InputFileError, match="frame 5 requested but the ground truth has 3 frames"):
        load_frame_panels(gt_dir, {"a": a_dir}, [5])
    with pytest.raises(InputFileError, match="prediction path not found"):
        load_frame_panels(gt_dir, {"a": tmp_path / "missing"}, [0])
    with pytest.raises(InputFileError, match="ground truth not found"):
        load_frame_panels(tmp_path / "nope", {"a": a_dir}, [0])
    with pytest.raises(ConfigError, match="at least one method"):
        load_frame_panels(gt_dir, {}, [0])
    (a_dir / "000001.npy").unlink()
    with pytest.raises(InputFileError, match="'a': no prediction for GT frame 000001"):
        load_frame_panels(gt_dir, {"a": a_dir}, [1])


def test_load_frame_panels_matches_nlspn_png_by_frame_key(tmp_path, rng):
    """NLSPN writes {index:010d}.png x256; frame 2's prediction is 0000000002.png, whatever else is there."""
    gt_dir, nl_dir = tmp_path / "gt", tmp_path / "nlspn"
    gt_dir.mkdir()
    nl_dir.mkdir()
    gts = [rng.uniform(1, 3, (H, W)).astype(np.float32) for _ in range(3)]
    for i, g in enumerate(gts):
        np.save(gt_dir / f"{i:06d}.npy", g)
    for i in (2, 0):  # frame 1 missing: position in the folder differs from the frame key
        Image.fromarray(np.round((gts[i] + 0.25) * 256).astype(np.uint16)).save(nl_dir / f"{i:010d}.png")
    spec = {"path": nl_dir, "format": "nlspn"}
    (fr,) = load_frame_panels(gt_dir, {"NLSPN": spec}, [2])
    np.testing.assert_allclose(fr.preds_m[0], gts[2] + 0.25, atol=0.5 / 256 + 1e-6)
    (fr,) = load_frame_panels(gt_dir, {"NLSPN": nl_dir}, [2], png_scale_per_m=256)
    np.testing.assert_allclose(fr.preds_m[0], gts[2] + 0.25, atol=0.5 / 256 + 1e-6)
    with pytest.raises(InputFileError, match="scale_per_m"):
        load_frame_panels(gt_dir, {"NLSPN": nl_dir}, [2])


# --- the `figure` command -----------------------------------------------------------------------------------------


def _figure_app():
    import typer

    from leaderboard.cli_figures import figure_command

    app = typer.Typer()
    app.command("figure")(figure_command)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing to a single command
    return app


@pytest.fixture
def npy_case(tmp_path, rng):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    offsets = {"float32": 0.0, "W8A8": 0.5}
    for n in offsets:
        (tmp_path / n).mkdir()
    for i in range(4):
        gt = rng.uniform(1, 3, (H, W)).astype(np.float32)
        np.save(gt_dir / f"{i:06d}.npy", gt)
        for n, off in offsets.items():
            np.save(tmp_path / n / f"{i:06d}.npy", gt + off)
    return tmp_path


def test_figure_cli_with_pred_options(npy_case):
    from typer.testing import CliRunner

    out = npy_case / "fig.png"
    args = ["figure", "--gt", str(npy_case / "gt"), "--pred", f"float32={npy_case / 'float32'}"]
    args += ["--pred", f"W8A8={npy_case / 'W8A8'}", "--frames", "0,3", "--out", str(out), "--err-range-mm", "250"]
    res = CliRunner().invoke(_figure_app(), args)
    assert res.exit_code == 0, res.output
    assert "2 frame(s) x 2 method(s)" in res.stdout and str(out) in res.stdout
    img = np.asarray(Image.open(out).convert("RGB"))
    assert (np.abs(img.astype(int) - DARK_RED).max(axis=2) == 0).sum() > 100  # W8A8's +500 mm > 250 mm range


def test_figure_cli_with_methods_file_and_scores(npy_case):
    from typer.testing import CliRunner

    from leaderboard.score import score

    toml = '[[method]]\nname = "float32"\npath = "float32"\n\n[[method]]\nname = "W8A8"\npath = "W8A8"\nbits = 8\n'
    (npy_case / "methods.toml").write_text(toml)
    (npy_case / "methods.yaml").write_text("method:\n  - name: float32\n    path: float32\n")
    runner = CliRunner()
    for mf in ("methods.toml", "methods.yaml"):
        out = npy_case / f"{mf}.png"
        res = runner.invoke(
            _figure_app(), ["figure", "--gt", str(npy_case / "gt"), "--methods", str(npy_case / mf), "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        assert out.is_file()
    sd = npy_case / "scores"
    score(npy_case / "gt", {n: npy_case / n for n in ("W8A8", "float32")}, sd)
    res = runner.invoke(_figure_app(), ["figure", "--scores", str(sd), "--out", str(npy_case / "s.png")])
    assert res.exit_code == 0, res.output
    assert "(W8A8, float32)" in res.stdout  # methods in the order of metrics.csv


def test_figure_cli_errors_are_one_line_exit_2(npy_case):
    from typer.testing import CliRunner

    runner = CliRunner()
    gt = ["--gt", str(npy_case / "gt"), "--out", str(npy_case / "f.png")]
    cases = [
        (gt, "exactly one way"),
        (gt + ["--pred", "nonsense"], "NAME=PATH"),
        (gt + ["--pred", f"a={npy_case / 'float32'}", "--pred", f"a={npy_case / 'W8A8'}"], "given twice"),
        (gt + ["--pred", f"a={npy_case / 'float32'}", "--frames", "9"], "frame 9 requested"),
        (gt + ["--pred", f"a={npy_case / 'float32'}", "--frames", "1,x"], "--frames"),
        (gt + ["--methods", str(npy_case / "nope.toml")], "methods file not found"),
        (gt + ["--scores", str(npy_case)], "no metrics.csv"),
        (["--pred", f"a={npy_case / 'float32'}", "--out", str(npy_case / "f.png")], "--gt"),
    ]
    for args, msg in cases:
        res = runner.invoke(_figure_app(), ["figure", *args])
        assert res.exit_code == 2, (args, res.output)
        assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert runner.invoke(_figure_app(), ["figure", "--help"]).exit_code == 0


def test_load_frame_panels_from_a_tofsim_dataset(tmp_path, monkeypatch, rng):
    import tofsim
    from tofsim.frame import Sample

    ds_dir = tmp_path / "ds"
    ds_dir.mkdir()
    (ds_dir / "manifest.json").write_text("{}")
    samples = [
        Sample(
            rgb=rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            depth_m=rng.uniform(1, 3, (H, W)).astype(np.float32),
            sparse_m=None,
            spot_mask=None,
            spots=None,
            K=None,
            pose=None,
        )  # as read with fields=("rgb", "depth_m")
        for _ in range(2)
    ]
    opened = []

    def fake_open(path):
        opened.append(path)
        return samples

    monkeypatch.setattr(tofsim, "open_dataset", fake_open)
    pred_dir = tmp_path / "p"
    pred_dir.mkdir()
    for i, s in enumerate(samples):
        np.save(pred_dir / f"{i:06d}.npy", s.depth_m + 0.5)
    (fr,) = load_frame_panels(ds_dir, {"m": pred_dir}, [1])
    assert opened == [ds_dir]
    np.testing.assert_array_equal(fr.rgb, samples[1].rgb)
    np.testing.assert_array_equal(fr.gt_m, samples[1].depth_m)
    with pytest.raises(InputFileError, match="frame 2 requested but the ground truth has 2 frames"):
        load_frame_panels(ds_dir, {"m": pred_dir}, [2])

    def broken_open(path):
        raise OSError("bad shard")

    monkeypatch.setattr(tofsim, "open_dataset", broken_open)
    with pytest.raises(InputFileError, match="cannot open as a tofsim dataset"):
        load_frame_panels(ds_dir, {"m": pred_dir}, [0])
