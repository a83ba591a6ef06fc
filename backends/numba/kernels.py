"""Hand-written Numba kernels the generated programs call (each compiled once, cached on disk).

Generated code inlines simple loops itself; what would be long to generate per
op instance (convolution, pooling, LRN and their gradients, Threefry, f16
rounding) lives here as ordinary ``@njit(cache=True)`` functions, so every
program shares one compiled copy per dtype signature.

Image kernels work on contiguous NCHW arrays (the program transposes NHWC at
the edges) in float32 or float64; f16 tensors are stored as float32 inside a
program and rounded with :func:`round_f16` after each computing op.
"""
from __future__ import annotations

import math
import sys

import numba
import numba.extending
import numpy as np
from llvmlite import ir
from numba.core import cgutils

from .fastmath import fast_exp, fast_log, fast_log1p, fast_sigmoid, fast_tanh  # noqa: F401 (program helpers)

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


# -- matmul ---------------------------------------------------------------------------------------

def _blas_ready(x):
    """x itself when BLAS can read it (C or Fortran order: a transposed operand is not copied), else a C copy."""


@numba.extending.overload(_blas_ready)
def _blas_ready_impl(x):
    if x.layout in ("C", "F"):
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


@jit
def matmul2d(x, y):
    """A float matrix product through BLAS (any input layout; a C-contiguous result)."""
    out = advise(np.empty((x.shape[0], y.shape[1]), x.dtype))     # operands share a dtype (IR rule)
    return np.dot(_blas_ready(x), _blas_ready(y), out)


@jit
def permute(x, perm):
    """``np.transpose(x, perm)`` as a view, compiled here once (and cached) rather than in every program."""
    return np.transpose(x, perm)


# -- reductions and softmax over one contiguous block of axes (float arrays) -----------------------
# The program views the operand as [outer, n, inner] (n = the reduced block); sums accumulate in
# float64 in index order, max/min let nan win, like the generated loops they replace.

@jit
def reduce_block(x, outer, n, inner, kind):
    """kind: 0 sum, 1 mean, 2 prod, 3 max, 4 min.  Returns a flat array of outer * inner, x's dtype."""
    flat = np.ascontiguousarray(x).reshape(outer * n * inner)
    out = advise(np.empty(outer * inner, x.dtype))
    if kind >= 3:
        for o in range(outer):
            for j in range(inner):
                best = flat[o * n * inner + j] if n > 0 else (-np.inf if kind == 3 else np.inf)
                for k in range(1, n):
                    v = flat[(o * n + k) * inner + j]
                    if (v > best if kind == 3 else v < best) or v != v:
                        if best == best:
                            best = v
                out[o * inner + j] = best
        return out
    if inner == 1 and kind <= 1:        # sum / mean of contiguous rows
        for o in range(outer):
            t = _sum_f64(flat[o * n:(o + 1) * n])
            out[o] = t / n if kind == 1 else t
        return out
    acc = np.empty(inner, np.float64)
    for o in range(outer):
        acc[:] = 1.0 if kind == 2 else 0.0
        for k in range(n):
            base = (o * n + k) * inner
            for j in range(inner):
                if kind == 2:
                    acc[j] *= flat[base + j]
                else:
                    acc[j] += flat[base + j]
        for j in range(inner):
            out[o * inner + j] = acc[j] / n if kind == 1 else acc[j]
    return out


@jit
def _sum_f64(row):
    """Sum of a contiguous 1-d array in float64, four partial sums (independent adds keep the FPU busy)."""
    n = row.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    k = 0
    while k + 4 <= n:
        s0 += row[k]
        s1 += row[k + 1]
        s2 += row[k + 2]
        s3 += row[k + 3]
        k += 4
    while k < n:
        s0 += row[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


@jit
def _max_lanes(row):
    """Max of a non-empty contiguous row in 4 independent branch-free lanes.  It may skip nan: softmax
    does not care, since a nan (or an inf - inf) reaches the row's sum and makes every output nan anyway,
    as numpy's max-first formula does."""
    n = row.shape[0]
    m0 = m1 = m2 = m3 = row[0]
    k = 0
    while k + 4 <= n:
        a, b, c, d = row[k], row[k + 1], row[k + 2], row[k + 3]
        m0 = a if a > m0 else m0
        m1 = b if b > m1 else m1
        m2 = c if c > m2 else m2
        m3 = d if d > m3 else m3
        k += 4
    while k < n:
        v = row[k]
        m0 = v if v > m0 else m0
        k += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@jit
def _softmax_row(row, out, log):
    """softmax / log_softmax of one contiguous row: max, then a vectorizable exp pass, a sum, a scale pass."""
    n = row.shape[0]
    if n == 0:
        return
    m = _max_lanes(row)
    for k in range(n):
        out[k] = fast_exp(row[k] - m)
    s = _sum_f64(out)
    if log:
        ls = row.dtype.type(fast_log(s))
        for k in range(n):
            out[k] = (row[k] - m) - ls
    else:
        sd = row.dtype.type(s)
        for k in range(n):
            out[k] = out[k] / sd


@jit
def softmax_block(x, outer, n, inner, log):
    """softmax (or log_softmax) along the middle axis of x viewed as [outer, n, inner]; flat result."""
    flat = np.ascontiguousarray(x).reshape(outer * n * inner)
    out = advise(np.empty(outer * n * inner, x.dtype))
    if inner == 1:                     # rows are contiguous: the common case (softmax over the last axis)
        for o in range(outer):
            _softmax_row(flat[o * n:(o + 1) * n], out[o * n:(o + 1) * n], log)
        return out
    row = np.empty(n, x.dtype)
    res = np.empty(n, x.dtype)
    for o in range(outer):
        for j in range(inner):
            base = o * n * inner + j
            for k in range(n):
                row[k] = flat[base + k * inner]
            _softmax_row(row, res, log)
            for k in range(n):
                out[base + k * inner] = res[k]
    return out


@numba.njit(parallel=True, **_JIT)
def softmax_rows_parallel(x, outer, n, log):
    """``softmax_block`` with inner == 1, its rows split across threads (programs without BLAS calls)."""
    flat = np.ascontiguousarray(x).reshape(outer * n)
    out = advise(np.empty(outer * n, x.dtype))
    for o in numba.prange(outer):
        _softmax_row(flat[o * n:(o + 1) * n], out[o * n:(o + 1) * n], log)
    return out


# -- f16 emulation ------------------------------------------------------------------------------


@jit
def round_f16(x):
    """Round a float to the nearest float16 value (ties to even), returned as float32."""
    a = abs(np.float64(x))
    if a != a or a == np.inf:
        return np.float32(x)
    if a >= 65520.0:                      # halfway between f16 max (65504) and 2**16: rounds to inf
        return np.float32(np.inf) if x > 0 else np.float32(-np.inf)
    m, e = math.frexp(a)
    q = math.ldexp(1.0, max(e - 11, -24))  # spacing of f16 values near a (subnormal spacing 2**-24)
    r = np.rint(a / q) * q
    return np.float32(r) if x >= 0 else np.float32(-r)


@jit
def round_f16_array(a):
    """Round every element of a float32 array (in place) to float16 precision; returns it."""
    flat = a.reshape(a.size)
    for i in range(flat.size):
        flat[i] = round_f16(flat[i])
    return a


@jit
def ipow(x, y):
    """Integer power with wrapping multiplication (negative exponents give 0, or +-1 for base +-1)."""
    if y < 0:
        if x == 1:
            return 1
        if x == -1:
            return 1 if y % 2 == 0 else -1
        return 0
    r = np.int64(1)
    b = np.int64(x)
    n = np.int64(y)
    while n > 0:
        if n & 1:
            r = r * b
        b = b * b
        n >>= 1
    return r


# -- Threefry-2x32-20 (semantics in flowc.ir.ops.random) -----------------------------------------
# All arithmetic is on uint64 values masked to 32 bits: Numba widens uint32 arithmetic, and mixing
# uint64 with a signed literal would silently produce a float, so every constant is a uint64.

_M = np.uint64(0xFFFFFFFF)
_ROT = np.array([13, 15, 26, 6, 17, 29, 16, 24], np.uint64)


@jit
def _rotl(x, r):
    return ((x << r) | (x >> (np.uint64(32) - r))) & _M


@jit
def threefry2x32(k0, k1, x0, x1):
    """One block: (y0, y1) as uint64 holding 32-bit values."""
    k0 = np.uint64(k0) & _M
    k1 = np.uint64(k1) & _M
    k2 = k0 ^ k1 ^ np.uint64(0x1BD11BDA)
    ks = (k0, k1, k2)
    x0 = (np.uint64(x0) + k0) & _M
    x1 = (np.uint64(x1) + k1) & _M
    for i in range(20):
        x0 = (x0 + x1) & _M
        x1 = _rotl(x1, _ROT[i % 8]) ^ x0
        if i % 4 == 3:
            s = i // 4 + 1
            x0 = (x0 + ks[s % 3]) & _M
            x1 = (x1 + ks[(s + 1) % 3] + np.uint64(s)) & _M
    return x0, x1


@jit
def random_blocks(key, m, domain):
    """uint32[m, 2]: block j encrypts the counter (j mod 2**32, j >> 32 | domain)."""
    out = advise(np.empty((m, 2), np.uint32))
    for j in range(m):
        uj = np.uint64(j)
        y0, y1 = threefry2x32(key[0], key[1], uj & _M, (uj >> np.uint64(32)) | np.uint64(domain))
        out[j, 0] = np.uint32(y0)
        out[j, 1] = np.uint32(y1)
    return out


@jit
def random_bits(key, n):
    """Stream words 0..n-1 as uint32[n]."""
    return random_blocks(key, (n + 1) // 2, 0).reshape(2 * ((n + 1) // 2))[:n].copy()


@jit
def u01_f32(word):
    """[0, 1) float32 from the top 23 bits of a 32-bit word (exact: an integer times 2**-23)."""
    return np.float32(np.uint64(word) >> np.uint64(9)) * np.float32(1.1920928955078125e-07)


@jit
def u01_f64(hi, lo):
    """[0, 1) float64 from the top 52 bits of hi << 32 | lo."""
    w = (np.uint64(hi) << np.uint64(32)) | np.uint64(lo)
    return np.float64(w >> np.uint64(12)) * 2.220446049250313e-16


@jit
def uniform_f32(key, n, lo, hi):
    """u * (hi - lo) + lo in float32 (no FMA contraction: Numba does not fuse without fastmath)."""
    w = random_bits(key, n)
    out = advise(np.empty(n, np.float32))
    width = np.float32(hi - lo)
    for i in range(n):
        out[i] = u01_f32(w[i]) * width + lo
    return out


@jit
def uniform_f64(key, n, lo, hi):
    b = random_blocks(key, n, 0)
    out = advise(np.empty(n, np.float64))
    width = hi - lo
    for i in range(n):
        out[i] = u01_f64(b[i, 0], b[i, 1]) * width + lo
    return out


@jit
def clamp(a, lo, hi):
    for i in range(a.size):
        if a[i] < lo:
            a[i] = lo
        elif a[i] > hi:
            a[i] = hi
    return a


@jit
def normal_f32(key, n):
    b = random_blocks(key, n, 0)
    out = advise(np.empty(n, np.float32))
    two_pi = np.float32(2 * np.pi)
    for i in range(n):
        u1, u2 = u01_f32(b[i, 0]), u01_f32(b[i, 1])
        out[i] = np.sqrt(np.float32(-2) * np.log(np.float32(1) - u1)) * np.cos(two_pi * u2)
    return out


@jit
def normal_f64(key, n):
    b = random_blocks(key, 2 * n, 0)
    out = advise(np.empty(n, np.float64))
    for i in range(n):
        u1 = u01_f64(b[2 * i, 0], b[2 * i, 1])
        u2 = u01_f64(b[2 * i + 1, 0], b[2 * i + 1, 1])
        out[i] = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2 * np.pi * u2)
    return out


# -- convolution (NCHW input, OIHW weights) ---------------------------------------------------------
# One GEMM per group over a chunk of the batch: im2col writes cols[(c, i, j), (b, p, q)] for the whole
# chunk (K = Cg*KH*KW rows, M = nb*OH*OW columns), so BLAS sees one large product instead of one small
# product per batch item.  Operand orientations were chosen by measurement: OpenBLAS ran the MNIST
# conv2 shapes as cols^T [M, K] @ [K, og] faster than [og, K] @ [K, M].  Chunks keep the columns
# under COLS_MAX_ELEMENTS: measured on the MNIST CNN's convolutions (2 cores), 1 << 22 (16 MB of
# float32, 26 batch items of conv2) beat both the whole batch (1 << 24: page faults, cache misses on
# a 40 MB buffer) and smaller chunks (1 << 18, 1 << 20).

COLS_MAX_ELEMENTS = 1 << 22


@jit
def _batch_chunk(rows, ohw):
    return max(1, COLS_MAX_ELEMENTS // max(1, rows * ohw))


@jit
def _valid(n_out, stride, off, size):
    """[lo, hi): the output positions q whose input index q*stride + off lies in [0, size)."""
    lo = min(n_out, max(0, (stride - 1 - off) // stride))
    hi = min(n_out, max(lo, (size - off + stride - 1) // stride))
    return lo, hi


@jit
def _im2col(x, b0, nb, g, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """cols[(c, i, j), (b, p, q)] for batch items b0..b0+nb, group g; zero outside the input."""
    h, wd = x.shape[2], x.shape[3]
    ohw = oh * ow
    cols = advise(np.empty((cg * kh * kw, nb * ohw), x.dtype))
    for c in range(cg):
        for i in range(kh):
            p0, p1 = _valid(oh, sh, i * dh - pt, h)
            for j in range(kw):
                row = (c * kh + i) * kw + j
                off = j * dw - pl
                q0, q1 = _valid(ow, sw, off, wd)
                for b in range(nb):
                    base = b * ohw
                    for k in range(base, base + p0 * ow):
                        cols[row, k] = 0
                    for k in range(base + p1 * ow, base + ohw):
                        cols[row, k] = 0
                    for p in range(p0, p1):
                        r = p * sh - pt + i * dh
                        at = base + p * ow
                        for q in range(q0):
                            cols[row, at + q] = 0
                        for q in range(q0, q1):
                            cols[row, at + q] = x[b0 + b, g * cg + c, r, q * sw + off]
                        for q in range(q1, ow):
                            cols[row, at + q] = 0
    return cols


@jit
def _col2im_add(dcols, dx, b0, nb, g, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """dx[b0 + b, g*cg + c, r, s] += dcols[(c, i, j), (b, p, q)] over every tap that reads (r, s)."""
    h, wd = dx.shape[2], dx.shape[3]
    ohw = oh * ow
    for c in range(cg):
        for i in range(kh):
            p0, p1 = _valid(oh, sh, i * dh - pt, h)
            for j in range(kw):
                row = (c * kh + i) * kw + j
                off = j * dw - pl
                q0, q1 = _valid(ow, sw, off, wd)
                for b in range(nb):
                    for p in range(p0, p1):
                        r = p * sh - pt + i * dh
                        at = b * ohw + p * ow
                        for q in range(q0, q1):
                            dx[b0 + b, g * cg + c, r, q * sw + off] += dcols[row, at + q]


@jit
def _gather_dy(dy, b0, nb, g, og):
    """dy[b0:b0+nb, g*og:(g+1)*og] as a contiguous [og, nb*oh*ow] matrix (columns ordered (b, p, q))."""
    ohw = dy.shape[2] * dy.shape[3]
    flat = dy.reshape((dy.shape[0], dy.shape[1], ohw))
    m = advise(np.empty((og, nb * ohw), dy.dtype))
    for oc in range(og):
        for b in range(nb):
            m[oc, b * ohw:(b + 1) * ohw] = flat[b0 + b, g * og + oc]
    return m


@jit
def _group_weights_t(w, groups):
    """wt[g] = W_g^T as a contiguous [Cg*KH*KW, O/groups] matrix per group."""
    o, cg, kh, kw = w.shape
    og = o // groups
    wm = np.ascontiguousarray(w).reshape((groups, og, cg * kh * kw))
    wt = np.empty((groups, cg * kh * kw, og), w.dtype)
    for g in range(groups):
        wt[g] = wm[g].T
    return wt


@jit
def conv2d(x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og, ohw = o // groups, oh * ow
    out = advise(np.empty((n, o, ohw), x.dtype))
    wt = _group_weights_t(w, groups)
    chunk = _batch_chunk(cg * kh * kw, ohw)
    for b0 in range(0, n, chunk):
        nb = min(chunk, n - b0)
        for g in range(groups):
            cols = _im2col(x, b0, nb, g, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
            res = np.dot(cols.T, wt[g])                                           # [nb*ohw, og]
            for b in range(nb):
                for oc in range(og):
                    for m in range(ohw):
                        out[b0 + b, g * og + oc, m] = res[b * ohw + m, oc]
    return out.reshape((n, o, oh, ow))


@jit
def conv2d_input_grad(dy, w, h, wd, sh, sw, pt, pl, dh, dw, groups):
    """dcols = W_g^T dy_g (one GEMM per group and batch chunk), then col2im."""
    n, o, oh, ow = dy.shape
    _, cg, kh, kw = w.shape
    og = o // groups
    dx = advise(np.empty((n, cg * groups, h, wd), dy.dtype))
    dx[...] = 0           # after the advice: zeroing is the first touch
    wm = np.ascontiguousarray(w).reshape((o, cg * kh * kw))
    chunk = _batch_chunk(cg * kh * kw, oh * ow)
    for g in range(groups):
        wt = np.ascontiguousarray(wm[g * og:(g + 1) * og].T)                       # [K, og]
        for b0 in range(0, n, chunk):
            nb = min(chunk, n - b0)
            dcols = np.dot(wt, _gather_dy(dy, b0, nb, g, og))                     # [K, nb*ohw]
            _col2im_add(dcols, dx, b0, nb, g, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
    return dx


@jit
def conv2d_filter_grad(x, dy, kh, kw, sh, sw, pt, pl, dh, dw, groups):
    """dW_g = (cols_g dy_g^T)^T, contracted over batch and pixels in one GEMM per group and batch chunk."""
    n = x.shape[0]
    cg = x.shape[1] // groups
    o, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    og = o // groups
    dw_ = advise(np.empty((o, cg * kh * kw), x.dtype))
    dw_[...] = 0           # after the advice: zeroing is the first touch
    chunk = _batch_chunk(cg * kh * kw, oh * ow)
    for b0 in range(0, n, chunk):
        nb = min(chunk, n - b0)
        for g in range(groups):
            cols = _im2col(x, b0, nb, g, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
            dw_[g * og:(g + 1) * og] += np.dot(cols, _gather_dy(dy, b0, nb, g, og).T).T
    return dw_.reshape((o, cg, kh, kw))


# -- pooling ---------------------------------------------------------------------------------------

@jit
def _interior(n_out, stride, pad, k, size):
    """[lo, hi): output positions whose whole window (k taps from q*stride - pad) lies inside [0, size)."""
    lo, hi = _valid(n_out, stride, -pad, size)
    lo2, hi2 = _valid(n_out, stride, k - 1 - pad, size)
    lo, hi = max(lo, lo2), min(hi, hi2)
    return lo, max(lo, hi)


@jit
def _max_tap(best, v):
    """The running max with nan winning for good (the reference's np.max semantics)."""
    return v if (v > best or v != v) and best == best else best


# Windows wholly inside the input take an unchecked path.  It is inlined (numba ``inline="always"``) under
# literal 2x2 and 3x3 windows, so LLVM unrolls the taps: measured on [64,32,28,28] float32, 2x2/2 max pool
# 2.6 -> 0.9 ms and 3x3/2 6.6 -> 2.1 ms against runtime-bounded tap loops.

@numba.njit(inline="always", **_JIT)
def _max_interior(xs, os, p0, p1, q0, q1, kh, kw, sh, sw, pt, pl):
    for p in range(p0, p1):
        r0 = p * sh - pt
        for q in range(q0, q1):
            s0 = q * sw - pl
            best = -np.inf
            for i in range(kh):
                for j in range(kw):
                    best = _max_tap(best, xs[r0 + i, s0 + j])
            os[p, q] = best


@numba.njit(inline="always", **_JIT)
def _argmax_interior(xs, dys, dxs, p0, p1, q0, q1, kh, kw, sh, sw, pt, pl):
    """dy to the first maximum (row-major) of each window; a nan maximum wins from where it appears."""
    for p in range(p0, p1):
        r0 = p * sh - pt
        for q in range(q0, q1):
            s0 = q * sw - pl
            best = xs[r0, s0]
            bi, bj = 0, 0
            for i in range(kh):
                for j in range(kw):
                    v = xs[r0 + i, s0 + j]
                    if (v > best or v != v) and best == best:
                        best, bi, bj = v, i, j
            dxs[r0 + bi, s0 + bj] += dys[p, q]


@jit
def _is_border(p, q, p0, p1, q0, q1):
    return not (p0 <= p < p1 and q0 <= q < q1)


@jit
def max_pool2d(x, kh, kw, sh, sw, pt, pb, pl, pr):
    n, c, h, wd = x.shape
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    out = advise(np.empty((n, c, oh, ow), x.dtype))
    p0, p1 = _interior(oh, sh, pt, kh, h)
    q0, q1 = _interior(ow, sw, pl, kw, wd)
    for b in range(n):
        for ch in range(c):
            xs, os = x[b, ch], out[b, ch]
            if kh == 2 and kw == 2:
                _max_interior(xs, os, p0, p1, q0, q1, 2, 2, sh, sw, pt, pl)
            elif kh == 3 and kw == 3:
                _max_interior(xs, os, p0, p1, q0, q1, 3, 3, sh, sw, pt, pl)
            else:
                _max_interior(xs, os, p0, p1, q0, q1, kh, kw, sh, sw, pt, pl)
            for p in range(oh):
                for q in range(ow):
                    if _is_border(p, q, p0, p1, q0, q1):
                        best = -np.inf
                        for i in range(kh):
                            r = p * sh - pt + i
                            if 0 <= r < h:
                                for j in range(kw):
                                    s = q * sw - pl + j
                                    if 0 <= s < wd:
                                        best = _max_tap(best, xs[r, s])
                        os[p, q] = best
    return out


@jit
def max_pool2d_grad(x, dy, kh, kw, sh, sw, pt, pl):
    """dy goes to the first maximum (row-major) of each window, as argmax over the padded taps (a padding
    tap counts as -inf)."""
    n, c, h, wd = x.shape
    oh, ow = dy.shape[2], dy.shape[3]
    dx = advise(np.empty(x.shape, dy.dtype))
    dx[...] = 0           # after the advice: zeroing is the first touch
    p0, p1 = _interior(oh, sh, pt, kh, h)
    q0, q1 = _interior(ow, sw, pl, kw, wd)
    for b in range(n):
        for ch in range(c):
            xs, dys, dxs = x[b, ch], dy[b, ch], dx[b, ch]
            if kh == 2 and kw == 2:
                _argmax_interior(xs, dys, dxs, p0, p1, q0, q1, 2, 2, sh, sw, pt, pl)
            elif kh == 3 and kw == 3:
                _argmax_interior(xs, dys, dxs, p0, p1, q0, q1, 3, 3, sh, sw, pt, pl)
            else:
                _argmax_interior(xs, dys, dxs, p0, p1, q0, q1, kh, kw, sh, sw, pt, pl)
            for p in range(oh):
                for q in range(ow):
                    if not _is_border(p, q, p0, p1, q0, q1):
                        continue
                    best = -np.inf
                    br, bs = -1, -1
                    first = True
                    for i in range(kh):
                        for j in range(kw):
                            r = p * sh - pt + i
                            s = q * sw - pl + j
                            v = xs[r, s] if (0 <= r < h and 0 <= s < wd) else -np.inf
                            if first or v > best or (v != v and best == best):
                                best, br, bs = v, r, s
                                first = False
                    if 0 <= br < h and 0 <= bs < wd:
                        dxs[br, bs] += dys[p, q]
    return dx


@jit
def _real(size, lo, k, s, p):
    start = p * s - lo
    return min(start + k, size) - max(start, 0)


@jit
def avg_pool2d(x, kh, kw, sh, sw, pt, pb, pl, pr, include_pad):
    n, c, h, wd = x.shape
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    out = advise(np.empty((n, c, oh, ow), x.dtype))
    for b in range(n):
        for ch in range(c):
            for p in range(oh):
                for q in range(ow):
                    out[b, ch, p, q] = 0        # accumulate in the array's own precision, tap by tap
                    for i in range(kh):
                        r = p * sh - pt + i
                        if 0 <= r < h:
                            for j in range(kw):
                                s = q * sw - pl + j
                                if 0 <= s < wd:
                                    out[b, ch, p, q] += x[b, ch, r, s]
                    cnt = kh * kw if include_pad else _real(h, pt, kh, sh, p) * _real(wd, pl, kw, sw, q)
                    out[b, ch, p, q] = out[b, ch, p, q] / cnt
    return out


@jit
def avg_pool2d_grad(dy, h, wd, kh, kw, sh, sw, pt, pl, include_pad):
    n, c, oh, ow = dy.shape
    dx = advise(np.empty((n, c, h, wd), dy.dtype))
    dx[...] = 0           # after the advice: zeroing is the first touch
    for b in range(n):
        for ch in range(c):
            for p in range(oh):
                for q in range(ow):
                    cnt = kh * kw if include_pad else _real(h, pt, kh, sh, p) * _real(wd, pl, kw, sw, q)
                    share = dy[b, ch, p, q] / cnt
                    for i in range(kh):
                        r = p * sh - pt + i
                        if 0 <= r < h:
                            for j in range(kw):
                                s = q * sw - pl + j
                                if 0 <= s < wd:
                                    dx[b, ch, r, s] += share
    return dx


# -- local response normalisation (AlexNet formula, see flowc.ir.ops.nn) --------------------------

@jit
def _lrn_scale(x, size, alpha, k):
    """s = k + alpha * window sum of x^2 over channels, float64."""
    n, c, h, wd = x.shape
    half = size // 2
    s = advise(np.empty(x.shape, np.float64))
    for b in range(n):
        for ch in range(c):
            lo, hi = max(ch - half, 0), min(ch + half, c - 1)
            for r in range(h):
                for q in range(wd):
                    acc = 0.0
                    for cc in range(lo, hi + 1):
                        v = np.float64(x[b, cc, r, q])
                        acc += v * v
                    s[b, ch, r, q] = k + alpha * acc
    return s


@jit
def lrn(x, size, alpha, beta, k):
    s = _lrn_scale(x, size, alpha, k)
    out = advise(np.empty(x.shape, x.dtype))
    flat_x, flat_s, flat_o = x.reshape(x.size), s.reshape(s.size), out.reshape(out.size)
    for i in range(x.size):
        flat_o[i] = flat_x[i] / flat_s[i] ** beta
    return out


@jit
def lrn_grad(x, dy, size, alpha, beta, k):
    """dx_c = dy_c s_c^-b - 2ab x_c sum_{c' near c} dy_c' x_c' s_c'^(-b-1), in float64."""
    n, c, h, wd = x.shape
    half = size // 2
    s = _lrn_scale(x, size, alpha, k)
    t = advise(np.empty(x.shape, np.float64))
    for b in range(n):
        for ch in range(c):
            for r in range(h):
                for q in range(wd):
                    t[b, ch, r, q] = np.float64(dy[b, ch, r, q]) * np.float64(x[b, ch, r, q]) * s[b, ch, r, q] ** (-beta - 1)
    dx = advise(np.empty(x.shape, x.dtype))
    for b in range(n):
        for ch in range(c):
            lo, hi = max(ch - half, 0), min(ch + half, c - 1)
            for r in range(h):
                for q in range(wd):
                    inner = 0.0
                    for cc in range(lo, hi + 1):
                        inner += t[b, cc, r, q]
                    dx[b, ch, r, q] = (np.float64(dy[b, ch, r, q]) * s[b, ch, r, q] ** (-beta)
                                       - 2 * alpha * beta * np.float64(x[b, ch, r, q]) * inner)
    return dx
