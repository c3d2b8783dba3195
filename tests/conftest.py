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


def _bridge_sample(index: int, h: int, w: int):
    """A synthetic `Sample` with every field filled (no rendering): depths 0.3-5 m, some invalid, ~20 spots."""
    from tofsim.frame import Sample, SpotStatus, empty_spots

    r = np.random.default_rng([42, index])
    spots = empty_spots(20)
    spots["u"], spots["v"] = r.uniform(0, w - 1, 20), r.uniform(0, h - 1, 20)
    spots["z_m"] = r.uniform(0.5, 4.0, 20)
    spots["range_m"] = spots["z_m"] * np.float32(1.01)
    spots["amplitude"], spots["sigma_m"] = r.uniform(10, 1000, 20), r.uniform(0.001, 0.02, 20)
    spots["status"] = r.integers(0, 3, 20)
    depth = r.uniform(0.3, 5.0, (h, w)).astype(np.float32)
    depth[0, :3] = 0.0
    sparse = np.zeros((h, w), np.float32)
    ok = spots["status"] == SpotStatus.VALID
    sparse[np.rint(spots["v"][ok]).astype(int), np.rint(spots["u"][ok]).astype(int)] = spots["z_m"][ok]
    pose = np.eye(4)
    pose[:3, 3] = [index, 0.5, -index]
    return Sample(
        rgb=r.integers(0, 256, (h, w, 3), dtype=np.uint8),
        depth_m=depth,
        sparse_m=sparse,
        spot_mask=sparse > 0,
        spots=spots,
        K=np.array([[20.0 + index, 0, 7.5], [0, 21.0, 5.5], [0, 0, 1]]),
        pose=pose,
        meta={"index": index, "scene_id": f"scene{index % 2}", "seed": 42},
    )


@pytest.fixture
def split_dataset(tmp_path) -> Path:
    """A 6-sample 12 x 16 tofsim dataset (one shard) with splits train [0, 2, 5] and test [1, 3, 4], val empty."""
    from tofsim.dataset import make_manifest, shard_filename, write_manifest, write_shard

    out = tmp_path / "ds"
    out.mkdir()
    samples = [_bridge_sample(i, 12, 16) for i in range(6)]
    shard = write_shard(out / shard_filename(0), samples, attrs={"seed": 42, "config_hash": "x"})
    splits = {"train": [0, 2, 5], "val": [], "test": [1, 3, 4]}
    write_manifest(out, make_manifest([shard], config={"preset": "sds"}, splits=splits, seed=42))
    return out
