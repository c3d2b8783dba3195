"""leaderboard.score_folder: what `score` writes is what `ScoreFolder.read` gives back, by attribute."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.errors import InputFileError
from leaderboard.score import score
from leaderboard.score_folder import FILES, ScoreFolder


@pytest.fixture
def scored(tmp_path, rng):
    for d in ("gt", "a", "b"):
        (tmp_path / d).mkdir()
    for i in range(3):
        g = rng.uniform(0.5, 4.0, (8, 10)).astype(np.float32)
        np.save(tmp_path / "gt" / f"{i:06d}.npy", g)
        np.save(tmp_path / "a" / f"{i:06d}.npy", g + np.float32(0.01))
        np.save(tmp_path / "b" / f"{i:06d}.npy", g - np.float32(0.1))
    res = score(tmp_path / "gt", {"a": tmp_path / "a", "b": tmp_path / "b"}, tmp_path / "out")
    return tmp_path, res


def test_read_gives_back_what_score_wrote(scored):
    root, res = scored
    sf = ScoreFolder.read(root / "out")
    assert sorted(res.paths) == sorted(FILES)
    assert sf.method_names == ["a", "b"]
    assert sf.gt_path == (root / "gt").resolve() and sf.gt_scale_per_m is None
    specs, missing = sf.prediction_specs()
    assert missing == [] and specs["b"]["path"] == str((root / "b").resolve())
    assert sf.protocol["hash"] == res.protocol.hash()
    assert sf.summary["columns"] == list(sf.metrics.columns)
    for row, written in zip(sf.metrics.rows, res.rows, strict=True):
        assert row["method"] == written["method"] and math.isclose(row["rmse"], written["rmse"], rel_tol=1e-12)
    assert len(sf.per_image.rows) == 6 and {r["method"] for r in sf.regions.rows} == {"a", "b"}
    assert "Depth completion on 3 frames (per-image means" in sf.caption
    assert (root / "out" / "metrics.md").read_text().splitlines()[0].count("|") == len(sf.table_columns) + 2


def test_write_of_read_reproduces_the_json_and_markdown(scored, tmp_path):
    root, _ = scored
    sf = ScoreFolder.read(root / "out")
    copy = ScoreFolder(**{**sf.__dict__, "path": tmp_path / "copy"})
    copy.write()
    for name in ("metrics.json", "protocol.json", "methods.json", "metrics.md", "metrics.tex"):
        assert (tmp_path / "copy" / name).read_bytes() == (root / "out" / name).read_bytes(), name


def test_read_refuses_an_incomplete_folder(scored):
    root, _ = scored
    (root / "out" / "bins.csv").unlink()
    with pytest.raises(InputFileError, match=r"not a complete score folder \(missing bins.csv\)"):
        ScoreFolder.read(root / "out")
    with pytest.raises(InputFileError, match="no metrics.csv here"):
        ScoreFolder.read(root / "nowhere")
