"""Shared fixtures: a seeded rng, the real-data folder, temporary outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REDKITCHEN = SHARED_DATA / "7scenes-redkitchen"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def redkitchen() -> Path:
    """The real 7-Scenes frames beside the repository; the test skips with a reason when they are absent."""
    if not (REDKITCHEN / "camera-intrinsics.txt").exists():
        pytest.skip(f"real RGB-D frames not found at {REDKITCHEN} (../shared/data is provided beside the repo)")
    return REDKITCHEN
