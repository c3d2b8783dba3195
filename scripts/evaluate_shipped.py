#!/usr/bin/env python3
"""Score the shipped models on frames no model trained on and write the results into their model cards.

Usage: .venv/bin/python scripts/evaluate_shipped.py [--out work/eval] [--frames 24] [--real-frames 50]

Runs ``leaderboard reproduce`` with the ``shipped`` preset at a larger size: freshly generated default ``sds``
rooms at 640 x 480 (seed 20261206, never a training seed: the training data use seed 100) and the real
7-Scenes frames (Kinect depth as ground truth, spots simulated). The real frames are a test set: nothing here
trains, tunes or selects on them. Writes ``test_metrics`` (per test set: every method's headline metrics, the
command and the date) into each shipped card and prints the two Markdown tables for docs/results.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from completion.checkpoint import PRETRAINED_DIR
from completion.model_cards import read_card, write_card
from leaderboard.reproduce import reproduce
from leaderboard.reproduce.presets import SHIPPED_MODELS, get_preset
from leaderboard.reproduce.steps import DISPLAY

KEYS = ("rmse", "mae", "irmse", "imae", "rel", "d1")


def _rows(study: Path, marker: str) -> dict[str, dict[str, float]]:
    record = json.loads((study / "steps" / f"{marker}.json").read_text())
    return {r["method"]: {k: r.get(k) for k in KEYS} for r in record["summary"]["rows"]}


def _table(rows: dict[str, dict[str, float]]) -> list[str]:
    lin = rows.get("linear", {}).get("rmse")
    lines = ["| method | RMSE mm | MAE mm | d1 | RMSE / linear |", "|---|---:|---:|---:|---:|"]
    for method, r in rows.items():
        ratio = f"{r['rmse'] / lin:.3f}" if lin else "-"
        lines.append(f"| {DISPLAY.get(method, method)} | {1000 * r['rmse']:.1f} | {1000 * r['mae']:.1f} | "
                     f"{r['d1']:.4f} | {ratio} |")  # fmt: skip
    return lines


def main() -> None:
    """Score, write the cards, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("work/eval"))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--real-frames", type=int, default=50)
    ap.add_argument("--only", nargs="*", default=None, help="reproduce steps or groups to run (default: all)")
    args = ap.parse_args()
    preset = get_preset("shipped", n_frames=args.frames, realdata_frames=args.real_frames, figure_frames=(0, 8, 16))
    command = " ".join(["python scripts/evaluate_shipped.py", *sys.argv[1:]])
    reproduce(preset, args.out, command=command, only=args.only)
    tables = {"synthetic": _rows(args.out, "score"), "7scenes-redkitchen": _rows(args.out, "realdata-score")}
    when = datetime.date.today().isoformat()
    for method, name in SHIPPED_MODELS.items():
        if not (PRETRAINED_DIR / f"{name}.json").is_file():
            continue
        card = read_card(name)
        metrics = {}
        for test_set, rows in tables.items():
            renamed = {(name if m == method else m): v for m, v in rows.items()}
            metrics[test_set] = {"command": command, "date": when, "frames": args.frames if test_set == "synthetic"
                                 else args.real_frames, **renamed}  # fmt: skip
        write_card(type(card)(**{**card.__dict__, "test_metrics": metrics}))
    for test_set, rows in tables.items():
        print(f"\n### {test_set}\n")
        print("\n".join(_table(rows)))


if __name__ == "__main__":
    main()
