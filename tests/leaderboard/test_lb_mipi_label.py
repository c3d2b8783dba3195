"""The MIPI score leaves out RTSD: every place that prints it says so (column name, table label, description)."""

from __future__ import annotations

import csv
import json

import numpy as np

from leaderboard.metrics import METRIC_INFO, METRIC_KEYS, MIPI_SCORE_COLUMN
from leaderboard.score import score
from leaderboard.tables import to_latex, to_markdown


def test_the_mipi_column_is_named_and_labelled_without_rtsd():
    assert MIPI_SCORE_COLUMN == "mipi_score_no_rtsd" and MIPI_SCORE_COLUMN in METRIC_KEYS
    # the bare name is the challenge's full score: declared with RTSD, computed only over sequences (no finish
    # from per-frame sums), so no per-frame table can show it in place of the no-RTSD column
    full = METRIC_INFO["mipi_score"]
    assert "RTSD" in full.description
    assert full.finish is None and "mipi_score" not in METRIC_KEYS
    info = METRIC_INFO[MIPI_SCORE_COLUMN]
    assert info.label == "MIPI score (no RTSD)" and "not the challenge's full score" in info.description
    rows = [{"method": "a", MIPI_SCORE_COLUMN: 0.5}]
    assert "MIPI score (no RTSD)" in to_markdown(rows, [MIPI_SCORE_COLUMN])
    assert "MIPI score (no RTSD)" in to_latex(rows, [MIPI_SCORE_COLUMN])


def test_score_folder_files_carry_the_no_rtsd_name(tmp_path):
    rng = np.random.default_rng(0)
    for d in ("gt", "p"):
        (tmp_path / d).mkdir()
    for i in range(2):
        g = rng.uniform(1, 3, (6, 8)).astype(np.float32)
        np.save(tmp_path / "gt" / f"{i:06d}.npy", g)
        np.save(tmp_path / "p" / f"{i:06d}.npy", g + np.float32(0.05))
    score(tmp_path / "gt", {"p": tmp_path / "p"}, tmp_path / "out")
    for name in ("metrics.csv", "per_image.csv"):
        header = next(csv.reader((tmp_path / "out" / name).open()))
        assert MIPI_SCORE_COLUMN in header and "mipi_score" not in header, name
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert MIPI_SCORE_COLUMN in doc["rows"][0] and "mipi_score" not in doc["rows"][0]
    assert MIPI_SCORE_COLUMN in doc["confidence_intervals"]["by_method"]["p"]
