"""Thread budget: where it comes from, what the raycaster gets, and that it never changes a rendered frame."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tofsim import threads
from tofsim.camera import Intrinsics
from tofsim.config import get_generate_preset
from tofsim.render import Renderer
from tofsim.rng import sample_rng
from tofsim.scene import generate_room, sample_camera_poses


@pytest.fixture(autouse=True)
def _no_override():
    threads.set_thread_budget(None)
    yield
    threads.set_thread_budget(None)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_budget_from_environment_and_override(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.thread_budget() == _cores()
    assert threads.raycast_threads() == 0  # the whole machine: Open3D's automatic choice
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.thread_budget() == 1
    assert threads.raycast_threads() == (0 if _cores() == 1 else 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")
    assert threads.thread_budget() == _cores()
    threads.set_thread_budget(1)  # the Dask task's setting wins over the environment
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert threads.thread_budget() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2"])
def test_bad_budget_is_refused(bad):
    with pytest.raises(ValueError, match="positive integer"):
        threads.set_thread_budget(bad)


def test_one_thread_renders_the_same_frame_as_every_core():
    cfg = get_generate_preset("sds")
    scene = generate_room(cfg.room, rng=sample_rng(3, 0, "scene"))
    intr = Intrinsics.from_fov(320, 240, 57.0)
    (pose,) = sample_camera_poses(scene, intr, 1, rng=sample_rng(3, 0, "camera"))
    renderer = Renderer(scene)
    full = renderer.render(intr, pose)
    threads.set_thread_budget(1)
    single = renderer.render(intr, pose)
    for name in ("depth_m", "range_m", "normals_cam", "albedo", "rgb"):
        np.testing.assert_array_equal(getattr(single, name), getattr(full, name), err_msg=name)
    # a room: most rays hit (pose sampling keeps >= half; windows open onto nothing)
    assert np.count_nonzero(full.depth_m) > 0.5 * full.depth_m.size
