"""leaderboard.io: readers (round trips for every format), NLSPN's PNG layout, matching, refusals, methods files."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.io import (
    READERS,
    PredictionSource,
    frame_key,
    open_ground_truth,
    read_depth,
)
from leaderboard.methods import load_methods, parse_pred_option
from tofsim.depth_png import decode_png16, png_header

LEADERBOARD = Path(__file__).resolve().parents[2] / "leaderboard"


def depth_map(rng, h=6, w=8):
    d = rng.uniform(0.4, 7.5, (h, w)).astype(np.float32)
    d[0, 0] = 0.0
    return d


def write_png16(path, values_u16):
    Image.fromarray(np.asarray(values_u16, np.uint16)).save(path)


def write_as(fmt, path, depth):
    """Write `depth` in `fmt`; returns the path with its suffix."""
    if fmt == "npy":
        path = path.with_suffix(".npy")
        np.save(path, depth)
    elif fmt == "npz":
        path = path.with_suffix(".npz")
        np.savez(path, depth=depth)
    elif fmt == "png16":
        path = path.with_suffix(".png")
        write_png16(path, np.rint(depth * 1000.0))
    elif fmt == "exr":
        import OpenEXR

        path = path.with_suffix(".exr")
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"Y": depth}).write(str(path))
    elif fmt == "h5":
        import h5py

        path = path.with_suffix(".h5")
        with h5py.File(path, "w") as f:
            f["depth"] = depth
    return path


@pytest.mark.parametrize("fmt", READERS.names())
def test_round_trip_every_format(fmt, tmp_path, rng):
    depth = depth_map(rng)
    path = write_as(fmt, tmp_path / "000003", depth)
    got = read_depth(path, scale_per_m=1000.0 if fmt == "png16" else None)
    assert got.dtype == np.float32 and got.shape == depth.shape
    tol = 0.5e-3 + 1e-6 if fmt == "png16" else 0.0  # millimetre rounding
    np.testing.assert_allclose(got, depth, atol=tol, rtol=0)
    assert got[0, 0] == 0.0


def test_nlspn_png_round_trip_truncates_like_nlspn(tmp_path, rng):
    """NLSPN writes (depth * 256).astype(uint16): truncation, so reading back loses up to 1/256 m, never gains."""
    depth = depth_map(rng, 10, 12)
    folder = tmp_path / "nlspn"
    folder.mkdir()
    for i in range(3):
        write_png16(folder / f"{i:010d}.png", (depth * 256.0).astype(np.uint16))
    res = PredictionSource(path=folder, fmt="nlspn").resolve()
    assert res.scale_per_m == 256.0 and res.fmt == "png16"
    path = res.lookup(2, "000002", 2)  # the dataset's frame 2 (name 000002) matches 0000000002.png
    assert path is not None and path.name == "0000000002.png"
    got, sha = res.read(path)
    err = got.astype(np.float64) - depth.astype(np.float64)
    assert np.all(err <= 1e-6) and np.all(err > -1 / 256 - 1e-6)
    assert err.mean() < -1e-3  # the truncation bias (about -2 mm)
    np.testing.assert_array_equal(got, np.floor(depth * 256.0).astype(np.float32) / np.float32(256.0))
    assert len(sha) == 64


def test_eight_bit_png_is_refused(tmp_path):
    path = tmp_path / "000000.png"
    Image.fromarray(np.full((4, 5), 200, np.uint8)).save(path)
    assert png_header(path.read_bytes()) == (8, 0)
    with pytest.raises(InputFileError, match="8-bit grayscale PNG; depth must be a 16-bit"):
        read_depth(path, scale_per_m=256.0)
    rgb = tmp_path / "000001.png"
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(rgb)
    with pytest.raises(InputFileError, match="8-bit RGB PNG"):
        read_depth(rgb, scale_per_m=256.0)


def test_png_needs_explicit_scale_and_65535_is_missing(tmp_path):
    path = tmp_path / "a.png"
    write_png16(path, [[1000, 65535]])
    with pytest.raises(InputFileError, match="explicit scale_per_m"):
        read_depth(path)
    np.testing.assert_array_equal(read_depth(path, scale_per_m=1000.0), [[1.0, 0.0]])
    (tmp_path / "p").mkdir()
    write_png16(tmp_path / "p" / "000000.png", [[1000]])
    with pytest.raises(InputFileError, match="PNG predictions need an explicit scale_per_m"):
        PredictionSource(path=tmp_path / "p").resolve()


@pytest.mark.parametrize("scale_per_m", [256.0, 1000.0, 5000.0])
def test_png_reader_is_the_tofsim_codec_for_every_value(tmp_path, scale_per_m):
    """Every 16-bit value decodes as `tofsim.depth_png.decode_png16` does, bit for bit (one rounding rule)."""
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    write_png16(tmp_path / "all.png", values)
    got = read_depth(tmp_path / "all.png", scale_per_m=scale_per_m)
    want = decode_png16(values, scale_per_m=scale_per_m)
    assert got.dtype == want.dtype == np.float32
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("scale_per_m", [0.0, -1.0, float("nan"), float("inf")])
def test_png_scale_must_be_finite_and_positive(tmp_path, scale_per_m):
    write_png16(tmp_path / "a.png", [[1000]])
    with pytest.raises(InputFileError, match="scale_per_m must be a finite number > 0"):
        read_depth(tmp_path / "a.png", scale_per_m=scale_per_m)


#: Code (not comments or strings) that decodes 16-bit depth by hand: the "no reading" value, a scale applied to
#: stored values, or an image file opened for its pixels.
_PNG16_DECODING = re.compile(r"65535|0xffff|uint16|/scale_per_m|1(\.0)?/scale|Image\.open|imageio|cv2\.imread")


#: Token types that are not code (Python 3.12 splits f-strings into FSTRING_START / MIDDLE / END tokens).
_NOT_CODE = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def _code_lines(path):
    """(line number, code) of a Python file, its comments and string literals removed and its tokens joined."""
    lines: dict[int, list[str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type not in _NOT_CODE and tok.string.strip():
            lines.setdefault(tok.start[0], []).append(tok.string)
    return [(n, "".join(parts)) for n, parts in sorted(lines.items())]


def test_no_second_png16_decoder_in_leaderboard():
    """16-bit depth PNGs are read and decoded only by `tofsim.depth_png` (issue 17: one codec, one rounding rule)."""
    found = [
        f"{path.relative_to(LEADERBOARD.parent)}:{n}: {code}"
        for path in sorted(LEADERBOARD.rglob("*.py"))
        for n, code in _code_lines(path)
        if _PNG16_DECODING.search(code)
    ]
    assert not found, "decode depth PNGs with tofsim.depth_png (read_png16 + decode_png16):\n" + "\n".join(found)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_depth(tmp_path / "nope.npy")
    np.save(tmp_path / "int.npy", np.ones((2, 2), np.uint16))
    with pytest.raises(InputFileError, match="store float32 metres"):
        read_depth(tmp_path / "int.npy")
    np.save(tmp_path / "cube.npy", np.ones((2, 2, 2), np.float32))
    with pytest.raises(ShapeError, match=r"expected a depth map of shape \(H, W\)"):
        read_depth(tmp_path / "cube.npy")
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InputFileError, match="unknown depth file type '.jpg'"):
        read_depth(tmp_path / "x.jpg")
    with pytest.raises(ConfigError, match="unknown depth file format 'tiff'"):
        read_depth(tmp_path / "int.npy", fmt="tiff")
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    with pytest.raises(InputFileError, match="not a readable .npy"):
        read_depth(tmp_path / "garbage.npy")


def test_unknown_or_mixed_prediction_formats(tmp_path):
    jpgs = tmp_path / "jpgs"
    jpgs.mkdir()
    (jpgs / "000000.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InputFileError, match=r"cannot detect the depth format \(found .jpg\)"):
        PredictionSource(path=jpgs).resolve()
    with pytest.raises(ConfigError, match="unknown prediction format 'tif'"):
        PredictionSource(path=jpgs, fmt="tif")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    np.save(mixed / "000000.npy", np.ones((2, 2), np.float32))
    np.savez(mixed / "000001.npz", depth=np.ones((2, 2), np.float32))
    with pytest.raises(InputFileError, match="mixed depth formats"):
        PredictionSource(path=mixed).resolve()
    with pytest.raises(InputFileError, match="prediction path not found"):
        PredictionSource(path=tmp_path / "absent").resolve()


def test_frame_keys_and_list_file_matching(tmp_path):
    assert frame_key("000012.npy") == 12
    assert frame_key("0000000012.png") == 12
    assert frame_key("frame-000012.depth.png") == "frame-000012"
    folder = tmp_path / "preds"
    folder.mkdir()
    for nm in ("b.npy", "a.npy"):
        np.save(folder / nm, np.ones((2, 2), np.float32))
    one_col = tmp_path / "list1.txt"
    one_col.write_text("b.npy\na.npy\n")
    res = PredictionSource(path=folder, list_file=one_col).resolve()
    assert res.lookup("x", "x", 0).name == "b.npy" and res.lookup("y", "y", 1).name == "a.npy"
    assert res.lookup("z", "z", 2) is None
    two_col = tmp_path / "list2.txt"
    two_col.write_text("# gt pred\nframe-1 a.npy\nframe-2 b.npy\n")
    res = PredictionSource(path=folder, list_file=two_col).resolve()
    assert res.lookup("frame-2", "frame-2", 0).name == "b.npy"
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c\n")
    with pytest.raises(InputFileError, match="every line must hold"):
        PredictionSource(path=folder, list_file=bad).resolve()


def test_stacked_hdf5_predictions(tmp_path, rng):
    import h5py

    stack = rng.uniform(1, 2, (3, 4, 5)).astype(np.float32)
    with h5py.File(tmp_path / "preds.h5", "w") as f:
        f["pred"] = stack
    res = PredictionSource(path=tmp_path / "preds.h5").resolve()
    assert res.fmt == "h5-stacked"
    got, _ = res.read(res.lookup(2, "000002", 2), 2)
    np.testing.assert_array_equal(got, stack[2])


def test_ground_truth_folder_with_pattern_and_sparse(tmp_path, rng):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    for i in range(2):
        write_png16(gt_dir / f"frame-{i:06d}.depth.png", np.rint(depth_map(rng) * 1000))
        Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(gt_dir / f"frame-{i:06d}.color.png")
    with pytest.raises(InputFileError, match="share the frame key 'frame-000000'; pass a file pattern"):
        open_ground_truth(gt_dir, scale_per_m=1000.0)  # colour and depth PNGs side by side (7-Scenes layout)
    gt = open_ground_truth(gt_dir, scale_per_m=1000.0, pattern="*.depth.png")
    assert len(gt) == 2 and gt.names == ["frame-000000", "frame-000001"]
    frame = gt.read(1)
    assert frame.depth_m.shape == (6, 8) and frame.spot_mask is None
    sp = tmp_path / "sparse"
    sp.mkdir()
    for i in range(2):
        s = np.zeros((6, 8), np.float32)
        s[2, 3] = 1.5
        np.save(sp / f"frame-{i:06d}.npy", s)
    gt = open_ground_truth(gt_dir, scale_per_m=1000.0, pattern="*.depth.png", sparse=sp)
    frame = gt.read(0)
    assert frame.spot_mask.sum() == 1 and frame.sparse_m[2, 3] == 1.5
    with pytest.raises(InputFileError, match="PNG ground truth needs an explicit scale_per_m"):
        open_ground_truth(gt_dir, pattern="*.depth.png")
    with pytest.raises(InputFileError, match="ground truth not found"):
        open_ground_truth(tmp_path / "nowhere")


def test_methods_file_toml_and_yaml(tmp_path):
    (tmp_path / "preds").mkdir()
    toml = tmp_path / "methods.toml"
    toml.write_text(
        '[[method]]\nname = "float32"\npath = "preds"\nparams = 1200000\nbits = 32\nweight_mb = 4.6\n'
        'latency_ms = 12.5\n\n[[method]]\nname = "NLSPN"\npath = "preds"\nformat = "nlspn"\nnotes = "released"\n'
    )
    specs = load_methods(toml)
    assert [s.name for s in specs] == ["float32", "NLSPN"]
    assert specs[0].source.path == tmp_path / "preds"
    assert specs[0].metadata == {"params": 1200000, "bits": 32, "weight_mb": 4.6, "latency_ms": 12.5}
    assert specs[1].source.fmt == "nlspn" and specs[1].metadata == {"notes": "released"}
    yml = tmp_path / "methods.yaml"
    yml.write_text("method:\n  - name: a\n    path: preds\n    format: png16\n    scale_per_m: 1000\n    bits: 8\n")
    (spec,) = load_methods(yml)
    assert spec.source.scale_per_m == 1000 and spec.metadata == {"bits": 8}
    dup = tmp_path / "dup.toml"
    dup.write_text('[[method]]\nname = "a"\npath = "p"\n[[method]]\nname = "a"\npath = "q"\n')
    with pytest.raises(ConfigError, match="duplicate method name"):
        load_methods(dup)
    nopath = tmp_path / "nopath.toml"
    nopath.write_text('[[method]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="needs 'name' and 'path'"):
        load_methods(nopath)
    badfmt = tmp_path / "badfmt.toml"
    badfmt.write_text('[[method]]\nname = "a"\npath = "p"\nformat = "jpeg"\n')
    with pytest.raises(ConfigError, match="unknown prediction format 'jpeg'"):
        load_methods(badfmt)
    with pytest.raises(InputFileError, match="methods file not found"):
        load_methods(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="NAME=PATH"):
        parse_pred_option("just-a-path")
