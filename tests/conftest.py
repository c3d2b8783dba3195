"""Shared fixtures: a seeded rng, the real-data folder, temporary outputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REDKITCHEN = SHARED_DATA / "7scenes-redkitchen"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_test_worker():
    """One torch intra-op thread in each pytest-xdist worker (`make test` runs two on two cores).

    With torch's default of one thread per core in every worker, the workers' OpenMP threads take turns on the
    cores and each small tensor operation waits for a time slice: the QAT calibration's step search, thousands of
    small operations on a tiny study, ran 25-50x slower than alone (minutes instead of seconds).
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def redkitchen() -> Path:
    """The real 7-Scenes frames beside the repository; the test skips with a reason when they are absent."""
    if not (REDKITCHEN / "camera-intrinsics.txt").exists():
        pytest.skip(f"real RGB-D frames not found at {REDKITCHEN} (../shared/data is provided beside the repo)")
    return REDKITCHEN
