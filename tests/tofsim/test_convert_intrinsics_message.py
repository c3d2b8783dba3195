"""`tofsim convert` of a TUM folder without intrinsics: one line that names the `--intrinsics` option."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tofsim.cli import app


def test_tum_folder_without_intrinsics_names_the_cli_option(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    (root / "depth.txt").write_text("# depth maps\n")
    (root / "rgb.txt").write_text("# color images\n")
    Image.fromarray(np.full((24, 32), 5000, np.uint16)).save(root / "depth" / "1305031102.160407.png")
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "rgb" / "1305031102.175304.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(root), "--out", str(out), "-q"])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tofsim: error: "), result.stderr
    assert "--intrinsics" in lines[0] and "intrinsics=" not in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()
