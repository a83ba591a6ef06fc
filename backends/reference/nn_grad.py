"""Reference implementations of the conv/pool/LRN backward ops (NCHW inside; NHWC transposes at the edges).

Each loops only over the (small) kernel window and does the rest as whole-array numpy.
"""
from __future__ import annotations

import numpy as np

from . import impls


def _to_nchw(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


def _from_nchw(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 2, 3, 1)


def _w_to_oihw(w, layout):
    return w if layout == "NCHW" else w.transpose(3, 2, 0, 1)


def _w_from_oihw(w, layout):
    return w if layout == "NCHW" else w.transpose(2, 3, 1, 0)


def _taps(kh, kw, dh, dw, sh, sw, oh, ow):
    """(i, j, row slice, col slice) of the padded input read by kernel tap (i, j)."""
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            yield i, j, slice(r0, r0 + sh * (oh - 1) + 1, sh), slice(c0, c0 + sw * (ow - 1) + 1, sw)


def _crop(xp, padding, h, w):
    (pt, _), (pl, _) = padding
    return xp[:, :, pt:pt + h, pl:pl + w]


def _acc(dtype):
    return np.float64 if dtype == np.float64 else np.float32


@impls.register("conv2d_input_grad")
def _conv_dx(dy, w, input_hw, strides, padding, dilation, groups, layout):
    """dcols = W^T dy (a batched GEMM), then col2im: one strided add per kernel tap."""
    dy, w = _to_nchw(dy, layout), _w_to_oihw(w, layout)
    n, o, oh, ow = dy.shape
    _, cg, kh, kw = w.shape
    h, wd = input_hw
    (pt, pb), (pl, pr) = padding
    acc, og = _acc(dy.dtype), o // groups
    dyg = dy.astype(acc).reshape(n, groups, og, oh * ow)
    wg = w.astype(acc).reshape(groups, og, cg * kh * kw)
    dcols = np.einsum("goq,ngop->ngqp", wg, dyg, optimize=True).reshape(n, groups, cg, kh, kw, oh, ow)
    dxp = np.zeros((n, groups, cg, h + pt + pb, wd + pl + pr), acc)
    for i, j, rs, cs in _taps(kh, kw, *dilation, *strides, oh, ow):
        dxp[:, :, :, rs, cs] += dcols[:, :, :, i, j]
    dx = _crop(dxp.reshape(n, groups * cg, *dxp.shape[3:]), padding, h, wd)
    return _from_nchw(np.ascontiguousarray(dx).astype(dy.dtype), layout)


@impls.register("conv2d_filter_grad")
def _conv_dw(x, dy, filter_hw, strides, padding, dilation, groups, layout):
    """im2col of x, then dW = sum_n dy cols^T (a batched GEMM contracted over batch and pixels)."""
    x, dy = _to_nchw(x, layout), _to_nchw(dy, layout)
    n, c, _, _ = x.shape
    _, o, oh, ow = dy.shape
    kh, kw = filter_hw
    acc, cg, og = _acc(x.dtype), c // groups, o // groups
    xp = np.pad(x.astype(acc), ((0, 0), (0, 0), *padding))
    cols = np.empty((n, c, kh, kw, oh, ow), acc)
    for i, j, rs, cs in _taps(kh, kw, *dilation, *strides, oh, ow):
        cols[:, :, i, j] = xp[:, :, rs, cs]
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    dyg = dy.astype(acc).reshape(n, groups, og, oh * ow)
    dw = np.einsum("ngop,ngqp->goq", dyg, cols, optimize=True).reshape(o, cg, kh, kw)
    return np.ascontiguousarray(_w_from_oihw(dw.astype(x.dtype), layout))


@impls.register("max_pool2d_grad")
def _maxpool_dx(x, dy, window, strides, padding, layout):
    x, dy = _to_nchw(x, layout), _to_nchw(dy, layout)
    n, c, h, w = x.shape
    oh, ow = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), *padding), constant_values=-np.inf)
    taps = list(_taps(*window, 1, 1, *strides, oh, ow))
    stacked = np.stack([xp[:, :, rs, cs] for _, _, rs, cs in taps])
    winner = np.argmax(stacked, axis=0)  # first maximum in row-major window order
    dxp = np.zeros(xp.shape, dy.dtype)
    for k, (_, _, rs, cs) in enumerate(taps):
        dxp[:, :, rs, cs] += np.where(winner == k, dy, 0)
    return _from_nchw(np.ascontiguousarray(_crop(dxp, padding, h, w)), layout)


@impls.register("avg_pool2d_grad")
def _avgpool_dx(dy, input_hw, window, strides, padding, layout, count_include_pad):
    dy = _to_nchw(dy, layout)
    n, c, oh, ow = dy.shape
    h, w = input_hw
    (pt, pb), (pl, pr) = padding
    taps = list(_taps(*window, 1, 1, *strides, oh, ow))
    if count_include_pad:
        count = np.full((oh, ow), window[0] * window[1], dy.dtype)
    else:
        real = np.pad(np.ones((h, w), dy.dtype), padding)
        count = sum(real[rs, cs] for _, _, rs, cs in taps)
    share = dy / count
    dxp = np.zeros((n, c, h + pt + pb, w + pl + pr), dy.dtype)
    for _, _, rs, cs in taps:
        dxp[:, :, rs, cs] += share
    return _from_nchw(np.ascontiguousarray(_crop(dxp, padding, h, w)), layout)


def _channel_window_sum(a, size):
    """sum over channels c' in [c - size//2, c + size//2] (clipped), NCHW.

    A sum of shifted copies, not a difference of cumulative sums: those would let a nan or inf in one
    channel reach every later channel (found by ``flowc fuzz``) and cancel large values."""
    half, c = size // 2, a.shape[1]
    padded = np.pad(a, ((0, 0), (half, half), (0, 0), (0, 0)))
    return sum(padded[:, d:d + c] for d in range(2 * half + 1))


@impls.register("local_response_norm_grad")
def _lrn_dx(x, dy, size, alpha, beta, k, layout):
    x, dy = _to_nchw(x, layout), _to_nchw(dy, layout)
    acc = np.float64
    xa, dya = x.astype(acc), dy.astype(acc)
    s = k + alpha * _channel_window_sum(xa * xa, size)
    # y_c = x_c s_c^-b  =>  dx_c = dy_c s_c^-b - 2ab x_c sum_{c' near c} dy_c' x_c' s_c'^(-b-1)
    inner = _channel_window_sum(dya * xa * s ** (-beta - 1), size)
    dx = dya * s ** (-beta) - 2 * alpha * beta * xa * inner
    return _from_nchw(np.ascontiguousarray(dx.astype(x.dtype)), layout)
