"""Generation / conversion pipeline: configs, determinism, shard-size and worker independence, resume, bad input.

The reference for every sample is an independent recomputation from its documented random streams
(``sample_rng(seed, scene, "scene" | "camera")``, ``sample_rng(seed, i, "noise")``), not stored outputs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tofsim.config import (
    CameraConfig,
    ConvertConfig,
    GenerateConfig,
    config_hash,
    generate_presets,
    get_generate_preset,
    load_toml,
)
from tofsim.errors import ConfigError, InputFileError, OutputError, ShapeError
from tofsim.frame import SPOT_DTYPE, SpotStatus
from tofsim.pipeline import convert, generate
from tofsim.resume import PROGRESS_DIR
from tofsim.rng import sample_rng
from tofsim.shards import scene_index_of

TINY = {
    "preset": "sds",
    "seed": 7,
    "n_frames": 6,
    "frames_per_scene": 3,
    "shard_size": 4,
    "camera": {"width_px": 160, "height_px": 120, "fx_px": 146.25, "fy_px": 146.25},
}


def tiny(**changes) -> GenerateConfig:
    return GenerateConfig.from_dict(TINY).replace(**changes)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in a folder (hidden ones included), by relative name."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_all(folder: Path) -> dict[str, object]:
    """All samples of a dataset read straight from the HDF5 shards (independent of the reader module)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    parts: dict[str, list] = {k: [] for k in ("rgb", "depth", "sparse", "mask", "K", "pose", "index", "meta", "spots")}
    for shard in manifest["shards"]:
        with h5py.File(folder / shard["file"], "r") as f:
            for key in ("rgb", "depth", "sparse", "mask", "K", "pose", "index"):
                parts[key].append(f[key][()])
            parts["meta"] += [json.loads(m) for m in f["meta"].asstr()[()]]
            offsets, spots = f["spot_offsets"][()], f["spots"][()]
            parts["spots"] += [spots[offsets[j] : offsets[j + 1]] for j in range(len(offsets) - 1)]
    out = {k: np.concatenate(v) for k, v in parts.items() if k not in ("meta", "spots")}
    out["meta"], out["spots"], out["manifest"] = parts["meta"], parts["spots"], manifest
    return out


def assert_same_data(a: dict, b: dict) -> None:
    for key in ("rgb", "depth", "sparse", "mask", "K", "pose", "index"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["meta"] == b["meta"]
    assert len(a["spots"]) == len(b["spots"])
    for sa, sb in zip(a["spots"], b["spots"], strict=True):
        assert sa.tobytes() == sb.tobytes()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    out = generate(tiny(), tmp_path_factory.mktemp("tiny") / "ds")
    return out, file_hashes(out)


# ------------------------------------------------------------------------------------------------ configs


def test_presets_build_and_sds_camera():
    for name in generate_presets.names():
        cfg = get_generate_preset(name)
        assert isinstance(cfg, GenerateConfig)
    sds = get_generate_preset("sds")
    intr = sds.camera.intrinsics()
    assert (intr.width_px, intr.height_px, intr.fx_px, intr.fy_px) == (640, 480, 585.0, 585.0)
    assert (intr.cx_px, intr.cy_px) == (319.5, 239.5)  # pixel centres at integer coordinates


def test_from_dict_rejects_unknown_keys_and_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) n_frame; valid keys: .*n_frames"):
        GenerateConfig.from_dict({"n_frame": 3})
    with pytest.raises(ConfigError, match=r"camera: unknown key\(s\) width; valid keys: .*width_px"):
        GenerateConfig.from_dict({"camera": {"width": 3}})
    with pytest.raises(ConfigError, match="unknown key"):
        ConvertConfig.from_dict({"frames": 3})


def test_from_dict_bad_values_and_presets():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; valid presets: .*sds"):
        GenerateConfig.from_dict({"preset": "nope"})
    with pytest.raises(ConfigError, match="n_frames: must be >= 1"):
        GenerateConfig.from_dict({"n_frames": 0})
    with pytest.raises(ConfigError, match="seed: expected"):
        GenerateConfig.from_dict({"seed": "seven"})
    with pytest.raises(ConfigError, match="sum to 1"):
        GenerateConfig.from_dict({"split_fractions": {"train": 0.5, "val": 0.1, "test": 0.1}})
    with pytest.raises(ConfigError, match="camera: .*NaN"):
        GenerateConfig.from_dict({"camera": {"fx_px": float("nan")}})
    assert GenerateConfig.from_dict({"seed": 0}).seed == 0  # 0 is a seed


def test_from_dict_merges_over_preset_and_round_trips():
    cfg = tiny()
    assert cfg.camera == CameraConfig(width_px=160, height_px=120, fx_px=146.25, fy_px=146.25)
    assert cfg.sensor == get_generate_preset("sds").sensor
    again = GenerateConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(cfg.replace(seed=8)) != config_hash(cfg)
    json.dumps(cfg.to_dict())  # plain JSON


def test_sensor_section_presets_and_overrides():
    from tofsim.sensor import get_sensor_preset

    assert GenerateConfig.from_dict({"sensor": "zones-8x8"}).sensor == get_sensor_preset("zones-8x8")
    cfg = GenerateConfig.from_dict({"preset": "dtof-24x24", "sensor": {"max_range_m": 5.0}})
    assert cfg.sensor == get_sensor_preset("dtof-24x24").__class__.from_dict(
        {**get_sensor_preset("dtof-24x24").to_dict(), "max_range_m": 5.0}
    )
    cfg = GenerateConfig.from_dict({"preset": "dtof-24x24", "sensor": {"preset": "sds"}})
    assert cfg.sensor == get_sensor_preset("sds")
    assert ConvertConfig.from_dict({"preset": "random-500"}).sensor == get_sensor_preset("random-500")
    assert ConvertConfig.from_dict({"preset": "zones-8x8"}).sensor == get_sensor_preset("zones-8x8")
    with pytest.raises(ConfigError, match="sensor.*valid keys"):
        GenerateConfig.from_dict({"sensor": {"max_range": 5.0}})
    with pytest.raises(ConfigError, match="unknown preset 'sdss'; valid presets: dtof-24x24, sds"):
        ConvertConfig.from_dict({"preset": "sdss"})


def test_load_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "sds"\nseed = 3\nn_frames = 2\n[camera]\nwidth_px = 160\nheight_px = 120\n')
    cfg = GenerateConfig.from_dict(load_toml(path))
    assert (cfg.seed, cfg.n_frames, cfg.camera.width_px) == (3, 2, 160)
    with pytest.raises(InputFileError, match="config file not found"):
        load_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("seed = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_toml(tmp_path / "bad.toml")


# ------------------------------------------------------------------------------------------------ generate


def test_generate_matches_independent_recomputation(tiny_dataset):
    """Every sample equals a direct recomputation from its scene / camera / noise streams."""
    from tofsim.render import Renderer
    from tofsim.scene.cameras import sample_camera_poses
    from tofsim.scene.procedural import generate_room
    from tofsim.sensor import simulate

    out, _ = tiny_dataset
    cfg = tiny()
    data = read_all(out)
    intr = cfg.camera.intrinsics()
    assert data["manifest"]["count"] == 6 and len(data["manifest"]["shards"]) == 2
    for scene in range(2):
        room = generate_room(cfg.room, rng=sample_rng(cfg.seed, scene, "scene"))
        renderer = Renderer(room)
        poses = sample_camera_poses(room, intr, cfg.frames_per_scene, rng=sample_rng(cfg.seed, scene, "camera"),
                                    renderer=renderer, **cfg.poses.kwargs())  # fmt: skip
        for k in range(cfg.frames_per_scene):
            i = scene * cfg.frames_per_scene + k
            frame = renderer.render(intr, poses[k])
            sim = simulate(frame, cfg.sensor, rng=sample_rng(cfg.seed, i, "noise"))
            np.testing.assert_array_equal(data["rgb"][i], frame.rgb)
            np.testing.assert_array_equal(data["depth"][i], frame.depth_m)
            np.testing.assert_array_equal(data["sparse"][i], sim.sparse_m)
            np.testing.assert_array_equal(data["mask"][i].astype(bool), sim.mask)
            np.testing.assert_array_equal(data["pose"][i], poses[k])
            np.testing.assert_array_equal(data["K"][i], intr.K)
            assert data["spots"][i].tobytes() == np.asarray(sim.spots, dtype=SPOT_DTYPE).tobytes()
            assert data["meta"][i]["scene_id"] == f"room-{scene_index_of(i, 3):05d}"
            assert data["meta"][i]["seed"] == 7 and data["meta"][i]["index"] == i
    np.testing.assert_array_equal(data["index"], np.arange(6))


def test_frames_of_a_scene_share_the_room_and_splits_are_by_scene(tiny_dataset):
    out, _ = tiny_dataset
    data = read_all(out)
    manifest = data["manifest"]
    # Same room -> the same split for all its frames; every sample in exactly one split.
    split_of = {i: name for name, idx in manifest["splits"].items() for i in idx}
    assert sorted(split_of) == list(range(6))
    for i, meta in enumerate(data["meta"]):
        assert meta["split"] == split_of[i]
        assert meta["split"] == data["meta"][3 * (i // 3)]["split"]
    # Poses of one scene differ; the manifest holds the resolved config and its hash.
    assert not np.array_equal(data["pose"][0], data["pose"][1])
    assert manifest["config"] == tiny().to_dict()
    assert manifest["config_hash"] == config_hash(tiny())
    assert manifest["seed"] == 7


def test_same_seed_gives_identical_files(tmp_path, tiny_dataset):
    _, hashes = tiny_dataset
    again = generate(tiny(), tmp_path / "again")
    assert file_hashes(again) == hashes
    other = generate(tiny(seed=8), tmp_path / "other")
    assert file_hashes(other)["shard-00000.h5"] != hashes["shard-00000.h5"]


def test_data_independent_of_shard_size(tmp_path, tiny_dataset):
    out, _ = tiny_dataset
    for shard_size in (1, 5):
        other = generate(tiny(shard_size=shard_size), tmp_path / f"s{shard_size}")
        assert len(read_all(other)["manifest"]["shards"]) == -(-6 // shard_size)
        assert_same_data(read_all(out), read_all(other))


def test_progress_callback_counts_samples(tmp_path):
    calls = []
    generate(tiny(n_frames=5, shard_size=2), tmp_path / "p", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


class _Stop(Exception):
    pass


def test_resume_after_interruption_is_identical(tmp_path, tiny_dataset):
    _, hashes = tiny_dataset
    out = tmp_path / "resume"
    seen = []

    def stop_after_first_shard(done, total):
        seen.append(done)
        if done >= 4:
            raise _Stop

    with pytest.raises(_Stop):
        generate(tiny(), out, progress=stop_after_first_shard)
    assert (out / "shard-00000.h5").exists() and not (out / "manifest.json").exists()
    assert (out / PROGRESS_DIR).is_dir()
    (out / ".shard-00001.h5.tmp-99999").write_bytes(b"half a shard")  # stale temporary of a killed writer
    calls = []
    generate(tiny(), out, progress=lambda d, t: calls.append(d))
    assert calls == [4, 6]  # shard 0 kept, only shard 1 written
    assert file_hashes(out) == hashes  # no temporaries, no progress records left, same bytes


def test_rerun_rewrites_missing_or_corrupt_shards_only(tmp_path, tiny_dataset):
    _, hashes = tiny_dataset
    out = generate(tiny(), tmp_path / "ds")
    (out / "shard-00001.h5").unlink()
    calls = []
    generate(tiny(), out, progress=lambda d, t: calls.append(d))
    assert calls == [4, 6] and file_hashes(out) == hashes
    blob = bytearray((out / "shard-00000.h5").read_bytes())
    blob[-100] ^= 0xFF
    (out / "shard-00000.h5").write_bytes(bytes(blob))
    calls.clear()
    generate(tiny(), out, progress=lambda d, t: calls.append(d))
    assert calls == [2, 6] and file_hashes(out) == hashes


def test_folder_with_another_config_is_refused(tmp_path, tiny_dataset):
    out = generate(tiny(n_frames=2), tmp_path / "ds")
    before = file_hashes(out)
    with pytest.raises(ConfigError, match="another config"):
        generate(tiny(n_frames=3), out)
    assert file_hashes(out) == before  # the other run's data are left alone


@pytest.mark.slow
def test_one_and_two_dask_workers_give_identical_files(tmp_path):
    cfg = tiny(shard_size=2)  # 3 shards, so both workers get work
    in_process = file_hashes(generate(cfg, tmp_path / "local"))
    assert file_hashes(generate(cfg, tmp_path / "w2", workers=2)) == in_process
    # One worker of an existing cluster, reached through its scheduler address (the --scheduler path).
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        assert file_hashes(generate(cfg, tmp_path / "w1", scheduler=cluster.scheduler_address)) == in_process


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "ds"
    out.mkdir()
    # Another process holds the folder's lock, as a running `tofsim generate` does.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match="another run is writing into this folder"):
            generate(tiny(n_frames=2), out)
        assert list(out.iterdir()) == []  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    assert (generate(tiny(n_frames=2), out) / "manifest.json").is_file()  # free again once the other run is gone
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "shard-00000.h5"]  # no lock file left


# ------------------------------------------------------------------------------------------------ bad input


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write to output folder"):
        generate(tiny(n_frames=1), blocker / "ds")
    with pytest.raises(OutputError, match="not a folder"):
        generate(tiny(n_frames=1), blocker)


def test_bad_workers_and_config_type(tmp_path):
    with pytest.raises(ConfigError, match="workers: must be a positive"):
        generate(tiny(n_frames=1), tmp_path / "ds", workers=0)
    with pytest.raises(ConfigError, match="expected a GenerateConfig"):
        generate({"n_frames": 1}, tmp_path / "ds")


def test_missing_and_empty_mesh_leave_no_output(tmp_path):
    with pytest.raises(InputFileError, match="mesh file not found"):
        generate(tiny(n_frames=1, mesh_path=str(tmp_path / "missing.ply")), tmp_path / "m1")
    empty = tmp_path / "empty.ply"
    empty.write_text(
        "ply\nformat ascii 1.0\nelement vertex 0\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with pytest.raises(InputFileError, match="triangles"):
        generate(tiny(n_frames=1, mesh_path=str(empty)), tmp_path / "m2")
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()


def test_generate_from_a_mesh(tmp_path):
    """A closed 4 x 5 x 2.6 m box: every pixel hits, no depth beyond the box's diagonal."""
    import open3d as o3d

    path = tmp_path / "box.ply"
    o3d.io.write_triangle_mesh(str(path), o3d.geometry.TriangleMesh.create_box(4.0, 5.0, 2.6))
    out = generate(tiny(n_frames=4, frames_per_scene=2, mesh_path=str(path)), tmp_path / "ds")
    data = read_all(out)
    assert np.all(data["depth"] > 0) and data["depth"].max() <= np.sqrt(4**2 + 5**2 + 2.6**2)
    assert [m["scene_id"] for m in data["meta"]] == ["box-00000"] * 2 + ["box-00001"] * 2
    assert data["meta"][0]["source_file"] == str(path)


def test_failure_mid_run_removes_partial_output(tmp_path, monkeypatch):
    """A bad input found after some shards were written (here: a frame that fails) leaves nothing behind."""
    import tofsim.shards as shards

    real = shards.generate_samples

    def failing(plan, indices):
        if indices.start >= 2:
            raise ShapeError("frame 2: simulated bad input")
        yield from real(plan, indices)

    monkeypatch.setattr(shards, "generate_samples", failing)
    with pytest.raises(ShapeError, match="simulated bad input"):
        generate(tiny(n_frames=4, shard_size=2), tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(ShapeError):
        generate(tiny(n_frames=4, shard_size=2), existing)
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------------------------------------ convert


def test_convert_missing_source_and_nan_intrinsics(tmp_path, redkitchen):
    with pytest.raises(InputFileError):
        convert(tmp_path / "nowhere", tmp_path / "out1")
    nan_k = tmp_path / "K.txt"
    nan_k.write_text("nan 0 320\n0 585 240\n0 0 1\n")
    with pytest.raises(ShapeError, match="NaN"):
        convert(redkitchen, tmp_path / "out2", config=ConvertConfig(intrinsics_path=str(nan_k), max_frames=2))
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()


@pytest.mark.realdata
def test_convert_redkitchen_spots_agree_with_real_depth(tmp_path, redkitchen):
    from tofsim.sensor import simulate
    from tofsim.sources import open_source

    cfg = ConvertConfig(seed=3, max_frames=4, frame_stride=7, shard_size=3)
    out = convert(redkitchen, tmp_path / "rk", config=cfg)
    data = read_all(out)
    source = open_source(redkitchen)
    assert data["manifest"]["count"] == 4 and data["manifest"]["source"] == str(redkitchen)
    normalised = []
    for i in range(4):
        j = i * 7
        frame = source.load(j)
        # Ground truth is the real depth; noise comes from sample_rng(seed, i, "noise").
        np.testing.assert_array_equal(data["depth"][i], frame.depth_m)
        sim = simulate(frame, cfg.sensor, rng=sample_rng(3, i, "noise"))
        np.testing.assert_array_equal(data["sparse"][i], sim.sparse_m)
        assert data["meta"][i]["source_name"] == source.name(j)
        assert Path(data["meta"][i]["source_file"]).name == f"{source.name(j)}.depth.png"
        spots = data["spots"][i]
        valid = spots[spots["status"] == SpotStatus.VALID]
        u = np.rint(valid["u"]).astype(int)
        v = np.rint(valid["v"]).astype(int)
        np.testing.assert_array_equal(data["sparse"][i][v, u], valid["z_m"])
        truth = frame.depth_m[v, u]
        ok = truth > 0
        # sigma_m is a range sigma; the z sigma at the spot is sigma_m * z / range.
        sigma_z = valid["sigma_m"] * valid["z_m"] / valid["range_m"]
        normalised.append(((valid["z_m"] - truth) / sigma_z)[ok])
    z = np.concatenate(normalised).astype(np.float64)
    assert z.size > 2000
    # Within the simulated noise: >= 99 % within 4 sigma, and the errors look like N(0, 1) in units of sigma.
    assert np.mean(np.abs(z) <= 4) >= 0.99
    assert abs(z.mean()) < 0.1
    assert 0.85 < z.std() < 1.15


@pytest.mark.realdata
def test_convert_intrinsics_file_overrides_the_source(tmp_path, redkitchen):
    k_file = tmp_path / "K.txt"
    k_file.write_text("600 0 321\n0 601 239\n0 0 1\n")
    out = convert(redkitchen, tmp_path / "rk", config=ConvertConfig(intrinsics_path=str(k_file), max_frames=1))
    K = read_all(out)["K"][0]
    np.testing.assert_array_equal(K, [[600, 0, 321], [0, 601, 239], [0, 0, 1]])


@pytest.mark.realdata
def test_convert_refuses_a_folder_of_another_source_or_kind(tmp_path, redkitchen):
    out = convert(redkitchen, tmp_path / "rk", config=ConvertConfig(max_frames=1))
    before = file_hashes(out)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("camera-intrinsics.txt", "frame-000000.color.jpg", "frame-000000.depth.png", "frame-000000.pose.txt"):
        (copy / name).write_bytes((redkitchen / name).read_bytes())
    with pytest.raises(ConfigError, match="another config or source"):
        convert(copy, out, config=ConvertConfig(max_frames=1))  # same config, another source
    with pytest.raises(ConfigError, match="another config or source"):
        generate(tiny(n_frames=1), out)
    assert file_hashes(out) == before
