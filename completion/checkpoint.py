"""Checkpoint files: atomic save, checked load, and `load_model` from a run, a file or a name.

A checkpoint is a ``torch.save`` dict. Every checkpoint holds ``format``, ``model_name``, ``model_config`` and
``model_state``; a training checkpoint (``last.pt``) adds optimizer, scheduler, scaler, epoch, RNG states and the
training config. ``best.pt`` and the shipped pretrained files (``completion/pretrained/<name>.pt``) hold the
model part only, plus ``epoch`` and ``metrics``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from completion.errors import CompletionError, ConfigError, InputFileError
from completion.run_folder import BEST, LAST, RunFolder
from tofsim.provenance import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "PRETRAINED",
    "PRETRAINED_DIR",
    "create_model",
    "load_checkpoint",
    "load_model",
    "model_payload",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "tofbench-completion-checkpoint-v1"
#: Folder of the pretrained checkpoints shipped as package data.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
#: Pretrained names known to the package, with a one-line description (the files themselves may be absent);
#: each has a model card ``<name>.json`` (`completion.model_cards`, docs/model-cards.md).
PRETRAINED = {
    "tofnet-sds": "tofnet float32 trained on tofsim's procedural SDS-style rooms",
    "tofnet-sds-w8a8": "tofnet-sds quantized, 8-bit weights and activations (QAT)",
    "tofnet-sds-w4a8": "tofnet-sds quantized, 4-bit weights, 8-bit activations (QAT)",
    "tofnet-sds-w4a4": "tofnet-sds quantized, 4-bit weights and activations (QAT)",
    "tofnet-sds-wstar": "tofnet-sds quantized, mixed precision W* (>= 14x smaller weights, QAT)",
    "nlspn-small-sds": "nlspn-small trained on the same data for a comparable budget",
}


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        payload: dict to save; ``format`` is added.
        path: destination ``.pt`` file (its folder must exist).

    Returns:
        The path written.
    """
    path = Path(path)
    with atomic_path(path, what="checkpoint") as tmp, open(tmp, "xb") as fh:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, fh)
    return path


def _torch_load(path: Path, map_location: str | torch.device) -> Any:  # noqa: ANN401
    if not path.is_file():
        raise InputFileError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise InputFileError(f"cannot read checkpoint {path}: {err}") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Raises:
        InputFileError: if the file is missing, unreadable, or not a completion checkpoint.
    """
    path = Path(path)
    return _checked(_torch_load(path, map_location), path)


def _checked(payload: Any, path: Path) -> dict[str, Any]:  # noqa: ANN401
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputFileError(f"{path} is not a completion checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload


def create_model(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """Build a registered model by name (``completion.models.create``) with a CompletionError for unknown names.

    Raises:
        ConfigError: for an unknown model name (listing the valid ones) or a bad config.
    """
    from completion import models
    from tofsim.errors import RegistryError

    try:
        return models.create(name, **(config or {}))
    except RegistryError as err:
        raise ConfigError(str(err)) from None


def model_payload(model: nn.Module) -> dict[str, Any]:
    """The model part of a checkpoint: name, config and a CPU copy of the state dict."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "model_name": model.name,
        "model_config": dict(getattr(model, "config", {}) or {}),
        "model_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    if getattr(model, "qat_plan", None) is not None:  # a quantization-aware model (completion.quant.qat)
        payload["qat_plan"] = dict(model.qat_plan)
    return payload


def _model_from_payload(payload: dict[str, Any], source: Path) -> nn.Module:
    model = create_model(payload["model_name"], payload.get("model_config"))
    if payload.get("qat_plan") is not None:
        from completion.quant.qat import rebuild_qat

        model = rebuild_qat(model, payload["qat_plan"])
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise InputFileError(f"{source}: weights do not fit model {payload['model_name']!r}: {first}") from None
    model.eval()
    return model


def _trainable(model: nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def load_model(run_or_name: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model for prediction, in eval mode.

    `run_or_name` is tried, in order, as: a run folder (its ``best.pt``, else ``last.pt``); a checkpoint file
    (ours, or an official NLSPN checkpoint: `completion.models.nlspn_official`);
    a pretrained name (``completion/pretrained/<name>.pt``, e.g. ``tofnet-sds``, its sha256 checked against its
    model card); a registered model that needs no training (a baseline such as ``nearest``).

    Raises:
        InputFileError: a run folder without checkpoint, an unreadable checkpoint, or a pretrained name whose
            file is not installed or whose sha256 differs from its model card.
        CompletionError: a registered model that needs trained weights, an ``.onnx`` file (onnxruntime's, not
            torch's), or a name that is nothing of the above.
    """
    path = Path(run_or_name)
    if path.suffix == ".onnx":
        raise CompletionError(
            f"{path} is an ONNX file for onnxruntime; this needs a torch model (run folder, .pt checkpoint or "
            "pretrained name): run the file with `completion predict --runtime onnx`"
        )
    if path.is_dir():
        checkpoint = RunFolder.at(path).checkpoint()
        if checkpoint is None:
            raise InputFileError(f"run folder {path} holds no {BEST} or {LAST} checkpoint")
        return _model_from_payload(load_checkpoint(checkpoint, map_location), checkpoint)
    if path.is_file():
        from completion.models.nlspn_official import is_official_checkpoint, load_official_nlspn

        payload = _torch_load(path, map_location)
        if is_official_checkpoint(payload):  # NLSPN's own layout ({"net": ..., "args": ...})
            try:
                return load_official_nlspn(payload, map_location=map_location)
            except ConfigError as err:
                raise ConfigError(f"{path}: {err}") from None
        return _model_from_payload(_checked(payload, path), path)
    name = str(run_or_name)
    if name in PRETRAINED:
        from completion.model_cards import verified_checkpoint

        shipped = verified_checkpoint(name, PRETRAINED_DIR)
        return _model_from_payload(load_checkpoint(shipped, map_location), shipped)
    from completion import models

    if name in models.names():
        model = create_model(name)
        if _trainable(model):
            raise CompletionError(
                f"model {name!r} needs trained weights: pass a run folder or a .pt checkpoint"
                f" (pretrained: {', '.join(sorted(PRETRAINED))})"
            )
        return model.eval()
    if name.endswith(".pt") or os.sep in name:
        raise InputFileError(f"checkpoint not found: {name}")
    raise CompletionError(
        f"{name!r} is not a run folder, checkpoint file, pretrained name ({', '.join(sorted(PRETRAINED))})"
        f" or model name ({', '.join(models.names())})"
    )
