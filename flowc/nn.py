"""fc.nn: activations, losses, convolution, pooling, normalisation, dropout.

Argument forms follow the usual DL conventions (an int stride means the same on
both axes; padding "SAME" is TensorFlow's: output size ceil(in / stride), extra
padding at the bottom/right) and are normalised into the IR's canonical attributes.
"""
from __future__ import annotations

import numpy as np

from flowc.ir.types import Sym, TypeError_, float32

from . import numpy_api as fnp
from . import initializers as init  # noqa: F401  (fc.nn.init)
from . import random as frandom
from .numpy_api import api, asarray, emit

tanh = fnp.tanh


@api
def relu(x):
    """max(x, 0)."""
    return emit("relu", asarray(x))


@api
def sigmoid(x):
    """1 / (1 + exp(-x)), stable for large |x|."""
    return emit("sigmoid", _float(x))


def _float(x):
    x = asarray(x)
    return x if x.dtype.is_float else fnp.astype(x, float32)


@api
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (numerically stable)."""
    x = _float(x)
    return emit("softmax", x, axis=_axis(axis, x.ndim))


@api
def log_softmax(x, axis=-1):
    x = _float(x)
    return emit("log_softmax", x, axis=_axis(axis, x.ndim))


@api
def logsumexp(x, axis=-1):
    """log(sum(exp(x))) along ``axis`` (removed), stable: +inf in a row gives inf, an all -inf row -inf."""
    x = _float(x)
    return emit("logsumexp", x, axis=_axis(axis, x.ndim))


def _axis(axis, ndim):
    from flowc.ir.types import normalize_axis
    return normalize_axis(axis, ndim)


@api
def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label].

    ``labels`` are integer class indices (shape ``logits.shape[:-1]``), or
    probabilities with the same shape as ``logits``.  Integer labels are computed as
    ``logsumexp(logits) - logits[label]``; a label outside ``[0, C)`` picks no logit
    (its term is the row's logsumexp).
    """
    logits = _float(logits)
    labels = asarray(labels)
    if labels.dtype.is_float:
        target = fnp.astype(labels, logits.dtype)
        return fnp.negative(fnp.mean(fnp.sum(fnp.multiply(target, log_softmax(logits, axis=-1)), axis=-1)))
    # -log softmax(z)[y] = logsumexp(z) - z[y]: no [N, C] log-probabilities to write and read back, and
    # a gradient of one elementwise pass, exp(z - lse) g - onehot g (numba, W2's [4096,1000] value and
    # gradient: 7.2-8.0 -> 4.6-6.2 ms, interleaved runs).  The label's logit is a ``pick``, not a one-hot
    # product summed over the row: a read per row instead of a pass over [N, C] (numba, W2's forward:
    # 0.45 of 2.3 ms); its gradient is the one-hot, fused into the softmax's.
    picked = emit("pick", logits, fnp._indices(labels))
    return fnp.mean(fnp.subtract(logsumexp(logits, axis=-1), picked))


# --------------------------------------------------------------------------- convolution and pooling

_LAYOUTS = ("NCHW", "NHWC")


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return int(v[0]), int(v[1])
    raise TypeError_(f"{what} must be an int or a pair of ints, got {v!r}")


def _spatial(x, data_format: str) -> tuple:
    if data_format not in _LAYOUTS:
        raise TypeError_(f"data_format must be 'NCHW' or 'NHWC', got {data_format!r}")
    if x.ndim != 4:
        raise TypeError_(f"expected a 4-d {data_format} input, got {x.type}")
    return x.shape[2:4] if data_format == "NCHW" else x.shape[1:3]


def _padding(padding, spatial, window, strides, dilation) -> tuple:
    """Canonical ((top, bottom), (left, right)) from "SAME" / "VALID" / int / pairs."""
    if isinstance(padding, str):
        p = padding.upper()
        if p == "VALID":
            return ((0, 0), (0, 0))
        if p != "SAME":
            raise TypeError_(f"padding must be 'SAME', 'VALID', an int or pairs, got {padding!r}")
        out = []
        for n, k, s, d in zip(spatial, window, strides, dilation):
            if isinstance(n, Sym):
                raise TypeError_(f"padding 'SAME' needs static spatial dims, got {n}")
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    if isinstance(padding, (int, np.integer)):
        return ((int(padding),) * 2,) * 2
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return tuple(_pair(p, "padding") for p in padding)
    raise TypeError_(f"padding must be 'SAME', 'VALID', an int or pairs, got {padding!r}")


@api
def conv2d(x, w, stride=1, padding="SAME", dilation=1, groups=1, data_format="NCHW"):
    """2-d cross-correlation.  NCHW input takes OIHW weights; NHWC input takes HWIO weights."""
    x, w = asarray(x), asarray(w)
    spatial = _spatial(x, data_format)
    if w.ndim != 4:
        raise TypeError_(f"expected 4-d weights, got {w.type}")
    window = w.shape[2:4] if data_format == "NCHW" else w.shape[0:2]
    strides, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _padding(padding, spatial, window, strides, dil)
    if w.dtype != x.dtype:
        w = fnp.astype(w, x.dtype)
    return emit("conv2d", x, w, strides=strides, padding=pads, dilation=dil, groups=int(groups),
                layout=data_format)


def _pool(op, x, window, stride, padding, data_format, **extra):
    x = asarray(x)
    spatial = _spatial(x, data_format)
    win = _pair(window, "window")
    strides = win if stride is None else _pair(stride, "stride")
    pads = _padding(padding, spatial, win, strides, (1, 1))
    return emit(op, x, window=win, strides=strides, padding=pads, layout=data_format, **extra)


@api
def max_pool2d(x, window, stride=None, padding="VALID", data_format="NCHW"):
    """Max over windows (stride defaults to the window); padded cells never win."""
    return _pool("max_pool2d", x, window, stride, padding, data_format)


@api
def avg_pool2d(x, window, stride=None, padding="VALID", data_format="NCHW", count_include_pad=False):
    """Mean over windows; by default padded cells are not counted (TensorFlow's SAME behaviour)."""
    return _pool("avg_pool2d", x, window, stride, padding, data_format, count_include_pad=bool(count_include_pad))


@api
def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0, data_format="NCHW"):
    """AlexNet's LRN across channels: a / (k + alpha * sum a^2) ** beta.

    ``alpha`` is *not* divided by ``size`` (torch.nn.LocalResponseNorm's alpha is ours times size).
    """
    return emit("local_response_norm", _float(x), size=int(size), alpha=float(alpha), beta=float(beta),
                k=float(k), layout=data_format)


@api
def dropout(key, x, rate):
    """Inverted dropout: keep each element with probability 1 - rate and scale it by 1 / (1 - rate)."""
    x = _float(x)
    if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise TypeError_(f"rate must be a number in [0, 1), got {rate!r}")
    if rate == 0:
        return x
    keep = frandom.bernoulli(key, 1.0 - rate, x.shape)
    return fnp.where(keep, fnp.divide(x, 1.0 - rate), 0.0)
