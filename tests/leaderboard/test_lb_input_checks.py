"""Bad prediction input: fewer frames than the GT, a likely unit slip, NaN and negative pixels (input_checks)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from leaderboard.cli import app
from leaderboard.errors import InputFileError
from leaderboard.figures import _prediction_source
from leaderboard.input_checks import frame_input_stats, scale_message
from leaderboard.io import PredictionSource
from leaderboard.protocol import Protocol
from leaderboard.score import score
from leaderboard.score_folder import ScoreFolder

N, H, W = 5, 8, 10


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    for d in ("gt", "m", "mm", "png1", "few", "bad"):
        (tmp_path / d).mkdir()
    for i in range(N):
        g = rng.uniform(0.5, 5.0, (H, W)).astype(np.float32)
        p = g + np.float32(0.01)
        np.save(tmp_path / "gt" / f"{i:06d}.npy", g)
        np.save(tmp_path / "m" / f"{i:06d}.npy", p)
        np.save(tmp_path / "mm" / f"{i:06d}.npy", p * np.float32(1000))
        Image.fromarray(np.rint(p * 256).astype(np.uint16)).save(tmp_path / "png1" / f"{i:06d}.png")
        if i < 2:
            np.save(tmp_path / "few" / f"{i:06d}.npy", p)
        bad = p.copy()
        if i == 1:
            bad[0, :2] = np.nan
            bad[1, :3] = -1.0
        np.save(tmp_path / "bad" / f"{i:06d}.npy", bad)
    return tmp_path


def test_fewer_frames_says_how_many_and_which(data):
    with pytest.raises(
        InputFileError,
        match=r"method 'few': 3 of 5 GT frames have no prediction in .*few, which holds 2 prediction\(s\) for 5 "
        r"GT frames \(missing: 000002, 000003, 000004\)",
    ):
        score(data / "gt", {"few": data / "few"}, data / "o")
    res = score(data / "gt", {"few": data / "few"}, data / "pen", protocol=Protocol(missing_files="penalise"))
    assert any("holds 2 prediction(s) for 5 GT frames" in w and "all-zero" in w for w in res.warnings), res.warnings
    assert not (data / "o").exists()


def test_unit_slip_is_reported_with_the_scale_fix(data):
    res = score(data / "gt", {"m": data / "m", "mm": data / "mm"}, data / "o")
    assert len(res.warnings) == 1, res.warnings  # only the millimetre method
    assert "method 'mm': predictions are about 1000x the ground truth" in res.warnings[0]
    assert "pass --pred mm=PATH:scale=1000" in res.warnings[0]
    doc = json.loads((data / "o" / "metrics.json").read_text())
    assert doc["warnings"] == res.warnings
    assert doc["inputs"]["mm"]["median_ratio_to_gt"] == pytest.approx(1000.0, rel=0.02)
    assert doc["inputs"]["m"]["median_ratio_to_gt"] == pytest.approx(1.0, abs=0.02)
    # the suggested fix removes the warning and gives the metres method's numbers
    fixed = score(data / "gt", {"mm": PredictionSource(path=data / "mm", float_scale_per_m=1000.0)}, data / "o2")
    assert fixed.warnings == [] and fixed.rows[0]["mae"] == pytest.approx(0.01, rel=1e-3)
    # figures and the report read the predictions back through methods.json with the same scale
    specs, _ = ScoreFolder.read(data / "o2").prediction_specs()
    res = _prediction_source("mm", specs["mm"], None)
    got, _ = res.read(res.lookup(0, "000000", 0), 0)
    np.testing.assert_allclose(got, np.load(data / "m" / "000000.npy"), rtol=1e-6)


def test_png_read_at_the_wrong_scale_names_the_right_one(data):
    res = score(data / "gt", {"k": PredictionSource(path=data / "png1", scale_per_m=1.0)}, data / "o")
    assert "about 256x the ground truth" in res.warnings[0] and "scale=256" in res.warnings[0]
    assert scale_message("x", 1 / 1000, fmt="png16", scale_per_m=1000.0).endswith("scale=1")
    assert scale_message("x", 1.3, fmt="npy", scale_per_m=None) is None


def test_cli_prints_the_scale_warning_and_the_fix_works(data):
    r = CliRunner().invoke(app, ["score", "--gt", str(data / "gt"), "--out", str(data / "c"), "-q",
                                 "--pred", f"mm={data / 'mm'}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    assert "warning: method 'mm': predictions are about 1000x" in err
    r = CliRunner().invoke(app, ["score", "--gt", str(data / "gt"), "--out", str(data / "c2"), "-q",
                                 "--pred", f"mm={data / 'mm'}:scale=1000"])  # fmt: skip
    assert r.exit_code == 0 and "warning" not in (r.stderr if hasattr(r, "stderr") else r.output)
    rows = list(csv.DictReader((data / "c2" / "metrics.csv").open()))
    assert float(rows[0]["mae"]) == pytest.approx(0.01, rel=1e-3)


@pytest.mark.parametrize("policy", ["penalise", "exclude"])
def test_nan_and_negative_pixels_are_counted_reported_and_scored_as_missing(data, policy):
    res = score(data / "gt", {"bad": data / "bad"}, data / policy, protocol=Protocol(missing=policy))
    row = res.rows[0]
    assert (row["n_nan_pixels"], row["n_negative_pixels"]) == (2, 3)
    assert row["n_missing_pixels"] == 5
    assert res.warnings == [
        f"method 'bad': 2 NaN and 3 negative prediction pixel(s) in 1 frame(s) (000001); counted as missing "
        f"pixels (missing={policy}: {'scored as 0 m' if policy == 'penalise' else 'left out'})"
    ]
    csv_row = next(csv.DictReader((data / policy / "metrics.csv").open()))
    assert csv_row["n_nan_pixels"] == "2" and csv_row["n_negative_pixels"] == "3"
    # hand check of frame 1's MAE: the 5 bad pixels are 0 m (penalise) or left out (exclude)
    g = np.load(data / "gt" / "000001.npy").astype(np.float64)
    err = np.full((H, W), 0.01)
    bad = np.zeros((H, W), bool)
    bad[0, :2] = bad[1, :3] = True
    err[bad] = g[bad]
    want = err.mean() if policy == "penalise" else err[~bad].mean()
    assert res.results["bad"].column("mae")[1] == pytest.approx(want, rel=1e-5)


def test_frame_input_stats_reference():
    pred = np.array([[np.nan, -1.0, 2000.0], [3000.0, 0.0, 1000.0]], np.float32)
    gt = np.array([[1.0, 1.0, 2.0], [3.0, 1.0, 0.0]], np.float32)
    st = frame_input_stats(pred, gt, valid_min_m=1e-4, ratio=True)
    assert (st.n_nan, st.n_negative, st.median_ratio) == (1, 1, 1000.0)
    assert np.isnan(frame_input_stats(pred, gt, valid_min_m=1e-4, ratio=False).median_ratio)
