"""A synthetic batch in the completion models' input format, for tracing a model's structure or memory."""

from __future__ import annotations

import torch

__all__ = ["example_batch"]


def example_batch(height_px: int, width_px: int) -> dict[str, torch.Tensor]:
    """A deterministic batch of one sample (values only need to be plausible, not real).

    Returns:
        ``rgb`` (1, 3, H, W) in [0, 1]; ``sparse``, ``prefill``, ``nearest`` (1, 1, H, W) metres in [1, 2];
        ``mask`` (1, 1, H, W) ones; ``dist`` (1, 1, H, W) pixels in [0, 1]; ``spot_status`` (1, 2, H, W) zeros
        (every spot valid); ``K`` (1, 3, 3) intrinsics in pixels.
        All float32.
    """
    g = torch.Generator().manual_seed(0)
    shape = (1, 1, height_px, width_px)
    prefill = 1.0 + torch.rand(shape, generator=g)
    return {
        "rgb": torch.rand(1, 3, height_px, width_px, generator=g),
        "sparse": prefill,
        "mask": torch.ones(shape),
        "prefill": prefill,
        "nearest": prefill,
        "dist": torch.rand(shape, generator=g),
        "spot_status": torch.zeros(1, 2, height_px, width_px),
        "K": torch.tensor([[[500.0, 0, width_px / 2], [0, 500.0, height_px / 2], [0, 0, 1]]]),
    }
