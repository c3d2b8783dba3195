"""How many cores this process may use for one frame: the raycaster's threads and the kernels' halves.

A process that owns the machine (an in-process ``tofsim generate``) uses every core it may run on. A Dask worker
owns only its share: with ``threads_per_worker=1`` it must use one core, or two workers on two cores each start
two raycasting threads and take turns on the cores instead of running side by side (measured: 2 workers were
1.3x one worker with Open3D's automatic threading, ~1.9x with one raycasting thread each).

The budget is, in order: a value set with `set_thread_budget` (the Dask task sets its worker's thread count), else
``OMP_NUM_THREADS`` when it holds a positive integer (local Dask workers get 1), else the process's CPU affinity.
"""

from __future__ import annotations

import os

__all__ = ["thread_budget", "raycast_threads", "set_thread_budget"]

_override: int | None = None


def set_thread_budget(threads: int | None) -> None:
    """Set this process's thread budget (None: back to ``OMP_NUM_THREADS`` / the CPU affinity).

    Raises:
        ValueError: `threads` is not None or a positive integer.
    """
    global _override
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive integer or None, got {threads!r}")
    _override = threads


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_budget() -> int:
    """Cores this process may use (>= 1); see the module docstring for where the number comes from."""
    if _override is not None:
        return _override
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _cores()


def raycast_threads() -> int:
    """``nthreads`` for Open3D's ``cast_rays``: 0 (Open3D's automatic choice, every core) without a limit."""
    budget = thread_budget()
    return 0 if budget >= _cores() else budget
