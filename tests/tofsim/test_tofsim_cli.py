"""The ``tofsim`` CLI: help of every command, a tiny happy path, bad input -> one line on stderr and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tofsim.cli import app

COMMANDS = ["generate", "convert", "preview", "info", "export"]

TINY_TOML = """\
preset = "sds"
seed = 5
n_frames = 6
frames_per_scene = 3
shard_size = 4

[camera]
width_px = 160
height_px = 120
fx_px = 146.25
fy_px = 146.25
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def assert_user_error(result, *fragments: str) -> None:
    """Exit code 2, exactly one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tofsim: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(runner, command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and command in result.output


def test_top_level_help_lists_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "tofsim.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "generate" in result.stdout


@pytest.fixture(scope="module")
def tiny_cli_dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    config = tmp / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp / "ds"
    result = CliRunner().invoke(app, ["generate", "--config", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "wrote 6 samples in 2 shard(s)" in result.stdout
    return out


def test_generate_from_config_file(tiny_cli_dataset):
    manifest = json.loads((tiny_cli_dataset / "manifest.json").read_text())
    assert manifest["count"] == 6 and manifest["seed"] == 5
    assert manifest["config"]["camera"]["width_px"] == 160
    assert sorted(p.name for p in tiny_cli_dataset.glob("shard-*.h5")) == ["shard-00000.h5", "shard-00001.h5"]


def test_generate_options_override_the_file(runner, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp_path / "ds"
    args = ["generate", "-c", str(config), "--frames", "2", "--seed", "0", "--shard-size", "1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["count"], manifest["seed"], len(manifest["shards"])) == (2, 0, 2)


def test_info_preview_export(runner, tiny_cli_dataset, tmp_path):
    import tofsim

    result = runner.invoke(app, ["info", str(tiny_cli_dataset)])
    assert result.exit_code == 0, result.output
    assert "6" in result.stdout
    png = tmp_path / "sheet.png"
    result = runner.invoke(app, ["preview", str(tiny_cli_dataset), "--out", str(png), "--indices", "0,4"])
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(png) as image:
        assert image.width > 160 and image.height > 120
    flat = tmp_path / "flat"
    result = runner.invoke(app, ["export", str(tiny_cli_dataset), "--out", str(flat)])
    assert result.exit_code == 0, result.output
    depth_pngs = sorted(p for p in flat.rglob("*.png") if "depth" in str(p.relative_to(flat)))
    assert len(depth_pngs) >= 6
    # The first exported depth PNG is the GT depth in mm, rounded.
    gt = tofsim.open_dataset(tiny_cli_dataset)[0].depth_m
    with Image.open(depth_pngs[0]) as image:
        mm = np.asarray(image)
    # Reference in float64, half up, as documented (float32 gt * 1000 rounds some depths to the other mm).
    np.testing.assert_array_equal(mm, np.floor(gt.astype(np.float64) * 1000 + 0.5).astype(np.uint16))


def test_bad_inputs_exit_2_with_one_line(runner, tmp_path):
    out = str(tmp_path / "o")
    assert_user_error(
        runner.invoke(app, ["generate", "--config", str(tmp_path / "nope.toml"), "--out", out]), "nope.toml"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("n_frame = 3\n")
    assert_user_error(runner.invoke(app, ["generate", "--config", str(bad), "--out", out]), "n_frame", "valid keys")
    assert_user_error(runner.invoke(app, ["generate", "--preset", "nope", "--out", out]), "unknown preset 'nope'")
    assert_user_error(runner.invoke(app, ["generate", "--frames", "0", "--out", out]), "n_frames")
    assert_user_error(runner.invoke(app, ["convert", str(tmp_path / "nowhere"), "--out", out]), "nowhere")
    assert_user_error(runner.invoke(app, ["info", str(tmp_path)]), "manifest")
    assert_user_error(runner.invoke(app, ["preview", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.png")]))
    assert not (tmp_path / "o").exists()


def test_unwritable_output_exits_2(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["generate", "--frames", "1", "--out", str(blocker / "sub")])
    assert_user_error(result, "cannot write to output folder")


@pytest.mark.realdata
def test_convert_redkitchen_cli(runner, tmp_path, redkitchen):
    out = tmp_path / "rk"
    args = ["convert", str(redkitchen), "--out", str(out), "--preset", "sds", "--max-frames", "3", "--seed", "1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["config"]["seed"] == 1
    nan_k = tmp_path / "K.txt"
    nan_k.write_text("585 0 nan\n0 585 240\n0 0 1\n")
    result = runner.invoke(
        app, ["convert", str(redkitchen), "--out", str(tmp_path / "bad"), "--intrinsics", str(nan_k)]
    )
    assert_user_error(result, "NaN")
    assert not (tmp_path / "bad").exists()
