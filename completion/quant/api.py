"""`quantize_run`: a float run in, a quantization-aware fine-tuned run out (what `completion quantize` calls).

Steps: load the float model of the run; build the bit plan (a uniform preset, or for W* the budgeted per-layer
plan from measured sensitivities); fold BatchNorm and insert LSQ quantizers (`prepare_qat`); calibrate the
activation steps on `CALIBRATION_SAMPLES` training samples, with activation equalization and a search of the
steps against the float model's depth (`completion.quant.ptq`); fine-tune with the run's own training loop and loss
(`completion.train`, a hundredth of its learning rate by default: tofnet's head multiplies its weights by D_max,
and a tenth undid the float model within three steps); write the memory report. The result is a run folder like
any other: `completion predict`, `completion export` and `completion memory` take it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from completion.errors import CompletionError, ConfigError
from completion.quant.bitwidths import BIT_PRESETS, LayerBits, preset_plan
from completion.quant.ptq import depth_error_m, equalize_activations, refine_activation_steps
from completion.quant.qat import calibrate, fold_all_bn, prepare_qat, quantizable_layers
from completion.quant.report import memory_report
from completion.quant.wstar import layer_sensitivity, search_plan
from completion.run_folder import QUANTIZATION, RunFolder
from tofsim.provenance import write_text_atomic

__all__ = ["quantize_run", "QAT_LR_FACTOR", "CALIBRATION_SAMPLES", "center_crop"]

QAT_LR_FACTOR = 0.01
SENSITIVITY_SAMPLES = 8
#: Training samples (evenly spaced over the split, no augmentation) that set the activation steps before QAT.
#: One image gave steps that clipped the last decoder layers on other images (W8A8 +1.9 % RMSE before QAT on
#: the standard study's data, +0.3 % with 16).
CALIBRATION_SAMPLES = 16


def _calibrated(
    folded: torch.nn.Module, plan: Mapping[str, LayerBits], calib: dict[str, torch.Tensor]
) -> torch.nn.Module:
    qmodel = prepare_qat(folded, plan)  # a copy: `folded` stays as it is
    calibrate(qmodel, calib)
    return qmodel.eval()


def center_crop(batch: dict[str, torch.Tensor], crop_hw_px: tuple[int, int] | None) -> dict[str, torch.Tensor]:
    """The centre `crop_hw_px` of every (B, C, H, W) tensor of `batch` (K's principal point shifted to match).

    Calibration and W* sensitivity run many forward passes; on the float run's training crop size they cost what
    a training step costs instead of a full frame's (16 calibration frames at 640 x 480: ~90 passes of ~20 s on
    one core). The fills were computed on the full frames, as at inference. None or a crop as large as the
    image returns `batch` unchanged.
    """
    if crop_hw_px is None:
        return batch
    h, w = batch["rgb"].shape[-2:]
    ch, cw = min(int(crop_hw_px[0]), h), min(int(crop_hw_px[1]), w)
    if (ch, cw) == (h, w):
        return batch
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    out = {k: v[..., y0 : y0 + ch, x0 : x0 + cw] if v.ndim == 4 else v for k, v in batch.items()}
    if "K" in out:
        K = out["K"].clone()  # noqa: N806
        K[..., 0, 2] -= x0
        K[..., 1, 2] -= y0
        out["K"] = K
    return out


def _calibrated_model(
    float_model: torch.nn.Module,
    plan: Mapping[str, LayerBits],
    calib: dict[str, torch.Tensor],
    progress: Callable[[dict[str, Any]], None] | None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The QAT model with calibrated steps, before fine-tuning, and a record of how it was made.

    Equalization (`completion.quant.ptq`) is kept only when the calibrated model it gives is closer to the float
    model on the calibration batch than the plain one; the activation steps are then refined on that batch.
    """
    folded = fold_all_bn(float_model)
    with torch.no_grad():
        reference = folded.eval()(dict(calib))
    qmodel = _calibrated(folded, plan, calib)
    record: dict[str, Any] = {"samples": int(calib["depth"].shape[0]), "equalized_blocks": []}
    record["plain_error_m"] = depth_error_m(qmodel, reference, calib)
    blocks = equalize_activations(folded, calib, plan)  # in place: the plain model above holds its own copy
    if blocks:
        candidate = _calibrated(folded, plan, calib)
        record["equalized_error_m"] = depth_error_m(candidate, reference, calib)
        if record["equalized_error_m"] < record["plain_error_m"]:
            qmodel, record["equalized_blocks"] = candidate, blocks

    def refine_progress(done: int, total: int) -> None:
        if progress is not None:
            progress({"event": "refine", "done": done, "total": total})

    _, record["refined_error_m"] = refine_activation_steps(qmodel, reference, calib, progress=refine_progress)
    return qmodel.train(), record


def quantize_run(
    run_dir: str | Path,
    preset: str,
    out_dir: str | Path,
    *,
    budget_mb: float | None = None,
    epochs: int = 2,
    dataset: Any = None,
    train_overrides: dict[str, Any] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Quantization-aware fine-tuning of a float run.

    Args:
        run_dir: a float training run (``completion train`` output).
        preset: ``w8a8``, ``w4a8``, ``w4a4`` or ``wstar``.
        out_dir: the new run folder.
        budget_mb: W* weight-memory budget in MB (10^6 bytes); default float32 weights / 14.
        epochs: QAT fine-tuning epochs.
        dataset: an indexable of samples instead of the run's dataset folder.
        train_overrides: `TrainConfig` fields to change (e.g. ``{"lr": 1e-4}``).
        progress: training progress callback (see `completion.train.fit`); also receives
            ``{"event": "sensitivity", "done": i, "total": n}`` while W* measures layers.

    Returns:
        `out_dir`, holding the checkpoints, ``quantization.json`` (preset, plan, W* summary) and ``memory.json``.

    Raises:
        RegistryError: unknown preset. ConfigError: a budget below what 2-bit weights need.
        InputFileError: `run_dir` is not a run.
    """
    from completion.checkpoint import load_model
    from completion.data import CompletionDataset, collate
    from completion.train import TrainConfig, evaluate, fit

    p = BIT_PRESETS.create(preset)
    if p.weight_bits is None and not p.searched:
        raise ConfigError("preset fp32 is the float run itself: nothing to quantize")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    base = RunFolder.at(run_dir).train_config()
    # fake quantization runs in float32: bfloat16 (8-bit mantissa) would blur the 8-bit grids it learns
    values = {**base, "epochs": epochs, "lr": base.get("lr", 2e-3) * QAT_LR_FACTOR, "cpu_bf16": False,
              **(train_overrides or {})}  # fmt: skip
    config = TrainConfig.from_dict(values)
    float_model = load_model(run_dir)
    if dataset is None:
        import tofsim

        dataset = tofsim.open_dataset(config.data)
    splits = getattr(dataset, "splits", None) or {}
    train_idx = list(splits.get(config.train_split) or range(len(dataset)))
    val_idx = list(splits.get(config.val_split) or train_idx)
    names = quantizable_layers(float_model)
    info: dict[str, Any] = {"preset": preset, "float_run": str(run_dir)}
    prefill = getattr(float_model, "prefill", "linear")  # the fill the float model was trained to correct
    if p.searched:
        sens_ds = CompletionDataset(dataset, indices=val_idx[:SENSITIVITY_SAMPLES], augment=None, prefill=prefill)
        loader = torch.utils.data.DataLoader(sens_ds, batch_size=1, collate_fn=collate)
        cached = [center_crop(b, config.crop_hw_px) for b in loader]

        def rmse(model: torch.nn.Module) -> float:
            return evaluate(model, cached, torch.device("cpu"))["rmse_m"]

        def sens_progress(done: int, total: int) -> None:
            if progress is not None:
                progress({"event": "sensitivity", "done": done, "total": total})

        sensitivity = layer_sensitivity(float_model, rmse, progress=sens_progress)
        budget = None if budget_mb is None else int(budget_mb * 1e6)
        plan, summary = search_plan(float_model, sensitivity, budget_bytes=budget, act_bits=p.act_bits)
        info["wstar"] = {**summary, "sensitivity_rmse_m": sensitivity}
    else:
        plan = preset_plan(preset, names)
    calib_idx = train_idx[:: max(1, len(train_idx) // CALIBRATION_SAMPLES)][:CALIBRATION_SAMPLES]
    calib_ds = CompletionDataset(dataset, indices=calib_idx, augment=None, prefill=prefill)
    calib = center_crop(collate([calib_ds[i] for i in range(len(calib_ds))]), config.crop_hw_px)
    qmodel, info["calibration"] = _calibrated_model(float_model, plan, calib, progress)
    first = collate([calib_ds[0]])
    # epoch 0 is the calibrated model: best.pt is never worse on validation than calibration alone
    result = fit(config, out_dir, dataset=dataset, model=qmodel, progress=progress, evaluate_start=True)
    info["plan"] = qmodel.qat_plan
    info["best_val_rmse_m"] = None if math.isinf(result.best_val_rmse_m) else result.best_val_rmse_m
    h, w = first["rgb"].shape[-2:]
    report = memory_report(result.model, height_px=int(h), width_px=int(w))
    run = RunFolder.at(out_dir)
    run.write_memory(report)
    # the plan and calibration hold objects JSON cannot (written as their str)
    write_text_atomic(out_dir / QUANTIZATION, json.dumps(info, indent=2, default=str) + "\n")
    if run.checkpoint() is None:
        raise CompletionError(f"QAT produced no checkpoint in {out_dir}")
    return out_dir
