"""Multi-process data-parallel training (DistributedDataParallel): gloo on CPU, NCCL on GPU.

`completion.train.train` is DDP-aware: started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) it joins the process group, shards each epoch with a
`DistributedSampler` seeded by (seed, epoch), averages gradients across processes, and only rank 0 validates and
writes files::

    torchrun --nproc_per_node 2 -m completion.cli train --data DIR --model tofnet --out RUN

`completion.ddp_launch.spawn_local` starts the same on one machine without torchrun (used by the tests, handy for
CPU debugging).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "all_reduce_sum", "barrier", "init_from_env", "make_sampler", "wrap_model"]


@dataclass(frozen=True, kw_only=True)
class DistInfo:
    """Where this process stands in a (possibly trivial) process group.

    Attributes:
        rank: global rank (0 writes files).
        world_size: number of processes (1 = no DDP).
        local_rank: rank on this node (selects the GPU).
        owns_group: True when `init_from_env` created the process group (and `shutdown` should destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when gradients are averaged across more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that validates and writes files."""
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment variables, if there is one.

    Args:
        device_type: ``"cuda"`` (NCCL backend) or ``"cpu"`` (gloo backend).

    Returns:
        A `DistInfo`; ``world_size == 1`` when ``WORLD_SIZE`` is unset or 1 and no group exists.
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per process, before NCCL starts
    dist.init_process_group(backend=backend)
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        owns_group=True,
    )


def shutdown(info: DistInfo) -> None:
    """Destroy the process group if `init_from_env` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """Wrap `model` in DistributedDataParallel when there is more than one process (else return it)."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def make_sampler(dataset: Any, info: DistInfo, *, seed: int, shuffle: bool) -> torch.utils.data.DistributedSampler:
    """A sampler whose permutation depends only on (seed, epoch); each rank gets its own shard.

    With one process it is a plain seeded shuffle, so single- and multi-process runs share one code path.
    """
    return torch.utils.data.DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=False
    )


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum a few floats over all processes (identity with one process)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op with one process)."""
    if info.enabled:
        dist.barrier()
