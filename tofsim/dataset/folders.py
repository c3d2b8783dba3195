"""Output folders: create and probe one (`prepare_output_dir`), hold it against a second run (`folder_lock`).

Files inside them are published by `tofsim.provenance.atomic_path`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tofsim.errors import OutputError

__all__ = ["prepare_output_dir", "folder_lock"]


def prepare_output_dir(out_dir: Path) -> bool:
    """Create `out_dir` if needed and check that it is writable; return True if this call created it.

    Raises:
        OutputError: if the path is a file, or the folder cannot be created or written.
    """
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output folder {out_dir} exists and is not a folder; choose another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write to output folder {out_dir}: {err.strerror or err}") from None
    return created


@contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder `out_dir` itself for the block (POSIX ``flock`` on its descriptor).

    Two runs writing into one folder would each (re)write shards the other is writing and publish a manifest
    over the other's. The lock is on the folder, not on a file in it, so nothing is left behind; it is released
    when the block ends or the process dies. Where ``flock`` does not exist (Windows) the block runs unlocked.

    Raises:
        OutputError: another process holds the lock (a run is writing into this folder now).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{out_dir}: another run is writing into this folder now; wait for it to finish or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
