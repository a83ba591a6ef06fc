"""What every hand-written kernel shares: Numba options and huge-page allocation.

Its own module so that :mod:`.kernels` and :mod:`.image` both build on it without importing each other.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import os
import sys

import numba
import numba.core.caching
import numba.extending
import numpy as np
from llvmlite import ir
from numba.core import cgutils

# -- disk cache validity ---------------------------------------------------------------------------
# Numba keys a function's disk cache on its own source file only, but the machine code of a hand-written
# kernel includes every helper it calls, from other files (image.py's convolutions inline blas.gemm).
# Changing blas.py alone left the convolutions calling the old gemm from the cache (measured: a stale
# split gemm under multi-threaded BLAS made the W4 step 5x slower).  So the cache stamp of these modules,
# and of the programs and kernels flowc generates (which inline them too), also covers all of them.

HAND_WRITTEN = ("kernels.py", "fastmath.py", "runtime.py", "image.py", "blas.py", "microkernel.py", "vector.py",
                "epilogue.py")
_HERE = os.path.dirname(os.path.abspath(__file__))
GENERATED_HEADER = "# flowc-sha256: "      # the first line of every file flowc generates (cache.py)


@functools.lru_cache(maxsize=None)
def hand_written_digest() -> str:
    """A hash of the hand-written kernels' sources and of the BLAS they bind to (numpy's OpenBLAS or not)."""
    h = hashlib.sha256()
    for name in HAND_WRITTEN:
        with open(os.path.join(_HERE, name), "rb") as f:
            h.update(f.read())
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"))
    h.update(" ".join(sorted(os.path.basename(p) for p in libs) + [np.__version__]).encode())
    return h.hexdigest()


def _inlines_hand_written(py_file: str) -> bool:
    path = os.path.abspath(py_file)
    if os.path.dirname(path) == _HERE:
        return os.path.basename(path) in HAND_WRITTEN
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(GENERATED_HEADER)
    except OSError:
        return False


class _StampsHandWritten:
    """Mixed into Numba's source-file locators: the stamp also covers :func:`hand_written_digest`."""

    @classmethod
    def from_function(cls, py_func, py_file):
        return super().from_function(py_func, py_file) if _inlines_hand_written(py_file) else None

    def get_source_stamp(self):
        return super().get_source_stamp(), hand_written_digest()


def _install_locators():
    c = numba.core.caching
    impl = getattr(c, "CacheImpl", None) or getattr(c, "_CacheImpl", None)
    try:
        bases = [c.UserProvidedCacheLocator, c.InTreeCacheLocator, c.UserWideCacheLocator]
        classes = impl._locator_classes
    except AttributeError:          # another Numba: its own locators, keyed on each file alone
        return
    if any(issubclass(k, _StampsHandWritten) for k in classes):
        return
    classes[:0] = [type(f"FlowcStamped{b.__name__}", (_StampsHandWritten, b), {}) for b in bases]


_install_locators()

# -- slice copies ------------------------------------------------------------------------------------
# Kernels copy an array into a slice with a loop over views, never ``dst[a:b] = src``: Numba compiles an
# array-to-slice assignment with a shape-mismatch error whose message it formats at run time, and
# compiling that formatting (str and repr of ints, joins, unicode concatenation) took 3.4 s of the
# 15.6 s the first MNIST softmax step took to compile with an empty package cache (a fresh install).

# -- declared results ----------------------------------------------------------------------------------
# A hand-written kernel that returns a fresh C-contiguous array says so (:func:`returns`): a program then
# types its calls without compiling it (``link.linked``), so with an empty package cache (a fresh install)
# it compiles in a worker beside the program (``workers.py``).  The drain checks each declaration against
# what Numba compiled, so a wrong one fails the compile loudly.
RETURNS: dict[str, tuple[int, int]] = {}       # "module.qualname" -> (argument whose dtype, ndim)


def returns(ndim: int, like: int = 0):
    """Declare the kernel's result: a new C-contiguous ``ndim``-d array of argument ``like``'s dtype."""
    def mark(dispatcher):
        fn = dispatcher.py_func
        RETURNS[f"{fn.__module__}.{fn.__qualname__}"] = (like, ndim)
        return dispatcher
    return mark


_JIT = dict(cache=True, nogil=True, error_model="numpy")
jit = numba.njit(**_JIT)
# Kernels whose outer loop (the batch, for image kernels) is a prange: they run on as many threads as
# the calling thread's ``numba.get_num_threads()``, which is 1 in serial programs (blas.program_threads).
pjit = numba.njit(parallel=True, **_JIT)


@numba.njit(fastmath={"reassoc"}, **_JIT)
def add_any_order(acc, x):
    """``acc + x``, an addition LLVM may reassociate (the flag stays on it when it is inlined).

    A loop summing through it is a reduction the vectorizer splits into lanes of partial sums; a plain
    ``acc += x`` keeps IEEE order, one scalar add after another.  Float sums (reductions, fused reduce
    regions, the rows of softmax and logsumexp) accumulate through it, in float64 as before: measured on one
    core, rows of [512,1000] float32 0.28 -> 0.075 ns per element, and the picked-logit sum of softmax
    cross-entropy over [4096,1000] (one-hot times logits) 3.4 -> 0.47 ms.  Only the order of the float64
    additions changes, which this backend never promised (numpy sums pairwise)."""
    return acc + x


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
