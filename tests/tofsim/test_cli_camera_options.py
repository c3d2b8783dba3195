"""``tofsim generate --width/--height/--fov-deg``: the camera follows the options, the spot pattern stays on the
image, and a camera that leaves most spots off the image is refused with one line (issue 16, item 6).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import tofsim
from tofsim.cli import app
from tofsim.config import camera_override, get_generate_preset, spots_on_image

BASE = ["generate", "--frames", "1", "--frames-per-scene", "1", "--quiet"]


def _generate(tmp_path, name: str, *options: str):
    out = tmp_path / name
    result = CliRunner().invoke(app, [*BASE, "--out", str(out), *options])
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result


def _fraction_on_image(out) -> float:
    """Fraction of the stored spots whose nearest pixel lies inside the image."""
    sample = tofsim.open_dataset(out)[0]
    h, w = sample.depth_m.shape
    spots = sample.spots
    ui, vi = np.floor(spots["u"] + 0.5), np.floor(spots["v"] + 0.5)
    inside = np.isfinite(ui) & np.isfinite(vi) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    return float(inside.mean())


def _printed_fraction(output: str) -> tuple[int, int]:
    match = re.search(r"(\d+) of (\d+) spots \(\d+%\) on the image", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def test_qvga_keeps_the_vga_spot_fraction(tmp_path):
    vga, vga_result = _generate(tmp_path, "vga", "--width", "640", "--height", "480")
    qvga, qvga_result = _generate(tmp_path, "qvga", "--width", "320", "--height", "240")
    assert _fraction_on_image(qvga) == _fraction_on_image(vga) == 1.0
    assert _printed_fraction(qvga_result.output) == _printed_fraction(vga_result.output) == (1039, 1039)
    k = tofsim.open_dataset(qvga)[0].K
    np.testing.assert_allclose(k, [[292.5, 0, 159.5], [0, 292.5, 119.5], [0, 0, 1]])  # the sds-qvga camera


def test_same_fov_same_fraction_at_any_size():
    sds = get_generate_preset("sds")
    for fov in (45.0, 57.4, 70.0):
        fractions = {
            size: spots_on_image(
                sds.sensor, camera_override(sds.camera, width_px=size[0], height_px=size[1], fov_deg=fov)
            )
            for size in ((640, 480), (320, 240), (160, 120))
        }
        assert len(set(fractions.values())) == 1, (fov, fractions)
    partial = spots_on_image(sds.sensor, camera_override(sds.camera, fov_deg=45.0))
    assert 0.5 < partial[0] / partial[1] < 1.0  # a narrower view crops the pattern, but keeps most of it


def test_intrinsics_follow_the_options(tmp_path):
    out, result = _generate(tmp_path, "cam", "--width", "200", "--height", "150", "--fov-deg", "70")
    sample = tofsim.open_dataset(out)[0]
    assert sample.depth_m.shape == (150, 200) and sample.rgb.shape[:2] == (150, 200)
    fx = 100.0 / math.tan(math.radians(35.0))  # (W / 2) / tan(fov / 2), by hand: 142.81 px
    assert abs(fx - 142.81) < 0.01
    np.testing.assert_allclose(sample.K, [[fx, 0, 99.5], [0, fx, 74.5], [0, 0, 1]], rtol=1e-9)
    assert "fx 142.81 px, 70.0 deg" in result.output


def test_width_alone_keeps_the_aspect_and_the_fov():
    sds = get_generate_preset("sds")
    camera = camera_override(sds.camera, width_px=160)
    assert (camera.width_px, camera.height_px, camera.fx_px, camera.fy_px) == (160, 120, 146.25, 146.25)
    assert camera.intrinsics().cx_px == 79.5 and camera.intrinsics().cy_px == 59.5


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--fov-deg", "30"], ["--fov-deg 30", "297 of 1039 spots (29%)", "640x480"]),
        (["--width", "640", "--height", "200"], ["--width 640 --height 200", "(42%)", "640x200"]),
        (["--width", "320", "--height", "240", "--fov-deg", "25"], ["--width 320 --height 240 --fov-deg 25"]),
    ],
)
def test_most_spots_off_the_image_is_refused(tmp_path, options, fragments):
    out = tmp_path / "refused"
    result = CliRunner().invoke(app, [*BASE, "--out", str(out), *options])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tofsim: error: "), result.stderr
    for fragment in [*fragments, "at least half"]:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_fov_is_one_line(tmp_path):
    out = tmp_path / "bad"
    result = CliRunner().invoke(app, [*BASE, "--out", str(out), "--fov-deg", "180"])
    assert result.exit_code == 2 and "--fov-deg" in result.stderr and "(0, 180)" in result.stderr
    assert not out.exists()
