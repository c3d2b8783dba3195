#!/usr/bin/env python3
"""Ablation of the tofnet-sds recipe: what each change buys, every row on the same test split.

Usage: .venv/bin/python scripts/ablation.py --data work/ship/data --out work/ablation [--samples 2400]
       [--test-frames 48] [--only recipe no-rgb-aug ...] [--threads 1]

Each variant trains the shipped recipe (completion/pretrained/recipes/tofnet-sds.toml) from scratch on the first
``--samples`` training frames for one epoch (the same steps for every row), with one change. Every model and the
classical fills are then scored on the first ``--test-frames`` frames of the dataset's *test* split (rooms that no
variant trained on): per-image RMSE and MAE in mm, averaged over frames, as the leaderboard does. A finished
variant is not trained again (delete its folder to redo it). Writes ``ablation.json`` and ``ablation.md`` in --out.
Never point --data at real frames: they are a test set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from completion.augment_rgb import misregister_rgb
from completion.checkpoint import load_model
from completion.data import to_batch
from completion.train import TrainConfig, fit
from leaderboard.metrics.errors import mae, rmse
from tofsim.dataset.reader import open_dataset

RECIPE = Path("completion/pretrained/recipes/tofnet-sds.toml")

#: name -> (what changes, overrides of the recipe; "loss" and "model_cfg" merge into the recipe's tables)
VARIANTS: dict[str, tuple[str, dict]] = {
    "recipe": ("the shipped recipe, from scratch", {}),
    "no-rgb-aug": ("without camera effects, pattern overlay, RGB drop",
                   {"camera_degrade": 0.0, "pattern_prob": 0.0, "rgb_drop_prob": 0.0}),
    "no-loss-cap": ("without the prefill-error cap in the loss", {"loss": {"max_prefill_error_m": 0.0}}),
    "no-nearest-channel": ("without the (nearest - linear) channel", {"model_cfg": {"nearest_channel": False}}),
    "nearest-prefill": ("correcting the nearest fill instead of the linear one",
                        {"model_cfg": {"prefill": "nearest", "nearest_channel": False}}),
    "residual-10m": ("residual scale R = 10 m (= D_max) instead of 1 m", {"model_cfg": {"residual_scale_m": 10.0}}),
    "width-8": ("base width 8 instead of 16", {"model_cfg": {"base_width": 8}}),
    "no-grad-normal": ("L1 only: no gradient and normal terms", {"loss": {"grad_weight": 0.0, "normal_weight": 0.0}}),
    "crop-96x128": ("96 x 128 crops instead of 192 x 256 (a quarter of the pixels per step)",
                    {"crop_hw_px": [96, 128]}),
    "warm-start": ("the recipe started from the first shipped tofnet-sds (commit c55028b)",
                   {"init_from": "work/ship/init/tofnet-sds-v1.pt"}),
    "warm-start-no-rgb-aug": ("warm start, without camera effects, pattern overlay, RGB drop",
                              {"init_from": "work/ship/init/tofnet-sds-v1.pt", "camera_degrade": 0.0,
                               "pattern_prob": 0.0, "rgb_drop_prob": 0.0}),
    "v2-more": ("the shipped v2 tofnet-sds trained one more epoch on these frames (control)",
                {"init_from": "tofnet-sds"}),
    "v2-status": ("v2 warm start + the two spot-status channels (far, dropout)",
                  {"init_from": "tofnet-sds", "model_cfg": {"status_channels": True}}),
    "v2-status-l1l2": ("v2 warm start + status channels + L1+L2 depth loss",
                       {"init_from": "tofnet-sds", "model_cfg": {"status_channels": True},
                        "loss": {"depth_loss": "l1+l2"}}),
    "v2-status-shift": ("v2 warm start + status channels + RGB shifted up to 3 px against the depth",
                        {"init_from": "tofnet-sds", "model_cfg": {"status_channels": True}, "rgb_shift_px": 3}),
    "v2-status-l1l2-shift": ("v2 warm start + status channels + L1+L2 + RGB shifted up to 3 px",
                             {"init_from": "tofnet-sds", "model_cfg": {"status_channels": True},
                              "loss": {"depth_loss": "l1+l2"}, "rgb_shift_px": 3}),
}  # fmt: skip
BASELINES = ("nearest", "linear", "ipbasic")


def _config(name: str, data: Path, samples: int, threads: int) -> TrainConfig:
    base = TrainConfig.from_toml(RECIPE).to_dict()
    over = dict(VARIANTS[name][1])
    for table in ("loss", "model_cfg"):
        if table in over:
            over[table] = base[table] | over[table]
    fixed = {"data": str(data), "epochs": 1, "max_train_samples": samples, "max_val_samples": 16,
             "cpu_threads": threads, "device": "cpu"}  # fmt: skip
    values = base | {"init_from": None} | over | fixed
    return TrainConfig.from_dict(values)


@torch.no_grad()
def _score(model: torch.nn.Module, samples: list) -> dict[str, float]:
    """Per-image RMSE and MAE (mm) by the leaderboard's metric definitions, averaged over frames."""
    prefill = getattr(model, "prefill", "linear")
    per_image = []
    for s in samples:
        pred_m = model(to_batch(s, prefill=prefill))[0, 0].numpy()
        per_image.append((rmse(pred_m, s.depth_m), mae(pred_m, s.depth_m)))
    rmse_m, mae_m = np.mean(per_image, axis=0)
    return {"rmse_mm": 1000 * float(rmse_m), "mae_mm": 1000 * float(mae_m)}


def main() -> None:
    """Train the variants, score them with the baselines, write the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("work/ablation"))
    ap.add_argument("--samples", type=int, default=2400, help="training frames (one epoch) per variant")
    ap.add_argument("--test-frames", type=int, default=48)
    ap.add_argument("--test-data", type=Path, default=None, help="score on this dataset instead of --data")
    ap.add_argument("--test-split", default="test", help="split to score ('all': every frame)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help=f"variants (default all): {', '.join(VARIANTS)}")
    ap.add_argument("--extra", nargs="*", default=[], help="NAME=MODEL: also score these trained models")
    ap.add_argument("--score-only", action="store_true", help="score finished variants, train nothing")
    ap.add_argument(
        "--score-rgb-shift-px",
        type=int,
        default=0,
        help="score with each test frame's RGB shifted by up to this many px (misregistered colour)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(VARIANTS)
    for name in names:
        run = args.out / name
        if args.score_only or (run / "best.pt").is_file() and (run / "metrics.csv").is_file():
            continue
        t0 = time.time()
        fit(_config(name, args.data, args.samples, args.threads), run, resume=(run / "last.pt").is_file())
        print(f"{name}: trained in {time.time() - t0:.0f} s", flush=True)
    test = open_dataset(args.test_data or args.data, None if args.test_split == "all" else args.test_split)
    samples = [test[i] for i in range(min(args.test_frames, len(test)))]
    if args.score_rgb_shift_px:  # a fixed draw per frame, the same for every row
        samples = [dataclasses.replace(s, rgb=misregister_rgb(np.asarray(s.rgb), args.score_rgb_shift_px,
                                                             np.random.default_rng(i)))
                   for i, s in enumerate(samples)]  # fmt: skip
    rows = {b: _score(load_model(b), samples) | {"what": "classical fill"} for b in BASELINES}
    for name in names:
        if (args.out / name / "best.pt").is_file():
            rows[name] = _score(load_model(args.out / name), samples) | {"what": VARIANTS[name][0]}
    for item in args.extra:
        label, model = item.split("=", 1)
        rows[label] = _score(load_model(model), samples) | {"what": f"model {model}"}
    lin = rows["linear"]
    lines = [
        "| variant | what changes | RMSE mm | MAE mm | RMSE / linear | MAE / linear |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['what']} | {r['rmse_mm']:.1f} | {r['mae_mm']:.1f} | "
                     f"{r['rmse_mm'] / lin['rmse_mm']:.3f} | {r['mae_mm'] / lin['mae_mm']:.3f} |")  # fmt: skip
    record = {"command": " ".join(["python scripts/ablation.py", *sys.argv[1:]]), "data": str(args.data),
              "test_data": str(args.test_data or args.data), "test_split": args.test_split,
              "samples": args.samples, "test_frames": len(samples), "score_rgb_shift_px": args.score_rgb_shift_px,
              "rows": rows}  # fmt: skip
    (args.out / "ablation.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
