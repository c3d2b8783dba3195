"""Per-method ``--pred NAME=PATH:OPTION=VALUE`` options and a stacked ``preds.h5`` named by its folder."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from leaderboard.cli import app
from leaderboard.errors import ConfigError
from leaderboard.io import PredictionSource
from leaderboard.methods import parse_pred_option


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(7)
    for d in ("gt", "mm", "kitti", "stack"):
        (tmp_path / d).mkdir()
    stack = []
    for i in range(3):
        g = rng.uniform(0.5, 5.0, (8, 10)).astype(np.float32)
        np.save(tmp_path / "gt" / f"{i:06d}.npy", g)
        Image.fromarray(np.rint(g * 1000).astype(np.uint16)).save(tmp_path / "mm" / f"{i:06d}.png")
        Image.fromarray(np.rint(g * 256).astype(np.uint16)).save(tmp_path / "kitti" / f"{i:06d}.png")
        stack.append(g + np.float32(0.01))
    with h5py.File(tmp_path / "stack" / "preds.h5", "w") as f:
        f["depth"] = np.stack(stack)
    return tmp_path


def score(*args):
    return CliRunner().invoke(app, ["score", *map(str, args)])


def one_error_line(r) -> str:
    assert r.exit_code == 2, r.output
    lines = [ln for ln in (r.stderr if hasattr(r, "stderr") else r.output).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_parse_options_override_the_global_defaults():
    spec = parse_pred_option("nlspn=out/nlspn:scale=256:format=png", fmt="npy", scale_per_m=1000.0)
    assert spec.name == "nlspn" and spec.source.path == Path("out/nlspn")
    assert spec.source.fmt == "png16" and spec.source.scale_per_m == 256.0
    plain = parse_pred_option("a=out/a", fmt="png16", scale_per_m=1000.0)
    assert plain.source.fmt == "png16" and plain.source.scale_per_m == 1000.0  # the globals stay the defaults
    other = parse_pred_option("b=out/b:key=pred:pattern=*.npz:list=l.txt")
    assert (other.source.key, other.source.pattern, other.source.list_file) == ("pred", "*.npz", Path("l.txt"))
    assert parse_pred_option(r"w=C:\preds:scale=5000").source.path == Path(r"C:\preds")  # a colon in the path


@pytest.mark.parametrize(
    "text, match",
    [
        ("a=p:scal=256", r"--pred 'a': unknown option 'scal'; valid: format, key, list, pattern, scale"),
        ("a=p:scale=abc", r"--pred 'a': scale='abc' must be a positive number"),
        ("a=p:scale=-1", r"scale='-1' must be a positive number"),
        ("a=p:format=jpeg", r"--pred 'a': unknown format='jpeg'; valid: auto, "),
        ("a=p:scale=1:scale=2", r"option\(s\) scale given more than once"),
        ("a=p:format=", r"option 'format' needs a value"),
        ("a=:scale=2", r"no path before the options"),
        ("nopath", r"--pred expects NAME=PATH"),
    ],
)
def test_bad_options_raise_config_error(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_pred_option(text)


def test_cli_scale_and_format_per_prediction(data):
    out = data / "out"
    r = score(
        "--gt", data / "gt", "--out", out, "-q",
        "--pred", f"mm={data / 'mm'}:scale=1000",
        "--pred", f"kitti={data / 'kitti'}:scale=256:format=png",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in csv.DictReader((out / "metrics.csv").open())}
    assert float(rows["mm"]["mae"]) < 0.0006 and float(rows["kitti"]["mae"]) < 0.002  # rounding of each scale only


def test_cli_bad_option_is_one_line_naming_it(data):
    line = one_error_line(score("--gt", data / "gt", "--out", data / "o", "--pred", f"mm={data / 'mm'}:scal=1000"))
    assert "unknown option 'scal'; valid: format, key, list, pattern, scale" in line
    assert not (data / "o").exists()


def test_stacked_file_named_by_its_folder(data):
    res = PredictionSource(path=data / "stack").resolve()
    assert res.fmt == "h5-stacked" and res.describe()["path"].endswith("preds.h5")
    out = data / "out_stack"
    r = score("--gt", data / "gt", "--out", out, "-q", "--pred", f"s={data / 'stack'}")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert float(rows[0]["mae"]) == pytest.approx(0.01, rel=1e-4)
