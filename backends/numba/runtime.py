"""What every hand-written kernel shares: Numba options and huge-page allocation.

Its own module so that :mod:`.kernels` and :mod:`.image` both build on it without importing each other.
"""
from __future__ import annotations

import sys

import numba
import numba.extending
import numpy as np
from llvmlite import ir
from numba.core import cgutils

_JIT = dict(cache=True, nogil=True, error_model="numpy")
jit = numba.njit(**_JIT)

# -- memory ----------------------------------------------------------------------------------------
# A fresh 64 MB array costs 16,384 first-touch page faults; glibc mmaps every block over 32 MB afresh,
# so a program returning one pays them on every call (W0: 37 ms, of which 27 ms faults).  numpy asks the
# kernel for transparent huge pages on blocks of 4 MB and more (512x fewer faults); Numba's allocator does
# not, so every large array a program allocates goes through ``advise`` (W0: 37 -> 11 ms here).

HUGE_MIN = 1 << 22          # bytes: numpy's threshold for the same advice
_HUGE_PAGE = 1 << 21
_MADV_HUGEPAGE = 14          # Linux only; elsewhere ``advise`` does nothing
# ... and populated up front: two threads first-touching the same fresh block under prange took 70-90 ms on
# some calls instead of 7 (W0, about 1 call in 15); populated first, 11 ms with no outlier in 120 calls.
_MADV_POPULATE_WRITE = 23


@numba.extending.intrinsic
def _madvise(typingctx, addr, length, advice):
    """madvise(addr, length, advice), linked by symbol name so cached code stays valid."""
    def codegen(context, builder, signature, args):
        vp = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [vp, ir.IntType(64), ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "madvise")
        return builder.call(fn, [builder.inttoptr(args[0], vp), args[1], args[2]])
    return numba.types.int32(numba.types.uintp, numba.types.uintp, numba.types.int32), codegen


_LINUX = sys.platform.startswith("linux")


@jit
def advise(a):
    """``a`` itself; when it spans at least HUGE_MIN bytes, its whole 2 MB pages are advised as huge pages
    and mapped in (zeroed by the kernel in one call rather than one fault per page)."""
    nbytes = a.size * a.itemsize
    if _LINUX and nbytes >= HUGE_MIN:
        p = a.ctypes.data
        lo = (p + (_HUGE_PAGE - 1)) & ~numba.uintp(_HUGE_PAGE - 1)
        hi = (p + nbytes) & ~numba.uintp(_HUGE_PAGE - 1)
        if hi > lo:
            _madvise(lo, hi - lo, np.int32(_MADV_HUGEPAGE))
            _madvise(lo, hi - lo, np.int32(_MADV_POPULATE_WRITE))    # EINVAL before Linux 5.14: harmless
    return a
