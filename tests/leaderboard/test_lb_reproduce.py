"""`leaderboard reproduce`: presets, step selection, resume markers, real-frame subsampling, TSDF mesh check, CLI
errors, and (slow) the whole quick pipeline end to end at a tiny size, re-run to prove resume."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from leaderboard.cli_reproduce import StepProgress, reproduce_command
from leaderboard.errors import ConfigError
from leaderboard.reproduce import METHODS, OutputError, get_preset, preset_names, reproduce, select_steps, step_names
from leaderboard.reproduce.pipeline import STEP
from leaderboard.reproduce.realdata import default_realdata_path, subsample_frame
from leaderboard.reproduce.runner import Step, StepSkipped, Study, marker_path, run_step

#: The test-only preset override: tiny images, few frames, one epoch each (the pipeline is the real one).
TINY = dict(height_px=60, width_px=80, n_frames=12, frames_per_scene=2, batch_size=4, tofnet_epochs=1,
            qat_epochs=1, qat_max_train_samples=4, nlspn_epochs=1, figure_frames=(0, 1), realdata_frames=2,
            mesh_fuse_stride=10, mesh_voxel_m=0.04)  # fmt: skip


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("reproduce")(reproduce_command)

    @app.command("other")
    def _other() -> None:  # a second command keeps "reproduce" a sub-command, as on the real app
        """Unused."""

    return app


# --------------------------------------------------------------------------------------------------- presets


def test_presets_are_registered_and_scale_up():
    assert preset_names() == ["paper", "quick", "shipped", "standard"]
    quick, standard, paper = (get_preset(n) for n in ("quick", "standard", "paper"))
    assert quick.nlspn_model == standard.nlspn_model == "nlspn-small" and paper.nlspn_model == "nlspn"
    assert quick.width_px * quick.height_px < standard.width_px * standard.height_px < paper.width_px * paper.height_px
    assert quick.n_frames < standard.n_frames < paper.n_frames
    assert quick.tofnet_epochs < standard.tofnet_epochs < paper.tofnet_epochs
    assert paper.focal_px == 585.0 and standard.focal_px == 292.5 and paper.subsample == 1 and quick.subsample == 4
    assert all(p.expected_time for p in (quick, standard, paper))
    assert quick.sha256() != standard.sha256() and quick.sha256() == get_preset("quick").sha256()
    shipped = get_preset("shipped")  # the demo: trains nothing, every frame a test frame, full VGA size
    assert shipped.pretrained and not any(p.pretrained for p in (quick, standard, paper))
    assert shipped.focal_px == 585.0 and shipped.expected_time
    assert shipped.seed not in (quick.seed, standard.seed, paper.seed)


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("quik", {}, r"unknown preset 'quik' \(did you mean quick\?\); valid presets: paper, quick, shipped, standard"),
        ("quick", {"epochs": 3}, r"unknown preset field\(s\) epochs; valid: name, height_px"),
        ("quick", {"width_px": 100, "height_px": 75}, "must be 3:4 with a width that divides 640"),
        ("quick", {"n_frames": 5}, "at least 3 scenes"),
        ("quick", {"tofnet_epochs": 0}, "tofnet_epochs must be a positive integer"),
        ("quick", {"nlspn_model": "cspn"}, "nlspn_model must be"),
    ],
)
def test_bad_presets_raise_config_error(name, overrides, match):
    with pytest.raises(ConfigError, match=match):
        get_preset(name, **overrides)


def test_every_dependency_is_a_step_that_runs_before():
    names = step_names()
    assert len(set(names)) == len(names)
    for k, name in enumerate(names):
        assert set(STEP[name].needs) <= set(names[:k]), name
    assert set(STEP["score"].needs) == {f"predict-{m}" for m in METHODS}
    assert STEP["predict-w4a4"].needs == ("dataset", "qat-w4a4") and STEP["predict-linear"].needs == ("dataset",)


def test_select_steps_by_name_and_group():
    names = step_names()
    assert names[0] == "dataset" and names[-1] == "results"
    assert [s.name for s in select_steps(["qat"])] == ["qat-w8a8", "qat-w4a8", "qat-w4a4", "qat-wstar"]
    assert [s.name for s in select_steps("score")] == ["score"]
    assert {f"predict-{m}" for m in METHODS} <= {s.name for s in select_steps(["predict"])}
    with pytest.raises(ConfigError, match="unknown step.*valid: dataset, train-float32"):
        select_steps(["trian"])


# --------------------------------------------------------------------------------------------------- resume


def test_run_step_markers_resume_partial_and_skip(tmp_path):
    study = Study(preset=get_preset("quick"), out_dir=tmp_path)
    calls = []

    def ok(s):
        calls.append("ok")
        return {"n": len(calls)}

    first = run_step(study, Step("a", ok))
    assert first["summary"] == {"n": 1} and json.loads(marker_path(study, "a").read_text())["summary"] == {"n": 1}
    assert run_step(study, Step("a", ok))["summary"] == {"n": 1} and calls == ["ok"]  # resumed: not run again

    other = Study(preset=get_preset("quick", seed=1), out_dir=tmp_path)  # another preset's marker does not count
    assert run_step(other, Step("a", ok))["summary"] == {"n": 2}

    def partial(s):
        calls.append("partial")
        return {"partial": True}

    run_step(study, Step("b", partial))
    run_step(study, Step("b", partial))
    assert calls.count("partial") == 2  # a partial step runs again

    run_step(study, Step("train-float32", ok))  # a dependency finishing after its dependent makes the dependent stale
    run_step(study, Step("qat-w8a8", ok, needs=("train-float32",)))
    n = len(calls)
    run_step(study, Step("qat-w8a8", ok, needs=("train-float32",)))
    assert len(calls) == n
    record = json.loads(marker_path(study, "train-float32").read_text())
    record["finished_ns"] = json.loads(marker_path(study, "qat-w8a8").read_text())["finished_ns"] + 1
    marker_path(study, "train-float32").write_text(json.dumps(record))  # as if retrained after the QAT run
    run_step(study, Step("qat-w8a8", ok, needs=("train-float32",)))
    assert len(calls) == n + 1

    def skipped(s):
        raise StepSkipped("no data here")

    assert run_step(study, Step("c", skipped)) is None and study.skipped == {"c": "no data here"}
    assert not marker_path(study, "c").exists()

    def broken(s):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_step(study, Step("d", broken))
    assert not marker_path(study, "d").exists() and not list((tmp_path / "steps").glob(".*tmp*"))


def _fake_scores(out_dir, offsets_m: dict[str, float]) -> None:
    """A score folder of constant-offset predictions on two 8 x 10 frames (what `score_methods` leaves)."""
    from leaderboard.score import score

    gt_dir = out_dir.parent / f"{out_dir.name}-gt"
    gt_dir.mkdir(parents=True)
    specs = {}
    for i in range(2):
        gt = np.linspace(1.0, 4.0, 80, dtype=np.float32).reshape(8, 10)
        np.save(gt_dir / f"{i:06d}.npy", gt)
        for m, off in offsets_m.items():
            (out_dir.parent / f"{out_dir.name}-{m}").mkdir(exist_ok=True)
            np.save(out_dir.parent / f"{out_dir.name}-{m}" / f"{i:06d}.npy", gt + off)
            specs[m] = out_dir.parent / f"{out_dir.name}-{m}"
    score(gt_dir, specs, out_dir)


def test_report_step_shows_the_real_frame_scores(tmp_path):
    from leaderboard.reproduce.outputs import REAL_LABEL, step_report

    study = Study(preset=get_preset("quick"), out_dir=tmp_path / "study", realdata_path=None)
    for name, summary in (("dataset", {"test_indices": [3, 5]}), ("score", {"partial": False})):
        run_step(study, Step(name, lambda s, summary=summary: summary))
    _fake_scores(study.out_dir / "scores", {"float32": 0.01, "nlspn": -0.02})
    page = tmp_path / "study" / "report" / "index.html"
    summary = step_report(study)
    assert summary == {"report": str(page), "real_frames": False, "partial": False}
    text = page.read_text()
    assert "Synthetic test split" in text and "Real frames: real-data study disabled" in text
    assert 'id="s1-metrics"' not in text

    _fake_scores(study.out_dir / "realdata" / "scores", {"float32": 0.05, "nlspn": 0.08})
    run_step(study, Step("realdata-score", lambda s: {"scores": "realdata/scores"}))
    assert step_report(study)["real_frames"] is True
    text = page.read_text()
    assert html.escape(REAL_LABEL) in text and "Real frames: real-data" not in text
    real_rows = re.findall(r'<table class="sortable" id="s1-metrics">.*?</table>', text, re.S)[0]
    assert re.findall(r'<td data-v="[^"]*" class="t">([^<]+)</td>', real_rows) == ["float32", "nlspn"]
    assert re.search(r">(<b>)?50\.0(</b>)?</td>", real_rows) and ">80.0</td>" in real_rows  # real RMSE in mm
    assert (tmp_path / "study" / "report" / "charts" / "s1_errors.png").is_file()
    names = step_names()
    assert names.index("realdata-score") < names.index("report")  # the report waits for the real-frame scores
    assert "realdata-score" in STEP["report"].needs


def test_out_dir_that_is_a_file_or_holds_another_study(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        reproduce("quick", afile, only=["results"], realdata=None)
    with pytest.raises(OutputError, match="cannot write to output folder"):
        reproduce("quick", afile / "study", only=["results"], realdata=None)
    with pytest.raises(ConfigError, match="unknown preset"):
        reproduce("fast", tmp_path / "x", realdata=None)
    reproduce(get_preset("quick", **TINY), tmp_path / "s", only=["results"], realdata=None)
    assert (tmp_path / "s" / "results.md").read_text().startswith("# tofbench reproduce: `quick` preset")
    with pytest.raises(ConfigError, match="holds a study made with other settings"):
        reproduce("quick", tmp_path / "s", only=["results"], realdata=None)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_out_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write to output folder"):
            reproduce("quick", locked / "study", realdata=None)
    finally:
        locked.chmod(0o700)


# --------------------------------------------------------------------------------------------------- real frames


def test_subsample_frame_keeps_rays_exact(rng):
    h, w, s = 48, 64, 4
    K = np.array([[58.5, 0, 31.7], [0, 57.0, 24.2], [0, 0, 1.0]])
    depth = rng.uniform(0.5, 4.0, (h, w)).astype(np.float32)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb_s, depth_s, K_s = subsample_frame(rgb, depth, K, s)
    assert depth_s.shape == (h // s, w // s) and rgb_s.shape == (h // s, w // s, 3) and rgb_s.dtype == np.uint8
    v, u = np.mgrid[0 : h // s, 0 : w // s]
    src_u, src_v = s * u + s // 2, s * v + s // 2
    np.testing.assert_array_equal(depth_s, depth[src_v, src_u])
    # the 3D point of a subsampled pixel (through K_s) is the source pixel's point (through K)
    x_small = (u - K_s[0, 2]) / K_s[0, 0] * depth_s
    x_full = (src_u - K[0, 2]) / K[0, 0] * depth[src_v, src_u]
    y_small = (v - K_s[1, 2]) / K_s[1, 1] * depth_s
    y_full = (src_v - K[1, 2]) / K[1, 1] * depth[src_v, src_u]
    np.testing.assert_allclose(x_small, x_full, atol=1e-6)
    np.testing.assert_allclose(y_small, y_full, atol=1e-6)
    np.testing.assert_array_equal(rgb_s[1, 2], np.round(rgb[4:8, 8:12].reshape(-1, 3).mean(axis=0)).astype(np.uint8))


def test_tsdf_mesh_of_rendered_room_reproduces_held_out_depth():
    """Fuse rendered views of a procedural room; the mesh rendered at a new pose matches that pose's depth."""
    from leaderboard.reproduce.realdata import fuse_tsdf_mesh
    from tofsim.camera import Intrinsics
    from tofsim.render import Renderer
    from tofsim.rng import sample_rng
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room

    room = generate_room(rng=sample_rng(3, 0, "scene"))
    intr = Intrinsics.from_K(np.array([[73.125, 0, 39.5], [0, 73.125, 29.5], [0, 0, 1]]), 80, 60)
    poses = sample_camera_poses(room, intr, 8, rng=sample_rng(3, 0, "camera"))
    renderer = Renderer(room)
    frames = [renderer.render(intr, p) for p in poses]
    # min_weight 0: at 80 x 60 px a voxel of a cluttered room is seen by few rays (weight 1 kept a quarter)
    mesh = fuse_tsdf_mesh(frames, voxel_m=0.03, depth_max_m=8.0, min_weight=0.0)
    assert len(mesh.triangles) > 100
    import open3d as o3d

    from tofsim.scene.types import Material, Scene

    tris = np.asarray(mesh.triangles, dtype=np.int32)
    fused = Scene(vertices=np.asarray(mesh.vertices), triangles=tris, material_id=np.zeros(len(tris), np.int32),
                  materials=(Material(name="fused", albedo=0.5, color_rgb=(128, 128, 128)),))  # fmt: skip
    assert isinstance(mesh, o3d.geometry.TriangleMesh)
    # a new pose 5 cm beside the first view: random views of a cluttered room need not overlap, nearby ones do
    new_pose = poses[0].copy()
    new_pose[:3, 3] += new_pose[:3, :3] @ np.array([0.05, 0.0, 0.0])
    truth = renderer.render(intr, new_pose)
    seen = Renderer(fused).render(intr, new_pose)
    both = (truth.depth_m > 0) & (seen.depth_m > 0)
    assert both.mean() > 0.5
    assert np.median(np.abs(seen.depth_m[both] - truth.depth_m[both])) < 0.03  # within one voxel


# --------------------------------------------------------------------------------------------------- CLI


def test_cli_help_and_bad_preset(tmp_path):
    app = _app()
    r = CliRunner().invoke(app, ["reproduce", "--help"])
    assert r.exit_code == 0 and "--preset" in r.output and "--out" in r.output and "--only" in r.output
    r = CliRunner().invoke(app, ["reproduce", "--preset", "huge", "--out", str(tmp_path / "s"), "-q"])
    assert r.exit_code == 2 and "error: unknown preset 'huge'" in r.output
    r = CliRunner().invoke(app, ["reproduce", "--preset", "quick", "--out", str(tmp_path), "--only", "nope", "-q"])
    assert r.exit_code == 2 and "error: unknown step(s) nope" in r.output
    afile = tmp_path / "afile"
    afile.write_text("")
    r = CliRunner().invoke(app, ["reproduce", "--preset", "quick", "--out", str(afile), "-q"])
    assert r.exit_code == 2 and "error: output folder" in r.output and "is not a folder" in r.output


def test_cli_happy_path_on_one_step(tmp_path):
    out = tmp_path / "study"
    args = ["reproduce", "--preset", "quick", "--out", str(out), "--only", "results", "--no-realdata", "-q"]
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert f"study 'quick' in {out}" in r.output and "results.md" in r.output
    text = (out / "results.md").read_text()
    assert "--no-realdata --only results" in text and "Not scored yet" in text
    assert "Skipped: real-data study disabled" in text
    r = CliRunner().invoke(_app(), args[:-1])  # again, with the progress display: results.md was partial (no
    assert r.exit_code == 0 and "results: done in" in r.output  # scores yet), so the step runs again


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


def test_step_progress_display_counts_steps():
    display = StepProgress(quiet=True)
    display({"event": "study-start", "total": 2, "steps": ["a", "b"]})
    display({"event": "step-start", "step": "a"})
    display({"event": "step-progress", "step": "a", "done": 1, "total": 3})
    display({"event": "step-done", "step": "a", "elapsed_s": 1.25})
    display({"event": "step-skip", "step": "b", "reason": "already done (resume)"})
    display({"event": "study-done"})
    assert display.lines == ["  a: done in 1.2 s", "  b: skipped, already done (resume)"]


def test_import_loads_no_torch():
    code = (
        "import sys, leaderboard.reproduce, leaderboard.cli_reproduce; "
        "print('torch' in sys.modules, 'open3d' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --------------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "quick-tiny"
    events: list[dict] = []
    reproduce(get_preset("quick", **TINY), out, progress=events.append)
    return out, events


@pytest.mark.slow
def test_quick_pipeline_writes_every_output_for_every_method(tiny_study):
    out, events = tiny_study
    skipped = [e for e in events if e["event"] == "step-skipped"]
    assert not [e for e in skipped if not e["step"].startswith("realdata")], skipped
    for name in ("reproduce.json", "results.md", "scores/metrics.csv", "scores/metrics.md", "scores/methods.toml",
                 "figures/comparison.png", "figures/comparison_all_methods.png", "report/index.html",
                 "dataset/manifest.json"):  # fmt: skip
        assert (out / name).is_file(), name
    with open(out / "scores" / "metrics.csv") as fh:
        rows = {r["method"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == sorted(METHODS)
    test = json.loads((out / "steps" / "dataset.json").read_text())["summary"]["test_indices"]
    for m in METHODS:
        assert sorted(p.name for p in (out / "preds" / m).glob("*.npy")) == [f"{i:06d}.npy" for i in test]
        assert (out / "figures" / "error_maps" / m / f"{test[0]:06d}.png").is_file()
        assert float(rows[m]["latency_ms"]) > 0 and rows[m]["bits"] != ""
    for m in ("float32", "w8a8", "w4a8", "w4a4", "wstar", "nlspn", "cspn"):
        assert int(rows[m]["params"]) > 0 and int(rows[m]["weight_bytes"]) > 0 and int(rows[m]["act_peak_bytes"]) > 0
    assert (out / "runs" / "w8a8" / "memory.json").is_file()
    fp32, w8, w4 = (int(rows[m]["weight_bytes"]) for m in ("float32", "w8a8", "w4a8"))
    assert fp32 > w8 > w4  # stored weights shrink with the bits
    assert int(rows["nearest"]["params"]) == 0
    results = (out / "results.md").read_text()
    assert "leaderboard reproduce --preset quick" in results and "| W* |" in results and "| CSPN |" in results
    if default_realdata_path().is_dir():
        with open(out / "realdata" / "scores" / "metrics.csv") as fh:
            assert sorted(r["method"] for r in csv.DictReader(fh)) == sorted(METHODS)
        mesh = json.loads((out / "realdata" / "mesh.json").read_text())
        assert (out / "realdata" / "mesh.ply").is_file() and 0 < mesh["median_abs_dz_m"] < 0.1
        assert "median |dz| =" in results


@pytest.mark.slow
def test_quick_pipeline_rerun_skips_finished_steps(tiny_study):
    out, _ = tiny_study
    before = {p.name: p.stat().st_mtime_ns for p in (out / "steps").glob("*.json")}
    events: list[dict] = []
    reproduce(get_preset("quick", **TINY), out, progress=events.append)
    ran = [e["step"] for e in events if e["event"] == "step-start"]
    resumed = [e["step"] for e in events if e["event"] == "step-skip"]
    assert "dataset" in resumed and "train-float32" in resumed and "score" in resumed
    if default_realdata_path().is_dir():
        assert not ran
    else:  # the real-data steps try again (and say why they cannot run); results.md is redone for them
        assert all(s.startswith("realdata") or s == "results" for s in ran), ran
    # the records of the skipped steps are untouched (without real frames, `results` ran again and rewrote its own)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "steps").glob("*.json")}
    assert {k: v for k, v in after.items() if k[: -len(".json")] not in ran} == {
        k: v for k, v in before.items() if k[: -len(".json")] not in ran
    }
    assert set(after) == set(before)
