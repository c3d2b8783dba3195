"""Per-sample random generators: output depends only on (global seed, sample index, stage).

Every sampling function takes ``rng: np.random.Generator`` explicitly; nothing here touches global state.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["sample_rng", "stage_rng"]


def _stage_key(stage: str) -> int:
    # crc32 is stable across processes and Python versions, unlike hash().
    return zlib.crc32(stage.encode("utf-8"))


def sample_rng(seed: int, index: int, stage: str) -> np.random.Generator:
    """The generator for one stage ("scene", "camera", "noise", ...) of sample `index`.

    Args:
        seed: global seed of the run (0 is a valid seed).
        index: global sample index (not the index inside a shard).
        stage: name of the sub-stream; different stages get independent streams.

    Returns:
        A fresh `numpy.random.Generator` (PCG64).
    """
    if seed is None or index is None:
        raise ValueError("seed and index are required")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), _stage_key(stage)]))


def stage_rng(rng: np.random.Generator, stage: str) -> np.random.Generator:
    """Derive an independent child generator for a sub-stage from an existing generator (deterministic)."""
    child_seed = rng.integers(0, 2**63 - 1, dtype=np.int64)
    return np.random.default_rng(np.random.SeedSequence([int(child_seed), _stage_key(stage)]))
