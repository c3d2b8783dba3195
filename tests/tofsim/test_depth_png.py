"""tofsim.depth_png: one rounding rule, one invalid rule, one 8-bit policy, and a round trip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tofsim.depth_png import decode_png16, encode_png16, png_header, read_png16, write_png16
from tofsim.errors import ConfigError, InputFileError


def test_encode_rounds_to_nearest_never_truncates():
    d = np.array([[1.2345, 1.2344, 0.0004, 0.0005], [0.0, np.nan, -1.0, 70.0]], dtype=np.float32)
    values = encode_png16(d, scale_per_m=1000.0)
    assert values.dtype == np.uint16
    np.testing.assert_array_equal(values, [[1235, 1234, 0, 1], [0, 0, 0, 0]])
    assert encode_png16(np.array([[1.0]]), scale_per_m=256)[0, 0] == 256
    assert encode_png16(np.array([[0.0625, 0.1875]]), scale_per_m=1000.0).tolist() == [[62, 188]]  # ties to even


def test_encode_never_writes_the_no_reading_value():
    d = np.array([[65.534, 65.535, 65.536, np.inf]])
    assert encode_png16(d, scale_per_m=1000.0).tolist() == [[65534, 0, 0, 0]]


def test_decode_is_the_correctly_rounded_quotient_and_zeroes_invalid():
    values = np.array([[0, 1, 1234, 65534, 65535]], np.uint16)
    got = decode_png16(values, scale_per_m=1000.0)
    assert got.dtype == np.float32
    expected = (values.astype(np.float64) / 1000.0).astype(np.float32)
    expected[0, -1] = 0.0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("scale_per_m", [256.0, 1000.0, 5000.0])
def test_write_read_round_trip(tmp_path, rng, scale_per_m):
    depth_m = rng.uniform(0.1, 10.0, (6, 7)).astype(np.float32)
    depth_m[0, 0] = 0.0
    path = write_png16(tmp_path / "d.png", depth_m, scale_per_m=scale_per_m)
    values = read_png16(path)
    np.testing.assert_array_equal(values, encode_png16(depth_m, scale_per_m=scale_per_m))
    back = decode_png16(values, scale_per_m=scale_per_m)
    assert back[0, 0] == 0.0 and np.all(np.abs(back - depth_m) <= 0.5 / scale_per_m + 1e-6)
    assert read_png16(path, path.read_bytes()).tolist() == values.tolist()


def test_eight_bit_and_colour_pngs_are_refused(tmp_path):
    Image.fromarray(np.full((4, 5), 200, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "c.png")
    assert png_header((tmp_path / "g.png").read_bytes()) == (8, 0)
    with pytest.raises(InputFileError, match=r"g.png: 8-bit grayscale PNG; depth must be a 16-bit grayscale PNG"):
        read_png16(tmp_path / "g.png")
    with pytest.raises(InputFileError, match="c.png: 8-bit RGB PNG"):
        read_png16(tmp_path / "c.png")


def test_read_errors(tmp_path):
    with pytest.raises(InputFileError, match="depth file not found"):
        read_png16(tmp_path / "none.png")
    (tmp_path / "x.png").write_bytes(b"not a png at all, really not")
    with pytest.raises(InputFileError, match="x.png: not a PNG file"):
        read_png16(tmp_path / "x.png")


def test_bad_scale_is_refused():
    with pytest.raises(ConfigError, match="scale_per_m must be a positive number"):
        encode_png16(np.ones((2, 2)), scale_per_m=0)
    with pytest.raises(ConfigError, match="scale_per_m must be a positive number"):
        decode_png16(np.ones((2, 2), np.uint16), scale_per_m=float("nan"))
