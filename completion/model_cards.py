"""Model cards of the shipped pretrained checkpoints: ``completion/pretrained/<name>.json`` beside ``<name>.pt``.

A card says how the weights were made and what they score: the data (generator command, preset, seed), the
recipe (a TOML file in ``completion/pretrained/recipes/``), the exact commands, seed, wall time and machine,
test metrics on splits no model trained on, and the sha256 of the ``.pt`` file. `verified_checkpoint` refuses a
file whose sha256 differs from its card, so a half-copied or replaced file never predicts silently.

Example:
    >>> from completion.model_cards import read_card
    >>> card = read_card("tofnet-sds")  # doctest: +SKIP
    >>> card.test_rmse_m("synthetic")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from completion.errors import InputFileError
from tofsim.provenance import write_json

__all__ = ["ModelCard", "file_sha256", "read_card", "shipped_cards", "verified_checkpoint", "write_card"]

#: Folder of the shipped checkpoints and their cards.
CARDS_DIR = Path(__file__).resolve().parent / "pretrained"


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """What a shipped checkpoint is and how it was made (the JSON card, key for key).

    Attributes:
        name: the pretrained name (``completion predict --model NAME``).
        summary: one line for ``completion models``.
        sha256: hex digest of ``<name>.pt``.
        data: how the training data were made: ``command``, ``preset``, ``seed``, ``frames``, ``splits``.
        recipe: path of the training recipe relative to ``completion/pretrained/`` (a TOML TrainConfig).
        commands: the exact commands that produced the checkpoint, in order.
        seed: training seed.
        wall_time_s: training (or quantization) wall time in seconds.
        machine: where it was trained (CPU model, cores, SIMD flags or GPU).
        checkpoint: which epoch was kept and why.
        test_metrics: per test set (e.g. ``synthetic``, ``7scenes-redkitchen``) the metrics of this model and of
            the classical baselines on the same frames (metres), plus ``command`` that measured them.
        parent: the float model a quantized one was made from (None for float models).
        weights_mb: weight storage in MB at the model's bit widths (`completion.quant.memory`), when known.
    """

    name: str
    summary: str
    sha256: str
    data: dict[str, Any] = field(default_factory=dict)
    recipe: str | None = None
    commands: list[str] = field(default_factory=list)
    seed: int = 0
    wall_time_s: float | None = None
    machine: str = ""
    checkpoint: str = ""
    test_metrics: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    weights_mb: float | None = None

    def test_rmse_m(self, test_set: str) -> float | None:
        """This model's RMSE in metres on `test_set`, or None when the card has none."""
        return (self.test_metrics.get(test_set, {}).get(self.name) or {}).get("rmse")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(name: str, cards_dir: Path = CARDS_DIR) -> ModelCard:
    """The card of pretrained `name`.

    Raises:
        InputFileError: no card, or a card that is not valid JSON or misses required keys.
    """
    path = cards_dir / f"{name}.json"
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path}: model card not found") from None
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: not valid JSON ({err})") from None
    try:
        return ModelCard(**values)
    except TypeError as err:
        raise InputFileError(f"{path}: not a model card ({err})") from None


def write_card(card: ModelCard, cards_dir: Path = CARDS_DIR) -> Path:
    """Write ``<name>.json`` atomically (sorted keys, 2-space indent) and return its path."""
    values = {k: getattr(card, k) for k in card.__dataclass_fields__}
    return write_json(cards_dir / f"{card.name}.json", values, what="model card")


def shipped_cards(cards_dir: Path = CARDS_DIR) -> list[ModelCard]:
    """Every card in `cards_dir`, sorted by name."""
    return [read_card(p.stem, cards_dir) for p in sorted(cards_dir.glob("*.json"))]


def verified_checkpoint(name: str, cards_dir: Path = CARDS_DIR) -> Path:
    """The path of ``<name>.pt`` after checking its sha256 against the card.

    Raises:
        InputFileError: no card, no file, or a sha256 that differs from the card's (one line naming the file).
    """
    card = read_card(name, cards_dir)
    path = cards_dir / f"{name}.pt"
    if not path.is_file():
        raise InputFileError(f"pretrained model {name!r} is not installed (expected {path})")
    digest = file_sha256(path)
    if digest != card.sha256:
        raise InputFileError(
            f"{path}: sha256 {digest[:12]}... does not match its model card ({card.sha256[:12]}...); "
            "the file is damaged or was replaced: reinstall the package"
        )
    return path
