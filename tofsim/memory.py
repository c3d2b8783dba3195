"""Process-wide allocator setting for long generation runs (glibc only).

Every simulated frame allocates ~10 MB of fresh arrays (dense maps, the sparse map, encoded chunks) that live
until their shard is written. By default glibc serves blocks of that size with ``mmap`` and returns freed heap
tops to the OS, so each frame's arrays start as untouched pages: ~1,500 page faults and ~5 ms of kernel time per
VGA frame, measured. Keeping freed memory for reuse removes nearly all of it; the cost is that the process keeps
its peak heap (a couple of shards of frames) until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks up to 32 MB instead of unmapping them (once per process).

    Returns:
        True when the setting was applied (now or earlier), False where the C library does not support it.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # 32 MB is glibc's largest mmap threshold; a 1 GB trim threshold keeps freed heap tops for reuse.
    _done = bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _done
