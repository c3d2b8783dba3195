"""`tofsim generate` with a separate colour camera: samples seen from it, determinism, and no change when it is off."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tofsim.config import GenerateConfig
from tofsim.frame import SPOT_DTYPE, SpotStatus
from tofsim.pipeline import generate
from tofsim.rgb_camera import believed_extrinsics
from tofsim.rng import sample_rng
from tofsim.sensor import register_spots

TINY = {
    "preset": "sds",
    "seed": 7,
    "n_frames": 4,
    "frames_per_scene": 2,
    "shard_size": 4,
    "camera": {"width_px": 160, "height_px": 120, "fx_px": 146.25, "fy_px": 146.25},
}
RIG = {"enabled": True, "baseline_m": [0.05, 0.0, 0.0], "calibration_error_m": 0.002, "calibration_error_deg": 0.3}


def config(rig: dict | None = RIG, **changes) -> GenerateConfig:
    d = dict(TINY) if rig is None else {**TINY, "rgb_camera": rig}
    return GenerateConfig.from_dict(d).replace(**changes)


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def read_all(folder: Path) -> dict[str, list]:
    """Every sample straight from the HDF5 shards (independent of the reader module)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    out: dict[str, list] = {k: [] for k in ("rgb", "depth", "sparse", "mask", "K", "pose", "meta", "spots")}
    for shard in manifest["shards"]:
        with h5py.File(folder / shard["file"], "r") as f:
            for key in ("rgb", "depth", "sparse", "mask", "K", "pose"):
                out[key] += list(f[key][()])
            out["meta"] += [json.loads(m) for m in f["meta"].asstr()[()]]
            off, spots = f["spot_offsets"][()], f["spots"][()]
            out["spots"] += [spots[off[j] : off[j + 1]] for j in range(len(off) - 1)]
    out["manifest"] = [manifest]
    return out


@pytest.fixture(scope="module")
def rig_dataset(tmp_path_factory) -> Path:
    return generate(config(), tmp_path_factory.mktemp("rgbcam") / "ds")


def test_samples_are_seen_from_the_colour_camera(rig_dataset):
    """Each sample equals a recomputation: ToF frame -> sensor -> registration; rgb and depth from the RGB pose."""
    from tofsim.render import Renderer
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room
    from tofsim.sensor import simulate

    cfg = config()
    data = read_all(rig_dataset)
    intr = cfg.camera.intrinsics()
    T_true = np.eye(4)  # noqa: N806 - RGB camera 5 cm to the right (+x) of the ToF camera, same axes
    T_true[0, 3] = -0.05
    assert data["manifest"][0]["config"]["rgb_camera"]["baseline_m"] == [0.05, 0.0, 0.0]
    for scene in range(2):
        room = generate_room(cfg.room, rng=sample_rng(cfg.seed, scene, "scene"))
        renderer = Renderer(room)
        poses = sample_camera_poses(room, intr, 2, rng=sample_rng(cfg.seed, scene, "camera"), renderer=renderer,
                                    **cfg.poses.kwargs())  # fmt: skip
        believed = believed_extrinsics(cfg.rgb_camera, rng=sample_rng(cfg.seed, scene, "rgb_calibration"))
        for k in range(2):
            i = 2 * scene + k
            frame = renderer.render(intr, poses[k])
            sim = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
            pose_rgb = poses[k].copy()
            pose_rgb[:3, 3] += poses[k][:3, 0] * 0.05  # the RGB centre: 5 cm along the ToF camera's x axis
            np.testing.assert_allclose(data["pose"][i], pose_rgb, atol=1e-12)
            rgb_frame = renderer.render(intr, data["pose"][i])
            np.testing.assert_array_equal(data["rgb"][i], rgb_frame.rgb)
            np.testing.assert_array_equal(data["depth"][i], rgb_frame.depth_m)
            reg = register_spots(sim, intr, intr, believed)
            assert data["spots"][i].tobytes() == np.asarray(reg.spots, dtype=SPOT_DTYPE).tobytes()
            np.testing.assert_array_equal(data["sparse"][i], reg.sparse_m)
            np.testing.assert_array_equal(data["mask"][i].astype(bool), reg.mask)
            meta = data["meta"][i]["rgb_camera"]
            np.testing.assert_allclose(meta["T_rgb_from_tof"], T_true, atol=1e-15)
            np.testing.assert_array_equal(meta["T_rgb_from_tof_believed"], believed)
            np.testing.assert_array_equal(meta["K_tof"], intr.K)
            np.testing.assert_array_equal(meta["K_rgb"], data["K"][i])
    # one calibration per scene: frames of a scene share it, scenes differ
    b = [np.asarray(m["rgb_camera"]["T_rgb_from_tof_believed"]) for m in data["meta"]]
    assert np.array_equal(b[0], b[1]) and np.array_equal(b[2], b[3]) and not np.array_equal(b[0], b[2])


def test_registered_spots_agree_with_the_colour_frames_ground_truth(tmp_path):
    """Without calibration error the registered z matches the RGB-frame depth at its pixel far more often than a
    spot left at its ToF pixel does (the shortcut that perfectly registered synthetic data teaches).
    """  # noqa: D205
    out = generate(config({"enabled": True, "baseline_m": [0.1, 0.0, 0.0]}, n_frames=2), tmp_path / "ds")
    data = read_all(out)
    near_reg, near_tof = [], []
    for i in range(2):
        s, depth = data["spots"][i], data["depth"][i]
        ok = (s["status"] == SpotStatus.VALID) & (depth[s["v"].round().astype(int).clip(0, 119),
                                                         s["u"].round().astype(int).clip(0, 159)] > 0)  # fmt: skip
        ui, vi = np.floor(s["u"][ok] + 0.5).astype(int), np.floor(s["v"][ok] + 0.5).astype(int)
        near_reg.append(np.abs(s["z_m"][ok] - depth[vi, ui]) < 0.1 * depth[vi, ui])
        # where the spot would sit without registration: shifted back by the disparity f b / z
        ut = np.floor(s["u"][ok] + 146.25 * 0.1 / s["z_m"][ok] + 0.5).astype(int)
        keep = ut < 160
        near_tof.append(np.abs(s["z_m"][ok][keep] - depth[vi[keep], ut[keep]]) < 0.1 * depth[vi[keep], ut[keep]])
    reg, tof = np.mean(np.concatenate(near_reg)), np.mean(np.concatenate(near_tof))
    assert reg > 0.9 and reg > tof + 0.1, (reg, tof)


def test_disabled_table_gives_byte_identical_files(tmp_path):
    plain = file_hashes(generate(config(None), tmp_path / "plain"))
    off = {**RIG, "enabled": False, "calibration_error_per": "frame"}
    assert file_hashes(generate(config(off), tmp_path / "off")) == plain


def test_data_independent_of_shard_size_and_per_frame_calibration(tmp_path, rig_dataset):
    ref = read_all(rig_dataset)
    other = read_all(generate(config(shard_size=1), tmp_path / "s1"))
    for key in ("rgb", "depth", "sparse", "mask", "K", "pose"):
        np.testing.assert_array_equal(np.stack(ref[key]), np.stack(other[key]), err_msg=key)
    assert ref["meta"] == other["meta"]
    assert [s.tobytes() for s in ref["spots"]] == [s.tobytes() for s in other["spots"]]
    per_frame = read_all(generate(config({**RIG, "calibration_error_per": "frame"}, n_frames=2), tmp_path / "pf"))
    b = [m["rgb_camera"]["T_rgb_from_tof_believed"] for m in per_frame["meta"]]
    assert b[0] != b[1]


@pytest.mark.slow
def test_one_and_two_dask_workers_give_identical_files(tmp_path):
    cfg = config(shard_size=2)
    assert file_hashes(generate(cfg, tmp_path / "w2", workers=2)) == file_hashes(generate(cfg, tmp_path / "local"))


CLI = ["generate", "--frames", "1", "--frames-per-scene", "1", "--quiet", "--width", "160"]


def test_cli_options_enable_the_colour_camera_over_the_config_file(tmp_path):
    from typer.testing import CliRunner

    from tofsim.cli import app

    toml = tmp_path / "rig.toml"
    toml.write_text('preset = "sds"\n[rgb_camera]\ncalibration_error_m = 0.001\ncalibration_error_per = "frame"\n')
    out = tmp_path / "ds"
    args = [*CLI, "--config", str(toml), "--rgb-baseline-m", "0.03", "--rgb-calibration-error-deg", "0.2"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "colour camera at (3, 0, 0) cm from the ToF camera" in result.output
    rig = read_all(out)["manifest"][0]["config"]["rgb_camera"]
    assert rig["enabled"] and rig["baseline_m"] == [0.03, 0.0, 0.0] and rig["calibration_error_deg"] == 0.2
    assert rig["calibration_error_m"] == 0.001 and rig["calibration_error_per"] == "frame"  # the file's keys stay
    assert "T_rgb_from_tof_believed" in read_all(out)["meta"][0]["rgb_camera"]


def test_cli_calibration_error_without_a_colour_camera_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from tofsim.cli import app

    out = tmp_path / "ds"
    result = CliRunner().invoke(app, [*CLI, "--rgb-calibration-error-deg", "0.2", "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert "--rgb-calibration-error-deg: there is no colour camera to misregister" in result.output
    result = CliRunner().invoke(app, [*CLI, "--rgb-baseline-m", "nan", "--out", str(out)])
    assert result.exit_code == 2 and "rgb_camera.baseline_m: expected three finite numbers" in result.output
