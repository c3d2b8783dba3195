"""Training: seeded, resumable, best-on-validation, CPU by default, CUDA + mixed precision when present.

A run folder holds::

    config.json     resolved TrainConfig (+ its sha256, model config with defaults, dataset sizes, versions)
    last.pt         model, optimizer, scheduler, AMP scaler, epochs done, RNG states, config (resume from here)
    best.pt         model with the lowest validation RMSE so far (what `load_model(RUN)` picks)
    metrics.csv     one row per epoch (the same rows as metrics.jsonl)
    metrics.jsonl

Determinism: the model is initialised under ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the
caller's RNG state is left alone), each epoch's order comes from a sampler seeded by (seed, epoch), augmentation
from (seed, epoch, sample index), and the global torch RNG state is saved in ``last.pt`` and restored on resume, so
a resumed run ends with exactly the weights of an uninterrupted one (on the same machine and device).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from completion import checkpoint as ckpt
from completion import ddp
from completion.data import CompletionDataset, collate, validate_sample
from completion.errors import CompletionError, ConfigError, InputFileError
from completion.losses import geometry_loss
from completion.train_config import TrainConfig
from tofsim.provenance import write_text_atomic

__all__ = ["TrainConfig", "TrainResult", "ValidationOnTrainWarning", "evaluate", "fit", "train"]

#: Options that may differ between a run and its resumption (they do not change the result on one machine).
RESUME_MAY_CHANGE = ("epochs", "num_workers", "device", "data", "cpu_threads")


class ValidationOnTrainWarning(UserWarning):
    """The dataset has no validation samples, so validation (val RMSE, best.pt) uses training frames."""


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What `fit` returns: the run folder, the trained model (last epoch) and the per-epoch rows."""

    run_dir: Path
    model: nn.Module
    history: list[dict[str, Any]]
    best_val_rmse_m: float


# ---------------------------------------------------------------------------------------------------------------
# small helpers


def _write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(run_dir / "metrics.csv", buf.getvalue())


def _read_metrics(run_dir: Path, epochs_done: int) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["epoch"] <= epochs_done]


#: Loss terms averaged over an epoch's training steps, as ``train_<term>`` in the history.
_TRAIN_TERMS = ("loss", "depth", "grad", "normal")


def _record_validation(
    model: nn.Module,
    val_loader: Any,
    device: torch.device,
    row: dict[str, Any],
    rows: list[dict[str, Any]],
    best: float,
    config: TrainConfig,
    out_dir: Path,
    t0: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """Validate `model` and record the epoch: complete `row`, append it to `rows` and the metrics files, and save
    ``best.pt`` when the validation RMSE (m) beats `best`.

    `t0` is when the epoch started (``time.perf_counter``; None: now, so ``time_s`` is the validation alone).

    Returns:
        (the new best validation RMSE in metres, the checkpoint meta of this epoch).
    """  # noqa: D205
    t0 = time.perf_counter() if t0 is None else t0
    val = evaluate(model, val_loader, device)
    row.update(val_rmse_m=val["rmse_m"], val_mae_m=val["mae_m"], val_pixels=val["pixels"])
    improved = val["rmse_m"] < best
    best = min(best, val["rmse_m"])
    row.update(best_val_rmse_m=best, time_s=time.perf_counter() - t0)
    rows.append(row)
    _write_metrics(out_dir, rows)
    meta = {"epoch": row["epoch"], "metrics": row, "train_config": config.to_dict()}
    if improved:
        ckpt.save_checkpoint({**ckpt.model_payload(model), **meta}, out_dir / "best.pt")
    return best, meta


def _resolve_device(name: str, info: ddp.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for but CUDA is not available; use device 'cpu' or 'auto'")
        if name == "cuda":
            return torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
    return torch.device(name)


def _split_indices(ds: Any, split: str, limit: int | None) -> list[int]:
    splits = getattr(ds, "splits", None)
    if splits is None:
        idx = list(range(len(ds)))
    else:
        idx = [int(i) for i in splits.get(split, [])]
    return idx if limit is None else idx[:limit]


def _open_data(config: TrainConfig, dataset: Any) -> tuple[Any, list[int], list[int], str]:
    if dataset is None:
        if not config.data:
            raise ConfigError("no training data: set `data` to a tofsim dataset folder (--data DIR)")
        from tofsim.dataset import open_dataset

        dataset = open_dataset(config.data)
    train_idx = _split_indices(dataset, config.train_split, config.max_train_samples)
    if not train_idx:
        raise CompletionError(f"the dataset has no samples in split {config.train_split!r}")
    val_idx = _split_indices(dataset, config.val_split, config.max_val_samples)
    val_source = config.val_split
    if not val_idx:
        val_idx, val_source = train_idx[: config.max_val_samples], config.train_split
    h, w = validate_sample(dataset[train_idx[0]], name=f"sample {train_idx[0]}")
    if config.crop_hw_px is not None and (config.crop_hw_px[0] > h or config.crop_hw_px[1] > w):
        raise ConfigError(f"crop_hw_px {config.crop_hw_px} is larger than the images ({h}, {w})")
    return dataset, train_idx, val_idx, val_source


def _model_prefill(config: TrainConfig, initial_model: nn.Module | None) -> str:
    """The fill the model corrects (its ``prefill`` attribute; "linear" for models that read none)."""
    if initial_model is None:
        with torch.random.fork_rng():  # a throwaway instance: leaves the seeded initialisation untouched
            initial_model = ckpt.create_model(config.model, config.model_cfg)
    return getattr(initial_model, "prefill", "linear")


def _load_initial_weights(model: nn.Module, config: TrainConfig) -> None:
    """Copy the weights of ``config.init_from`` into `model` (a warm start; the optimizer starts fresh).

    A model with more input channels than the source (e.g. tofnet with ``status_channels``) takes the source's
    weights for the old channels and zeros for the new ones, so it starts as exactly the source's function.

    Raises:
        ConfigError: if the source is another model or has another architecture.
    """
    source = ckpt.load_model(config.init_from)
    if getattr(source, "name", None) != getattr(model, "name", None):
        raise ConfigError(f"init_from {config.init_from!r} is a {source.name!r} model, not {config.model!r}")
    try:
        model.load_state_dict(widen_input_channels(source.state_dict(), model.state_dict()))
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"init_from {config.init_from!r} does not fit model_cfg: {first}") from None


def widen_input_channels(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`source`'s tensors, zero-padded along dim 1 where `target`'s tensor has more input channels.

    Only a tensor of the same rank whose shapes differ in dim 1 alone (a conv weight (out, in, kh, kw) with fewer
    inputs) is padded, with zeros after the old channels; every other tensor is returned as it is, so
    `load_state_dict` still reports any other mismatch.
    """
    out = dict(source)
    for key, value in source.items():
        want = target.get(key)
        if want is None or want.shape == value.shape or want.dim() != value.dim() or value.dim() < 2:
            continue
        same_elsewhere = all(a == b for i, (a, b) in enumerate(zip(want.shape, value.shape, strict=True)) if i != 1)
        if same_elsewhere and want.shape[1] > value.shape[1]:
            pad = value.new_zeros((value.shape[0], want.shape[1] - value.shape[1], *value.shape[2:]))
            out[key] = torch.cat([value, pad], dim=1)
    return out


def _lr_lambda(total_steps: int, min_ratio: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        t = min(step, total_steps) / max(total_steps, 1)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))

    return f


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Sequence | torch.utils.data.DataLoader, device: torch.device
) -> dict[str, float]:
    """Pooled depth errors over all valid ground-truth pixels of `loader`.

    Returns:
        dict with ``rmse_m``, ``mae_m`` (float64 sums over pixels) and ``pixels`` (count).
    """
    was_training = model.training
    model.eval()
    sq, ab, n = 0.0, 0.0, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = model(batch).double()
        gt = batch["depth"].double()
        valid = gt > 0
        err = (pred - gt)[valid]
        sq += float((err * err).sum())
        ab += float(err.abs().sum())
        n += int(valid.sum())
    model.train(was_training)
    return {"rmse_m": math.sqrt(sq / n) if n else float("nan"), "mae_m": ab / n if n else float("nan"), "pixels": n}


# ---------------------------------------------------------------------------------------------------------------


def fit(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    dataset: Any = None,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    model: nn.Module | None = None,
    evaluate_start: bool = False,
) -> TrainResult:
    """Train `config.model` and return the run folder, the final model and the history.

    Args:
        config: the run's config.
        out_dir: run folder (created; must not already hold a run unless `resume`).
        dataset: optional indexable of `tofsim.frame.Sample` (with optional ``.splits``) instead of ``config.data``.
        resume: continue from ``out_dir/last.pt`` (config must match except for `RESUME_MAY_CHANGE`).
        progress: called with ``{"event": "start" | "step" | "epoch", ...}`` (rank 0 only); may raise to stop
            (checkpoints of finished epochs stay valid).
        model: start from this model instead of creating ``config.model`` (QAT fine-tuning of a float run);
            pass the same model again to resume.
        evaluate_start: validate the starting model before the first step, as epoch 0 of the history, and keep
            it as ``best.pt`` unless an epoch improves on it: a fine-tune never returns a model worse on the
            validation split than the one it started from (QAT starts from calibrated quantizers).

    Returns:
        A `TrainResult`.

    Raises:
        ConfigError: bad config, unknown model, a model without trainable parameters, or a resume whose config
            differs from the saved one.
        InputFileError: resume without ``last.pt``.
        CompletionError: ``out_dir`` already holds a run (without `resume`), an empty training split.
        ShapeError: samples that break the contract.
    """
    out_dir = Path(out_dir)
    on_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    device_type = "cuda" if on_cuda else "cpu"
    info = ddp.init_from_env(device_type)
    try:
        return _fit(config, out_dir, dataset, resume, progress if info.is_main else None, info, model, evaluate_start)
    finally:
        ddp.shutdown(info)


def _fit(  # noqa: C901, PLR0915
    config, out_dir, dataset, resume, progress, info, initial_model=None, evaluate_start=False
) -> TrainResult:
    device = _resolve_device(config.device, info)
    use_amp = config.amp and device.type == "cuda"
    autocast_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    use_autocast = use_amp or (config.cpu_bf16 and device.type == "cpu")
    last_path = out_dir / "last.pt"
    if resume and not last_path.is_file():
        raise InputFileError(f"nothing to resume: {last_path} not found")
    if not resume and last_path.exists():
        raise CompletionError(f"{out_dir} already holds a run (last.pt); pass resume to continue or pick a new folder")
    state = ckpt.load_checkpoint(last_path) if resume else None
    if state is not None:
        saved = TrainConfig.from_dict(state["train_config"])
        diff = [
            f.name for f in fields(TrainConfig)
            if f.name not in RESUME_MAY_CHANGE and getattr(saved, f.name) != getattr(config, f.name)
        ]  # fmt: skip
        if diff:
            raise ConfigError(f"cannot resume {out_dir}: config differs from the saved run in {', '.join(diff)}")

    dataset, train_idx, val_idx, val_source = _open_data(config, dataset)
    if val_source != config.val_split and info.is_main:
        warnings.warn(
            f"the dataset has no {config.val_split!r} samples: validating on {len(val_idx)} {val_source!r} samples "
            "(training frames), so val RMSE and best.pt measure fit, not generalization; give the dataset more "
            "scenes (more frames, fewer frames per scene) to get a validation split",
            ValidationOnTrainWarning,
            stacklevel=3,
        )
    prefill = _model_prefill(config, initial_model)
    train_ds = CompletionDataset(
        dataset, indices=train_idx, augment=config.augment_config(), seed=config.seed, prefill=prefill
    )
    val_ds = CompletionDataset(dataset, indices=val_idx, augment=None, prefill=prefill)
    sampler = ddp.make_sampler(train_ds, info, seed=config.seed, shuffle=True)
    loader_gen = torch.Generator()
    loader = torch.utils.data.DataLoader(
        train_ds, batch_size=config.batch_size, sampler=sampler, collate_fn=collate,
        num_workers=config.num_workers, generator=loader_gen, pin_memory=device.type == "cuda",
    )  # fmt: skip
    val_loader = torch.utils.data.DataLoader(
        val_ds, batch_size=config.batch_size, shuffle=False, collate_fn=collate, num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )  # fmt: skip

    det_before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    threads_before = torch.get_num_threads()
    if config.cpu_threads is not None:
        torch.set_num_threads(config.cpu_threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(config.seed)
            if initial_model is not None:  # e.g. a QAT model built from a float run (completion.quant.api)
                model = initial_model.to(device).train()
            else:
                model = ckpt.create_model(config.model, config.model_cfg).to(device)
                if config.init_from is not None and state is None:
                    _load_initial_weights(model, config)
            if not any(p.requires_grad for p in model.parameters()):
                raise ConfigError(f"model {config.model!r} has no trainable parameters (a baseline): nothing to train")
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            total_steps = config.epochs * len(loader)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, config.min_lr_ratio))
            scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
            start_epoch, best = 0, math.inf
            if state is not None:
                model.load_state_dict(state["model_state"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                scaler.load_state_dict(state["scaler"])
                start_epoch, best = int(state["epoch"]), float(state["best_val_rmse_m"])
                torch.set_rng_state(state["rng"]["torch"])
                if device.type == "cuda" and state["rng"].get("cuda") is not None:
                    torch.cuda.set_rng_state(state["rng"]["cuda"], device)
            rows = _read_metrics(out_dir, start_epoch) if state is not None else []
            if info.is_main:
                out_dir.mkdir(parents=True, exist_ok=True)
                run_info = {
                    "train_config": config.to_dict(),
                    "config_sha256": config.sha256(),
                    "model": {"name": model.name, "config": dict(getattr(model, "config", {}))},
                    "dataset": {"path": str(config.data), "train_count": len(train_idx), "val_count": len(val_idx),
                                "val_source": val_source},
                    "device": str(device), "amp": use_amp, "cpu_bf16": use_autocast and not use_amp,
                    "world_size": info.world_size,
                    "torch_version": torch.__version__, "resumed_at_epoch": start_epoch if state is not None else None,
                }  # fmt: skip
                write_text_atomic(out_dir / "config.json", json.dumps(run_info, indent=2) + "\n")
            ddp.barrier(info)
            net = ddp.wrap_model(model, info, device)
            if evaluate_start and state is None:  # epoch 0: the starting model, before any step
                if info.is_main:
                    row = {"epoch": 0, "steps": 0, "lr": optimizer.param_groups[0]["lr"],
                           **{f"train_{k}": None for k in _TRAIN_TERMS}}  # fmt: skip
                    best, _ = _record_validation(model, val_loader, device, row, rows, best, config, out_dir)
                ddp.barrier(info)
            if progress is not None:
                progress({"event": "start", "epochs": config.epochs, "start_epoch": start_epoch,
                          "steps_per_epoch": len(loader), "device": str(device)})  # fmt: skip

            for epoch in range(start_epoch, config.epochs):
                t0 = time.perf_counter()
                train_ds.set_epoch(epoch)
                sampler.set_epoch(epoch)
                loader_gen.manual_seed(config.seed * 1_000_003 + epoch)
                model.train()
                sums = np.zeros(5)  # loss, depth, grad, normal, samples
                for step, batch in enumerate(loader):
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
                        pred = net(batch).float()
                    loss, terms = geometry_loss(
                        pred, batch["depth"], batch["K"], config.loss, prefill=batch.get("prefill")
                    )
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if config.grad_clip_norm > 0:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    n = len(batch["index"])
                    sums += np.array([loss.item(), *(terms[k].item() for k in ("depth", "grad", "normal")), 1.0]) * n
                    if progress is not None:
                        progress({"event": "step", "epoch": epoch + 1, "step": step + 1, "loss": loss.item()})
                sums = np.array(ddp.all_reduce_sum(sums.tolist(), info, device))
                row: dict[str, Any] = {"epoch": epoch + 1, "steps": (epoch + 1) * len(loader),
                                       "lr": optimizer.param_groups[0]["lr"]}  # fmt: skip
                for i, k in enumerate(_TRAIN_TERMS):
                    row[f"train_{k}"] = sums[i] / max(sums[4], 1.0)
                if info.is_main:
                    best, meta = _record_validation(model, val_loader, device, row, rows, best, config, out_dir, t0)
                    rng = {"torch": torch.get_rng_state(),
                           "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}  # fmt: skip
                    ckpt.save_checkpoint(
                        {**ckpt.model_payload(model), **meta, "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                         "best_val_rmse_m": best, "rng": rng},
                        last_path,
                    )  # fmt: skip
                ddp.barrier(info)
                if progress is not None:
                    progress({"event": "epoch", **row})
    finally:
        torch.use_deterministic_algorithms(det_before[0], warn_only=det_before[1])
        torch.set_num_threads(threads_before)
    model.eval()
    return TrainResult(run_dir=out_dir, model=model, history=rows, best_val_rmse_m=best)


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    dataset: Any = None,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Train and return the run folder (see `fit` for arguments, files written and errors)."""
    return fit(config, out_dir, dataset=dataset, resume=resume, progress=progress).run_dir
