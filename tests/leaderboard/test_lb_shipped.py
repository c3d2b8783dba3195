"""The ``shipped`` preset (``make demo``): scores shipped models without training, each checked against its card."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from completion import checkpoint
from completion.errors import InputFileError
from completion.model_cards import ModelCard, write_card
from completion.models import create
from leaderboard.reproduce import get_preset, reproduce, study_methods
from leaderboard.reproduce.presets import SHIPPED_MODELS

TINY = {"height_px": 60, "width_px": 80, "n_frames": 2, "frames_per_scene": 1, "figure_frames": (0, 1)}


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    """A pretrained folder with untrained stand-ins for every shipped name (the wiring, not the quality)."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for method, name in SHIPPED_MODELS.items():
        model = create("nlspn-small") if method == "nlspn" else create("tofnet", base_width=4, num_scales=2)
        path = checkpoint.save_checkpoint(checkpoint.model_payload(model), folder / f"{name}.pt")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        write_card(ModelCard(name=name, summary=f"stand-in for {method}", sha256=sha), folder)
    monkeypatch.setattr(checkpoint, "PRETRAINED_DIR", folder)
    return folder


@pytest.mark.slow
def test_shipped_preset_scores_every_method_without_training(shipped_dir, tmp_path):
    preset = get_preset("shipped", **TINY)
    out = reproduce(preset, tmp_path / "demo", realdata=None)
    record = json.loads((out / "steps" / "train-float32.json").read_text())["summary"]
    assert record["pretrained"] == "tofnet-sds" and len(record["sha256"]) == 64
    assert not (out / "runs").exists()  # nothing trained
    with (out / "scores" / "metrics.csv").open() as f:
        methods = {row["method"] for row in csv.DictReader(f)}
    assert methods == set(study_methods(preset)) and "cspn" not in methods  # no shipped CSPN
    assert not json.loads((out / "steps" / "score.json").read_text())["summary"]["partial"]
    assert "No training: the shipped pretrained models" in (out / "results.md").read_text()
    assert (out / "figures" / "comparison.png").is_file() and (out / "report" / "index.html").is_file()


def test_a_damaged_shipped_file_stops_the_study_naming_it(shipped_dir, tmp_path):
    path = shipped_dir / "tofnet-sds.pt"
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    preset = get_preset("shipped", **TINY)
    with pytest.raises(InputFileError, match=r"tofnet-sds\.pt: sha256 .* does not match its model card"):
        reproduce(preset, tmp_path / "demo", realdata=None, only=["dataset", "train"])


def test_a_missing_shipped_model_is_skipped_with_its_reason(shipped_dir, tmp_path):
    (shipped_dir / "nlspn-small-sds.pt").unlink()
    out = reproduce(get_preset("shipped", **TINY), tmp_path / "demo", realdata=None, only=["dataset", "train"])
    assert (out / "steps" / "train-float32.json").is_file()
    assert not (out / "steps" / "train-nlspn.json").is_file()
