"""Reference implementations of the nn family (semantics in ``flowc.ir.ops.nn``).

Vectorised numpy: conv2d is im2col + one batched matmul per batch chunk (memory
stays bounded on AlexNet-sized inputs); pooling and LRN loop over the few
window taps, each tap a whole-tensor strided slice.  f16 is computed in f32 and
rounded once at the end, the way accelerators accumulate half precision.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import impls

IM2COL_MAX_ELEMENTS = 1 << 24   # patches materialised per batch chunk


def _acc(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype == np.float16 else dtype


@impls.register("softmax")
def _softmax(x, axis):
    a = x.astype(_acc(x.dtype), copy=False)
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


@impls.register("log_softmax")
def _log_softmax(x, axis):
    a = x.astype(_acc(x.dtype), copy=False)
    z = a - a.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(x.dtype)


@impls.register("logsumexp")
def _logsumexp(x, axis):
    a = x.astype(_acc(x.dtype), copy=False)
    if a.shape[axis] == 0:
        return np.full(np.delete(a.shape, axis), -np.inf, x.dtype)
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(a.dtype)          # +inf -> inf, all -inf -> -inf, nan -> nan
    return (np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis).astype(x.dtype)


def _out_size(size, lo, hi, k, s, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


@impls.register("conv2d")
def _conv2d(x, w, strides, padding, dilation, groups, layout):
    if layout == "NCHW":                       # compute in NHWC/HWIO, transpose back at the end
        x, w = x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0)
    out = _conv_nhwc(x, w, strides, padding, dilation, groups)
    if layout == "NCHW":
        out = out.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out)


def _conv_nhwc(x, w, strides, padding, dilation, groups):
    acc = _acc(x.dtype)
    (pt, pb), (pl, pr) = padding
    (sh, sw), (dh, dw) = strides, dilation
    xp = np.pad(x.astype(acc), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, hp, wp, c = xp.shape
    kh, kw, cg, o = w.shape
    oh, ow = _out_size(hp, 0, 0, kh, sh, dh), _out_size(wp, 0, 0, kw, sw, dw)
    g, og = groups, o // groups
    # wg[g] is the (KH*KW*Cg, O/groups) matrix of group g, rows ordered (kh, kw, cg).
    wg = w.astype(acc).reshape(kh, kw, cg, g, og).transpose(3, 0, 1, 2, 4).reshape(g, kh * kw * cg, og)
    out = np.empty((n, oh, ow, g, og), acc)
    chunk = max(1, IM2COL_MAX_ELEMENTS // (oh * ow * kh * kw * c))
    s0, s1, s2, s3 = xp.strides
    for n0 in range(0, n, chunk):
        nb = min(chunk, n - n0)
        patches = as_strided(xp[n0:n0 + nb], (nb, oh, ow, kh, kw, g, cg),
                             (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3 * cg, s3), writeable=False)
        cols = patches.transpose(5, 0, 1, 2, 3, 4, 6).reshape(g, nb * oh * ow, kh * kw * cg)
        out[n0:n0 + nb] = (cols @ wg).transpose(1, 0, 2).reshape(nb, oh, ow, g, og)
    return out.reshape(n, oh, ow, o).astype(x.dtype)


def _taps(x, window, strides, padding, fill):
    """Yield one strided view of the padded NCHW input per window tap (i, j)."""
    (pt, pb), (pl, pr) = padding
    (kh, kw), (sh, sw) = window, strides
    h, w = x.shape[2:]
    oh, ow = _out_size(h, pt, pb, kh, sh, 1), _out_size(w, pl, pr, kw, sw, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def _to_nchw(x, layout):
    return x.transpose(0, 3, 1, 2) if layout == "NHWC" else x


def _from_nchw(x, layout):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if layout == "NHWC" else x)


@impls.register("max_pool2d")
def _max_pool2d(x, window, strides, padding, layout):
    out = None
    for tap in _taps(_to_nchw(x, layout), window, strides, padding, -np.inf):
        out = tap.copy() if out is None else np.maximum(out, tap)
    return _from_nchw(out, layout)


def _real_counts(size, lo, k, s, n):
    """How many of each output window's k cells (along one axis) fall inside the input."""
    start = np.arange(n) * s - lo
    return np.minimum(start + k, size) - np.maximum(start, 0)


@impls.register("avg_pool2d")
def _avg_pool2d(x, window, strides, padding, layout, count_include_pad):
    acc = _acc(x.dtype)
    total = None
    for tap in _taps(_to_nchw(x, layout).astype(acc), window, strides, padding, 0.0):
        total = tap.copy() if total is None else total + tap
    (kh, kw), (sh, sw) = window, strides
    if count_include_pad:
        count = np.asarray(kh * kw, acc)
    else:
        h, w = _to_nchw(x, layout).shape[2:]
        oh, ow = total.shape[2:]
        count = np.outer(_real_counts(h, padding[0][0], kh, sh, oh),
                         _real_counts(w, padding[1][0], kw, sw, ow)).astype(acc)
    return _from_nchw((total / count).astype(x.dtype), layout)


@impls.register("local_response_norm")
def _lrn(x, size, alpha, beta, k, layout):
    acc = _acc(x.dtype)
    a = np.moveaxis(x.astype(acc), 1 if layout == "NCHW" else 3, -1)   # channels last
    half, c = size // 2, a.shape[-1]
    sq = np.pad(a * a, [(0, 0)] * 3 + [(half, half)])
    s = sum(sq[..., d:d + c] for d in range(2 * half + 1))
    b = a / (np.asarray(k, acc) + np.asarray(alpha, acc) * s) ** np.asarray(beta, acc)
    return np.ascontiguousarray(np.moveaxis(b, -1, 1 if layout == "NCHW" else 3)).astype(x.dtype)
