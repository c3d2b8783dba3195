"""NLSPN's official checkpoints (zzangjinsun/NLSPN_ECCV20) loaded into our `nlspn`.

The official ``main.py`` saves ``torch.save({"net": net.module.state_dict(), "args": args, ...})`` and loads
``checkpoint["net"]``. Its `NLSPNModel` has our attribute names one to one (see `completion.models.nlspn`), plus
three constant tensors its deformable-convolution propagation needs and our ``grid_sample`` propagation does not:
``prop_layer.w`` (ones), ``prop_layer.b`` (zeros) and ``prop_layer.w_conf`` (ones). They are checked and dropped.
A ``module.`` prefix (a state dict saved from a DataParallel / DDP wrapper) is stripped.

The model's config comes from the checkpoint's ``args`` (an ``argparse.Namespace``) where present:
``network`` -> ``encoder``, ``prop_time`` -> ``num_iters``, ``affinity_gamma``, ``preserve_input``,
``conf_prop``, ``legacy``; and ``confidence_at="offset"``, the official sampling of the confidence. The ECCV20
code that trained the released models had no ``--legacy`` flag and sampled with the legacy geometry, so ``args``
without ``legacy`` give ``legacy=True`` (the README's ``--legacy`` for those checkpoints). ``width`` is read
from the weights (64 in every official model). Keyword overrides win over both (e.g. ``preserve_input=True``,
which the README passes at test time).

RGB: the official loaders normalise RGB with ImageNet mean and std before the network; our `Nlspn` does the same
inside (``normalize_rgb=True``), so it takes RGB in [0, 1] as every `completion` model does.

Example:
    >>> model = load_official_nlspn("NLSPN_NYU.pt", preserve_input=True)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from completion import models
from completion.errors import ConfigError, InputFileError
from completion.models.nlspn import Nlspn

__all__ = [
    "OFFICIAL_CONSTANTS",
    "config_from_official",
    "is_official_checkpoint",
    "load_official_nlspn",
    "load_official_state_dict",
    "official_state_dict",
]

#: Tensors of the official propagation layer that hold a constant (and are not in our model).
OFFICIAL_CONSTANTS = {"prop_layer.w": 1.0, "prop_layer.b": 0.0, "prop_layer.w_conf": 1.0}
#: official ``args`` attribute -> our `NlspnConfig` field.
_ARGS_TO_CONFIG = {
    "network": "encoder",
    "prop_time": "num_iters",
    "affinity_gamma": "affinity_gamma",
    "preserve_input": "preserve_input",
    "conf_prop": "conf_prop",
    "legacy": "legacy",
}
_SHOWN = 3


def is_official_checkpoint(payload: Any) -> bool:  # noqa: ANN401
    """True for a dict in the official layout: a ``net`` state dict and no tofbench ``format`` key."""
    return isinstance(payload, Mapping) and isinstance(payload.get("net"), Mapping) and "format" not in payload


def official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official state dict with ``module.`` prefixes stripped and the constant tensors dropped.

    Raises:
        ConfigError: a constant tensor that does not hold its constant (not an NLSPN checkpoint).
    """
    out = {}
    for key, value in state_dict.items():
        name = key.removeprefix("module.")
        if name in OFFICIAL_CONSTANTS:
            if not torch.all(torch.as_tensor(value) == OFFICIAL_CONSTANTS[name]):
                raise ConfigError(f"{name} should hold {OFFICIAL_CONSTANTS[name]} everywhere in an NLSPN checkpoint")
            continue
        out[name] = value
    return out


def config_from_official(args: Any, state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:  # noqa: ANN401
    """`NlspnConfig` fields from the official ``args`` (a Namespace, a dict or None) and the weights.

    Raises:
        ConfigError: an affinity other than TGASS or a propagation kernel other than 3 (not implemented here).
    """
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    if given.get("affinity", "TGASS") != "TGASS":
        raise ConfigError(f"NLSPN affinity {given['affinity']!r} is not implemented here (only TGASS)")
    if int(given.get("prop_kernel", 3)) != 3:
        raise ConfigError(f"NLSPN prop_kernel {given['prop_kernel']} is not implemented here (only 3)")
    # the official code after its 2021 fix reads a neighbour's confidence at p + o_k ("offset"); with legacy=True
    # the legacy geometry applies whatever confidence_at says
    cfg: dict[str, Any] = {"confidence_at": "offset"}
    cfg.update({ours: given[theirs] for theirs, ours in _ARGS_TO_CONFIG.items() if theirs in given})
    if given and "legacy" not in given:
        cfg["legacy"] = True  # the ECCV20 code had no --legacy flag and its geometry is the legacy one
    sd = official_state_dict(state_dict)
    if "conv1_dep.0.weight" in sd:
        cfg["width"] = 4 * int(sd["conv1_dep.0.weight"].shape[0])
    return cfg


def _first(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOWN]) + (f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def load_official_state_dict(model: Nlspn, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy an official NLSPN state dict into `model` (keys must match one to one after `official_state_dict`).

    Raises:
        ConfigError: keys that do not match (naming the first missing and unexpected ones) or a shape that differs.
    """
    if not isinstance(model, Nlspn):
        raise ConfigError(f"an NLSPN checkpoint loads into an Nlspn model, got {type(model).__name__}")
    sd = official_state_dict(state_dict)
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        parts = ([f"missing {_first(missing)}"] if missing else []) + (
            [f"unexpected {_first(unexpected)}"] if unexpected else []
        )
        raise ConfigError(
            f"checkpoint keys do not match NLSPN ({model.cfg.encoder}, width {model.cfg.width}, "
            f"conf_prop={model.cfg.conf_prop}): {'; '.join(parts)}"
        )
    for key, value in sd.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ConfigError(f"{key} has shape {tuple(value.shape)}, NLSPN expects {tuple(own[key].shape)}")
    full = {k: sd.get(k, own[k]) for k in own}  # an old BN without num_batches_tracked keeps ours
    model.load_state_dict(full, strict=True)


def load_official_nlspn(
    checkpoint: str | Path | Mapping[str, Any],
    *,
    map_location: str | torch.device = "cpu",
    **overrides: Any,  # noqa: ANN401
) -> Nlspn:
    """Build our `nlspn` from an official NLSPN checkpoint (a file, or its loaded dict), in eval mode.

    Args:
        checkpoint: the ``.pt`` file, or the dict ``torch.load`` gives (``{"net": ..., "args": ...}``).
        map_location: where tensors are loaded.
        **overrides: `NlspnConfig` fields that win over the checkpoint's ``args``.

    Returns:
        An `Nlspn` (registered name ``nlspn``) holding the checkpoint's weights.

    Raises:
        InputFileError: a missing or unreadable file, or one not in the official layout.
        ConfigError: keys or shapes that do not match (naming the first missing and unexpected keys), an
            unsupported affinity or kernel, or a bad override.
    """
    source = ""
    if not isinstance(checkpoint, Mapping):
        source = f"{checkpoint}: "
        path = Path(checkpoint)
        if not path.is_file():
            raise InputFileError(f"checkpoint not found: {path}")
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means an unusable file
            raise InputFileError(f"cannot read checkpoint {path}: {err}") from None
    if not is_official_checkpoint(checkpoint):
        raise InputFileError(f"{source}not an official NLSPN checkpoint (expected a dict with a 'net' state dict)")
    state_dict = checkpoint["net"]
    cfg = {**config_from_official(checkpoint.get("args"), state_dict), **overrides}
    try:
        model = models.create("nlspn", **cfg)
        load_official_state_dict(model, state_dict)
    except ConfigError as err:
        raise ConfigError(f"{source}{err}") from None
    return model.eval()
