"""Keep freed memory in the process instead of handing it back to the kernel after every call.

glibc serves blocks of 128 KB and more (a threshold it raises as blocks are freed, up to 32 MB) with a
fresh ``mmap`` and trims the heap's free top once it exceeds twice that threshold.  A training step
allocates and frees the same intermediates on every call, so each call re-maps them, and every 4 KB page
costs a page fault on first touch: 1.6 us per page measured on these VMs (6.4 MB: 2.6 ms).  The MNIST CNN
step took about 5,000 such faults per call, 17 ms of its 113 ms.

``tune`` sets glibc up the way allocators built for this (jemalloc, tcmalloc) behave: every block comes
from the heap (no per-block ``mmap``, whatever its size), and up to ``TRIM_BYTES`` of free heap top is kept
for the next call.  W0 (a 64 MB result per call, which glibc always maps afresh above 32 MB, even advised as
huge pages) went 12-13 -> 4.0-4.5 ms.  The price is the allocator's usual one: memory a program frees stays
with the process for reuse instead of going back to the system.  The settings are process-wide (glibc has
no per-library ones), so ``FLOWC_MALLOC=system`` leaves glibc's defaults alone.
"""
from __future__ import annotations

import ctypes
import os
import platform

from flowc.ir.types import FlowcError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
MMAP_BYTES = 32 << 20           # glibc's own ceiling for its moving threshold (moot while M_MMAP_MAX is 0)
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
            applied = all(mallopt(k, v) for k, v in ((M_MMAP_THRESHOLD, MMAP_BYTES), (M_MMAP_MAX, 0),
                                                     (M_TRIM_THRESHOLD, TRIM_BYTES)))
    _DONE.append(applied)
    return applied
