import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from completion import models
from completion.cli import app
from completion.data import toy_samples
from completion.prefill import nearest_fill
from tofsim.dataset import make_manifest, shard_filename, write_manifest, write_shard

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster and does not fight the other test worker for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dataset_dir(tmp_path):
    """A 6-sample tofsim dataset on disk (one shard + manifest), 32 x 48."""
    samples = toy_samples(6, height_px=32, width_px=48, rng=np.random.default_rng(5))
    out = tmp_path / "ds"
    out.mkdir()
    record = write_shard(out / shard_filename(0), samples, attrs={})
    splits = {"train": [0, 1, 2, 3], "val": [4], "test": [5]}
    write_manifest(out, make_manifest([record], config={}, splits=splits, image_size=(32, 48)))
    return out


@pytest.fixture
def train_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('batch_size = 2\ndevice = "cpu"\ncpu_threads = 1\ncrop_hw_px = [24, 32]\n'
                    "[model_cfg]\nbase_width = 4\nnum_scales = 2\n")  # fmt: skip
    return path


@pytest.mark.parametrize("args", [["--help"], ["models", "--help"], ["train", "--help"], ["predict", "--help"]])
def test_help(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_models_lists_registry_and_pretrained():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name in models.names():
        line = next(x for x in lines if x.split()[0] == name)
        assert models.MODELS[name].summary in line
    assert any(x.startswith("tofnet-sds") for x in lines)


def test_train_resume_and_predict(dataset_dir, train_toml, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(dataset_dir), "--model", "tofnet", "--out", str(run), "--config", str(train_toml)]
    result = runner.invoke(app, [*args, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert f"run folder: {run}" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["train_config"]["model_cfg"] == {"base_width": 4, "num_scales": 2}
    assert config["dataset"] == {"path": str(dataset_dir), "train_count": 4, "val_count": 1, "val_source": "val"}
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    pred = tmp_path / "pred"
    args = ["predict", "--model", str(run), "--data", str(dataset_dir), "--out", str(pred), "--png-scale-per-m", "1000"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"6 predictions in {pred}" in result.output
    assert sorted(p.name for p in pred.glob("*.npy")) == [f"{i:06d}.npy" for i in range(6)]
    png = np.asarray(Image.open(pred / "000005.png"))
    assert np.array_equal(png, np.rint(np.load(pred / "000005.npy").astype(np.float64) * 1000).astype(np.uint16))
    result = runner.invoke(app, ["predict", "--model", "nearest", "--data", str(dataset_dir), "--out",
                                 str(tmp_path / "test"), "--split", "test"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "test").glob("*.npy")) == ["000005.npy"]


def test_predict_input_folder(tmp_path):
    s = toy_samples(1, rng=np.random.default_rng(0))[0]
    folder = tmp_path / "in"
    (folder / "rgb").mkdir(parents=True)
    (folder / "sparse").mkdir()
    Image.fromarray(s.rgb).save(folder / "rgb" / "f.png")
    sparse_mm = np.rint(s.sparse_m * 1000).astype(np.uint16)
    Image.fromarray(sparse_mm).save(folder / "sparse" / "f.png")
    np.savetxt(folder / "intrinsics.txt", s.K)
    result = runner.invoke(app, ["predict", "--model", "nearest", "--data", str(folder), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "p" / "000000.npy"), nearest_fill(sparse_mm / 1000.0)[0], atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--model", "nope", "--data", "{ds}", "--out", "{tmp}/p"], "'nope' is not a run folder"),
        (["predict", "--model", "{tmp}/missing.pt", "--data", "{ds}", "--out", "{tmp}/p"], "checkpoint not found"),
        (["predict", "--model", "nearest", "--data", "{tmp}/nowhere", "--out", "{tmp}/p"], "data folder not found"),
        (["train", "--data", "{ds}", "--model", "tofnett", "--out", "{tmp}/r"], "unknown model 'tofnett'"),
        (["train", "--data", "{tmp}/nowhere", "--model", "tofnet", "--out", "{tmp}/r"], "nowhere"),
        (["train", "--data", "{ds}", "--model", "nearest", "--out", "{tmp}/r"], "no trainable parameters"),
        (["train", "--data", "{ds}", "--out", "{tmp}/r", "--resume"], "nothing to resume"),
        (["train", "--data", "{ds}", "--out", "{tmp}/r", "--config", "{tmp}/none.toml"], "config file not found"),
        (["train", "--data", "{ds}", "--out", "{tmp}/r", "--init-from", "{tmp}/no.pt"], "checkpoint not found"),
        (
            ["train", "--data", "{ds}", "--model", "nlspn-small", "--out", "{tmp}/r", "--init-from", "tofnet-sds"],
            "is a 'tofnet' model, not 'nlspn-small'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, dataset_dir, tmp_path):
    args = [a.format(ds=dataset_dir, tmp=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], result.stderr
    assert "Traceback" not in result.output


def test_predict_empty_split_one_line_and_no_folder(tmp_path):
    """A dataset whose test split is empty (a converted single-scene folder): one line, no folder left behind."""
    samples = toy_samples(2, height_px=32, width_px=48, rng=np.random.default_rng(1))
    ds = tmp_path / "single"
    ds.mkdir()
    record = write_shard(ds / shard_filename(0), samples, attrs={})
    write_manifest(ds, make_manifest([record], config={}, splits={"train": [0, 1], "test": []}, image_size=(32, 48)))
    out = tmp_path / "pred"
    for _ in range(2):  # the second run is not blocked by a folder from the first
        result = runner.invoke(app, ["predict", "--model", "nearest", "--data", str(ds), "--out", str(out),
                                     "--split", "test"])  # fmt: skip
        assert result.exit_code == 2, result.output
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), result.stderr
        assert "'test'" in err[0] and str(ds) in err[0] and "empty" in err[0], err[0]
        assert "Traceback" not in result.output
        assert not out.exists()


def test_train_help_shows_config_tables():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    assert "[loss]" in result.output and "[model_cfg]" in result.output, result.output


def test_train_without_val_split_warns_once(train_toml, tmp_path):
    """A small dataset with no val split: training says, in one line, that it validates on training frames."""
    samples = toy_samples(4, height_px=32, width_px=48, rng=np.random.default_rng(2))
    ds = tmp_path / "small"
    ds.mkdir()
    record = write_shard(ds / shard_filename(0), samples, attrs={})
    write_manifest(ds, make_manifest([record], config={}, splits={"train": [0, 1, 2, 3]}, image_size=(32, 48)))
    run = tmp_path / "run"
    args = ["train", "--data", str(ds), "--model", "tofnet", "--out", str(run), "--config", str(train_toml)]
    result = runner.invoke(app, [*args, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "no 'val' samples" in warnings[0] and "training frames" in warnings[0], warnings[0]
    assert json.loads((run / "config.json").read_text())["dataset"]["val_source"] == "train"
