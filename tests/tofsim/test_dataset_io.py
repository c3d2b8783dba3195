"""tofsim.dataset: shard writer (round trip, identical bytes, atomicity), manifest, splits, reader, export."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import time

import numpy as np
import pytest
from PIL import Image

from tofsim.dataset import schema
from tofsim.dataset import writer as writer_mod
from tofsim.dataset.export import export_folder
from tofsim.dataset.manifest import make_manifest, read_manifest, split_by_scene, write_manifest
from tofsim.dataset.reader import open_dataset, shard_info
from tofsim.dataset.writer import write_shard
from tofsim.errors import ConfigError, InputFileError, OutputError, ShapeError
from tofsim.frame import SPOT_DTYPE, Sample, SpotStatus, empty_spots


def make_sample(index: int, *, h: int = 12, w: int = 16, n_spots: int | None = None, seed: int = 0) -> Sample:
    rng = np.random.default_rng([seed, index])
    n = int(rng.integers(0, 30)) if n_spots is None else n_spots
    spots = empty_spots(n)
    spots["u"] = rng.uniform(0, w - 1, n)
    spots["v"] = rng.uniform(0, h - 1, n)
    spots["z_m"] = rng.uniform(0.5, 4, n)
    spots["range_m"] = spots["z_m"] * 1.01
    spots["amplitude"] = rng.uniform(10, 1000, n)
    spots["sigma_m"] = rng.uniform(0.001, 0.02, n)
    spots["status"] = rng.integers(0, 5, n)
    depth = rng.uniform(0.3, 5.0, (h, w)).astype(np.float32)
    depth[0, :3] = 0.0
    sparse = np.zeros((h, w), np.float32)
    ok = spots["status"] == SpotStatus.VALID
    sparse[np.rint(spots["v"][ok]).astype(int), np.rint(spots["u"][ok]).astype(int)] = spots["z_m"][ok]
    K = np.array([[20.0 + index, 0, 7.5], [0, 21.0, 5.5], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, 3] = [index, -index, 0.5]
    return Sample(
        rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        depth_m=depth,
        sparse_m=sparse,
        spot_mask=sparse > 0,
        spots=spots,
        K=K,
        pose=pose,
        meta={"index": index, "scene_id": f"scene{index % 3}", "seed": 7, "preset": "sds", "split": None},
    )


def write_dataset(out, samples_per_shard=(3, 2), *, seed=0):
    out.mkdir(parents=True, exist_ok=True)
    shards, start, all_samples = [], 0, []
    for k, n in enumerate(samples_per_shard):
        samples = [make_sample(start + j, seed=seed) for j in range(n)]
        shards.append(write_shard(out / schema.shard_filename(k), samples, attrs={"seed": seed, "config_hash": "x"}))
        all_samples += samples
        start += n
    scene_ids = [s.meta["scene_id"] for s in all_samples]
    manifest = make_manifest(
        shards, config={"preset": "sds"}, splits=split_by_scene(scene_ids, (0.5, 0.25, 0.25), seed=1), seed=seed
    )
    write_manifest(out, manifest)
    return all_samples


def assert_samples_equal(a: Sample, b: Sample) -> None:
    for key in ("rgb", "depth_m", "sparse_m", "spot_mask", "K", "pose"):
        np.testing.assert_array_equal(np.asarray(getattr(a, key)), np.asarray(getattr(b, key)), err_msg=key)
    assert a.rgb.dtype == np.uint8 and a.depth_m.dtype == np.float32 and a.sparse_m.dtype == np.float32
    assert a.spot_mask.dtype == bool and a.K.dtype == np.float64 and a.pose.dtype == np.float64
    assert a.spots.dtype == SPOT_DTYPE
    assert a.spots.tobytes() == np.asarray(b.spots).astype(SPOT_DTYPE).tobytes()
    assert a.meta == b.meta


def test_dataset_round_trip_all_fields(tmp_path):
    samples = write_dataset(tmp_path / "ds", (3, 2))
    ds = open_dataset(tmp_path / "ds")
    assert len(ds) == 5
    for i, s in enumerate(samples):
        assert_samples_equal(ds[i], s)
    assert_samples_equal(ds[-1], samples[-1])
    assert [s.meta["index"] for s in ds] == [0, 1, 2, 3, 4]
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(IndexError):
        ds[-6]


def test_dataset_zero_spot_samples_round_trip(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    samples = [make_sample(0, n_spots=0), make_sample(1, n_spots=4), make_sample(2, n_spots=0)]
    info = write_shard(out / schema.shard_filename(0), samples, attrs={})
    write_manifest(out, make_manifest([info], config={}))
    ds = open_dataset(out)
    assert [len(ds[i].spots) for i in range(3)] == [0, 4, 0]
    assert_samples_equal(ds[1], samples[1])
    empty_out = tmp_path / "empty"
    empty_out.mkdir()
    info = write_shard(empty_out / schema.shard_filename(0), [make_sample(0, n_spots=0)], attrs={})
    write_manifest(empty_out, make_manifest([info], config={}))
    assert len(open_dataset(empty_out)[0].spots) == 0


def test_write_shard_attrs_and_return_value(tmp_path):
    import h5py

    samples = [make_sample(10 + j) for j in range(3)]
    info = write_shard(tmp_path / "s.h5", samples, attrs={"seed": 3, "config": {"a": [1, 2]}, "versions": {"x": "1"}})
    assert info["file"] == "s.h5" and info["count"] == 3 and info["first_index"] == 10
    assert info["sha256"] == hashlib.sha256((tmp_path / "s.h5").read_bytes()).hexdigest()
    assert shard_info(tmp_path / "s.h5") == info  # what a resumed run reads back
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["depth_kind"] == "z" and f.attrs["units"] == "m" and f.attrs["seed"] == 3
        assert json.loads(f.attrs["config"]) == {"a": [1, 2]} and json.loads(f.attrs["versions"]) == {"x": "1"}
        assert f["depth"].attrs["units"] == "m" and f["depth"].attrs["depth_kind"] == "z"
        assert f["depth"].chunks == (1, 12, 16)
        assert f["sparse"].compression == "gzip" and f["rgb"].compression is None
        np.testing.assert_array_equal(f["index"][()], [10, 11, 12])
    # Without meta["index"], indices come from attrs["first_index"].
    for s in samples:
        del s.meta["index"]
    info = write_shard(tmp_path / "t.h5", samples, attrs={"first_index": 40, "count": 99})
    assert info["first_index"] == 40
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert "h5py" in json.loads(f.attrs["versions"])  # filled in when the caller gives none
    assert shard_info(tmp_path / "t.h5")["count"] == 3  # layout attributes cannot be overridden


def test_write_shard_identical_bytes_for_identical_samples(tmp_path):
    a = write_shard(tmp_path / "a.h5", [make_sample(i) for i in range(3)], attrs={"seed": 1})
    time.sleep(1.1)  # HDF5 time stamps have 1 s resolution: a stamped file would differ now
    b = write_shard(tmp_path / "b.h5", [make_sample(i) for i in range(3)], attrs={"seed": 1})
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    assert a["sha256"] == b["sha256"]
    c = write_shard(tmp_path / "c.h5", [make_sample(i, seed=1) for i in range(3)], attrs={"seed": 1})
    assert c["sha256"] != a["sha256"]


def test_write_shard_bytes_do_not_depend_on_when_datasets_close(tmp_path, monkeypatch):
    # A Dask worker's profiler may hold the frame that created a dataset, so the dataset can close only when the
    # file does. HDF5 allocates a cached chunk's file space when it is flushed: unless the writer flushes at a
    # fixed point, that delay moves the chunk after the root attributes and changes the file's bytes.
    import h5py

    samples = [make_sample(i, n_spots=1000) for i in range(2)]
    attrs = {"seed": 1, "config_hash": "0" * 64, "run_hash": "1" * 64, "kind": "generate", "shard_index": 0}
    write_shard(tmp_path / "a.h5", samples, attrs=attrs)
    held = []
    create = h5py.Group.create_dataset

    def create_and_hold(self, *args, **kwargs):
        held.append(create(self, *args, **kwargs))
        return held[-1]

    get = h5py.Group.__getitem__

    def get_and_hold(self, name):
        held.append(get(self, name))
        return held[-1]

    monkeypatch.setattr(h5py.Group, "create_dataset", create_and_hold)
    monkeypatch.setattr(h5py.Group, "__getitem__", get_and_hold)
    write_shard(tmp_path / "b.h5", samples, attrs=attrs)
    assert len(held) >= 9  # every dataset stayed open until the file closed
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_write_shard_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    good = write_shard(tmp_path / "s.h5", [make_sample(0)], attrs={})
    before = (tmp_path / "s.h5").read_bytes()

    def boom(obj):  # called after the image stacks are written: a failure in the middle of the file
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer_mod, "canonical_json", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shard(tmp_path / "s.h5", [make_sample(1), make_sample(2)], attrs={})
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shard(tmp_path / "new.h5", [make_sample(1)], attrs={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]  # no temporary, no new.h5
    assert (tmp_path / "s.h5").read_bytes() == before
    assert hashlib.sha256(before).hexdigest() == good["sha256"]


def test_write_shard_bad_input(tmp_path):
    with pytest.raises(ShapeError, match="empty"):
        write_shard(tmp_path / "s.h5", [], attrs={})
    with pytest.raises(ShapeError, match=r"samples\[1\]\.rgb"):
        write_shard(tmp_path / "s.h5", [make_sample(0), make_sample(1, h=10)], attrs={})
    with pytest.raises(ShapeError, match="consecutive"):
        write_shard(tmp_path / "s.h5", [make_sample(0), make_sample(2)], attrs={})
    with pytest.raises(OutputError, match="does not exist"):
        write_shard(tmp_path / "missing" / "s.h5", [make_sample(0)], attrs={})
    assert list(tmp_path.iterdir()) == []


def test_manifest_round_trip_sorted_and_atomic(tmp_path):
    m = {"b": 1, "a": {"z": 2, "y": np.float32(0.5)}, "format": schema.FORMAT_NAME, "count": 0, "shards": []}
    path = write_manifest(tmp_path, m)
    text = path.read_text()
    assert text.index('"a"') < text.index('"b"') < text.index('"count"')
    assert read_manifest(tmp_path)["a"] == {"y": 0.5, "z": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_make_manifest_contents_and_gap():
    shards = [
        {"file": "b", "count": 2, "sha256": "x", "first_index": 3},
        {"file": "a", "count": 3, "sha256": "y", "first_index": 0},
    ]
    m = make_manifest(shards, config={"k": 1}, splits={"train": [0, 1]}, seed=0, preset="sds", image_size=(480, 640))
    assert m["count"] == 5 and [s["file"] for s in m["shards"]] == ["a", "b"]
    assert m["seed"] == 0 and m["preset"] == "sds" and m["image_size"] == [480, 640]
    assert len(m["config_hash"]) == 64 and "tofsim" in m["versions"]
    with pytest.raises(ConfigError, match="expected 3"):
        make_manifest([shards[1], {"file": "c", "count": 1, "sha256": "", "first_index": 4}], config={})


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_by_scene_properties(seed):
    rng = np.random.default_rng(seed)
    scene_ids = [f"s{k}" for k in rng.integers(0, 40, 400)]
    splits = split_by_scene(scene_ids, (0.8, 0.1, 0.1), seed=seed)
    assert set(splits) == {"train", "val", "test"}
    every = sorted(i for v in splits.values() for i in v)
    assert every == list(range(400))
    for v in splits.values():
        assert v == sorted(v)
    scenes = {name: {scene_ids[i] for i in v} for name, v in splits.items()}
    assert not (scenes["train"] & scenes["val"]) and not (scenes["train"] & scenes["test"])
    assert not (scenes["val"] & scenes["test"])
    assert split_by_scene(scene_ids, (0.8, 0.1, 0.1), seed=seed) == splits  # deterministic
    assert 0.65 < len(splits["train"]) / 400 < 0.95 and len(splits["val"]) > 0 and len(splits["test"]) > 0


def test_split_by_scene_one_frame_per_scene_follows_fractions():
    splits = split_by_scene([str(i) for i in range(100)], (0.8, 0.1, 0.1), seed=5)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    others = [split_by_scene([str(i) for i in range(100)], seed=s)["val"] for s in range(1, 4)]
    assert any(o != splits["val"] for o in others)  # the seed matters
    assert split_by_scene(["only"] * 5, seed=0) == {"train": [0, 1, 2, 3, 4], "val": [], "test": []}


def test_split_by_scene_bad_fractions():
    with pytest.raises(ConfigError, match="summing to 1"):
        split_by_scene(["a"], (0.5, 0.1, 0.1), seed=0)
    with pytest.raises(ConfigError, match="summing to 1"):
        split_by_scene(["a"], (1.2, -0.1, -0.1), seed=0)
    with pytest.raises(ConfigError, match="seed"):
        split_by_scene(["a"], seed=None)


def test_reader_splits_subset_and_positions(tmp_path):
    samples = write_dataset(tmp_path / "ds", (4, 4, 1))
    full = open_dataset(tmp_path / "ds")
    assert set(full.splits) == {"train", "val", "test"}
    total = 0
    for name, indices in full.splits.items():
        view = open_dataset(tmp_path / "ds", split=name)
        assert len(view) == len(indices) == len(full.subset(name))
        total += len(view)
        for pos, g in enumerate(indices):
            assert view[pos].meta["index"] == g
            assert view.global_index(pos) == g
            assert_samples_equal(view[pos], samples[g])
        if len(view):
            assert view[-1].meta["index"] == indices[-1]
            with pytest.raises(IndexError):
                view[len(view)]
    assert total == len(full) == 9
    with pytest.raises(ConfigError, match="valid splits: test, train, val"):
        open_dataset(tmp_path / "ds", split="training")


def _read_in_child(ds, queue):
    queue.put([ds[i].meta["index"] for i in range(len(ds))])


def test_reader_pickles_and_survives_fork(tmp_path):
    write_dataset(tmp_path / "ds", (2, 2))
    ds = open_dataset(tmp_path / "ds")
    first = ds[3]  # opens a handle
    clone = pickle.loads(pickle.dumps(ds))
    assert_samples_equal(clone[3], first)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_read_in_child, args=(ds, queue))
    proc.start()
    result = queue.get(timeout=60)
    proc.join(timeout=60)
    assert result == [0, 1, 2, 3] and proc.exitcode == 0
    assert ds[0].meta["index"] == 0  # the parent's handles still work
    with ds:
        assert ds[1].meta["index"] == 1
    assert not ds._handles  # closed on exit; the next access reopens
    assert ds[2].meta["index"] == 2


def test_reader_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputFileError, match="not a tofsim dataset"):
        open_dataset(tmp_path / "plain")
    (tmp_path / "plain" / "manifest.json").write_text("{broken")
    with pytest.raises(InputFileError, match="invalid JSON"):
        open_dataset(tmp_path / "plain")
    write_dataset(tmp_path / "ds", (2, 2))
    shard = tmp_path / "ds" / schema.shard_filename(1)
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF
    shard.write_bytes(bytes(data))
    open_dataset(tmp_path / "ds")  # checksums are checked on request only
    with pytest.raises(InputFileError, match="checksum mismatch"):
        open_dataset(tmp_path / "ds", verify=True)
    write_shard(shard, [make_sample(2)], attrs={})  # a shard of another run under the same name
    with pytest.raises(InputFileError, match="shard-00001.h5: shard holds count/first_index"):
        open_dataset(tmp_path / "ds")[3]
    (tmp_path / "other.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputFileError, match="other.h5: cannot read shard"):
        shard_info(tmp_path / "other.h5")
    os.remove(shard)
    with pytest.raises(InputFileError, match="shard-00001.h5.*missing"):
        open_dataset(tmp_path / "ds")


def test_export_folder_layout_and_values(tmp_path):
    write_dataset(tmp_path / "ds", (3, 2))
    ds = open_dataset(tmp_path / "ds", split="train")
    out = export_folder(ds, tmp_path / "flat")
    names = [f"{ds.global_index(i):06d}" for i in range(len(ds))]
    assert sorted(p.stem for p in (out / "depth").iterdir()) == names
    for i, name in enumerate(names):
        s = ds[i]
        with Image.open(out / "depth" / f"{name}.png") as im:
            assert im.mode.startswith("I;16")
            mm = np.asarray(im).astype(np.int64)
        np.testing.assert_array_equal(mm, np.floor(s.depth_m.astype(np.float64) * 1000 + 0.5).astype(np.int64))
        assert np.all(mm[s.depth_m == 0] == 0)
        with Image.open(out / "sparse" / f"{name}.png") as im:
            sp = np.asarray(im).astype(np.int64)
        assert np.array_equal(sp > 0, s.sparse_m > 0.0005)
        with Image.open(out / "rgb" / f"{name}.png") as im:
            np.testing.assert_array_equal(np.asarray(im), s.rgb)
        rec = json.loads((out / "meta" / f"{name}.json").read_text())
        np.testing.assert_array_equal(rec["K"], s.K)
        assert rec["meta"]["index"] == ds.global_index(i)
    info = json.loads((out / "export.json").read_text())
    assert info["depth_scale_per_m"] == 1000 and info["count"] == len(ds)
    assert not (out / "intrinsics.txt").exists()  # K differs per sample here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "flat"]  # no temporary folder left
    with pytest.raises(OutputError, match="not empty"):
        export_folder(ds, out)


def test_export_folder_failure_leaves_nothing(tmp_path, monkeypatch):
    from tofsim.dataset import export as export_mod

    write_dataset(tmp_path / "ds", (3,))
    ds = open_dataset(tmp_path / "ds")
    calls = []
    real = export_mod._write_png

    def flaky(path, arr):
        calls.append(path)
        if len(calls) == 2:  # the second sample's colour image
            raise OSError(28, "No space left on device")
        real(path, arr)

    monkeypatch.setattr(export_mod, "_write_png", flaky)
    with pytest.raises(OutputError, match="flat: cannot export"):
        export_folder(ds, tmp_path / "flat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    with pytest.raises(OutputError, match="parent folder does not exist"):
        export_folder(ds, tmp_path / "no" / "flat")


def test_pre_encoded_chunks_equal_what_hdf5_filters_write(tmp_path):
    """`encode_chunks` (zlib on a thread) gives the very chunk bytes HDF5's own deflate filter writes."""
    import h5py

    sample = make_sample(3, h=20, w=24, seed=5)
    encoded = writer_mod.encode_chunks(sample)
    assert set(encoded) == set(writer_mod._IMAGES)
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        for key, (dtype, get) in writer_mod._IMAGES.items():
            data = np.asarray(get(sample), dtype=dtype)[None]
            dset = f.create_dataset(key, data=data, chunks=data.shape, **(schema.FILTERS[key] or {}))
            _mask, stored = dset.id.read_direct_chunk((0,) * data.ndim)
            assert stored == encoded[key], key
    write_shard(tmp_path / "s.h5", [sample], attrs={"seed": 0})
    with h5py.File(tmp_path / "s.h5") as f:
        for key in encoded:
            np.testing.assert_array_equal(f[key][0], np.asarray(writer_mod._IMAGES[key][1](sample)), err_msg=key)
