#!/usr/bin/env python3
"""Write docs/model-cards.md from the JSON model cards in completion/pretrained/ (the cards are the source).

Usage: .venv/bin/python scripts/model_cards_md.py [--out docs/model-cards.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from completion.model_cards import shipped_cards

HEADER = """# Model cards of the shipped models

Generated from `completion/pretrained/<name>.json` by `scripts/model_cards_md.py`; the JSON cards are the
source. `completion models` lists the models with their test RMSE; `completion predict --model NAME` runs one;
loading checks the file's sha256 against its card and refuses a file that differs. The training data, the
recipes and the commands are in `scripts/train_shipped.sh` (resumable), `scripts/ship_all.sh` and
`scripts/evaluate_shipped.py`. Test sets: freshly generated `sds` rooms (a seed no model trained on) and the real
7-Scenes redkitchen frames (a test set: never trained, tuned or selected on).
"""


def _metrics_table(name: str, test_metrics: dict) -> list[str]:
    lines = []
    for test_set, rows in test_metrics.items():
        methods = {k: v for k, v in rows.items() if isinstance(v, dict)}
        lin = (methods.get("linear") or {}).get("rmse")
        lines += [f"**{test_set}** ({rows.get('frames', '?')} frames, `{rows.get('command', '')}`, "
                  f"{rows.get('date', '')}):", "", "| method | RMSE mm | MAE mm | d1 | RMSE / linear |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for method, r in methods.items():
            ratio = f"{r['rmse'] / lin:.3f}" if lin else "-"
            label = f"**{method}**" if method == name else method
            lines.append(f"| {label} | {1000 * r['rmse']:.1f} | {1000 * r['mae']:.1f} | {r['d1']:.4f} | {ratio} |")
        lines.append("")
    return lines


def main() -> None:
    """Render every card."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/model-cards.md"))
    args = ap.parse_args()
    lines = [HEADER]
    for card in shipped_cards():
        wall = f"{card.wall_time_s / 60:.0f} min" if card.wall_time_s else "not recorded"
        lines += [
            f"## {card.name}",
            "",
            card.summary,
            "",
            f"- file: `completion/pretrained/{card.name}.pt`, sha256 `{card.sha256}`",
            f"- weights: {card.weights_mb:.3f} MB as stored" if card.weights_mb else "- weights: not recorded",
            f"- parent: `{card.parent}`" if card.parent else "- parent: none (trained from scratch)",
            f"- data: `{card.data.get('command', '')}` (seed {card.data.get('seed')}, {card.data.get('frames')} "
            f"frames, {card.data.get('splits', '')})",
            f"- recipe: `completion/pretrained/{card.recipe}`; seed {card.seed}",
            *[f"- command: `{c}`" for c in card.commands],
            f"- wall time: {wall}; machine: {card.machine}",
            f"- checkpoint: {card.checkpoint}",
            "",
            *_metrics_table(card.name, card.test_metrics),
        ]
    args.out.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
