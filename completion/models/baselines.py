"""Registry entries wrapping the numpy baselines of `completion.baselines` in the model interface.

They have no parameters and run under `torch.no_grad()`, one batch element at a time on the CPU; the output goes
back to the input's device. Batch keys read: `sparse`, `mask`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from completion.baselines import IpBasicConfig, ipbasic_depth, linear_depth, nearest_depth

__all__ = ["NumpyBaseline", "NoConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoConfig:
    """Baselines without options."""


class NumpyBaseline(nn.Module):
    """`forward(batch) -> depth (B, 1, H, W)` float32 metres from a numpy (H, W) -> (H, W) filler.

    Args:
        name: registry name.
        fn: `fn(sparse_m, mask) -> depth_m`, both (H, W).
        cfg: the frozen config dataclass (stored as `config`).
    """

    def __init__(self, name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], cfg: object) -> None:
        super().__init__()
        self.name = name
        self.fn = fn
        self.config = dataclasses.asdict(cfg)  # type: ignore[call-overload]

    @torch.no_grad()
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fill every batch element independently."""
        sparse = batch["sparse"]
        mask = batch["mask"] if "mask" in batch else (sparse > 0).float()
        sp = sparse.detach().cpu().numpy()
        mk = mask.detach().cpu().numpy() > 0.5
        out = np.stack([self.fn(sp[b, 0], mk[b, 0]) for b in range(sp.shape[0])])[:, None]
        return torch.from_numpy(out.astype(np.float32)).to(sparse.device)

    def extra_repr(self) -> str:
        """Shown in the module's repr."""
        return f"name={self.name!r}"


def make_nearest(cfg: NoConfig) -> NumpyBaseline:
    """Nearest-neighbour fill."""
    return NumpyBaseline("nearest", nearest_depth, cfg)


def make_linear(cfg: NoConfig) -> NumpyBaseline:
    """Delaunay linear interpolation."""
    return NumpyBaseline("linear", linear_depth, cfg)


def make_ipbasic(cfg: IpBasicConfig) -> NumpyBaseline:
    """IP-Basic-style morphological filler."""
    return NumpyBaseline("ipbasic", functools.partial(ipbasic_depth, cfg=cfg), cfg)
