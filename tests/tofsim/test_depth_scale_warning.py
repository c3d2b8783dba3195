"""`tofsim convert` with a depth scale that gives implausible depths prints one ``warning:`` line naming the option."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tofsim.cli import app


def _mm_folder(root: Path, mm: int = 2500, frames: int = 2) -> Path:
    """A generic depth/ + rgb/ folder of millimetre PNGs (a flat wall `mm` away)."""
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "intrinsics.txt").write_text("40 40 15.5 11.5\n")
    for i in range(frames):
        depth = np.full((24, 32), mm, np.uint16)
        depth[:2] = 0  # a few invalid pixels: left out of the median
        Image.fromarray(depth).save(root / "depth" / f"{i:04d}.png")
        Image.fromarray(np.full((24, 32, 3), 120, np.uint8)).save(root / "rgb" / f"{i:04d}.png")
    return root


def _warning_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_mm_pngs_read_as_tum_scale_warn_once_naming_option_median_and_scale(tmp_path):
    src = _mm_folder(tmp_path / "mm")
    out = tmp_path / "out"
    args = ["convert", str(src), "--out", str(out), "--depth-scale-per-m", "5000", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    lines = _warning_lines(result)
    assert len(lines) == 1, result.stderr
    assert "--depth-scale-per-m 5000" in lines[0] and "0.5 m" in lines[0], lines[0]
    assert "--depth-scale-per-m 1000 (mm PNGs" in lines[0], lines[0]
    assert "0000.png" in lines[0] and "Traceback" not in result.output
    assert json.loads((out / "manifest.json").read_text())["count"] == 2  # a warning, not a refusal


def test_tum_pngs_read_as_mm_warn_with_5000(tmp_path):
    src = _mm_folder(tmp_path / "tum", mm=12500)  # 2.5 m stored at 5000 per metre
    result = CliRunner().invoke(app, ["convert", str(src), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = _warning_lines(result)
    assert len(lines) == 1 and "12.5 m" in lines[0] and "--depth-scale-per-m 5000 (TUM/ETH3D" in lines[0], lines


def test_plausible_depth_does_not_warn(tmp_path):
    src = _mm_folder(tmp_path / "ok")
    result = CliRunner().invoke(app, ["convert", str(src), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert not _warning_lines(result) and "warning" not in result.stderr.lower(), result.stderr


def test_check_depth_scale_library_warning():
    from tofsim.sources.base import DepthScaleWarning, check_depth_scale

    with pytest.warns(DepthScaleWarning, match="median valid depth of 0.05 m"):
        check_depth_scale(np.full((4, 4), 0.05, np.float32), 1000.0, where="f.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_depth_scale(np.full((4, 4), 2.0, np.float32), 1000.0, where="f.png") is None
        assert check_depth_scale(np.zeros((4, 4), np.float32), 1000.0, where="f.png") is None
