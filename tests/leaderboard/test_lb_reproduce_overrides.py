"""`leaderboard reproduce --frames/--epochs/--device`: overrides on a named preset, recorded, bad values one line."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from leaderboard.cli_reproduce import reproduce_command
from leaderboard.errors import ConfigError
from leaderboard.reproduce import apply_overrides, get_preset


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("reproduce")(reproduce_command)

    @app.command("other")
    def _other() -> None:  # a second command keeps "reproduce" a sub-command, as on the real app
        """Unused."""

    return app


def test_overrides_change_only_their_fields():
    quick = get_preset("quick")
    p, changed = apply_overrides(quick, frames=24, epochs="2", device="cuda:1")
    assert changed == {"n_frames": 24, "tofnet_epochs": 2, "nlspn_epochs": 2, "device": "cuda:1"}
    assert (p.n_frames, p.tofnet_epochs, p.nlspn_epochs, p.device) == (24, 2, 2, "cuda:1")
    assert p.qat_epochs == quick.qat_epochs and p.height_px == quick.height_px and p.sha256() != quick.sha256()
    same, none = apply_overrides(quick)
    assert same is quick and none == {}
    shipped, changed = apply_overrides(get_preset("shipped"), frames=4, device="cpu")
    assert shipped.n_frames == 4 and changed == {"n_frames": 4, "device": "cpu"}


@pytest.mark.parametrize(
    ("preset", "kwargs", "match"),
    [
        ("quick", {"frames": "abc"}, r"^--frames 'abc': must be a positive integer$"),
        ("quick", {"frames": "2.5"}, r"^--frames '2.5': must be a positive integer$"),
        ("quick", {"frames": 5}, r"^--frames 5: preset 'quick': n_frames 5 must hold at least 3 scenes of 6"),
        ("quick", {"epochs": "0"}, r"^--epochs '0': must be a positive integer$"),
        ("quick", {"device": "gpu"}, r"^--device 'gpu': must be cpu, auto, cuda or cuda:N$"),
        ("shipped", {"epochs": 3}, r"^--epochs: preset 'shipped' trains nothing"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_option(preset, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(get_preset(preset), **kwargs)


def test_preset_refuses_an_unknown_device():
    with pytest.raises(ConfigError, match="device 'tpu' must be cpu, auto, cuda or cuda:N"):
        get_preset("quick", device="tpu")


def test_cli_records_the_overrides(tmp_path):
    out = tmp_path / "study"
    args = ["reproduce", "--preset", "quick", "--out", str(out), "--only", "results", "--no-realdata", "-q",
            "--frames", "24", "--epochs", "2", "--device", "cpu"]  # fmt: skip
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 0, r.output
    record = json.loads((out / "reproduce.json").read_text())
    assert record["overrides"] == {"n_frames": 24, "tofnet_epochs": 2, "nlspn_epochs": 2, "device": "cpu"}
    assert record["preset"]["name"] == "quick" and record["preset"]["n_frames"] == 24
    assert record["preset_sha256"] == get_preset("quick", n_frames=24, tofnet_epochs=2, nlspn_epochs=2).sha256()
    assert "--frames 24 --epochs 2 --device cpu" in (out / "results.md").read_text()
    r = CliRunner().invoke(_app(), [*args[:-6], "--frames", "36"])  # other settings: another study's folder
    assert r.exit_code == 2 and "holds a study made with other settings" in r.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--frames", "x", "error: --frames 'x': must be a positive integer"),
     ("--device", "gpu", "error: --device 'gpu': must be cpu, auto, cuda or cuda:N")],
)  # fmt: skip
def test_cli_bad_override_is_one_line_and_no_folder(tmp_path, option, value, message):
    out = tmp_path / "study"
    r = CliRunner().invoke(_app(), ["reproduce", "--preset", "quick", "--out", str(out), "-q", option, value])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in (r.stderr if hasattr(r, "stderr") else r.output).splitlines() if ln.strip()]
    assert lines == [message] and not out.exists()
