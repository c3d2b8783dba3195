"""The data set and float32 run of `benchmarks/quantization.py` (generated or trained once, then reused)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from completion.run_folder import RunFolder


def log(msg: str) -> None:
    """Print `msg` to stderr with a wall-clock time stamp (progress of the benchmark's long steps)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _reuse_or_reset(folder: Path, key: dict[str, Any], done_file: str) -> bool:
    """True when `folder` holds a finished product of the same options; else empties it and returns False."""
    stamp = folder / "bench-options.json"
    if stamp.is_file() and (folder / done_file).exists() and json.loads(stamp.read_text()) == key:
        return True
    if folder.exists():
        shutil.rmtree(folder)
    return False


def make_dataset(args: argparse.Namespace) -> Path:
    """Generate the data set (or reuse it): SDS sensor, camera scaled from the 640x480, f = 585 set-up."""
    from tofsim.config import CameraConfig, get_generate_preset
    from tofsim.pipeline import generate

    folder = args.out / "dataset"
    key = {"frames": args.frames, "fps": args.frames_per_scene, "hw": [args.height, args.width], "seed": args.seed}
    if _reuse_or_reset(folder, key, "manifest.json"):
        log(f"reusing data set {folder}")
        return folder
    n_scenes = -(-args.frames // args.frames_per_scene)
    held_out = max(0.125, 1.0 / n_scenes)  # at least one scene each in val and test
    f_px = 585.0 * args.width / 640.0
    camera = CameraConfig(width_px=args.width, height_px=args.height, fx_px=f_px, fy_px=f_px)
    cfg = get_generate_preset("sds-qvga").replace(
        camera=camera, n_frames=args.frames, frames_per_scene=args.frames_per_scene, shard_size=16, seed=args.seed,
        split_fractions={"train": 1.0 - 2 * held_out, "val": held_out, "test": held_out},
    )  # fmt: skip
    log(f"generating {args.frames} frames at {args.height}x{args.width} into {folder}")
    t0 = time.perf_counter()
    generate(cfg, folder)
    (folder / "bench-options.json").write_text(json.dumps(key))
    log(f"data set done in {time.perf_counter() - t0:.0f} s")
    return folder


def epoch_logger(tag: str):
    """A training progress callback that logs each epoch's loss and validation RMSE (mm), and sensitivity steps."""

    def progress(ev: dict[str, Any]) -> None:
        if ev.get("event") == "epoch":
            log(f"{tag} epoch {ev['epoch']}: loss {ev['train_loss']:.4f}, val RMSE {ev['val_rmse_m'] * 1000:.1f} mm")
        elif ev.get("event") == "sensitivity" and (ev["done"] % 11 == 0 or ev["done"] == ev["total"]):
            log(f"{tag} sensitivity {ev['done']}/{ev['total']}")

    return progress


def shipped_float(args: argparse.Namespace, data_dir: Path) -> Path:
    """A float run folder holding the shipped model (sha256 checked against its card) and its recipe's config."""
    import tomllib

    from completion.checkpoint import PRETRAINED_DIR
    from completion.model_cards import read_card, verified_checkpoint
    from completion.train import TrainConfig
    from tofsim.provenance import write_json

    folder = args.out / "fp32"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    card = read_card(args.float_model)
    shutil.copyfile(verified_checkpoint(args.float_model), folder / "best.pt")
    recipe = tomllib.loads((PRETRAINED_DIR / card.recipe).read_text())
    cfg = TrainConfig.from_dict({**recipe, "data": str(data_dir), "device": "cpu", "cpu_threads": args.threads,
                                 "batch_size": args.batch_size, "crop_hw_px": list(args.crop)})  # fmt: skip
    write_json(folder / "config.json", {"train_config": cfg.to_dict(), "shipped": card.name})
    log(f"float32 model: shipped {card.name} (sha256 {card.sha256[:12]}...)")
    return folder


def train_float(args: argparse.Namespace, data_dir: Path) -> Path:
    """Train the float32 tofnet (or reuse the run)."""
    from completion.train import TrainConfig, fit

    folder = args.out / "fp32"
    cfg = TrainConfig(
        data=str(data_dir), model="tofnet", model_cfg={"base_width": args.base_width}, epochs=args.epochs,
        batch_size=args.batch_size, crop_hw_px=tuple(args.crop), seed=args.seed, device="cpu",
        cpu_threads=args.threads,
    )  # fmt: skip
    key = {"train_config": cfg.to_dict(), "data": json.loads((data_dir / "bench-options.json").read_text())}
    if _reuse_or_reset(folder, key, "best.pt"):
        log(f"reusing float run {folder}")
        return folder
    log(f"training float32 tofnet for {args.epochs} epochs into {folder}")
    t0 = time.perf_counter()
    fit(cfg, folder, progress=epoch_logger("fp32"))
    (folder / "bench-options.json").write_text(json.dumps(key))
    log(f"float training done in {time.perf_counter() - t0:.0f} s")
    return folder


def finetune_float(args: argparse.Namespace, float_dir: Path, dataset: Any) -> Path:
    """Control: the float model fine-tuned exactly like QAT (same epochs and learning rate) without quantizers.

    QAT continues training a short float run, so part of a quantized model's change in RMSE is extra training;
    the change vs this control isolates the quantization.
    """
    from completion.checkpoint import load_model
    from completion.quant.api import QAT_LR_FACTOR
    from completion.train import TrainConfig, fit

    folder = args.out / "fp32-finetuned"
    if folder.exists():
        shutil.rmtree(folder)
    base = RunFolder.at(float_dir).train_config()
    cfg = TrainConfig.from_dict({**base, "epochs": args.qat_epochs, "lr": base["lr"] * QAT_LR_FACTOR})
    log(f"control: float fine-tune for {args.qat_epochs} epochs into {folder}")
    fit(cfg, folder, dataset=dataset, model=load_model(float_dir), progress=epoch_logger("fp32-ft"))
    return folder
