"""Matrix products through numpy's own OpenBLAS rather than the one Numba's ``np.dot`` calls.

Numba's ``np.dot`` calls scipy's BLAS (``scipy.linalg.cython_blas``); the numpy wheels bundle a newer
OpenBLAS (0.3.31 against scipy's 0.3.30 here) with small-matrix sgemm kernels.  Measured on these 2-core
VMs, same shapes, same process: [8,9216]x[9216,4096] 14.9 vs 19.1 ms, [64,3136]x[3136,1024] 3.2 vs 7.8 ms,
[128,1024]x[1024,1024] 1.7 vs 3.6 ms -- the fully connected layers of AlexNet, the MNIST CNN and the W4 MLP.

Generated code calls the symbols ``flowc_cblas_sgemm``/``flowc_cblas_dgemm`` (cblas row-major signature,
64-bit integers), bound at import to numpy's ``scipy_cblas_?gemm64_`` when numpy ships that library, else to
a fallback compiled here around ``np.dot``.  Binding by name keeps disk-cached code valid either way.

Threads: a program that calls BLAS runs it on one thread (:func:`program_threads`) and :func:`gemm` splits
a large product over Numba's threads itself, so image kernels and loops can use prange in the same program
without two pools fighting for two cores.  Measured (2 threads, same process, OpenBLAS's own 2 threads
against the split): [64,3136]x[3136,1024] 3.00 / 2.64 ms, [12544,800]x[800,64] 9.18 / 8.79 ms,
[800,12544]x[12544,64] 10.2 / 10.0 ms, AlexNet's conv GEMMs 11.3 / 10.1 to 18.4 / 19.5 ms.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numba
import numba.extending
import numba.np.ufunc.parallel
import numpy as np
from llvmlite import binding, ir
from numba.core import cgutils

from . import epilogue, microkernel
from .runtime import _JIT

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = {"s": "flowc_cblas_sgemm", "d": "flowc_cblas_dgemm"}


def _numpy_openblas():
    """numpy's bundled scipy-openblas (ILP64), or None when numpy has none."""
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*")):
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_cblas_sgemm64_, lib.scipy_cblas_dgemm64_, lib.scipy_openblas_set_num_threads64_  # noqa: B018
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _fallback(kind: str) -> int:
    """A cblas-shaped gemm (row-major, alpha=1, beta=0) over Numba's np.dot, for numpy builds without
    scipy-openblas."""
    ft = numba.float32 if kind == "s" else numba.float64
    i64, i32, ptr = numba.int64, numba.int32, numba.types.CPointer(ft)
    sig = numba.types.void(i32, i32, i32, i64, i64, i64, ft, ptr, i64, ptr, i64, ft, ptr, i64)

    @numba.cfunc(sig, cache=True)
    def gemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        A = numba.carray(a, (m, lda) if ta == _NO_TRANS else (k, lda))
        B = numba.carray(b, (k, ldb) if tb == _NO_TRANS else (n, ldb))
        opa = A[:, :k] if ta == _NO_TRANS else A[:, :m].T
        opb = B[:, :n] if tb == _NO_TRANS else B[:, :k].T
        C = numba.carray(c, (m, ldc))
        C[:, :n] = np.dot(np.ascontiguousarray(opa), np.ascontiguousarray(opb))
    return gemm.address


_LIB = _numpy_openblas()
ADDRESSES = {k: ctypes.cast(getattr(_LIB, f"scipy_cblas_{k}gemm64_"), ctypes.c_void_p).value for k in "sd"} if _LIB else {}
PROVIDER = "numpy-openblas" if ADDRESSES else "numba-np.dot"
SPLITS = bool(ADDRESSES)      # GEMMs split over Numba's threads only where BLAS can be made single-threaded
if _LIB is not None:
    _GET_BLAS_THREADS = _LIB.scipy_openblas_get_num_threads64_
    _GET_BLAS_THREADS.restype = ctypes.c_int
    _SET_BLAS_THREADS = _LIB.scipy_openblas_set_num_threads64_
    _SET_BLAS_THREADS.argtypes = [ctypes.c_int]
# Multiply-adds under which one thread computes the whole product.  Measured (2 threads, one BLAS call
# per thread against one call): [100,784]x[784,10] 23 -> 14 us and [784,100]x[100,10] 21 -> 12 us (the
# W3 step's two products), [32,784]x[784,10] 8.0 -> 6.6 us; [64,128]x[128,10] (82K) 3.0 -> 3.3 us, where
# launching the threads (1.4 us) costs more than it saves.
SPLIT_MIN = 1 << 17
for _k, _name in _SYMBOLS.items():
    binding.add_symbol(_name, ADDRESSES.get(_k) or _fallback(_k))


def _gemm_intrinsic(kind: str):
    ft = ir.FloatType() if kind == "s" else ir.DoubleType()

    @numba.extending.intrinsic
    def call(typingctx, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
        def codegen(context, builder, signature, args):
            i32, i64 = ir.IntType(32), ir.IntType(64)
            p = ft.as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, ft, p, i64, p, i64, ft, p, i64])
            fn = cgutils.get_or_insert_function(builder.module, fnty, _SYMBOLS[kind])
            ta_, tb_, m_, n_, k_, a_, lda_, b_, ldb_, c_, ldc_ = args
            builder.call(fn, [ir.Constant(i32, _ROW_MAJOR), builder.trunc(ta_, i32), builder.trunc(tb_, i32),
                              m_, n_, k_, ir.Constant(ft, 1.0), builder.inttoptr(a_, p), lda_,
                              builder.inttoptr(b_, p), ldb_, ir.Constant(ft, 0.0), builder.inttoptr(c_, p), ldc_])
            return context.get_dummy_value()
        i64, up = numba.types.int64, numba.types.uintp
        return numba.types.void(i64, i64, i64, i64, i64, i64, up, i64, up, i64, up, i64), codegen
    return call


_sgemm, _dgemm = _gemm_intrinsic("s"), _gemm_intrinsic("d")
_jit_contract = numba.njit(fastmath={"contract"}, **_JIT)      # a * b + c may become one fused multiply-add


def blas_ready(x):
    """x itself when BLAS can read it (C or Fortran order: a transposed operand is not copied), else a C copy."""


@numba.extending.overload(blas_ready)
def _blas_ready_impl(x):
    if x.layout in ("C", "F"):
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


def _operand(x):
    """(transpose flag, leading dimension) of a C- or Fortran-ordered matrix, as row-major cblas sees it."""


@numba.extending.overload(_operand)
def _operand_impl(x):
    if x.layout == "C":
        return lambda x: (_NO_TRANS, max(1, x.shape[1]))
    return lambda x: (_TRANS, max(1, x.shape[0]))          # a Fortran-ordered matrix is a transposed C one


def _call(a, b, out, ta, lda, tb, ldb):
    """The dtype's cblas gemm."""


@numba.extending.overload(_call)
def _call_impl(a, b, out, ta, lda, tb, ldb):
    f = _sgemm if out.dtype == numba.float32 else _dgemm

    def impl(a, b, out, ta, lda, tb, ldb):
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        f(ta, tb, m, n, k, a.ctypes.data, lda, b.ctypes.data, ldb, out.ctypes.data, max(1, n))
    return impl


def _call_block(a, b, out, ta, lda, tb, ldb, r0, r1, c0, c1):
    """out[r0:r1, c0:c1] = (a @ b)[r0:r1, c0:c1]: the operand blocks are pointer offsets, not copies."""


@numba.extending.overload(_call_block)
def _call_block_impl(a, b, out, ta, lda, tb, ldb, r0, r1, c0, c1):
    f = _sgemm if out.dtype == numba.float32 else _dgemm
    size = out.dtype.bitwidth // 8

    def impl(a, b, out, ta, lda, tb, ldb, r0, r1, c0, c1):
        k, n = a.shape[1], b.shape[1]
        pa = a.ctypes.data + (r0 * lda if ta == _NO_TRANS else r0) * size
        pb = b.ctypes.data + (c0 if tb == _NO_TRANS else c0 * ldb) * size
        f(ta, tb, r1 - r0, c1 - c0, k, pa, lda, pb, ldb, out.ctypes.data + (r0 * n + c0) * size, max(1, n))
    return impl


@numba.extending.intrinsic
def num_threads(typingctx):
    """``numba.get_num_threads()`` linked by symbol name: Numba's own goes through a ctypes pointer, which
    keeps a function from being disk-cached."""
    def codegen(context, builder, signature, args):
        # declared as Numba's parfor code declares it (intp); the C function returns an int
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(cgutils.intp_t, []), "get_num_threads")
        return builder.sext(builder.trunc(builder.call(fn, []), ir.IntType(32)), ir.IntType(64))
    return numba.types.int64(), codegen


numba.np.ufunc.parallel._launch_threads()      # binds the get_num_threads symbol (cached code links it)


# -- products with few rows: streamed by our own kernel ------------------------------------------------
# A product with a handful of rows (a fully connected layer at inference batch sizes) is bound by reading
# b once; OpenBLAS packs b first and reached 10-13 GB/s here.  Measured (2 threads, float32, against
# numpy's OpenBLAS split the same way): AlexNet's fc layers at batch 8, [8,9216]x[9216,4096] 11.7 -> 8.3-9.9
# ms, [8,4096]x[4096,4096] 5.3 -> 4.0 ms, [8,4096]x[4096,1000] 1.08 -> 0.67 ms; [1,4096]x[4096,4096] 4.4 ->
# 3.0 ms; [16,...] 6.3 -> 5.6 ms; at 32 rows the two tie.
FEW_ROWS = 16           # products with at most this many rows (and a C-ordered b) take _few_rows_block
FEW_ROWS_MIN_COLS = 64  # ... and at least this many columns: the inner loop runs along them
_ACC_MAX = 1 << 15      # accumulator elements per thread's block of columns (it stays in L2)


@_jit_contract
def _few_rows_block(a, b, out, j0, j1):
    """out[:, j0:j1] = a @ b[:, j0:j1]: four rows of a and four of b per pass over the accumulator, so
    each vector of b feeds 16 multiply-adds (a plain row-by-row loop reached half the speed)."""
    m, k = a.shape
    w = j1 - j0
    acc = np.zeros(m * w, out.dtype)
    for kk in range(0, k - 3, 4):
        b0, b1, b2, b3 = b[kk, j0:j1], b[kk + 1, j0:j1], b[kk + 2, j0:j1], b[kk + 3, j0:j1]
        i = 0
        while i + 4 <= m:
            r0, r1 = acc[i * w:(i + 1) * w], acc[(i + 1) * w:(i + 2) * w]
            r2, r3 = acc[(i + 2) * w:(i + 3) * w], acc[(i + 3) * w:(i + 4) * w]
            p00, p01, p02, p03 = a[i, kk], a[i, kk + 1], a[i, kk + 2], a[i, kk + 3]
            p10, p11, p12, p13 = a[i + 1, kk], a[i + 1, kk + 1], a[i + 1, kk + 2], a[i + 1, kk + 3]
            p20, p21, p22, p23 = a[i + 2, kk], a[i + 2, kk + 1], a[i + 2, kk + 2], a[i + 2, kk + 3]
            p30, p31, p32, p33 = a[i + 3, kk], a[i + 3, kk + 1], a[i + 3, kk + 2], a[i + 3, kk + 3]
            for j in range(w):
                x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                r0[j] += p00 * x0 + p01 * x1 + p02 * x2 + p03 * x3
                r1[j] += p10 * x0 + p11 * x1 + p12 * x2 + p13 * x3
                r2[j] += p20 * x0 + p21 * x1 + p22 * x2 + p23 * x3
                r3[j] += p30 * x0 + p31 * x1 + p32 * x2 + p33 * x3
            i += 4
        while i < m:
            r0 = acc[i * w:(i + 1) * w]
            p00, p01, p02, p03 = a[i, kk], a[i, kk + 1], a[i, kk + 2], a[i, kk + 3]
            for j in range(w):
                r0[j] += p00 * b0[j] + p01 * b1[j] + p02 * b2[j] + p03 * b3[j]
            i += 1
    for kk in range(k - k % 4, k):
        b0 = b[kk, j0:j1]
        for i in range(m):
            r0, p0 = acc[i * w:(i + 1) * w], a[i, kk]
            for j in range(w):
                r0[j] += p0 * b0[j]
    for i in range(m):
        dst, src = out[i, j0:j1], acc[i * w:(i + 1) * w]
        for j in range(w):                  # a loop, not a slice assignment (runtime.py, slice copies)
            dst[j] = src[j]


def _takes_few_rows(a, b):
    """Whether ``gemm`` computes ``a @ b`` with ``_few_rows_block`` (False for a b that is not C-ordered)."""


@numba.extending.overload(_takes_few_rows)
def _takes_few_rows_impl(a, b):
    if b.layout != "C":
        return lambda a, b: False
    return lambda a, b: a.shape[0] <= FEW_ROWS and b.shape[1] >= FEW_ROWS_MIN_COLS


def _takes_microkernel(a, b, out):
    """Whether ``gemm`` computes ``a @ b`` with :mod:`.microkernel`: float32, b with unit column or row
    stride, out with unit column stride, a multiple of 16 columns, on a host with AVX-512."""


@numba.extending.overload(_takes_microkernel)
def _takes_microkernel_impl(a, b, out):
    return lambda a, b, out: (microkernel.fits(out, b.shape[1]) and (b.strides[1] == 4 or b.strides[0] == 4)
                              and out.strides[1] == 4)


def _takes_nt(a, b, out):
    """Whether ``gemm`` computes ``a @ b`` with ``microkernel.gemm_nt_block`` (``a @ w.T``, w = b.T): float32
    with a's rows and b's columns contiguous (b a transposed weight), AVX-512."""


@numba.extending.overload(_takes_nt)
def _takes_nt_impl(a, b, out):
    if not (microkernel.AVAILABLE and out.dtype == numba.float32):
        return lambda a, b, out: False
    return lambda a, b, out: a.strides[1] == 4 and b.strides[0] == 4 and out.strides[1] == 4


# -- products with fewer than 16 columns: the dot-product kernel on b's transpose ---------------------
# A classifier's logits (x @ W, 10 classes).  Measured (2 threads, one block of rows each, same process,
# five alternating rounds): [100,784]x[784,10] 17.9 us against 19.3 through OpenBLAS, the copy of W's
# transpose included.  The weight gradient x.T @ g ([784,100]x[100,10]) stays with OpenBLAS: a kernel
# along x's rows (J columns x 16V rows per tile, transposed in registers to store) took 16.9 us against 15.0.
NARROW = 15


def _takes_narrow(a, b, out):
    """Whether ``gemm`` computes ``a @ b`` as ``a @ _transposed_copy(b).T`` on ``gemm_nt_block``."""


@numba.extending.overload(_takes_narrow)
def _takes_narrow_impl(a, b, out):
    if not (microkernel.AVAILABLE and out.dtype == numba.float32):
        return lambda a, b, out: False
    return lambda a, b, out: b.shape[1] <= NARROW and a.strides[1] == 4 and b.strides[1] == 4 and out.strides[1] == 4


@numba.njit(**_JIT)
def _transposed_copy(b, wanted):
    """b [k, n] copied as its transpose [n, k], cache-line aligned (an empty array unless ``wanted``)."""
    k, n = b.shape
    rows = n if wanted else 0
    out = microkernel._aligned(rows * k).reshape((rows, k))
    for j in range(rows):
        for p in range(k):
            out[j, p] = b[p, j]
    return out


@numba.njit(**_JIT)
def _nt_block(a, b, wt, out, nt, r0, r1, c0, c1):
    """``gemm_nt_block`` on b's transpose: the view ``b.T`` of a transposed weight (``nt``), else ``wt``."""
    if nt:
        microkernel.gemm_nt_block(a, b.T, out, r0, r1, c0, c1)
    else:
        microkernel.gemm_nt_block(a, wt, out, r0, r1, c0, c1)


@numba.njit(**_JIT)
def gemm(a, b, out):
    """out = a @ b for float32/float64 matrices (any layout; ``out`` C-contiguous), returned.

    Callers with an epilogue (:mod:`.epilogue`) call :func:`_gemm` the same way (``kernels.matmul2d``).
    Why a wrapper: an operand neither C- nor Fortran-ordered is copied here, so :func:`_gemm` is compiled
    for those two layouts only (each of its specializations costs seconds)."""
    return _gemm(blas_ready(a), blas_ready(b), out, epilogue.none(out))


@numba.njit(parallel=True, **_JIT)
def _gemm(a, b, out, ep):
    """out = ep(a @ b) for C- or Fortran-ordered a and b, ``out`` C-contiguous.

    At most FEW_ROWS rows with a C-ordered b: :func:`_few_rows_block` per block of columns, not BLAS.
    Otherwise float32 on a host with AVX-512: a multiple of 16 columns with b's rows or (a transposed
    weight) its columns contiguous, :mod:`.microkernel`; a transposed weight with other column counts, its
    ``gemm_nt_block``, which also takes products of at most NARROW columns with a's rows contiguous (on a
    copy of b's transpose); else BLAS.  A product of at least SPLIT_MIN
    multiply-adds is split over Numba's threads, each running its block of rows (or of columns, when there
    are fewer rows than columns: a [64,3136]x[3136,1024] layer then reads half of the weights per thread)
    on one thread; see :func:`program_threads`.  Each block gets its epilogue right after it is computed
    (the microkernel's, per tile)."""
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or n == 0:
        return out
    if k == 0:
        out[...] = 0
        epilogue.apply(out, 0, m, 0, n, ep)
        return out
    ta, lda = _operand(a)
    tb, ldb = _operand(b)
    few = _takes_few_rows(a, b)
    micro = not few and _takes_microkernel(a, b, out)
    nt = not few and not micro and _takes_nt(a, b, out)
    nnt = not few and not micro and not nt and _takes_narrow(a, b, out)
    wt = _transposed_copy(b, nnt)            # b's columns as rows, for gemm_nt_block (else empty)
    if few:
        parts = min(n, max(num_threads(), -(-m * n // _ACC_MAX)))
    else:
        parts = num_threads() if SPLITS or micro or nt or nnt else 1
        if parts <= 1 or m * n * k < SPLIT_MIN:
            if micro:
                microkernel.gemm_block(a, b, out, 0, m, 0, n, ep)
                return out
            if nt or nnt:
                _nt_block(a, b, wt, out, nt, 0, m, 0, n)
            else:
                _call(a, b, out, ta, lda, tb, ldb)
            epilogue.apply(out, 0, m, 0, n, ep)
            return out
    # one parallel loop for the splits: each prange is a function of its own for Numba to compile
    # (once per signature, cached with the package)
    for t in numba.prange(parts):
        r0, r1, c0, c1 = 0, m, 0, n
        if few:         # b's columns: one contiguous block per thread (more if the accumulators outgrow L2)
            c0, c1 = n * t // parts, n * (t + 1) // parts
            _few_rows_block(a, b, out, c0, c1)
        elif micro:     # blocks of whole tiles: MR rows, or 16 columns
            if m >= n:
                r0 = 0 if t == 0 else m * t // parts // microkernel.MR * microkernel.MR
                r1 = m if t == parts - 1 else m * (t + 1) // parts // microkernel.MR * microkernel.MR
            else:
                c0, c1 = n // 16 * t // parts * 16, n // 16 * (t + 1) // parts * 16
            microkernel.gemm_block(a, b, out, r0, r1, c0, c1, ep)      # its epilogue per tile
        elif nt or nnt:  # blocks of whole NT x NT tiles; the last block takes the rest
            q = microkernel.NT
            if m >= n:
                r0, r1 = m // q * t // parts * q, m if t == parts - 1 else m // q * (t + 1) // parts * q
            else:
                c0, c1 = n // q * t // parts * q, n if t == parts - 1 else n // q * (t + 1) // parts * q
            _nt_block(a, b, wt, out, nt, r0, r1, c0, c1)
        else:
            if m >= n:
                r0, r1 = m * t // parts, m * (t + 1) // parts
            else:
                c0, c1 = n * t // parts, n * (t + 1) // parts
            _call_block(a, b, out, ta, lda, tb, ldb, r0, r1, c0, c1)
        if not micro:
            epilogue.apply(out, r0, r1, c0, c1, ep)
    return out


# -- one thread pool at a time ---------------------------------------------------------------------


def program_threads(parallel: bool):
    """Called before a program that calls BLAS runs; returns what :func:`restore` puts back.

    OpenBLAS's threads and Numba's fight over a small machine (spinning, oversubscribed: the MNIST CNN step
    ran about 2x slower with both active).  A parallel program therefore runs numpy's OpenBLAS on one thread
    for the duration of the call and spreads its GEMMs over Numba's threads itself (:func:`gemm`); a serial
    one (``FLOWC_NUMBA_PARALLEL=0``), or one whose BLAS is not numpy's OpenBLAS, runs Numba on one thread
    and leaves BLAS its own.  Both settings are restored when the call returns."""
    if parallel and SPLITS:
        was = _GET_BLAS_THREADS()
        if was != 1:
            _SET_BLAS_THREADS(1)
        return ("blas", was)
    was = numba.get_num_threads()
    if was != 1:
        numba.set_num_threads(1)
    return ("numba", was)


def restore(token) -> None:
    kind, was = token
    if kind == "blas":
        if was != 1:
            _SET_BLAS_THREADS(was)
    elif was != 1:
        numba.set_num_threads(was)
