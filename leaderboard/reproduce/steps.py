"""The functions of the synthetic study's steps: dataset, training, QAT, prediction, and the method facts they use.

Each is ``step(study) -> summary`` (see `leaderboard.reproduce.runner`); the study's order and dependencies are the
list `leaderboard.reproduce.pipeline.STEPS`. Scoring, figures, report and ``results.md`` are in
`leaderboard.reproduce.outputs`; the real-data steps in `leaderboard.reproduce.realdata`. Torch and Open3D are
imported inside the steps (``import leaderboard.reproduce`` loads neither).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from completion.run_folder import MEMORY, RunFolder
from leaderboard.reproduce.presets import QUANT_PRESETS, SHIPPED_MODELS, TRAINED, study_methods
from leaderboard.reproduce.runner import StepFn, StepSkipped, Study, read_marker

__all__ = [
    "train_step_of",
    "method_source",
    "method_metadata",
    "TRAINED",
    "step_dataset",
    "step_train_float32",
    "step_train_nlspn",
    "step_train_cspn",
    "make_qat_step",
    "make_predict_step",
]

#: Display names of the methods in figures and ``results.md`` (the paper's spelling).
DISPLAY = {"float32": "float32", "w8a8": "W8A8", "w4a8": "W4A8", "w4a4": "W4A4", "wstar": "W*", "nlspn": "NLSPN",
           "cspn": "CSPN", "nearest": "nearest", "linear": "linear", "ipbasic": "IP-Basic"}  # fmt: skip
_BITS = {"float32": "fp32", "w8a8": "W8A8", "w4a8": "W4A8", "w4a4": "W4A4", "wstar": "W*A8", "nlspn": "fp32",
         "cspn": "fp32"}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Data


def step_dataset(study: Study) -> dict[str, Any]:
    """Generate the procedural dataset and export its test split's GT and sparse maps as ``.npy`` files."""
    import tofsim
    from tofsim.config import CameraConfig, GenerateConfig, resolve_sensor
    from tofsim.pipeline import generate

    p = study.preset
    f_px = p.focal_px
    splits = {"train": 0.0, "val": 0.0, "test": 1.0} if p.pretrained else {}
    config = GenerateConfig(
        **({"split_fractions": splits} if splits else {}),
        seed=p.seed,
        n_frames=p.n_frames,
        frames_per_scene=p.frames_per_scene,
        camera=CameraConfig(width_px=p.width_px, height_px=p.height_px, fx_px=f_px, fy_px=f_px),
        sensor=resolve_sensor(p.sensor),
    )
    generate(config, study.dataset_dir, progress=lambda d, t: study.emit("step-progress", done=d, total=t))
    with tofsim.open_dataset(study.dataset_dir) as ds:
        test = sorted(int(i) for i in ds.splits.get("test", []))
        for folder in (study.gt_dir, study.sparse_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for i in test:
            s = ds[i]
            np.save(study.gt_dir / f"{i:06d}.npy", np.asarray(s.depth_m, np.float32))
            np.save(study.sparse_dir / f"{i:06d}.npy", np.asarray(s.sparse_m, np.float32))
        splits = {k: len(v) for k, v in ds.splits.items()}
    return {"dataset": str(study.dataset_dir), "splits": splits, "test_indices": test}


# ---------------------------------------------------------------------------------------------------------------
# Training and QAT


def _train_progress(study: Study) -> Callable[[dict[str, Any]], None]:
    state = {"epochs": 0, "steps": 0}

    def on_event(ev: dict[str, Any]) -> None:
        if ev.get("event") == "start":
            state.update(epochs=ev.get("epochs", 0), steps=ev.get("steps_per_epoch", 0))
        elif ev.get("event") == "step":
            detail = f"epoch {ev['epoch']}/{state['epochs']} step {ev['step']}/{state['steps']}"
            study.emit("step-progress", detail=detail, loss=float(ev.get("loss", float("nan"))))
        elif ev.get("event") == "sensitivity":  # W*: per-layer sensitivity before the fine-tuning
            study.emit("step-progress", detail=f"W* layer sensitivity {ev.get('done')}/{ev.get('total')}")

    return on_event


def _train_config(study: Study, model: str, model_cfg: dict[str, Any], epochs: int) -> Any:
    from completion.train import TrainConfig

    p = study.preset
    return TrainConfig(
        data=str(study.dataset_dir), model=model, model_cfg=model_cfg, epochs=epochs, batch_size=p.batch_size,
        lr=p.lr, crop_hw_px=p.crop_hw_px, seed=p.seed, device=p.device,
    )  # fmt: skip


def _train(study: Study, method: str, model: str, model_cfg: dict[str, Any], epochs: int) -> dict[str, Any]:
    from completion.train import fit

    run = study.run_dir(method)
    resume = RunFolder.at(run).last.is_file()  # an interrupted training continues where it stopped
    result = fit(_train_config(study, model, model_cfg, epochs), run, resume=resume, progress=_train_progress(study))
    return {"run": str(run), "model": model, "epochs": epochs, "best_val_rmse_m": result.best_val_rmse_m,
            "resumed": resume}  # fmt: skip


def _use_shipped(method: str) -> dict[str, Any]:
    """A pretrained preset's stand-in for training `method`: the shipped model, checked against its card."""
    from completion.checkpoint import PRETRAINED_DIR
    from completion.model_cards import read_card, verified_checkpoint

    name = SHIPPED_MODELS[method]
    if not (PRETRAINED_DIR / f"{name}.pt").is_file() or not (PRETRAINED_DIR / f"{name}.json").is_file():
        raise StepSkipped(f"the shipped model {name!r} is not installed ({PRETRAINED_DIR})")
    path = verified_checkpoint(name, PRETRAINED_DIR)  # a damaged or replaced file stops the study
    return {"pretrained": name, "checkpoint": str(path), "sha256": read_card(name, PRETRAINED_DIR).sha256}


def step_train_float32(study: Study) -> dict[str, Any]:
    """Train the float32 tofnet (or take the shipped one)."""
    p = study.preset
    if p.pretrained:
        return _use_shipped("float32")
    return _train(study, "float32", "tofnet", p.tofnet_cfg, p.tofnet_epochs)


def step_train_nlspn(study: Study) -> dict[str, Any]:
    """Train the NLSPN re-implementation (the preset's variant) on the same data (or take the shipped one)."""
    p = study.preset
    if p.pretrained:
        return _use_shipped("nlspn")
    return _train(study, "nlspn", p.nlspn_model, p.nlspn_cfg, p.nlspn_epochs)


def _not_in_study(study: Study, method: str) -> StepSkipped:
    return StepSkipped(f"preset {study.preset.name!r} leaves out {method!r}: no shipped model of it (the quick, "
                       "standard and paper presets train it)")  # fmt: skip


def step_train_cspn(study: Study) -> dict[str, Any]:
    """Train CSPN (the preset's variant) as NLSPN is trained: same data, epochs, batch, learning rate and loss."""
    p = study.preset
    if "cspn" not in study_methods(p):
        raise _not_in_study(study, "cspn")
    return _train(study, "cspn", p.cspn_model, p.cspn_cfg, p.nlspn_epochs)


def _quantize_run() -> Callable[..., Path]:
    try:
        from completion.quant.api import quantize_run
    except ImportError as err:
        raise StepSkipped(f"completion.quant.api.quantize_run is not available in this checkout ({err})") from None
    return quantize_run


def float_weight_bytes(study: Study) -> int:
    """Stored float32 weight bytes (weights + biases) of the trained float32 tofnet."""
    from completion.checkpoint import load_model
    from completion.quant.report import memory_report

    model = load_model(study.run_dir("float32"))
    return int(memory_report(model, height_px=8, width_px=8)["weights"]["fp32_bytes"])


def make_qat_step(preset_name: str) -> StepFn:
    """The step that fine-tunes the float32 run with QAT at bit-width preset `preset_name`."""

    def step(study: Study) -> dict[str, Any]:
        p = study.preset
        if p.pretrained:
            return _use_shipped(preset_name)
        quantize_run = _quantize_run()
        out = study.run_dir(preset_name)
        shutil.rmtree(out, ignore_errors=True)  # no marker: a leftover of an interrupted run
        budget_mb = None
        if preset_name == "wstar":
            budget_mb = float_weight_bytes(study) / p.wstar_ratio / 1e6
        overrides = {"batch_size": p.batch_size, "device": p.device, "crop_hw_px": p.crop_hw_px, "seed": p.seed,
                     "max_train_samples": p.qat_max_train_samples}  # fmt: skip
        quantize_run(
            study.run_dir("float32"), preset_name, out, budget_mb=budget_mb, epochs=p.qat_epochs,
            train_overrides=overrides, progress=_train_progress(study),
        )  # fmt: skip
        return {"run": str(out), "preset": preset_name, "epochs": p.qat_epochs, "budget_mb": budget_mb}

    step.__doc__ = f"QAT fine-tuning of the float32 run at {preset_name}."
    return step


# ---------------------------------------------------------------------------------------------------------------
# Prediction and per-method metadata


def train_step_of(method: str) -> str:
    """The step that makes the run folder of a trained method."""
    return f"qat-{method}" if method in QUANT_PRESETS else f"train-{method}"


def method_source(study: Study, method: str) -> str:
    """What `completion.predict.predict` takes for `method`: its run folder, a shipped name, or a baseline's name."""
    if method in TRAINED and study.preset.pretrained:
        return SHIPPED_MODELS[method]
    return str(study.run_dir(method)) if method in TRAINED else method


def method_metadata(study: Study, method: str, median_latency_s: float | None, model: Any = None) -> dict[str, Any]:
    """Table columns of a method: parameters, weight and activation memory, CPU latency, bits.

    Memory of a QAT run is its ``memory.json``; of other models `completion.quant.report.memory_report` at the
    study's image size. ``act_peak_bytes`` is the liveness peak (largest set of simultaneously live
    activations) at the method's activation bits; ``act_sum_bytes`` the sum over all activation tensors.
    """
    from completion.checkpoint import load_model
    from completion.quant.report import memory_report

    p = study.preset
    model = load_model(method_source(study, method)) if model is None else model
    run = RunFolder.at(study.run_dir(method))
    if method in QUANT_PRESETS and (run.path / MEMORY).is_file():
        report = run.memory()
    else:
        report = memory_report(model, height_px=p.height_px, width_px=p.width_px)
    weights, acts = report["weights"], report["activations"]
    n_weights = sum(int(row.get("weights", 0)) for row in report.get("layers", []))
    bits = _BITS.get(method, "-")
    if method == "wstar" and n_weights:
        bits = f"W*A8 ({8.0 * weights['bytes'] / n_weights:.2f} b/w)"
    return {
        "params": int(sum(t.numel() for t in model.parameters())),
        "bits": bits,
        "weight_bytes": int(weights["bytes"]),
        "weight_mb": float(weights["bytes"]) / 1e6,
        "weight_ratio_vs_fp32": float(weights.get("ratio_vs_fp32") or float("nan")) if weights["bytes"] else None,
        "act_bits": int(acts.get("bits", 32)),
        "act_peak_bytes": int(acts["peak_bytes"]),
        "act_sum_bytes": int(acts.get("sum_bytes", 0)),
        "act_peak_mb": float(acts["peak_bytes"]) / 1e6,
        "latency_ms": None if median_latency_s is None else 1000.0 * float(median_latency_s),
    }


def predict_method(study: Study, method: str, data: Path, out: Path, *, split: str | None) -> dict[str, Any]:
    """Predict `data` (a tofsim dataset) with `method` into `out` on CPU and return its metadata."""
    from completion.checkpoint import load_model
    from completion.predict import predict, read_summary

    if method not in study_methods(study.preset):
        raise _not_in_study(study, method)
    src = method_source(study, method)
    if method in TRAINED and read_marker(study, train_step_of(method)) is None:
        raise StepSkipped(f"no finished run for {method!r}: step {train_step_of(method)!r} has not completed")
    model = load_model(src)  # once (rebuilding a QAT model takes seconds), for prediction and the metadata
    predict(model, data, out, split=split, overwrite=True, device="cpu",
            progress=lambda d, t: study.emit("step-progress", done=d, total=t))  # fmt: skip
    summary = read_summary(out)
    meta = method_metadata(study, method, summary.get("median_latency_s"), model=model)
    return {"method": method, "source": src, "preds": str(out), "count": summary.get("count"), "metadata": meta}


def make_predict_step(method: str) -> StepFn:
    """The step that predicts the test split with `method`."""

    def step(study: Study) -> dict[str, Any]:
        return predict_method(study, method, study.dataset_dir, study.preds_dir(method), split="test")

    step.__doc__ = f"Predict the test split with {method}."
    return step
