import json

import numpy as np
import pytest
import torch

from completion.checkpoint import load_model
from completion.data import CompletionDataset, collate, toy_samples
from completion.quant.api import quantize_run
from completion.quant.qat import QuantConv2d
from completion.train import TrainConfig, fit


@pytest.fixture(scope="module")
def float_run(tmp_path_factory):
    samples = toy_samples(6, rng=np.random.default_rng(0))
    out = tmp_path_factory.mktemp("runs") / "float"
    cfg = TrainConfig(model="tofnet", model_cfg={"base_width": 4, "num_scales": 2}, epochs=2, batch_size=2,
                      device="cpu", hflip_prob=0.0, color_jitter=0.0)  # fmt: skip
    fit(cfg, out, dataset=samples)
    return out, samples


@pytest.mark.parametrize("preset", ["w4a8", "wstar"])
def test_quantize_run_gives_a_loadable_quantized_run(float_run, tmp_path, preset):
    run, samples = float_run
    out = quantize_run(run, preset, tmp_path / preset, epochs=1, dataset=samples)
    model = load_model(out)
    qconvs = [m for m in model.modules() if isinstance(m, QuantConv2d)]
    assert qconvs and all(m.w_quant.enabled for m in qconvs)
    info = json.loads((out / "quantization.json").read_text())
    mem = json.loads((out / "memory.json").read_text())
    assert info["preset"] == preset
    # calibration: equalization kept only when it helped; the step search never moves away from the float model
    cal = info["calibration"]
    assert cal["samples"] == len(samples)
    start = cal["plain_error_m"]
    if cal["equalized_blocks"]:
        assert cal["equalized_error_m"] < cal["plain_error_m"]
        start = cal["equalized_error_m"]
    assert 0 <= cal["refined_error_m"] <= start
    assert {m.bits.weight_bits for m in qconvs} == {v["weight_bits"] for v in info["plan"].values()}
    if preset == "wstar":
        # this toy network cannot reach 14x (scales and biases): W* falls back to its smallest size, and says so
        assert "out of reach" in info["wstar"]["note"]
        assert mem["weights"]["bytes"] <= info["wstar"]["budget_bytes"]
        assert mem["weights"]["ratio_vs_fp32"] > 10
    else:
        assert 5 < mem["weights"]["ratio_vs_fp32"] < 8
    # the reloaded run predicts exactly like the model that training returned (sign and steps were saved)
    batch = collate([CompletionDataset(samples, indices=[0], augment=None)[0]])
    with torch.no_grad():
        a = model(batch)
        b = load_model(out)(batch)
    torch.testing.assert_close(a, b)
    assert torch.isfinite(a).all()


def test_qat_history_starts_with_the_calibrated_model_and_best_is_never_worse(float_run, tmp_path):
    run, samples = float_run
    out = quantize_run(run, "w4a4", tmp_path / "w4a4", epochs=2, dataset=samples)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows[0]["steps"] == 0 and rows[0]["train_loss"] is None  # validated before any step
    best_row = min(rows, key=lambda r: r["val_rmse_m"])
    assert rows[-1]["best_val_rmse_m"] == best_row["val_rmse_m"] <= rows[0]["val_rmse_m"]
    # best.pt is the epoch that validated best (epoch 0 when fine-tuning did not improve on calibration), and
    # the loaded model reproduces that validation RMSE
    from completion.checkpoint import load_checkpoint
    from completion.train import evaluate

    assert load_checkpoint(out / "best.pt")["epoch"] == best_row["epoch"]
    val = CompletionDataset(samples, indices=range(len(samples)), augment=None)
    loader = [collate([val[i]]) for i in range(len(val))]
    model = load_model(out)
    assert evaluate(model, loader, torch.device("cpu"))["rmse_m"] == pytest.approx(best_row["val_rmse_m"], rel=1e-5)


def test_center_crop_slices_images_and_shifts_the_principal_point():
    from completion.quant.api import center_crop

    g = torch.Generator().manual_seed(0)
    batch = {"rgb": torch.rand(2, 3, 10, 12, generator=g), "depth": torch.rand(2, 1, 10, 12, generator=g),
             "K": torch.tensor([[[5.0, 0, 6.0], [0, 5.0, 4.5], [0, 0, 1]]]).repeat(2, 1, 1),
             "index": torch.tensor([3, 4])}  # fmt: skip
    out = center_crop(batch, (4, 6))
    assert torch.equal(out["rgb"], batch["rgb"][..., 3:7, 3:9]) and torch.equal(out["index"], batch["index"])
    # pixel (u, v) of the crop is pixel (u + 3, v + 3) of the image: the same ray, so cx, cy move by 3
    assert out["K"][0, 0, 2] == 3.0 and out["K"][0, 1, 2] == 1.5 and batch["K"][0, 0, 2] == 6.0
    assert center_crop(batch, None) is batch and center_crop(batch, (10, 12)) is batch
