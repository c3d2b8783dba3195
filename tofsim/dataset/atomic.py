"""Atomic file publication: write under a temporary name in the same folder, then `os.replace`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tofsim.errors import OutputError, TofsimError

__all__ = ["atomic_path", "fsync_file"]


@contextmanager
def atomic_path(path: Path, *, what: str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds, rename it over `path`.

    On any error the temporary file is removed and `path` is left as it was. Operating-system errors become
    one `OutputError` naming `path` and `what` was being written; other errors propagate unchanged.

    Example:
        >>> with atomic_path(Path("out/manifest.json"), what="manifest") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except TofsimError:
        raise
    except OSError as e:
        raise OutputError(f"{path}: cannot write {what} ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk (before it is published by rename)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
