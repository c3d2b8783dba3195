"""`leaderboard score --numbering split`: outputs numbered within a split (NLSPN's ``{k:010d}.png``) score without a
list file, and give exactly the scores of the same predictions named by dataset index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from leaderboard.cli import app
from leaderboard.errors import ConfigError
from leaderboard.io import open_ground_truth
from tofsim.dataset.export import export_dataset
from tofsim.dataset.reader import open_dataset

TEST_INDICES = [1, 3, 4]


def _nlspn_png(path: Path, depth_m: np.ndarray) -> None:
    """Write a prediction the way NLSPN's summary does: (depth * 256).astype(uint16)."""
    Image.fromarray((depth_m * 256.0).astype(np.uint16)).save(path)


def _predictions(ds_path: Path, tmp: Path) -> tuple[Path, Path]:
    """The same predictions twice: numbered by split position (NLSPN) and by dataset index."""
    by_pos, by_index = tmp / "nlspn_out", tmp / "by_index"
    by_pos.mkdir()
    by_index.mkdir()
    ds = open_dataset(ds_path)
    for k, index in enumerate(TEST_INDICES):
        rng = np.random.default_rng(index)
        pred = (ds[index].depth_m + rng.normal(0, 0.05, ds[index].depth_m.shape)).clip(0.1).astype(np.float32)
        _nlspn_png(by_pos / f"{k:010d}.png", pred)
        _nlspn_png(by_index / f"{index:06d}.png", pred)
    return by_pos, by_index


def _score(gt: Path, pred: Path, out: Path, *extra: str):
    args = ["score", "--gt", str(gt), "--out", str(out), "--pred", f"m={pred}", "--format", "nlspn", "-q", *extra]
    return CliRunner().invoke(app, args)


def test_split_numbering_gives_the_scores_of_index_numbering(split_dataset, tmp_path):
    by_pos, by_index = _predictions(split_dataset, tmp_path)
    a = _score(split_dataset, by_pos, tmp_path / "a", "--split", "test", "--numbering", "split")
    b = _score(split_dataset, by_index, tmp_path / "b", "--split", "test")
    assert a.exit_code == 0, (a.output, a.exception)
    assert b.exit_code == 0, (b.output, b.exception)
    assert "on 3 frame(s)" in a.stdout
    for name in ("metrics.csv", "per_image.csv", "bins.csv", "regions.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name
    rows = (tmp_path / "a" / "per_image.csv").read_text()
    assert all(f"{i:06d}" in rows for i in TEST_INDICES)  # rows keep the dataset's frame names


def test_split_numbered_outputs_do_not_match_by_index(split_dataset, tmp_path):
    by_pos, _ = _predictions(split_dataset, tmp_path)
    result = _score(split_dataset, by_pos, tmp_path / "a", "--split", "test")
    assert result.exit_code == 2
    assert "2 of 3 GT frames have no prediction" in result.stderr


def test_kitti_export_scored_back_by_split_position(split_dataset, tmp_path):
    """Export -> score the exported ground truth as a prediction: only the documented 1/512 m rounding remains."""
    out = export_dataset(open_dataset(split_dataset, split="test"), tmp_path / "kitti", layout="kitti")
    args = [
        "score", "--gt", str(split_dataset), "--split", "test", "--numbering", "split", "-q",
        "--out", str(tmp_path / "s"), "--pred", f"gt={out / 'test' / 'groundtruth_depth'}", "--png-scale-per-m", "256",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    rmse_mm = float(result.stdout.split("RMSE")[1].split("mm")[0])
    assert 0 < rmse_mm <= 1000 / 512


def test_numbering_in_the_library_and_bad_values(split_dataset, tmp_path):
    gt = open_ground_truth(split_dataset, split="test", numbering="split")
    assert gt.keys == [0, 1, 2] and gt.names == [f"{i:06d}" for i in TEST_INDICES]
    assert gt.describe()["numbering"] == "split"
    assert "numbering" not in open_ground_truth(split_dataset, split="test").describe()
    with pytest.raises(ConfigError, match="unknown numbering 'position'; valid: index, split"):
        open_ground_truth(split_dataset, numbering="position")
    result = _score(split_dataset, tmp_path, tmp_path / "a", "--numbering", "position")
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown numbering 'position'" in lines[0]
