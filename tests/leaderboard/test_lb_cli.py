"""leaderboard CLI `score`: help, happy paths (--pred and --methods), bad inputs -> one line and exit code 2."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from leaderboard.cli import app

REQUIRED = ["method", "rmse", "mae", "irmse", "imae", "rel", "d1", "d2", "d3"]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(5)
    for d in ("gt", "a", "png"):
        (tmp_path / d).mkdir()
    for i in range(3):
        g = rng.uniform(0.5, 5.0, (8, 10)).astype(np.float32)
        np.save(tmp_path / "gt" / f"{i:06d}.npy", g)
        np.save(tmp_path / "a" / f"{i:06d}.npy", g + np.float32(0.02))
        Image.fromarray(np.rint(g * 1000).astype(np.uint16)).save(tmp_path / "png" / f"{i:06d}.png")
    return tmp_path


def run(*args):
    return CliRunner().invoke(app, ["score", *map(str, args)])


def test_help():
    r = CliRunner().invoke(app, ["score", "--help"])
    assert r.exit_code == 0 and "--pred" in r.output and "--methods" in r.output and "--missing" in r.output


def test_happy_path_writes_required_columns(data):
    out = data / "out"
    r = run(
        "--gt",
        data / "gt",
        "--out",
        out,
        "--pred",
        f"a={data / 'a'}",
        "--pred",
        f"mm={data / 'png'}",
        "--png-scale-per-m",
        1000,
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert "scored 2 method(s) on 3 frame(s)" in r.output and "metrics.csv" in r.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert set(REQUIRED) <= set(rows[0]) and [row["method"] for row in rows] == ["a", "mm"]
    assert float(rows[0]["mae"]) == pytest.approx(0.02, rel=1e-4)
    assert float(rows[1]["mae"]) < 0.0005  # millimetre rounding only


def test_methods_file_and_options(data):
    methods = data / "methods.toml"
    methods.write_text('[[method]]\nname = "a"\npath = "a"\nweight_mb = 1.5\nlatency_ms = 3\n')
    out = data / "out2"
    r = run(
        "--gt",
        data / "gt",
        "--out",
        out,
        "--methods",
        methods,
        "--missing",
        "exclude",
        "--cap-m",
        4.0,
        "-q",
        "--processes",
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows[0]["weight_mb"] == "1.5" and rows[0]["missing_policy"] == "exclude"
    assert "4.0" in (out / "protocol.json").read_text()


@pytest.mark.parametrize(
    "case, message",
    [
        ("eight_bit", "8-bit grayscale PNG; depth must be a 16-bit grayscale PNG"),
        ("size", "has size (4, 4) but GT frame 000000 has (8, 10)"),
        ("missing", "1 of 3 GT frames have no prediction"),
        ("format", "unknown --format 'jpeg'"),
        ("detect", "cannot detect the depth format (found .jpg)"),
        ("no_scale", "PNG predictions need an explicit scale_per_m"),
        ("both", "give either --pred NAME=PATH"),
        ("missing_policy", "protocol: missing='ignore'"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(data, case, message):
    bad = data / "bad"
    bad.mkdir()
    args = ["--gt", data / "gt", "--out", data / "o", "--pred", f"x={bad}", "-q"]
    if case == "eight_bit":
        for i in range(3):
            Image.fromarray(np.full((8, 10), 9, np.uint8)).save(bad / f"{i:06d}.png")
        args += ["--png-scale-per-m", 256]
    elif case == "size":
        for i in range(3):
            np.save(bad / f"{i:06d}.npy", np.ones((4, 4), np.float32))
    elif case == "missing":
        for i in range(2):
            np.save(bad / f"{i:06d}.npy", np.ones((8, 10), np.float32))
    elif case == "format":
        args += ["--format", "jpeg"]
    elif case == "detect":
        (bad / "000000.jpg").write_bytes(b"\xff\xd8")
    elif case == "no_scale":
        Image.fromarray(np.ones((8, 10), np.uint16)).save(bad / "000000.png")
    elif case == "both":
        args += ["--methods", data / "m.toml"]
    elif case == "missing_policy":
        args += ["--missing", "ignore"]
    r = run(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
