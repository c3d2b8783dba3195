"""Model registry: `create(name, **cfg)`, `names()`, `default_config(name)`.

Every model is an `nn.Module` with `forward(batch: dict[str, Tensor]) -> Tensor` giving depth in metres,
(B, 1, H, W) float32, for any H, W. Batch keys (made by `completion.data`): `rgb` (B,3,H,W) in [0, 1], `sparse`
(B,1,H,W) m (0 = no spot), `mask` (B,1,H,W) {0,1}, `prefill` (B,1,H,W) m, `dist` (B,1,H,W) px, `K` (B,3,3).
Each model reads only what it needs, and has `model.name` and `model.config` (a JSON-serialisable dict with which
`create(model.name, **model.config)` rebuilds it). See docs/models.md.

Example:
    >>> from completion import models
    >>> net = models.create("tofnet", base_width=8)
    >>> net.name, net.config["base_width"]
    ('tofnet', 8)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from completion.baselines import IpBasicConfig
from completion.errors import ConfigError
from completion.models.baselines import NoConfig, make_ipbasic, make_linear, make_nearest
from completion.models.config import config_from_kwargs
from completion.models.cspn import Cspn, CspnConfig
from completion.models.nlspn import Nlspn, NlspnConfig, load_torchvision_resnet
from completion.models.tofnet import TofNet, TofNetConfig

__all__ = ["MODELS", "ModelEntry", "create", "default_config", "load_torchvision_resnet", "names"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its config class, the defaults this entry changes, and the builder."""

    config_cls: type
    overrides: dict[str, Any]
    build: Callable[[Any], nn.Module]
    summary: str


MODELS: dict[str, ModelEntry] = {
    "tofnet": ModelEntry(
        TofNetConfig, {}, TofNet, "the paper's compact U-Net correcting a dense fill of the spots (linear by default)"
    ),
    "nlspn": ModelEntry(NlspnConfig, {}, Nlspn, "NLSPN (ECCV 2020), ResNet-34 encoder, 18 propagation steps"),
    "nlspn-small": ModelEntry(
        NlspnConfig,
        {"encoder": "resnet18", "width": 16, "num_iters": 6},
        Nlspn,
        "NLSPN with a ResNet-18 encoder of width 16 and 6 propagation steps (trains on CPU)",
    ),
    "cspn": ModelEntry(
        CspnConfig, {}, Cspn, "CSPN (ECCV 2018) propagation on NLSPN's ResNet-34 encoder-decoder, 24 steps"
    ),
    "cspn-small": ModelEntry(
        CspnConfig,
        {"encoder": "resnet18", "width": 16, "num_iters": 12},
        Cspn,
        "CSPN on nlspn-small's encoder-decoder (ResNet-18, width 16), 12 propagation steps (trains on CPU)",
    ),
    "nearest": ModelEntry(NoConfig, {}, make_nearest, "nearest-neighbour fill of the spots (no training)"),
    "linear": ModelEntry(NoConfig, {}, make_linear, "linear interpolation over a Delaunay triangulation"),
    "ipbasic": ModelEntry(IpBasicConfig, {}, make_ipbasic, "IP-Basic-style morphological filler (no training)"),
}


def names() -> list[str]:
    """Sorted registered model names."""
    return sorted(MODELS)


def _entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), MODELS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; valid names: {', '.join(names())}") from None


def default_config(name: str) -> dict[str, Any]:
    """The full default config of model `name` as a dict (what `create(name)` uses).

    Raises:
        ConfigError: for an unknown name (listing the valid ones).
    """
    entry = _entry(name)
    return dataclasses.asdict(entry.config_cls(**entry.overrides))


def create(name: str, **cfg: Any) -> nn.Module:
    """Build model `name` with its default config updated by `cfg`; sets `model.name` and `model.config`.

    Raises:
        ConfigError: for an unknown name (listing the valid ones with close matches), an unknown config key
            (listing the valid keys) or an invalid value.
    """
    entry = _entry(name)
    config = config_from_kwargs(entry.config_cls, name, {**entry.overrides, **cfg})
    model = entry.build(config)
    model.name = name
    model.config = dataclasses.asdict(config)
    return model
