"""`tofsim export --split NAME`: only that split's samples; an unknown or empty split is one error line, no folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tofsim.cli import app

TINY_TOML = """\
preset = "sds"
seed = 5
n_frames = 4
frames_per_scene = 2
shard_size = 4

[camera]
width_px = 64
height_px = 48
fx_px = 58.5
fy_px = 58.5
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export_split")
    config = tmp / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp / "ds"
    result = CliRunner().invoke(app, ["generate", "--config", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def _splits(ds: Path) -> dict[str, list[int]]:
    return json.loads((ds / "manifest.json").read_text())["splits"]


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tofsim: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_export_split_writes_only_that_split(tiny, tmp_path):
    name, indices = next((k, v) for k, v in _splits(tiny).items() if v)
    out = tmp_path / "flat"
    result = CliRunner().invoke(app, ["export", str(tiny), "--out", str(out), "--split", name])
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"split {name!r}" in result.stdout
    assert sorted(int(p.stem) for p in (out / "depth").glob("*.png")) == sorted(indices)
    info = json.loads((out / "export.json").read_text())
    assert info["split"] == name and info["indices"] == sorted(indices)


def test_export_unknown_split_is_one_line_and_no_folder(tiny, tmp_path):
    out = tmp_path / "flat"
    line = _one_error_line(CliRunner().invoke(app, ["export", str(tiny), "--out", str(out), "--split", "nope"]))
    assert "'nope'" in line and "valid splits" in line
    assert not out.exists()


def test_export_empty_split_is_one_line_and_no_folder(tiny, tmp_path):
    empty = [k for k, v in _splits(tiny).items() if not v]
    assert empty, "the tiny dataset (2 scenes) should leave one split empty"
    out = tmp_path / "flat"
    line = _one_error_line(CliRunner().invoke(app, ["export", str(tiny), "--out", str(out), "--split", empty[0]]))
    assert f"split {empty[0]!r} is empty" in line
    assert not out.exists()
