"""The hand-written CUDA kernels: written once, generic over runtime sizes, specialised per dtype by Numba.

Every kernel walks its work grid-stride (``for i in range(grid(1), n, gridsize(1))``),
so one launch is correct for any grid and :mod:`.device` picks grids from sizes.
Kernels whose block shape is fixed at compile time (shared-memory reductions and the
GEMM tile) come from factories memoised per (kind, accumulator type).  Arrays are
passed flat (1-D, C order) with their dims as scalars or tuples: one specialisation
per dtype and rank, never per size.

Importing this module imports ``numba.cuda``: only do so after
:func:`flowc.backends.cuda.device.check_available`.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from . import device

device.configure()

# ----------------------------------------------------------------------------- scalar helpers
# Used by generated fusion kernels.  They spell out IEEE edge cases explicitly because the
# simulator runs them as Python (math.log(-1) raises there; a GPU returns nan).

NAN = math.nan
INF = math.inf


def _float_math(ft):
    """The helpers for one float type, every constant of that type: mixing in a Python float would
    promote float32 work to float64, which runs at half the rate (and its division far slower)."""
    inf, nan, zero, one = ft(math.inf), ft(math.nan), ft(0), ft(1)
    exp_max, integral = ft(709.0), ft(4503599627370496.0)     # exp overflows past 709; 2**52
    cast = numba.float32 if ft is np.float32 else numba.float64

    @cuda.jit(device=True)
    def log(x):
        if x > zero:
            return math.log(x)
        if x == zero:
            return -inf
        return nan

    @cuda.jit(device=True)
    def log1p(x):
        if x > -one:
            return math.log1p(x)
        if x == -one:
            return -inf
        return nan

    @cuda.jit(device=True)
    def sqrt(x):
        if x >= zero:
            return math.sqrt(x)
        return nan

    @cuda.jit(device=True)
    def exp(x):
        if x > exp_max:
            return inf
        return math.exp(x)

    @cuda.jit(device=True)
    def sigmoid(x):
        """Stable for large |x|: exp only ever sees a non-positive argument."""
        if x >= zero:
            return one / (one + math.exp(-x))
        z = exp(x)
        return z / (one + z)

    @cuda.jit(device=True)
    def floor(x):
        if x != x or abs(x) >= integral:     # nan, inf, or already integral
            return x
        return cast(math.floor(x))

    @cuda.jit(device=True)
    def ceil(x):
        if x != x or abs(x) >= integral:
            return x
        return cast(math.ceil(x))
    return log, log1p, sqrt, exp, sigmoid, floor, ceil


f_log, f_log1p, f_sqrt, f_exp, f_sigmoid, f_floor, f_ceil = _float_math(np.float64)
f32_log, f32_log1p, f32_sqrt, f32_exp, f32_sigmoid, f32_floor, f32_ceil = _float_math(np.float32)


@cuda.jit(device=True)
def f_pow(x, y):
    return x ** y


@cuda.jit(device=True)
def i_pow(x, y):
    """Integer power by squaring (wraps like numpy's; negative exponents give 0 here)."""
    r = x - x + 1
    b = x
    e = y
    while e > 0:
        if e & 1:
            r = r * b
        b = b * b
        e = e >> 1
    return r


# ----------------------------------------------------------------------------- data movement

@cuda.jit
def gather(out, inp, dims, starts, steps, strides, limits, fill):
    """out[i] = inp[sum_k (start_k + idx_k * step_k) * stride_k], or ``fill`` where a coordinate leaves
    [0, limit_k): transpose, broadcast_to, slice and pad are all this one kernel."""
    r = len(dims)
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        rem = flat
        src = 0
        ok = True
        for q in range(r):
            k = r - 1 - q
            i = rem % dims[k]
            rem //= dims[k]
            c = starts[k] + i * steps[k]
            if c < 0 or c >= limits[k]:
                ok = False
            src += c * strides[k]
        if ok:
            out[flat] = inp[src]
        else:
            out[flat] = fill


@cuda.jit
def place(out, inp, dims, out_strides, offset):
    """out[offset + sum_k idx_k * out_stride_k] = inp[i]: writes a block into a larger array (concatenate)."""
    r = len(dims)
    for flat in range(cuda.grid(1), inp.size, cuda.gridsize(1)):
        rem = flat
        dst = offset
        for q in range(r):
            k = r - 1 - q
            dst += (rem % dims[k]) * out_strides[k]
            rem //= dims[k]
        out[dst] = inp[flat]


@cuda.jit
def fill(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@cuda.jit
def iota(out, dims, axis):
    r = len(dims)
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        rem = flat
        for q in range(r):
            k = r - 1 - q
            if k == axis:
                out[flat] = rem % dims[k]
            rem //= dims[k]


@cuda.jit(device=True)
def fix_index(i, n):
    """take/scatter_add's rule: negative indices wrap once, then clamp to [0, n-1]."""
    if i < 0:
        i += n
    if i < 0:
        i = 0
    if i > n - 1:
        i = n - 1
    return i


@cuda.jit
def take(out, x, idx, m, n, inner):
    """x viewed as [outer, n, inner], idx flat [m]: out[o, j, k] = x[o, fix(idx[j]), k]."""
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        k = flat % inner
        j = (flat // inner) % m
        o = flat // (inner * m)
        out[flat] = x[(o * n + fix_index(idx[j], n)) * inner + k]


@cuda.jit
def pick(out, x, idx, n):
    """x viewed as [out.size, n]: out[o] = x[o, idx[o]], 0 where idx[o] is outside [0, n)."""
    for o in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        j = idx[o]
        out[o] = x[o * n + j] if 0 <= j < n else 0


@cuda.jit
def one_hot(out, idx, depth):
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[flat] = 1 if idx[flat // depth] == flat % depth else 0


@cuda.jit
def scatter_add(out, idx, upd, m, size, inner):
    """out viewed as [outer, size, inner] (zeroed), upd as [outer, m, inner]: atomic accumulation."""
    for flat in range(cuda.grid(1), upd.size, cuda.gridsize(1)):
        k = flat % inner
        j = (flat // inner) % m
        o = flat // (inner * m)
        cuda.atomic.add(out, (o * size + fix_index(idx[j], size)) * inner + k, upd[flat])


# ----------------------------------------------------------------------------- reductions

@cuda.jit(device=True)
def _sum(a, b):
    return a + b


@cuda.jit(device=True)
def _prod(a, b):
    return a * b


@cuda.jit(device=True)
def _max(a, b):
    return a if (a > b or a != a) else b


@cuda.jit(device=True)
def _min(a, b):
    return a if (a < b or a != a) else b


COMBINE = {"sum": _sum, "mean": _sum, "prod": _prod, "max": _max, "min": _min}


@functools.lru_cache(maxsize=None)
def reduce_rows(kind: str, acc):
    """out[r] = combine over inp[r, :] (inp flat [rows, length]): one block per row, a shared-memory tree."""
    combine, block, mean = COMBINE[kind], device.BLOCK, kind == "mean"

    @cuda.jit
    def kernel(out, inp, rows, length, init):
        sh = cuda.shared.array(block, acc)
        t = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            a = init
            for j in range(t, length, block):
                a = combine(a, inp[row * length + j])
            sh[t] = a
            cuda.syncthreads()
            s = block // 2
            while s > 0:
                if t < s:
                    sh[t] = combine(sh[t], sh[t + s])
                cuda.syncthreads()
                s //= 2
            if t == 0:
                if mean:
                    out[row] = sh[0] / length
                else:
                    out[row] = sh[0]
            cuda.syncthreads()
    return kernel


@functools.lru_cache(maxsize=None)
def reduce_short_rows(kind: str, acc):
    """``reduce_rows`` for many short rows: one thread per row, a sequential loop, no barriers."""
    combine, mean = COMBINE[kind], kind == "mean"

    @cuda.jit
    def kernel(out, inp, rows, length, init):
        for row in range(cuda.grid(1), rows, cuda.gridsize(1)):
            a = init
            for j in range(length):
                a = combine(a, inp[row * length + j])
            if mean:
                out[row] = a / length if length else NAN
            else:
                out[row] = a
    return kernel


@functools.lru_cache(maxsize=None)
def arg_rows(kind: str, acc):
    """First index of the max (min) of each row; nan wins like numpy's argmax."""
    block, is_max = device.BLOCK, kind == "max"

    @cuda.jit(device=True)
    def better(vb, ib, va, ia):
        if vb != vb:
            return va == va or ib < ia
        if va != va:
            return False
        if vb == va:
            return ib < ia
        return vb > va if is_max else vb < va

    @cuda.jit
    def kernel(out, inp, rows, length):
        sv = cuda.shared.array(block, acc)
        si = cuda.shared.array(block, numba.int64)
        t = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            bi = -1
            bv = inp[row * length]
            for j in range(t, length, block):
                v = inp[row * length + j]
                if bi < 0 or better(v, j, bv, bi):
                    bv = v
                    bi = j
            sv[t] = bv
            si[t] = bi
            cuda.syncthreads()
            s = block // 2
            while s > 0:
                if t < s and si[t + s] >= 0 and (si[t] < 0 or better(sv[t + s], si[t + s], sv[t], si[t])):
                    sv[t] = sv[t + s]
                    si[t] = si[t + s]
                cuda.syncthreads()
                s //= 2
            if t == 0:
                out[row] = si[0]
            cuda.syncthreads()
    return kernel


@cuda.jit(device=True)
def _block_reduce(sh, t, v, take_max):
    """Max (or sum) of ``v`` over the block's threads, returned to every thread (``sh``: BLOCK doubles)."""
    sh[t] = v
    cuda.syncthreads()
    s = device.BLOCK // 2
    while s > 0:
        if t < s:
            sh[t] = _max(sh[t], sh[t + s]) if take_max else sh[t] + sh[t + s]
        cuda.syncthreads()
        s //= 2
    r = sh[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _shift_and_total(sh, t, inp, base, length, finite_shift):
    """(m, sum of exp(x - m)) over one row, in f64: m is the row's max (with ``finite_shift``, 0 where that
    max is not finite)."""
    m = -INF
    for j in range(t, length, device.BLOCK):
        m = _max(m, numba.float64(inp[base + j]))
    m = _block_reduce(sh, t, m, True)
    if finite_shift and not (m > -INF and m < INF):
        m = 0.0
    z = 0.0
    for j in range(t, length, device.BLOCK):
        z += f_exp(numba.float64(inp[base + j]) - m)
    return m, _block_reduce(sh, t, z, False)


@functools.lru_cache(maxsize=None)
def softmax_rows(log: bool):
    """Numerically stable (log-)softmax of each row of ``inp`` (flat [rows, length]), accumulated in f64."""
    block = device.BLOCK

    @cuda.jit
    def kernel(out, inp, rows, length):
        sh = cuda.shared.array(block, numba.float64)
        t = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            base = row * length
            m, z = _shift_and_total(sh, t, inp, base, length, False)
            for j in range(t, length, block):
                d = numba.float64(inp[base + j]) - m
                if log:
                    out[base + j] = d - f_log(z)
                else:
                    out[base + j] = f_exp(d) / z
    return kernel


@functools.lru_cache(maxsize=None)
def logsumexp_rows():
    """logsumexp of each row of ``inp`` (flat [rows, length]) into ``out[row]``, accumulated in f64 and shifted
    by the row's max when it is finite (else by 0: +inf gives inf, an all -inf row -inf)."""
    block = device.BLOCK

    @cuda.jit
    def kernel(out, inp, rows, length):
        sh = cuda.shared.array(block, numba.float64)
        t = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            m, z = _shift_and_total(sh, t, inp, row * length, length, True)
            if t == 0:
                out[row] = f_log(z) + m
    return kernel


# ----------------------------------------------------------------------------- GEMM

@functools.lru_cache(maxsize=None)
def matmul(acc):
    """c[b] = a[b] @ b[b] on flat row-major operands, TILE x TILE shared-memory tiles.

    ``a_bs``/``b_bs`` are the batch strides (0 broadcasts an operand over the batch)."""
    tile = device.TILE

    @cuda.jit
    def kernel(c, a, b, batch, m, n, k, a_bs, b_bs, zero):
        sa = cuda.shared.array((tile, tile), acc)
        sb = cuda.shared.array((tile, tile), acc)
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        tm = (m + tile - 1) // tile
        tn = (n + tile - 1) // tile
        for t in range(cuda.blockIdx.x, batch * tm * tn, cuda.gridDim.x):
            bi = t // (tm * tn)
            r = t % (tm * tn)
            i = (r // tn) * tile + ty
            j = (r % tn) * tile + tx
            s = zero
            for k0 in range(0, k, tile):
                ka = k0 + tx
                kb = k0 + ty
                if i < m and ka < k:
                    sa[ty, tx] = a[bi * a_bs + i * k + ka]
                else:
                    sa[ty, tx] = zero
                if kb < k and j < n:
                    sb[ty, tx] = b[bi * b_bs + kb * n + j]
                else:
                    sb[ty, tx] = zero
                cuda.syncthreads()
                for kk in range(tile):
                    s += sa[ty, kk] * sb[kk, tx]
                cuda.syncthreads()
            if i < m and j < n:
                c[(bi * m + i) * n + j] = s
    return kernel


@cuda.jit
def im2col(cols, x, dims, conv, g0):
    """cols[p, (kh, kw, c)] for an NHWC input (flat); dims = (N, H, W, C, OH, OW, KH, KW, CG),
    conv = (sh, sw, dh, dw, pt, pl); zero where a tap falls in the padding."""
    n_, h, w, c_all, oh, ow, kh, kw, cg = dims
    sh, sw, dh, dw, pt, pl = conv
    width = kh * kw * cg
    for flat in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        col = flat % width
        p = flat // width
        c = col % cg
        tap = col // cg
        j = tap % kw
        i = tap // kw
        ox = p % ow
        oy = (p // ow) % oh
        nb = p // (ow * oh)
        iy = oy * sh - pt + i * dh
        ix = ox * sw - pl + j * dw
        if 0 <= iy < h and 0 <= ix < w:
            cols[flat] = x[((nb * h + iy) * w + ix) * c_all + g0 + c]
        else:
            cols[flat] = 0


# ----------------------------------------------------------------------------- pooling, LRN (NCHW)

@cuda.jit
def pool(out, x, dims, win, is_max, include_pad):
    """Max/avg pooling of a flat NCHW input; dims = (N, C, H, W, OH, OW), win = (kh, kw, sh, sw, pt, pl)."""
    n_, c_, h, w, oh, ow = dims
    kh, kw, sh, sw, pt, pl = win
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox = flat % ow
        oy = (flat // ow) % oh
        plane = flat // (ow * oh)
        best = -INF
        total = 0.0
        count = 0
        for i in range(kh):
            iy = oy * sh - pt + i
            for j in range(kw):
                ix = ox * sw - pl + j
                if 0 <= iy < h and 0 <= ix < w:
                    v = x[(plane * h + iy) * w + ix]
                    best = _max(best, numba.float64(v))
                    total += v
                    count += 1
        if is_max:
            out[flat] = best
        else:
            out[flat] = total / (kh * kw if include_pad else count)


@cuda.jit
def lrn(out, x, dims, size, alpha, beta, k):
    """b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_c'^2) ** beta over flat NCHW; dims = (N, C, HW)."""
    n_, c_, hw = dims
    half = size // 2
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        s = flat % hw
        c = (flat // hw) % c_
        nb = flat // (hw * c_)
        acc = 0.0
        for d in range(max(0, c - half), min(c_, c + half + 1)):
            v = numba.float64(x[(nb * c_ + d) * hw + s])
            acc += v * v
        out[flat] = x[flat] / (k + alpha * acc) ** beta


# ----------------------------------------------------------------------------- Threefry-2x32-20

M32 = np.uint64(0xFFFFFFFF)
PARITY = np.uint64(0x1BD11BDA)
ROT = tuple(np.uint64(r) for r in (13, 15, 26, 6, 17, 29, 16, 24))
W32 = np.uint64(32)


@cuda.jit(device=True)
def _rotl(x, r):
    return ((x << r) | (x >> (W32 - r))) & M32


@cuda.jit(device=True)
def _ks(k0, k1, k2, j):
    if j == 0:
        return k0
    if j == 1:
        return k1
    return k2


@cuda.jit(device=True)
def threefry(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds on 32-bit words held in uint64 (masked): see reference/threefry.py."""
    k2 = k0 ^ k1 ^ PARITY
    x0 = (x0 + k0) & M32
    x1 = (x1 + k1) & M32
    for i in range(20):
        x0 = (x0 + x1) & M32
        x1 = _rotl(x1, ROT[i % 8]) ^ x0
        if i % 4 == 3:
            s = i // 4 + 1
            x0 = (x0 + _ks(k0, k1, k2, s % 3)) & M32
            x1 = (x1 + _ks(k0, k1, k2, (s + 1) % 3) + numba.uint64(s)) & M32
    return x0, x1


@cuda.jit(device=True)
def block(key, j, domain):
    """The block for counter j: words (j mod 2**32, j >> 32 | domain)."""
    jj = numba.uint64(j)
    return threefry(numba.uint64(key[0]), numba.uint64(key[1]), jj & M32, (jj >> W32) | numba.uint64(domain))


@cuda.jit
def random_words(out, key, domain):
    """Words 0..n-1 of the stream (block j gives words 2j, 2j+1); also random_split (domain bit set)."""
    n = out.size
    for j in range(cuda.grid(1), (n + 1) // 2, cuda.gridsize(1)):
        y0, y1 = block(key, j, domain)
        out[2 * j] = y0
        if 2 * j + 1 < n:
            out[2 * j + 1] = y1


TWO_M23 = np.float32(2.0 ** -23)
TWO_M52 = 2.0 ** -52


@cuda.jit(device=True)
def u01_f32(w):
    """[0, 1) f32 from the top 23 bits: exactly the reference's bit trick, as arithmetic."""
    return numba.float32(w >> numba.uint64(9)) * TWO_M23


@cuda.jit(device=True)
def u01_f64(hi, lo):
    return numba.float64(((hi << W32) | lo) >> numba.uint64(12)) * TWO_M52


@cuda.jit
def uniform_f32(out, key, lo, width, lo_d, hi_d):
    n = out.size
    for j in range(cuda.grid(1), (n + 1) // 2, cuda.gridsize(1)):
        y0, y1 = block(key, j, 0)
        r = u01_f32(y0) * width + lo
        out[2 * j] = min(max(r, lo_d), hi_d)
        if 2 * j + 1 < n:
            r = u01_f32(y1) * width + lo
            out[2 * j + 1] = min(max(r, lo_d), hi_d)


@cuda.jit
def uniform_f64(out, key, lo, width, lo_d, hi_d):
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        y0, y1 = block(key, j, 0)
        r = u01_f64(y0, y1) * width + lo
        out[j] = min(max(r, lo_d), hi_d)


@cuda.jit
def normal_f32(out, key):
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        y0, y1 = block(key, j, 0)
        u1 = u01_f32(y0)
        u2 = u01_f32(y1)
        out[j] = (math.sqrt(numba.float32(-2.0) * math.log(numba.float32(1.0) - u1))
                  * math.cos(numba.float32(2 * math.pi) * u2))


@cuda.jit
def normal_f64(out, key):
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        a0, a1 = block(key, 2 * j, 0)
        b0, b1 = block(key, 2 * j + 1, 0)
        u1 = u01_f64(a0, a1)
        u2 = u01_f64(b0, b1)
        out[j] = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2 * math.pi * u2)


@cuda.jit
def bernoulli(out, key, p):
    """out[j] = u_j < p[j] with u_j from word j (p broadcast to out's shape, flat)."""
    n = out.size
    for j in range(cuda.grid(1), (n + 1) // 2, cuda.gridsize(1)):
        y0, y1 = block(key, j, 0)
        out[2 * j] = u01_f32(y0) < p[2 * j]
        if 2 * j + 1 < n:
            out[2 * j + 1] = u01_f32(y1) < p[2 * j + 1]
