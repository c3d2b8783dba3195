#!/usr/bin/env python3
"""Ship a finished run as a pretrained model: ``completion/pretrained/<name>.pt`` plus its model card.

Usage (the commands of scripts/train_shipped.sh record the rest of the card):
    .venv/bin/python scripts/ship_pretrained.py RUN NAME --summary "..." --recipe recipes/tofnet-sds.toml \
        --data-json runs/ship/data.json --command "completion train ..." [--parent tofnet-sds]

The checkpoint keeps the model part of the run's ``best.pt`` (no optimizer state). Wall time is the sum of the
run's per-epoch times (``metrics.csv``); the machine is this one (CPU model and SIMD flags), which must be the
one that trained. Test metrics are added later by ``scripts/evaluate_shipped.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
from pathlib import Path

import torch

from completion.checkpoint import PRETRAINED_DIR, load_checkpoint, load_model, save_checkpoint
from completion.model_cards import ModelCard, file_sha256, read_card, write_card


def machine(threads: int | None = None) -> str:
    """CPU model, core count and the SIMD flags that decide speed (AVX2 / AVX-512 / VNNI / BF16 / AMX)."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = info.get("model name") or platform.processor() or "unknown CPU"
    flags = sorted(f for f in info.get("flags", "").split() if f.startswith(("avx2", "avx512", "amx")) or f == "fma")
    return f"{model}, {threads or torch.get_num_threads()} threads, torch {torch.__version__}, flags: {' '.join(flags)}"


def wall_time_s(run: Path) -> float | None:
    """Sum of the run's per-epoch wall times (``metrics.csv``), or None without one."""
    path = run / "metrics.csv"
    if not path.is_file():
        return None
    with path.open() as f:
        return float(sum(float(r["time_s"]) for r in csv.DictReader(f) if r.get("time_s")))


def main() -> None:
    """Copy the run's best model into the package and write its card."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--summary", required=True)
    ap.add_argument("--recipe", required=True, help="path relative to completion/pretrained/")
    ap.add_argument("--data-json", type=Path, required=True, help="JSON: how the training data were made")
    ap.add_argument("--command", action="append", required=True, help="a command that made it (repeat, in order)")
    ap.add_argument("--parent", default=None, help="the float model a quantized one comes from")
    ap.add_argument("--wall-time-s", type=float, default=None, help="override the time read from metrics.csv")
    args = ap.parse_args()

    best = args.run / "best.pt"
    state = load_checkpoint(best)
    payload = {k: state[k] for k in ("format", "model_name", "model_config", "model_state", "qat_plan") if k in state}
    payload.update({k: state[k] for k in ("epoch", "metrics") if k in state})
    out = PRETRAINED_DIR / f"{args.name}.pt"
    save_checkpoint(payload, out)
    sha256 = file_sha256(out)
    config = json.loads((args.run / "config.json").read_text())
    previous = read_card(args.name) if (PRETRAINED_DIR / f"{args.name}.json").is_file() else None
    memory = args.run / "memory.json"  # a quantized run's report, at its bit widths
    if memory.is_file():
        weights_mb = json.loads(memory.read_text())["weights"]["bytes"] / 1e6
    else:
        from completion.quant.report import memory_report

        weights_mb = memory_report(load_model(args.run), height_px=8, width_px=8)["weights"]["bytes"] / 1e6
    card = ModelCard(
        name=args.name,
        summary=args.summary,
        sha256=sha256,
        data=json.loads(args.data_json.read_text()),
        recipe=args.recipe,
        commands=list(args.command),
        seed=int(config["train_config"]["seed"]),
        wall_time_s=args.wall_time_s if args.wall_time_s is not None else wall_time_s(args.run),
        machine=machine(config["train_config"].get("cpu_threads")),
        checkpoint=f"best.pt of {args.run}: epoch {state.get('epoch')} (best validation RMSE on generated frames)",
        # test metrics belong to one file: a retrained model starts without them (evaluate_shipped.py adds them)
        test_metrics=previous.test_metrics if previous is not None and previous.sha256 == sha256 else {},
        parent=args.parent,
        weights_mb=weights_mb,
    )
    print(write_card(card), card.sha256)


if __name__ == "__main__":
    main()
