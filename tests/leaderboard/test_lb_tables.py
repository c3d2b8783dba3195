"""leaderboard.tables: best value bold per column by direction, units in headers, CSV / JSON writing."""

from __future__ import annotations

import csv
import json
import math

from leaderboard.tables import best_indices, to_latex, to_markdown, write_csv
from tofsim.provenance import write_json

ROWS = [
    {"method": "float32", "rmse": 0.0199, "mae": 0.0072, "d1": 0.990, "bits": 32},
    {"method": "W4A8", "rmse": 0.0184, "mae": 0.0075, "d1": 0.995, "bits": 4},
    {"method": "NLSPN", "rmse": 0.0258, "mae": 0.0067, "d1": 0.995, "bits": 32},
]


def test_best_respects_direction_and_ties():
    assert best_indices(ROWS, "rmse") == {1}  # lower is better
    assert best_indices(ROWS, "mae") == {2}
    assert best_indices(ROWS, "d1") == {1, 2}  # higher is better; a tie bolds both
    assert best_indices(ROWS, "bits") == set()  # metadata is never "best"
    assert best_indices([{"rmse": math.nan}, {"rmse": 0.5}], "rmse") == {1}


def test_latex_booktabs_bolds_the_best():
    tex = to_latex(ROWS, ["rmse", "mae", "d1", "bits"], caption="Results on 100_frames", label="tab:x")
    lines = tex.splitlines()
    assert r"\toprule" in lines and r"\midrule" in lines and r"\bottomrule" in lines
    assert r"\caption{Results on 100\_frames}" in tex
    w4 = next(ln for ln in lines if ln.startswith("W4A8"))
    nlspn = next(ln for ln in lines if ln.startswith("NLSPN"))
    f32 = next(ln for ln in lines if ln.startswith("float32"))
    assert r"\textbf{18.4}" in w4 and r"\textbf{0.9950}" in w4  # RMSE shown in mm
    assert r"\textbf{6.7}" in nlspn and r"\textbf{0.9950}" in nlspn
    assert r"\textbf" not in f32
    assert "RMSE [mm] $\\downarrow$" in tex and r"$\delta_{1.25}$ $\uparrow$" in tex


def test_markdown_bolds_the_best():
    md = to_markdown(ROWS, ["rmse", "mae", "d1"])
    lines = md.splitlines()
    assert lines[0].startswith("| method | RMSE [mm] ↓ | MAE [mm] ↓ | δ<1.25 ↑")
    assert lines[3] == "| W4A8 | **18.4** | 7.5 | **0.9950** |"
    assert lines[2] == "| float32 | 19.9 | 7.2 | 0.9900 |"


def test_csv_and_json_writers(tmp_path):
    p = write_csv(
        tmp_path / "t.csv", [{"method": "a", "rmse": math.nan}, {"method": "b", "rmse": 0.25}], ["method", "rmse"]
    )
    rows = list(csv.DictReader(p.open()))
    assert rows == [{"method": "a", "rmse": ""}, {"method": "b", "rmse": "0.25"}]
    j = write_json(tmp_path / "t.json", {"x": math.nan, "y": [1.0, math.inf], "z": 2})
    assert json.loads(j.read_text()) == {"x": None, "y": [1.0, None], "z": 2}
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
