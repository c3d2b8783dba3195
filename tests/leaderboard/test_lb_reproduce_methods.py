"""The methods of a `leaderboard reproduce` study: CSPN beside NLSPN (trained the same way, in the comparison figure),
left out of the ``shipped`` study, which has no CSPN weights. The whole pipeline runs in ``test_lb_reproduce.py``."""

from __future__ import annotations

import pytest

from leaderboard.errors import ConfigError
from leaderboard.reproduce import METHODS, get_preset, reproduce, select_steps, step_names, study_methods
from leaderboard.reproduce.outputs import PAPER_FIGURE_METHODS
from leaderboard.reproduce.pipeline import STEP
from leaderboard.reproduce.presets import BASELINES, SHIPPED_MODELS, TRAINED
from leaderboard.reproduce.steps import DISPLAY

TINY = {"height_px": 60, "width_px": 80, "n_frames": 2, "frames_per_scene": 1, "figure_frames": (0, 1)}


def test_method_lists_put_cspn_beside_nlspn():
    assert METHODS == ("float32", "w8a8", "w4a8", "w4a4", "wstar", "nlspn", "cspn", "nearest", "linear", "ipbasic")
    assert METHODS == (*TRAINED, *BASELINES) and "cspn" in TRAINED
    assert PAPER_FIGURE_METHODS == ("float32", "w8a8", "w4a8", "w4a4", "wstar", "nlspn", "cspn")
    assert DISPLAY["cspn"] == "CSPN" and set(DISPLAY) == set(METHODS)


def test_every_training_preset_trains_cspn_like_nlspn():
    for name, cspn, nlspn in [("quick", "cspn-small", "nlspn-small"), ("standard", "cspn-small", "nlspn-small"),
                              ("paper", "cspn", "nlspn")]:  # fmt: skip
        preset = get_preset(name)
        assert (preset.cspn_model, preset.nlspn_model) == (cspn, nlspn), name
        assert study_methods(preset) == METHODS
    names = step_names()
    assert names.index("train-cspn") == names.index("train-nlspn") + 1
    assert STEP["train-cspn"].needs == ("dataset",) and "train-cspn" in [s.name for s in select_steps(["train"])]
    assert STEP["predict-cspn"].needs == ("dataset", "train-cspn")
    assert "predict-cspn" in STEP["score"].needs and "predict-cspn" in STEP["figures"].needs
    assert "realdata-predict-cspn" in STEP["realdata-score"].needs
    # one epoch count for both (``--epochs`` sets it): the two are trained the same way
    assert get_preset("quick", nlspn_epochs=3).nlspn_epochs == 3 and not hasattr(get_preset("quick"), "cspn_epochs")


def test_a_bad_cspn_model_is_refused():
    with pytest.raises(ConfigError, match=r"preset 'quick': cspn_model must be 'cspn' or 'cspn-small'"):
        get_preset("quick", cspn_model="nlspn")


def test_the_shipped_study_leaves_cspn_out_with_its_reason(tmp_path):
    shipped = get_preset("shipped", **TINY)
    assert "cspn" not in SHIPPED_MODELS and "cspn" not in study_methods(shipped)
    assert study_methods(shipped) == tuple(m for m in METHODS if m != "cspn")
    events: list[dict] = []
    only = ["train-cspn", "predict-cspn", "realdata-predict-cspn"]
    out = reproduce(shipped, tmp_path / "demo", realdata=None, only=only, progress=events.append)
    reasons = {e["step"]: e["reason"] for e in events if e["event"] == "step-skipped"}
    assert set(reasons) == set(only)
    assert reasons["train-cspn"] == reasons["predict-cspn"]
    assert "preset 'shipped' leaves out 'cspn': no shipped model of it" in reasons["train-cspn"]
    assert not (out / "steps").exists()  # nothing ran, nothing is marked done
