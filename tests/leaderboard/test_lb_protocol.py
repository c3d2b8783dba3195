"""leaderboard.protocol: strict loading, validation, hashing; the guide's example file loads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.metrics import rds
from leaderboard.protocol import Protocol, load_protocol
from leaderboard.score import resolve_methods, score

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "leaderboard-guide.md"


def test_guide_protocol_example_loads(tmp_path):
    text = GUIDE.read_text()
    block = re.search(r"```toml\n(valid_min_m.*?)```", text, re.S).group(1)
    path = tmp_path / "protocol.toml"
    path.write_text(block)
    pr = load_protocol(path)
    assert pr.max_depth_m == 10.0 and pr.bins_m == (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
    assert pr.to_dict()["bins_m"] == [0.0, 1.0, 2.0, 3.0, 5.0, 10.0]


def test_protocol_is_strict_and_hashed(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) max_depth; valid keys: valid_min_m"):
        Protocol.from_dict({"max_depth": 3})
    with pytest.raises(ConfigError, match="missing='skip'; valid: penalise, fill, exclude"):
        Protocol(missing="skip")
    with pytest.raises(ConfigError, match="strictly increasing"):
        Protocol(bins_m=(0, 2, 1))
    with pytest.raises(ConfigError, match="max_depth_m=1.0 must be above min_depth_m=2.0"):
        Protocol(min_depth_m=2.0, max_depth_m=1.0)
    assert Protocol().hash() == Protocol().hash() != Protocol(max_depth_m=10.0).hash()
    assert Protocol().bin_labels == ["0-1", "1-2", "2-3", "3-5", "5-10"]
    with pytest.raises(InputFileError, match="protocol file not found"):
        load_protocol(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("missing = [")
    with pytest.raises(InputFileError, match="not valid TOML"):
        load_protocol(bad)


def test_documented_raises_of_score_and_rds(tmp_path):
    with pytest.raises(ConfigError, match="no methods to score"):
        resolve_methods({})
    with pytest.raises(ConfigError, match="must be a PredictionSource or a path"):
        resolve_methods({"a": 3})
    (tmp_path / "gt").mkdir()
    np.save(tmp_path / "gt" / "000000.npy", np.ones((2, 2), np.float32))
    with pytest.raises(ConfigError, match="predictions must be a methods file, a dict or a list"):
        score(tmp_path / "gt", 5, tmp_path / "out")
    with pytest.raises(ShapeError, match="sparse_m has shape"):
        rds(np.ones((2, 2)), np.ones((3, 2)))
