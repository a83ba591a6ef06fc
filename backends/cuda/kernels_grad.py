"""Hand-written kernels for the conv/pool/LRN backward ops.

All are *gather* formulations: one thread per gradient element sums what reaches it,
so there are no atomics, results are deterministic, and any dtype works (sums are
taken in f64 and rounded once).  Pool and LRN kernels index flat NCHW, ``col2im``
flat NHWC (it undoes the forward ``im2col``).  Like :mod:`.kernels`, importing this
module imports ``numba.cuda``: only after ``device.check_available``.
"""
from __future__ import annotations

import numba
from numba import cuda

from .kernels import INF


@cuda.jit(device=True)
def _source(o, pad, tap, stride, n_out):
    """The output coordinate whose window puts kernel tap ``tap`` on input coordinate ``o``, or -1."""
    t = o + pad - tap
    if t < 0 or t % stride != 0 or t // stride >= n_out:
        return -1
    return t // stride


@cuda.jit
def col2im(dx, dcols, dims, conv, g0):
    """dx[n, y, x, g0 + c] = sum of the im2col columns that read that cell (dims/conv as ``im2col``);
    one launch per group, over N*H*W*CG elements (groups write disjoint channels)."""
    n_, h, w, c_all, oh, ow, kh, kw, cg = dims
    sh, sw, dh, dw, pt, pl = conv
    width = kh * kw * cg
    total = n_ * h * w * cg
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):
        c = flat % cg
        ix = (flat // cg) % w
        iy = (flat // (cg * w)) % h
        nb = flat // (cg * w * h)
        s = 0.0
        for i in range(kh):
            oy = _source(iy, pt, i * dh, sh, oh)
            if oy < 0:
                continue
            for j in range(kw):
                ox = _source(ix, pl, j * dw, sw, ow)
                if ox >= 0:
                    s += numba.float64(dcols[((nb * oh + oy) * ow + ox) * width + (i * kw + j) * cg + c])
        dx[((nb * h + iy) * w + ix) * c_all + g0 + c] = s


@cuda.jit
def pool_winner(win_idx, x, dims, win):
    """The row-major tap index of the first maximum of each max-pool window (numpy argmax: the first nan
    wins; padded cells count as -inf), or -1 where that tap is padding.  dims/win as ``kernels.pool``."""
    n_, c_, h, w, oh, ow = dims
    kh, kw, sh, sw, pt, pl = win
    for flat in range(cuda.grid(1), win_idx.size, cuda.gridsize(1)):
        ox = flat % ow
        oy = (flat // ow) % oh
        plane = flat // (ow * oh)
        best = -INF
        k_best = 0
        for i in range(kh):
            iy = oy * sh - pt + i
            for j in range(kw):
                ix = ox * sw - pl + j
                v = -INF
                if 0 <= iy < h and 0 <= ix < w:
                    v = numba.float64(x[(plane * h + iy) * w + ix])
                if best == best and (v > best or v != v):
                    best = v
                    k_best = i * kw + j
        iy = oy * sh - pt + k_best // kw
        ix = ox * sw - pl + k_best % kw
        win_idx[flat] = k_best if (0 <= iy < h and 0 <= ix < w) else -1


@cuda.jit
def max_pool_grad(dx, dy, win_idx, dims, win):
    """dx[cell] = sum of dy over the windows whose winner is that cell."""
    n_, c_, h, w, oh, ow = dims
    kh, kw, sh, sw, pt, pl = win
    for flat in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        ix = flat % w
        iy = (flat // w) % h
        plane = flat // (w * h)
        s = 0.0
        for i in range(kh):
            oy = _source(iy, pt, i, sh, oh)
            if oy < 0:
                continue
            for j in range(kw):
                ox = _source(ix, pl, j, sw, ow)
                if ox >= 0:
                    o = (plane * oh + oy) * ow + ox
                    if win_idx[o] == i * kw + j:
                        s += numba.float64(dy[o])
        dx[flat] = s


@cuda.jit
def avg_pool_grad(dx, dy, dims, win, include_pad):
    """dx[cell] = sum over the windows covering it of dy / (the window's divisor, as the forward op)."""
    n_, c_, h, w, oh, ow = dims
    kh, kw, sh, sw, pt, pl = win
    for flat in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        ix = flat % w
        iy = (flat // w) % h
        plane = flat // (w * h)
        s = 0.0
        for i in range(kh):
            oy = _source(iy, pt, i, sh, oh)
            if oy < 0:
                continue
            y0 = oy * sh - pt
            rows = min(y0 + kh, h) - max(y0, 0)
            for j in range(kw):
                ox = _source(ix, pl, j, sw, ow)
                if ox >= 0:
                    x0 = ox * sw - pl
                    count = kh * kw if include_pad else rows * (min(x0 + kw, w) - max(x0, 0))
                    s += numba.float64(dy[(plane * oh + oy) * ow + ox]) / count
        dx[flat] = s


@cuda.jit(device=True)
def _lrn_scale(x, nb, c, c_, hw, sp, half, alpha, k):
    """s_c = k + alpha * sum_{|c'-c| <= half} x_c'^2 at (batch nb, pixel sp)."""
    acc = 0.0
    for d in range(max(0, c - half), min(c_, c + half + 1)):
        v = numba.float64(x[(nb * c_ + d) * hw + sp])
        acc += v * v
    return k + alpha * acc


@cuda.jit
def lrn_grad(dx, x, dy, dims, size, alpha, beta, k):
    """dx_c = dy_c s_c^-b - 2ab x_c sum_{|c'-c| <= size//2} dy_c' x_c' s_c'^(-b-1); dims = (N, C, HW)."""
    n_, c_, hw = dims
    half = size // 2
    for flat in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        sp = flat % hw
        c = (flat // hw) % c_
        nb = flat // (hw * c_)
        inner = 0.0
        for d in range(max(0, c - half), min(c_, c + half + 1)):
            at = (nb * c_ + d) * hw + sp
            s_d = _lrn_scale(x, nb, d, c_, hw, sp, half, alpha, k)
            inner += numba.float64(dy[at]) * numba.float64(x[at]) * s_d ** (-beta - 1.0)
        s_c = _lrn_scale(x, nb, c, c_, hw, sp, half, alpha, k)
        dx[flat] = numba.float64(dy[flat]) * s_c ** (-beta) - 2.0 * alpha * beta * numba.float64(x[flat]) * inner
