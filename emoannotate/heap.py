"""The process's heap: freed pages handed back to the system, so memory stays flat in video length."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim(0)).

    Frames, crops and features are freed after each task and batch, but glibc keeps the
    pages of freed blocks below its (growing) mmap threshold, so a process that has
    decoded many windows holds more than one that has decoded a few: a worker grew from
    1022 to 1079 MB over 96 windows, and stayed at 927-935 MB trimmed after each task
    (docs/BENCHMARKS.md), no slower. Extraction trims after each window as well: a task
    of 16 windows otherwise ends 60-80 MB over what it holds (the frames, the detector's
    and the features' temporaries of every window before). A no-op where there is no
    malloc_trim.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
