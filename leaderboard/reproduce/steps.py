"""The steps of a reproduction study, each a small function, and the runner that makes them resumable.

A step is ``fn(study) -> dict`` (a JSON-able summary). `run_step` skips a step whose done-marker
``DIR/steps/<step>.json`` exists and was written for the same preset (its hash), and otherwise runs it and writes
the marker last, atomically (temporary name + ``os.replace``), so a step stopped halfway (Ctrl-C, a crash) runs
again on the next call. A step that cannot run here (no real data, no quantization entry point) raises
`StepSkipped` with the reason: no marker is written, so it runs once the reason is gone.

The steps of the synthetic study live here (dataset, training, QAT, prediction); scoring, figures, report and
``results.md`` are in `leaderboard.reproduce.outputs`; the real-data steps in `leaderboard.reproduce.realdata`.
Torch and Open3D are imported inside the steps (``import leaderboard.reproduce`` loads neither).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.errors import LeaderboardError
from leaderboard.reproduce.presets import METHODS, QUANT_PRESETS, SHIPPED_MODELS, ReproducePreset
from tofsim.provenance import write_json

__all__ = [
    "OutputError",
    "StepSkipped",
    "Study",
    "StepFn",
    "ProgressFn",
    "run_step",
    "depends_of",
    "method_source",
    "method_metadata",
    "SYNTHETIC_STEPS",
    "TRAINED",
]

#: ``progress(event)``: ``{"event": "study-start" | "step-start" | "step-progress" | "step-done" | "step-skip" |
#: "step-skipped" | "study-done", "step": name, "index": i, "total": n, ...}``.
ProgressFn = Callable[[dict[str, Any]], None]
#: Methods with a run folder (the rest are the training-free baselines, predicted by name).
TRAINED = ("float32", *QUANT_PRESETS, "nlspn")
#: Display names of the methods in figures and ``results.md`` (the paper's spelling).
DISPLAY = {"float32": "float32", "w8a8": "W8A8", "w4a8": "W4A8", "w4a4": "W4A4", "wstar": "W*", "nlspn": "NLSPN",
           "nearest": "nearest", "linear": "linear", "ipbasic": "IP-Basic"}  # fmt: skip
_BITS = {"float32": "fp32", "w8a8": "W8A8", "w4a8": "W4A8", "w4a4": "W4A4", "wstar": "W*A8", "nlspn": "fp32"}


class OutputError(LeaderboardError, OSError):
    """The study folder cannot be created or written."""


class StepSkipped(Exception):  # noqa: N818 - a signal, not an error
    """A step that cannot run in this environment; the reason is reported and no done-marker is written."""


@dataclass
class Study:
    """One study: its preset, folder, progress callback and the paths every step uses.

    Attributes:
        preset: the resolved preset.
        out_dir: the study folder ``DIR``.
        progress: optional callback (see `ProgressFn`).
        realdata_path: the 7-Scenes frames folder (or None: no real-data study).
        command: the command line recorded in ``results.md``.
    """

    preset: ReproducePreset
    out_dir: Path
    progress: ProgressFn | None = None
    realdata_path: Path | None = None
    command: str = ""
    current: str = ""
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def dataset_dir(self) -> Path:
        """The generated tofsim dataset."""
        return self.out_dir / "dataset"

    @property
    def gt_dir(self) -> Path:
        """Test-split ground truth as ``{index:06d}.npy`` z-depth (m), what scoring and figures read."""
        return self.out_dir / "gt" / "depth"

    @property
    def sparse_dir(self) -> Path:
        """Test-split sparse inputs as ``{index:06d}.npy`` (m, 0 = no spot), for RDS and the at-spot regions."""
        return self.out_dir / "gt" / "sparse"

    def run_dir(self, method: str) -> Path:
        """Run folder of a trained method."""
        return self.out_dir / "runs" / method

    def preds_dir(self, method: str) -> Path:
        """Test-split predictions of a method."""
        return self.out_dir / "preds" / method

    def emit(self, event: str, **info: Any) -> None:
        """Send a progress event (no-op without a callback)."""
        if self.progress is not None:
            self.progress({"event": event, "step": self.current, **info})


StepFn = Callable[[Study], dict[str, Any]]


def marker_path(study: Study, name: str) -> Path:
    """The done-marker of step `name`."""
    return study.out_dir / "steps" / f"{name}.json"


def read_marker(study: Study, name: str) -> dict[str, Any] | None:
    """The done-marker of step `name` if it exists and belongs to this preset, else None."""
    try:
        record = json.loads(marker_path(study, name).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("preset_sha256") == study.preset.sha256() else None


def depends_of(name: str) -> list[str]:
    """The steps whose outputs step `name` reads (a newer marker of one of them makes `name` run again)."""
    for prefix, inputs in (("realdata-predict-", "realdata-convert"), ("predict-", "dataset")):
        if name.startswith(prefix):
            method = name[len(prefix) :]
            return [inputs, *([train_step_of(method)] if method in TRAINED else [])]
    return {
        "train-float32": ["dataset"],
        "train-nlspn": ["dataset"],
        **{f"qat-{q}": ["train-float32"] for q in QUANT_PRESETS},
        "score": [f"predict-{m}" for m in METHODS],
        "figures": [f"predict-{m}" for m in METHODS],
        "report": ["score", "figures"],
        "realdata-score": [f"realdata-predict-{m}" for m in METHODS],
        "results": ["score", "realdata-score", "realdata-mesh"],
    }.get(name, [])


def _stale(study: Study, record: dict[str, Any]) -> bool:
    """True when a step that this step depends on finished after it did (its outputs are out of date).

    Uses the finishing times recorded in the markers (not file times, which a copy of the folder changes).
    """
    own = int(record.get("finished_ns", 0))
    for dep in depends_of(record["step"]):
        other = read_marker(study, dep)
        if other is not None and int(other.get("finished_ns", 0)) > own:
            return True
    return False


def run_step(study: Study, name: str, fn: StepFn, *, index: int = 0, total: int = 1) -> dict[str, Any] | None:
    """Run one step unless its done-marker says it is finished; return its record (None when skipped).

    A marker whose summary says ``partial`` (a step that ran with some inputs missing) does not count as done,
    nor does one older than the marker of a step it depends on (`depends_of`): e.g. ``score`` runs again after
    a prediction step was redone.

    Raises:
        whatever the step raises (LeaderboardError, CompletionError, TofsimError on bad input or a failed run).
    """
    study.current = name
    done = read_marker(study, name)
    if done is not None and not done["summary"].get("partial") and not _stale(study, done):
        study.emit("step-skip", index=index, total=total, reason="already done (resume)")
        return done
    study.emit("step-start", index=index, total=total)
    t0 = time.perf_counter()
    try:
        summary = fn(study)
    except StepSkipped as why:
        study.skipped[name] = str(why)
        study.emit("step-skipped", index=index, total=total, reason=str(why))
        return None
    record = {
        "step": name,
        "preset": study.preset.name,
        "preset_sha256": study.preset.sha256(),
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "finished_ns": time.time_ns(),
        "summary": summary,
    }
    marker = marker_path(study, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json(marker, record, sort_keys=True, what="step marker")
    study.emit("step-done", index=index, total=total, elapsed_s=record["elapsed_s"])
    return record


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
            np.save(study.gt_dir / f"{i:06d}.npy", np.asarray(s.depth, np.float32))
            np.save(study.sparse_dir / f"{i:06d}.npy", np.asarray(s.sparse, np.float32))
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
    resume = (run / "last.pt").is_file()  # an interrupted training continues where it stopped
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
    report_path = study.run_dir(method) / "memory.json"
    if method in QUANT_PRESETS and report_path.is_file():
        report = json.loads(report_path.read_text())
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
    from completion.predict import predict

    src = method_source(study, method)
    if method in TRAINED and read_marker(study, train_step_of(method)) is None:
        raise StepSkipped(f"no finished run for {method!r}: step {train_step_of(method)!r} has not completed")
    model = load_model(src)  # once (rebuilding a QAT model takes seconds), for prediction and the metadata
    predict(model, data, out, split=split, overwrite=True, device="cpu",
            progress=lambda d, t: study.emit("step-progress", done=d, total=t))  # fmt: skip
    summary = json.loads((out / "predictions.json").read_text())
    meta = method_metadata(study, method, summary.get("median_latency_s"), model=model)
    return {"method": method, "source": src, "preds": str(out), "count": summary.get("count"), "metadata": meta}


def make_predict_step(method: str) -> StepFn:
    """The step that predicts the test split with `method`."""

    def step(study: Study) -> dict[str, Any]:
        return predict_method(study, method, study.dataset_dir, study.preds_dir(method), split="test")

    step.__doc__ = f"Predict the test split with {method}."
    return step


#: The synthetic steps in order: (name, function).
SYNTHETIC_STEPS: list[tuple[str, StepFn]] = [
    ("dataset", step_dataset),
    ("train-float32", step_train_float32),
    *[(f"qat-{q}", make_qat_step(q)) for q in QUANT_PRESETS],
    ("train-nlspn", step_train_nlspn),
    *[(f"predict-{m}", make_predict_step(m)) for m in METHODS],
]
