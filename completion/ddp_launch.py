"""Local data-parallel training without torchrun: `spawn_local` starts N processes that each run `fit`.

The primitives the training loop uses (process group, sampler, barrier, all-reduce) are in `completion.ddp`;
this launcher sits above both (``ddp`` <- ``train`` <- ``ddp_launch``), so no module imports its importer.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch

from completion.train import fit

__all__ = ["spawn_local"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, kwargs: dict[str, Any]) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(kwargs.pop("threads_per_process"))
    dump_dir = kwargs.pop("dump_dir")
    result = fit(**kwargs)
    if dump_dir is not None:
        state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
        torch.save(state, Path(dump_dir) / f"rank{rank}.pt")


def spawn_local(
    nprocs: int,
    config: Any,
    out_dir: str | Path,
    *,
    dataset: Any = None,
    resume: bool = False,
    dump_dir: str | Path | None = None,
    threads_per_process: int = 1,
) -> Path:
    """Train with `nprocs` local processes (gloo on CPU, NCCL on GPU) without torchrun.

    Args:
        nprocs: number of processes.
        config: a `completion.train.TrainConfig`.
        out_dir: run folder (written by rank 0 only).
        dataset: optional in-memory indexable of samples (pickled to every process); default ``config.data``.
        resume: continue from ``out_dir/last.pt``.
        dump_dir: if given, every rank saves its final weights to ``dump_dir/rank{r}.pt`` (for checks).
        threads_per_process: torch CPU threads in each process.

    Returns:
        The run folder.
    """
    kwargs = {
        "config": config,
        "out_dir": Path(out_dir),
        "dataset": dataset,
        "resume": resume,
        "dump_dir": dump_dir,
        "threads_per_process": threads_per_process,
    }
    torch.multiprocessing.spawn(_worker, args=(nprocs, _free_port(), kwargs), nprocs=nprocs, join=True)
    return Path(out_dir)
