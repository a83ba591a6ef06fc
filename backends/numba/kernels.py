"""Hand-written Numba kernels the generated programs call (each compiled once, cached on disk).

Generated code inlines simple loops itself; what would be long to generate per
op instance (BLAS calls, reductions and softmax, Threefry, f16 rounding, and the
image kernels of :mod:`.image`, re-exported here) lives in ordinary
``@njit(cache=True)`` functions, so every program shares one compiled copy per
dtype signature.  Programs import every helper from this module.

f16 tensors are stored as float32 inside a program and rounded with
:func:`round_f16` after each computing op.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from . import microkernel
from .blas import _gemm, blas_ready, gemm
from .epilogue import none as no_epilogue, of as epilogue  # noqa: F401 (programs call them)
from .fastmath import (fast_exp, fast_exp_nonpos, fast_log, fast_log1p, fast_sigmoid,  # noqa: F401 (program helpers)
                       fast_tanh)
from .image import (avg_pool2d_grad_nhwc, avg_pool2d_nhwc, conv2d_filter_grad_nhwc,  # noqa: F401 (program helpers)
                    conv2d_input_grad_nhwc, conv2d_nhwc, lrn_grad_nhwc, lrn_nhwc, max_pool2d_grad_nhwc,
                    max_pool2d_nhwc)
from .runtime import _JIT, add_any_order, advise, jit, pjit, returns  # noqa: F401 (advise, add_any_order: program helpers)
from .vector import max_skip_nan

# -- matmul ---------------------------------------------------------------------------------------


@returns(2)
@jit
def matmul2d(x, y, ep):
    """A float matrix product (any input layout; a C-contiguous result) and its epilogue ``ep``
    (:mod:`.epilogue`; ``epilogue.none(x)`` for none): one kernel for both, so each layout compiles once."""
    out = advise(np.empty((x.shape[0], y.shape[1]), x.dtype))     # operands share a dtype (IR rule)
    return _gemm(blas_ready(x), blas_ready(y), out, ep)


@jit
def permute(x, perm):
    """``np.transpose(x, perm)`` as a view, compiled here once (and cached) rather than in every program."""
    return np.transpose(x, perm)


TRANSPOSE_TILE = 64      # a tile of 64 x 64 elements (16 KB of float32) read and written within L1
TRANSPOSE_SERIAL = 1 << 15  # elements under which one thread copies (a parallel launch costs ~5 us)


@returns(4)
@pjit
def transposed(x, perm):
    """``np.ascontiguousarray(np.transpose(x, perm))`` for a 4-d ``x``, copied tile by tile.

    Why: a copy of the permuted view walks the destination in order and reads the source one element a
    stride apart; the OIHW -> HWIO filter copies of AlexNet's five convolutions took 9.5 ms a forward that
    way (numpy's copy 10), 1.8-3.2 ms tile by tile, 1.45 ms with float32 tiles moved as 16 x 16 blocks
    through registers (``microkernel.transpose16``; numpy 9.7 in the same run).  The source is [A, P, B],
    P the axis that becomes the destination's last; each destination row is one (a, b), and a tile of
    TRANSPOSE_TILE b's x P's is written along P (read along b where P is short)."""
    src = np.ascontiguousarray(x).reshape(x.size)
    s = x.shape
    p = perm[3]
    rs = np.zeros(4, np.int64)           # each source axis's stride in destination rows
    r = 1
    for j in range(2, -1, -1):
        rs[perm[j]] = r
        r *= s[perm[j]]
    out = advise(np.empty((s[perm[0]], s[perm[1]], s[perm[2]], s[p]), x.dtype))
    flat = out.reshape(out.size)
    ra, rb = _row_offsets(s, rs, 0, p), _row_offsets(s, rs, p + 1, 4)
    # b's per tile: more where P is short, so that a tile still moves about TRANSPOSE_TILE**2 elements
    tb = max(TRANSPOSE_TILE, TRANSPOSE_TILE * TRANSPOSE_TILE // max(1, s[p]) // 16 * 16)
    nt = (rb.size + tb - 1) // tb
    in_order = True                      # the b's are consecutive destination rows (NCHW -> NHWC)
    for q in range(rb.size):
        in_order = in_order and rb[q] == rb[0] + q
    if x.size < TRANSPOSE_SERIAL:
        for t in range(ra.size * nt):
            _transpose_tile(src, flat, ra, rb, s[p], t, nt, tb, in_order)
    else:
        for t in numba.prange(ra.size * nt):
            _transpose_tile(src, flat, ra, rb, s[p], t, nt, tb, in_order)
    return out


@jit
def _transpose_tile(src, flat, ra, rb, n, t, nt, tb, in_order):
    """Tile t (of tb b's) of ``transposed``: flat[(ra[a] + rb[b]) * n + o] = src[(a * n + o) * nb + b]."""
    nb, tile = rb.size, TRANSPOSE_TILE
    a, b0 = t // nt, t % nt * tb
    b1 = min(nb, b0 + tb)
    for o0 in range(0, n, tile):
        o1 = min(n, o0 + tile)
        if microkernel.vector_transposes(src) and (o1 - o0) % 16 == 0 and (b1 - b0) % 16 == 0:
            offsets = np.empty(16, np.int64)
            for b in range(b0, b1, 16):  # 16 x 16 blocks through registers
                for q in range(16):
                    offsets[q] = (ra[a] + rb[b + q]) * n
                for o in range(o0, o1, 16):
                    microkernel.transpose16(src.ctypes.data + 4 * ((a * n + o) * nb + b), nb,
                                            flat.ctypes.data + 4 * o, offsets.ctypes.data)
        elif o1 - o0 >= 16:              # stores along a destination row
            for b in range(b0, b1):
                row, col = (ra[a] + rb[b]) * n, a * n * nb + b
                for o in range(o0, o1):
                    flat[row + o] = src[col + o * nb]
        elif in_order and n <= 4:        # an image's 1-4 channels: n source rows interleaved
            _interleave(src, flat, a * n * nb, nb, (ra[a] + rb[0]) * n, n, b0, b1)
        else:                            # a few columns: loads along a source row
            for o in range(o0, o1):
                base = (a * n + o) * nb
                for b in range(b0, b1):
                    flat[(ra[a] + rb[b]) * n + o] = src[base + b]


@jit
def _interleave(src, flat, at, nb, to, n, b0, b1):
    """flat[to + b*n + o] = src[at + o*nb + b] for b in b0:b1, o < n <= 4: one loop per n, which LLVM
    vectorizes as an interleaved store.  Why: AlexNet's input (8x3x224x224) to NHWC took 1.2-1.6 ms
    through the loop over o (a strided store per element, numpy 1.5-1.9), 0.38-0.43 ms this way."""
    if n == 1:
        for b in range(b0, b1):
            flat[to + b] = src[at + b]
    elif n == 2:
        for b in range(b0, b1):
            flat[to + 2 * b] = src[at + b]
            flat[to + 2 * b + 1] = src[at + nb + b]
    elif n == 3:
        for b in range(b0, b1):
            flat[to + 3 * b] = src[at + b]
            flat[to + 3 * b + 1] = src[at + nb + b]
            flat[to + 3 * b + 2] = src[at + 2 * nb + b]
    else:
        for b in range(b0, b1):
            flat[to + 4 * b] = src[at + b]
            flat[to + 4 * b + 1] = src[at + nb + b]
            flat[to + 4 * b + 2] = src[at + 2 * nb + b]
            flat[to + 4 * b + 3] = src[at + 3 * nb + b]


@jit
def _row_offsets(s, rs, lo, hi):
    """The destination row of each multi-index over source axes lo:hi (the last fastest), built axis by
    axis.  Why not a division per index: AlexNet's input (224 x 224 b's) took 0.72 ms that way, more
    than half of its whole transposed copy."""
    rows = np.zeros(1, np.int64)
    for i in range(lo, hi):
        prev, n, step = rows, s[i], rs[i]
        rows = np.empty(prev.size * n, np.int64)
        for q in range(prev.size):
            for j in range(n):
                rows[q * n + j] = prev[q] + j * step
    return rows


# -- reductions and softmax over one contiguous block of axes (float arrays) -----------------------
# The program views the operand as [outer, n, inner] (n = the reduced block); sums accumulate in
# float64 (in any order: add_any_order), max/min let nan win, like the generated loops they replace.

@returns(1)
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
            row = flat[(o * n + k) * inner:(o * n + k + 1) * inner]   # a view: offset indices were gathers
            if kind == 2:
                for j in range(inner):
                    acc[j] *= row[j]
            else:
                for j in range(inner):
                    acc[j] += row[j]
        for j in range(inner):
            out[o * inner + j] = acc[j] / n if kind == 1 else acc[j]
    return out


@jit
def _sum_f64(row):
    """Sum of a contiguous 1-d array in float64 (vectorized: see ``add_any_order``)."""
    s = 0.0
    for k in range(row.shape[0]):
        s = add_any_order(s, row[k])
    return s


@jit
def _softmax_row(row, out, log):
    """softmax / log_softmax of one contiguous row: max, then a vectorizable exp pass, a sum, a scale pass."""
    n = row.shape[0]
    if n == 0:
        return
    m = max_skip_nan(row)
    for k in range(n):
        out[k] = fast_exp_nonpos(row[k] - m)     # <= 0, or nan (a nan row, or an inf max)
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
def _gather_row(flat, base, stride, row):
    """row[k] = flat[base + k * stride]: one strided row of a [outer, n, inner] block, made contiguous."""
    for k in range(row.shape[0]):
        row[k] = flat[base + k * stride]


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
            _gather_row(flat, base, inner, row)
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


EXP_SUM_BLOCK = 1024     # elements summed in the row's own precision before the float64 total


@jit
def _exp_sum(row, m):
    """sum(exp(row - m)) for m >= every element: blocks of EXP_SUM_BLOCK summed in the row's precision
    (vector lanes of partial sums, each of about 16 terms <= 1: no cancellation, a few ulp at most), the
    blocks in float64.  Why not float64 throughout: converting every exp cost W2's [4096,1000] logsumexp
    1.33 against 1.07 ms (2 threads), and an exp pass into scratch then a float64 sum as much."""
    n = row.shape[0]
    s = 0.0
    for b0 in range(0, n, EXP_SUM_BLOCK):
        blk = row[b0:min(b0 + EXP_SUM_BLOCK, n)]    # a view: offset indices cost a third more time
        part = row.dtype.type(0)
        for k in range(blk.shape[0]):
            part = add_any_order(part, fast_exp_nonpos(blk[k] - m))
        s += np.float64(part)
    return s


@jit
def _logsumexp_row(row):
    """logsumexp of one contiguous row, float64: shifted by its max when finite (else by 0, so +inf gives inf
    and an all -inf row -inf)."""
    n = row.shape[0]
    if n == 0:
        return -np.inf
    m = row.dtype.type(max_skip_nan(row))
    if m > -np.inf and m < np.inf:
        return fast_log(_exp_sum(row, m)) + np.float64(m)
    s = 0.0
    for k in range(n):
        s = add_any_order(s, np.float64(fast_exp(row[k])))
    return fast_log(s)


SHORT_ROW = 16          # rows up to this long: logsumexp a chunk of rows at a time
_CHUNK = 2048           # elements per chunk of short rows (its scratch stays in L1)


@jit
def _logsumexp_short_rows(flat, n, o0, o1, out):
    """logsumexp of the contiguous rows o0..o1 of length n (1 <= n <= SHORT_ROW) into out[o0:o1].

    Why not ``_logsumexp_row`` per row: on a ten-element row its max / exp / sum phases are each a
    dependent chain too short for the vector units (MNIST logits [100,10]: 9.1 us).  A chunk of rows is
    transposed once into a scratch [n, rows], so that every phase runs along rows: contiguous,
    independent lanes, vectorized exp and log.  Measured ([100,10] / [4096,10]): per-row phases 3.6 /
    111 us, this 2.7 / 65 us."""
    rows = max(1, _CHUNK // n)
    t = np.empty((n, rows), flat.dtype)
    ms = np.empty(rows, flat.dtype)
    sums = np.empty(rows, np.float64)
    for c0 in range(o0, o1, rows):
        nr = min(rows, o1 - c0)
        blk = flat[c0 * n:(c0 + nr) * n]      # a view: offset indices into flat defeated the vectorizer
        for r in range(nr):
            for k in range(n):
                t[k, r] = blk[r * n + k]
        for r in range(nr):                 # a loop, not a slice assignment (runtime.py, slice copies)
            ms[r] = t[0, r]
        for k in range(1, n):
            for r in range(nr):
                v = t[k, r]
                ms[r] = v if v > ms[r] else ms[r]
        for r in range(nr):
            if not (ms[r] > -np.inf and ms[r] < np.inf):
                ms[r] = flat.dtype.type(0)
        sums[:nr] = 0.0
        for k in range(n):
            for r in range(nr):
                sums[r] = add_any_order(sums[r], fast_exp(t[k, r] - ms[r]))
        for r in range(nr):
            out[c0 + r] = fast_log(sums[r]) + np.float64(ms[r])


@returns(1)
@jit
def logsumexp_block(x, outer, n, inner):
    """logsumexp along the middle axis of x viewed as [outer, n, inner]; flat result of outer * inner."""
    flat = np.ascontiguousarray(x).reshape(outer * n * inner)
    out = np.empty(outer * inner, x.dtype)
    if inner == 1 and 0 < n <= SHORT_ROW:
        _logsumexp_short_rows(flat, n, 0, outer, out)
        return out
    if inner == 1:
        for o in range(outer):
            out[o] = _logsumexp_row(flat[o * n:(o + 1) * n])
        return out
    row = np.empty(n, x.dtype)
    for o in range(outer):
        for j in range(inner):
            _gather_row(flat, o * n * inner + j, inner, row)
            out[o * inner + j] = _logsumexp_row(row)
    return out


@numba.njit(parallel=True, **_JIT)
def logsumexp_rows_parallel(x, outer, n):
    """``logsumexp_block`` with inner == 1, its rows split across threads."""
    flat = np.ascontiguousarray(x).reshape(outer * n)
    out = np.empty(outer, x.dtype)
    parts = min(outer, 64)                 # the short rows' scratch per part, not per row
    for t in numba.prange(parts):
        o0, o1 = outer * t // parts, outer * (t + 1) // parts
        if 0 < n <= SHORT_ROW:
            _logsumexp_short_rows(flat, n, o0, o1, out)
            continue
        for o in range(o0, o1):
            out[o] = _logsumexp_row(flat[o * n:(o + 1) * n])
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
