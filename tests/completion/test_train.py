import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from completion import checkpoint, models
from completion.data import toy_samples
from completion.ddp_launch import spawn_local
from completion.errors import CompletionError, ConfigError, InputFileError, ShapeError
from completion.losses import LossConfig
from completion.train import TrainConfig, fit, train

TINY_TOFNET = {"base_width": 4, "num_scales": 2}


class SplitList(list):
    """An in-memory dataset with tofsim-style splits."""

    def __init__(self, items, splits):
        super().__init__(items)
        self.splits = splits


@dataclasses.dataclass(frozen=True, kw_only=True)
class DirectConfig:
    width: int = 12


class DirectNet(nn.Module):
    """Stand-in model predicting depth directly (no residual): it starts ~2-3 m off, so learning shows."""

    def __init__(self, cfg):
        super().__init__()
        w = cfg.width
        conv = [nn.Conv2d(5, w, 3, padding=1), nn.Conv2d(w, w, 3, padding=1), nn.Conv2d(w, 1, 3, padding=1)]
        self.net = nn.Sequential(conv[0], nn.ReLU(), conv[1], nn.ReLU(), conv[2])

    def forward(self, batch):
        x = torch.cat([batch["prefill"] / 5.0, batch["dist"] / 10.0, batch["rgb"]], dim=1)
        return self.net(x)


@pytest.fixture
def direct_model(monkeypatch):
    entry = models.ModelEntry(DirectConfig, {}, DirectNet, "test stand-in")
    monkeypatch.setitem(models.MODELS, "test-direct", entry)
    return "test-direct"


@pytest.fixture
def data():
    samples = toy_samples(6, height_px=32, width_px=48, rng=np.random.default_rng(3))
    return SplitList(samples, {"train": [0, 1, 2, 3], "val": [4, 5], "test": []})


def _cfg(**kw):
    base = dict(model="tofnet", model_cfg=TINY_TOFNET, epochs=2, batch_size=2, lr=3e-3, crop_hw_px=(24, 32),
                hflip_prob=0.5, color_jitter=0.2, device="cpu", cpu_threads=1, seed=0)  # fmt: skip
    return TrainConfig(**(base | kw))


def _weights(path):
    return checkpoint.load_checkpoint(path)["model_state"]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_model_overfits_four_samples(direct_model, data, tmp_path):
    cfg = _cfg(model=direct_model, model_cfg={}, epochs=60, batch_size=4, lr=1e-2, crop_hw_px=None, hflip_prob=0,
               color_jitter=0, loss=LossConfig(grad_weight=0.1, normal_weight=0.01))  # fmt: skip
    result = fit(cfg, tmp_path / "run", dataset=data)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert last < first / 10, (first, last)
    assert result.history[-1]["val_rmse_m"] < result.history[0]["val_rmse_m"] / 5


def test_training_is_deterministic_on_cpu(data, tmp_path):
    a = train(_cfg(), tmp_path / "a", dataset=data)
    b = train(_cfg(), tmp_path / "b", dataset=data)
    c = train(_cfg(seed=1), tmp_path / "c", dataset=data)
    assert _same(_weights(a / "last.pt"), _weights(b / "last.pt"))
    assert not _same(_weights(a / "last.pt"), _weights(c / "last.pt"))
    rows_a = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in rows_a] == [r["train_loss"] for r in rows_b]


def test_worker_processes_do_not_change_the_result(data, tmp_path):
    a = fit(_cfg(num_workers=0), tmp_path / "a", dataset=data).model.state_dict()
    b = fit(_cfg(num_workers=2), tmp_path / "b", dataset=data).model.state_dict()
    assert _same(a, b)


def test_resume_continues_exactly(data, tmp_path):
    cfg = _cfg(epochs=3)
    full = fit(cfg, tmp_path / "full", dataset=data)

    def stop_after_first_epoch(event):
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, tmp_path / "cut", dataset=data, progress=stop_after_first_epoch)
    assert checkpoint.load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    # the global torch RNG of the caller is not what makes it work: disturb it
    torch.rand(100)
    resumed = fit(cfg, tmp_path / "cut", dataset=data, resume=True)
    assert _same(_weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "cut" / "last.pt"))
    assert _same(_weights(tmp_path / "full" / "best.pt"), _weights(tmp_path / "cut" / "best.pt"))
    drop = ("time_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in full.history
    ]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]


def test_run_folder_contents_and_best_checkpoint(data, tmp_path):
    events = []
    run = train(_cfg(epochs=3), tmp_path / "run", dataset=data, progress=events.append)
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt",
        "config.json",
        "last.pt",
        "metrics.csv",
        "metrics.jsonl",
    ]
    probe = tmp_path / "probe"
    probe.write_text("x")  # files are published with the umask's mode, not mkstemp's 0600
    assert {(run / n).stat().st_mode & 0o777 for n in ("best.pt", "last.pt", "config.json")} == {
        probe.stat().st_mode & 0o777
    }
    info = json.loads((run / "config.json").read_text())
    assert TrainConfig.from_dict(info["train_config"]) == _cfg(epochs=3)
    assert info["config_sha256"] == _cfg(epochs=3).sha256()
    assert info["dataset"] == {"path": "", "train_count": 4, "val_count": 2, "val_source": "val"}
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    rmse = [float(r["val_rmse_m"]) for r in rows]
    best = checkpoint.load_checkpoint(run / "best.pt")
    assert best["epoch"] == 1 + int(np.argmin(rmse))
    assert float(rows[-1]["best_val_rmse_m"]) == pytest.approx(min(rmse))
    # load_model(run) picks best.pt, and its validation RMSE is what was logged
    model = checkpoint.load_model(run)
    assert _same(model.state_dict(), best["model_state"]) and not model.training
    assert [e["event"] for e in events].count("epoch") == 3 and events[0]["event"] == "start"
    assert sum(e["event"] == "step" for e in events) == 3 * 2  # 4 training samples, batch 2


def test_config_toml_round_trip_and_errors(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('model = "tofnet"\nepochs = 3\ncrop_hw_px = [24, 32]\n[model_cfg]\nbase_width = 4\n'
                    "[loss]\ndepth_loss = \"huber\"\nnormal_weight = 0.2\n")  # fmt: skip
    cfg = TrainConfig.from_toml(path, data="somewhere")
    assert cfg.crop_hw_px == (24, 32) and cfg.loss == LossConfig(depth_loss="huber", normal_weight=0.2)
    assert cfg.model_cfg == {"base_width": 4} and cfg.data == "somewhere"
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    path.write_text("epochz = 3\n")
    with pytest.raises(ConfigError, match="unknown training option.*epochz.*valid: data"):
        TrainConfig.from_toml(path)
    with pytest.raises(InputFileError, match="config file not found"):
        TrainConfig.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="epochs must be > 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig(device="tpu")


def test_bad_inputs_give_clear_errors(data, tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'tofnett'.*did you mean tofnet"):
        train(_cfg(model="tofnett"), tmp_path / "r1", dataset=data)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        train(_cfg(model="nearest", model_cfg={}), tmp_path / "r2", dataset=data)
    on_disk_names = ({"rgb": s.rgb, "depth": s.depth_m[:, :40], "sparse": s.sparse_m, "mask": s.spot_mask, "K": s.K}
                     for s in data)  # fmt: skip
    bad = SplitList(list(on_disk_names), data.splits)
    with pytest.raises(ShapeError, match=r"sample 0: Sample\.depth_m: expected shape \(32, 48\)"):
        train(_cfg(), tmp_path / "r3", dataset=bad)
    with pytest.raises(ConfigError, match="larger than the images"):
        train(_cfg(crop_hw_px=(64, 64)), tmp_path / "r4", dataset=data)
    with pytest.raises(InputFileError, match="nothing to resume"):
        train(_cfg(), tmp_path / "r5", dataset=data, resume=True)
    with pytest.raises(ConfigError, match="no training data"):
        train(_cfg(), tmp_path / "r6")
    run = train(_cfg(epochs=1), tmp_path / "r7", dataset=data)
    with pytest.raises(CompletionError, match="already holds a run"):
        train(_cfg(epochs=1), run, dataset=data)
    with pytest.raises(ConfigError, match="config differs from the saved run in lr"):
        train(_cfg(epochs=2, lr=1.0), run, dataset=data, resume=True)


@pytest.mark.slow  # ~12 s: two fresh processes import torch
def test_ddp_two_processes_keep_identical_weights(data, tmp_path):
    samples = list(data)[:4]  # a plain list pickles into the child processes
    cfg = _cfg(epochs=1, batch_size=1, crop_hw_px=None)
    spawn_local(2, cfg, tmp_path / "run", dataset=samples, dump_dir=tmp_path)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    params = [name for name, _ in models.create("tofnet", **TINY_TOFNET).named_parameters()]
    assert all(torch.equal(w0[k], w1[k]) for k in params)
    init = models.create("tofnet", **TINY_TOFNET).state_dict()
    assert not all(torch.equal(w0[k], init[k]) for k in params)  # it did train
    assert _same(_weights(tmp_path / "run" / "last.pt"), w0)  # rank 0 wrote the run
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["steps"] == 2  # 4 samples / 2 ranks / batch 1


def test_init_from_starts_from_the_given_weights(data, tmp_path):
    first = train(_cfg(epochs=1), tmp_path / "a", dataset=data)
    # zero epochs of change: lr so small that one epoch cannot move the weights visibly from the warm start
    # (parameters only: batch-norm running statistics move whatever the learning rate)
    warm = dict(
        fit(_cfg(epochs=1, lr=1e-12, init_from=str(first)), tmp_path / "b", dataset=data).model.named_parameters()
    )
    cold = dict(fit(_cfg(epochs=1, lr=1e-12, seed=5), tmp_path / "c", dataset=data).model.named_parameters())
    start = _weights(first / "last.pt")
    assert all(torch.allclose(warm[k].detach(), start[k], atol=1e-6) for k in warm)
    assert not all(torch.allclose(cold[k].detach(), start[k], atol=1e-6) for k in cold)
    with pytest.raises(ConfigError, match="does not fit"):
        fit(_cfg(init_from=str(first), model_cfg=TINY_TOFNET | {"base_width": 6}), tmp_path / "d", dataset=data)


def test_init_from_widens_new_input_channels_with_zeros(data, tmp_path):
    first = train(_cfg(epochs=1), tmp_path / "a", dataset=data)
    cfg = _cfg(epochs=1, lr=1e-12, init_from=str(first), model_cfg=TINY_TOFNET | {"status_channels": True})
    wide = {k: v.detach() for k, v in fit(cfg, tmp_path / "b", dataset=data).model.named_parameters()}
    start = _weights(first / "last.pt")
    widened = [k for k in wide if wide[k].shape != start[k].shape]
    assert len(widened) == 1  # the stem conv: 6 -> 8 input channels
    stem, old = wide[widened[0]], start[widened[0]]
    assert stem.shape[1] == old.shape[1] + 2
    assert torch.allclose(stem[:, : old.shape[1]], old, atol=1e-6)
    assert torch.allclose(stem[:, old.shape[1] :], torch.zeros(()), atol=1e-6)
    assert all(torch.allclose(wide[k], start[k], atol=1e-6) for k in wide if k not in widened)
