"""Keep freed memory in the process instead of handing it back to the kernel after every call.

glibc serves blocks of 128 KB and more (a threshold it raises as blocks are freed, up to 32 MB) with a
fresh ``mmap`` and trims the heap's free top once it exceeds twice that threshold.  A training step
allocates and frees the same intermediates on every call, so each call re-maps them, and every 4 KB page
costs a page fault on first touch: 1.6 us per page measured on these VMs (6.4 MB: 2.6 ms).  The MNIST CNN
step took about 5,000 such faults per call, 17 ms of its 113 ms.

``tune`` fixes glibc's thresholds the way allocators built for this (jemalloc, tcmalloc) behave: blocks
under 32 MB come from the heap, and up to ``TRIM_BYTES`` of free heap top is kept for the next call.
Blocks of 32 MB and more are still mapped afresh; ``kernels.advise`` backs those with huge pages.  The
settings are process-wide (glibc has no per-library ones), so ``FLOWC_MALLOC=system`` leaves glibc's
defaults alone.
"""
from __future__ import annotations

import ctypes
import os
import platform

from flowc.ir.types import FlowcError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_BYTES = 32 << 20           # glibc's own ceiling for its moving threshold
TRIM_BYTES = 256 << 20
_DONE: list[bool] = []


def tune() -> bool:
    """Apply the thresholds once per process (on glibc, unless FLOWC_MALLOC=system); True when applied."""
    mode = os.environ.get("FLOWC_MALLOC", "retain")
    if mode not in ("retain", "system"):
        raise FlowcError(f"FLOWC_MALLOC must be 'retain' or 'system', got {mode!r}")
    if _DONE:
        return _DONE[0]
    applied = False
    if mode == "retain" and platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
    _DONE.append(applied)
    return applied
