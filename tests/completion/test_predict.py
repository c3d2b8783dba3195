import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from completion import checkpoint, models
from completion.checkpoint import PRETRAINED_DIR, load_model
from completion.data import to_batch, toy_samples
from completion.errors import CompletionError, InputFileError, ShapeError
from completion.predict import InputFolder, predict
from completion.prefill import nearest_fill
from tofsim.depth_png import encode_png16, write_png16


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster and does not fight the other test worker for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class SplitList(list):
    def __init__(self, items, splits):
        super().__init__(items)
        self.splits = splits


class FixedDepth(nn.Module):
    """Returns the same depth map for every sample (values chosen to expose truncation)."""

    name = "fixed"
    config: dict = {}

    def __init__(self, depth_m):
        super().__init__()
        self.register_buffer("depth_m", torch.as_tensor(depth_m, dtype=torch.float32))

    def forward(self, batch):
        return self.depth_m.expand(batch["rgb"].shape[0], 1, *self.depth_m.shape)


@pytest.fixture
def data():
    samples = toy_samples(5, height_px=32, width_px=48, rng=np.random.default_rng(11))
    return SplitList(samples, {"train": [0, 1, 2], "val": [3], "test": [4]})


def _run_with_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = models.create("tofnet", base_width=4, num_scales=2)
    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save_checkpoint({**checkpoint.model_payload(model), "epoch": 1}, run / "best.pt")
    return model.eval(), run


def test_predict_writes_sorted_npy_matching_the_model(data, tmp_path):
    model, run = _run_with_checkpoint(tmp_path)
    out = predict(run, data, tmp_path / "pred")
    names = sorted(p.name for p in out.glob("*.npy"))
    assert names == [f"{i:06d}.npy" for i in range(5)]
    for i, s in enumerate(data):
        got = np.load(out / f"{i:06d}.npy")
        assert got.dtype == np.float32 and got.shape == (32, 48)
        with torch.no_grad():
            expected = model(to_batch(s))[0, 0].numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["model"] == "tofnet" and summary["count"] == 5 and summary["checkpoint"] == str(run)
    assert summary["model_config"]["base_width"] == 4 and summary["indices"] == list(range(5))
    with open(out / "latency.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == list(range(5))
    lat = [float(r["latency_s"]) for r in rows]
    assert all(x > 0 for x in lat)
    assert summary["median_latency_s"] == pytest.approx(float(np.median(lat)), abs=1e-6)
    assert not list(tmp_path.glob(".pred.*"))  # no temporary folder left
    (tmp_path / "probe").mkdir()
    assert out.stat().st_mode & 0o777 == (tmp_path / "probe").stat().st_mode & 0o777


def test_split_keeps_dataset_indices_and_baseline_by_name(data, tmp_path):
    out = predict("nearest", data, tmp_path / "pred", split="val")
    assert sorted(p.name for p in out.iterdir()) == ["000003.npy", "latency.csv", "predictions.json"]
    fill, _ = nearest_fill(data[3].sparse_m, data[3].spot_mask)
    np.testing.assert_array_equal(np.load(out / "000003.npy"), fill)
    with pytest.raises(CompletionError, match="split 'tset' not found.*train, val, test"):
        predict("nearest", data, tmp_path / "other", split="tset")


def test_png_is_rounded_not_truncated(data, tmp_path):
    depth = np.full((32, 48), 2.0, np.float32)
    depth[0, :6] = [1.2346, 0.0009, 0.0004, 3.99999, 70.0, -1.0]  # rounds up, up, down, up; too far; invalid
    out = predict(FixedDepth(depth), data[:2], tmp_path / "pred", png_scale_per_m=1000)
    png = np.asarray(Image.open(out / "000001.png"))
    assert png.dtype == np.uint16 and png.shape == (32, 48)
    assert png[0, :6].tolist() == [1235, 1, 0, 4000, 0, 0]  # 70 m does not fit at 1000/m: stored as "no depth"
    npy = np.load(out / "000001.npy")
    assert np.array_equal(png, encode_png16(npy, scale_per_m=1000))
    assert (png[0, :4] != np.floor(depth[0, :4] * 1000)).any()  # truncation would differ
    assert json.loads((out / "predictions.json").read_text())["png_scale_per_m"] == 1000


def test_write_depth_png_kitti_scale(tmp_path):
    write_png16(tmp_path / "d.png", np.array([[1.0, 1.0 + 0.7 / 256, np.nan]], np.float32), scale_per_m=256)
    assert np.asarray(Image.open(tmp_path / "d.png")).tolist() == [[256, 257, 0]]


def _input_folder(path, samples, names):
    (path / "rgb").mkdir(parents=True)
    (path / "sparse").mkdir()
    for name, s in zip(names, samples, strict=True):
        Image.fromarray(s.rgb).save(path / "rgb" / f"{name}.png")
        Image.fromarray(np.rint(s.sparse_m * 1000).astype(np.uint16)).save(path / "sparse" / f"{name}.png")
    np.savetxt(path / "intrinsics.txt", samples[0].K)
    return path


def test_input_folder_of_rgb_and_sparse(data, tmp_path):
    folder = _input_folder(tmp_path / "in", list(data)[:3], ["b_frame", "a_frame", "c_frame"])
    ds = InputFolder(folder)
    assert ds.names == ["a_frame", "b_frame", "c_frame"] and len(ds) == 3
    s = ds[1]  # b_frame = data[0]
    np.testing.assert_array_equal(s.rgb, data[0].rgb)
    np.testing.assert_allclose(s.sparse_m, data[0].sparse_m, atol=5e-4)
    np.testing.assert_array_equal(s.K, data[0].K)
    out = predict("nearest", folder, tmp_path / "pred")
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["names"] == ["a_frame", "b_frame", "c_frame"] and summary["count"] == 3
    fill, _ = nearest_fill(np.rint(data[0].sparse_m * 1000) / 1000)
    np.testing.assert_allclose(np.load(out / "000001.npy"), fill, atol=1e-6)
    # "fx fy cx cy" intrinsics are read too
    (folder / "intrinsics.txt").write_text("48 48 23.5 15.5\n")
    assert InputFolder(folder).K.tolist() == [[48, 0, 23.5], [0, 48, 15.5], [0, 0, 1]]


def test_bad_inputs_give_clear_errors(data, tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(InputFileError, match="exists; choose another"):
        predict("nearest", data, tmp_path / "exists")
    predict("nearest", data[:1], tmp_path / "exists", overwrite=True)
    assert (tmp_path / "exists" / "000000.npy").is_file()
    with pytest.raises(InputFileError, match="checkpoint not found: .*missing.pt"):
        predict(str(tmp_path / "missing.pt"), data, tmp_path / "p1")
    with pytest.raises(CompletionError, match="'tofnot' is not a run folder, checkpoint file, pretrained name"):
        predict("tofnot", data, tmp_path / "p2")
    with pytest.raises(CompletionError, match="'tofnet' needs trained weights"):
        load_model("tofnet")
    (tmp_path / "emptyrun").mkdir()
    with pytest.raises(InputFileError, match="holds no best.pt or last.pt"):
        load_model(tmp_path / "emptyrun")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="cannot read checkpoint"):
        load_model(tmp_path / "junk.pt")
    if not (PRETRAINED_DIR / "tofnet-sds.pt").exists():
        with pytest.raises(InputFileError, match="pretrained model 'tofnet-sds' is not installed"):
            load_model("tofnet-sds")
    s = data[0]
    bad = [{"rgb": s.rgb, "depth_m": s.depth_m, "sparse_m": s.sparse_m[:, :10], "spot_mask": s.spot_mask, "K": s.K}]
    with pytest.raises(ShapeError, match=r"sample 0: Sample\.sparse_m: expected shape \(32, 48\)"):
        predict("nearest", bad, tmp_path / "p3")
    with pytest.raises(ShapeError, match="model output for sample 0 has shape"):
        predict(FixedDepth(np.ones((4, 4))), data, tmp_path / "p4")
    with pytest.raises(InputFileError, match="data folder not found"):
        predict("nearest", tmp_path / "nowhere", tmp_path / "p5")
    assert not any(p.name.startswith((".p", "p")) for p in tmp_path.iterdir())  # nothing half-written


def test_input_folder_errors(data, tmp_path):
    folder = _input_folder(tmp_path / "in", list(data)[:2], ["x", "y"])
    (folder / "sparse" / "y.png").unlink()
    with pytest.raises(InputFileError, match=r"unpaired: \['y'\]"):
        InputFolder(folder)
    (folder / "intrinsics.txt").unlink()
    with pytest.raises(InputFileError, match="missing intrinsics.txt"):
        InputFolder(folder)


def test_checkpoint_round_trip_keeps_weights(tmp_path):
    model, run = _run_with_checkpoint(tmp_path)
    loaded = load_model(run / "best.pt")
    assert loaded.name == "tofnet" and loaded.config == model.config
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
