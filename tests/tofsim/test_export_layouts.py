"""`tofsim export --layout png|nlspn-nyu|kitti`: each layout read back with an independent reader (h5py, PIL, csv).

The readers here are the libraries the other codebases use, called the way NLSPN's loaders call them, never
tofsim's own reader: what they get must be the dataset's arrays bit for bit (KITTI PNG depth: rounded to the
nearest 1/256 m, as documented).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tofsim.cli import app
from tofsim.dataset.export import EXPORT_LAYOUTS, export_dataset
from tofsim.dataset.reader import open_dataset
from tofsim.errors import ConfigError, OutputError
from tofsim.frame import SPOT_DTYPE


def _read_spots_csv(path: Path) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = np.zeros(len(rows), dtype=SPOT_DTYPE)
    for i, row in enumerate(rows):
        for name in SPOT_DTYPE.names:
            out[i][name] = int(row[name]) if name == "status" else float(row[name])
    return out


def _nlspn_style_read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """What NLSPN's and CompletionFormer's NYU loader take from a file: HWC rgb and float32 depth."""
    with h5py.File(path, "r") as f:
        return f["rgb"][:].transpose(1, 2, 0), f["depth"][:].astype("float32")


def test_nlspn_nyu_round_trip(split_dataset, tmp_path):
    out = export_dataset(open_dataset(split_dataset), tmp_path / "nyu", layout="nlspn-nyu")
    split_file = json.loads((out / "nyu.json").read_text())
    assert list(split_file) == ["train", "test"]  # the empty val split is left out
    assert split_file["test"] == [{"filename": f"test/{k:010d}.h5"} for k in range(3)]
    info = json.loads((out / "export.json").read_text())
    assert info["layout"] == "nlspn-nyu" and info["splits"]["test"]["indices"] == [1, 3, 4]
    full = open_dataset(split_dataset)
    for split, indices in (("train", [0, 2, 5]), ("test", [1, 3, 4])):
        for k, index in enumerate(indices):
            s = full[index]
            path = out / split_file[split][k]["filename"]
            rgb, depth = _nlspn_style_read(path)
            np.testing.assert_array_equal(rgb, s.rgb)
            assert depth.dtype == np.float32 and depth.tobytes() == s.depth_m.tobytes()
            with h5py.File(path, "r") as f:
                assert f["rgb"].shape == (3, 12, 16) and f["rgb"].dtype == np.uint8
                assert f["sparse"].dtype == np.float32 and f["sparse"][()].tobytes() == s.sparse_m.tobytes()
                np.testing.assert_array_equal(f["mask"][()], s.spot_mask.astype(np.uint8))
                assert f["spots"][()].tobytes() == s.spots.tobytes()
                np.testing.assert_array_equal(f["K"][()], s.K)
                np.testing.assert_array_equal(f["pose"][()], s.pose)
                assert f["depth"].attrs["units"] == "m" and f["depth"].attrs["depth_kind"] == "z"
                assert (int(f.attrs["tofsim_index"]), f.attrs["split"], int(f.attrs["position"])) == (index, split, k)
                assert json.loads(f.attrs["meta"])["index"] == index


def test_kitti_round_trip_rounds_to_a_256th_of_a_metre(split_dataset, tmp_path):
    out = export_dataset(open_dataset(split_dataset, split="test"), tmp_path / "kitti", layout="kitti")
    split_file = json.loads((out / "kitti_dc.json").read_text())
    assert list(split_file) == ["test"] and len(split_file["test"]) == 3
    full = open_dataset(split_dataset)
    for k, index in enumerate([1, 3, 4]):
        s = full[index]
        entry = split_file["test"][k]
        name = f"{k:010d}"
        assert entry == {
            "rgb": f"test/image/{name}.png",
            "depth": f"test/velodyne_raw/{name}.png",
            "gt": f"test/groundtruth_depth/{name}.png",
            "K": f"test/intrinsics/{name}.txt",
        }
        with Image.open(out / entry["rgb"]) as im:
            assert im.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(im), s.rgb)
        for key, depth_m in (("gt", s.depth_m), ("depth", s.sparse_m)):
            with Image.open(out / entry[key]) as im:
                assert im.mode.startswith("I;16")
                raw = np.asarray(im).astype(np.int64)
            expected = np.rint(depth_m.astype(np.float64) * 256).astype(np.int64)
            np.testing.assert_array_equal(raw, expected)  # nearest, not NLSPN's truncation
            assert np.all(raw[depth_m == 0] == 0)
            assert np.abs(raw / 256.0 - depth_m).max() <= 1 / 512 + 1e-7
        # NLSPN's KITTI loader in test mode: first line, split on single spaces, fx fy cx cy at 0, 4, 2, 5
        values = (out / entry["K"]).read_text().splitlines()[0].split(" ")
        assert [float(values[i]) for i in (0, 4, 2, 5)] == [s.K[0, 0], s.K[1, 1], s.K[0, 2], s.K[1, 2]]
        np.testing.assert_array_equal(np.array([float(v) for v in values]).reshape(3, 3), s.K)
        assert _read_spots_csv(out / f"test/spots/{name}.csv").tobytes() == s.spots.tobytes()
    info = json.loads((out / "export.json").read_text())
    assert info["depth_scale_per_m"] == 256 and info["splits"] == {"test": {"count": 3, "indices": [1, 3, 4]}}


def test_png_layout_carries_the_spot_table(split_dataset, tmp_path):
    out = export_dataset(open_dataset(split_dataset, split="train"), tmp_path / "flat", layout="png")
    full = open_dataset(split_dataset)
    for index in (0, 2, 5):
        assert _read_spots_csv(out / "spots" / f"{index:06d}.csv").tobytes() == full[index].spots.tobytes()


@pytest.mark.parametrize("layout", EXPORT_LAYOUTS.names())
def test_every_layout_refuses_a_full_folder_and_leaves_no_temporary(split_dataset, tmp_path, layout):
    ds = open_dataset(split_dataset, split="test")
    out = export_dataset(ds, tmp_path / "out", layout=layout)
    assert (out / "export.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "out"]
    with pytest.raises(OutputError, match="not empty"):
        export_dataset(ds, out, layout=layout)


def test_unknown_layout_lists_the_valid_ones(split_dataset, tmp_path):
    with pytest.raises(ConfigError, match="valid names: kitti, nlspn-nyu, png"):
        export_dataset(open_dataset(split_dataset), tmp_path / "out", layout="nyu")


def test_cli_export_layout(split_dataset, tmp_path):
    out = tmp_path / "kitti"
    args = ["export", str(split_dataset), "--out", str(out), "--layout", "kitti", "--split", "test"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "3 samples of split 'test'" in result.stdout and "layout kitti" in result.stdout
    assert len(list((out / "test" / "groundtruth_depth").glob("*.png"))) == 3
    bad = CliRunner().invoke(app, ["export", str(split_dataset), "--out", str(tmp_path / "x"), "--layout", "h5"])
    assert bad.exit_code == 2
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown --layout 'h5'" in lines[0] and "nlspn-nyu" in lines[0]
    assert not (tmp_path / "x").exists()
