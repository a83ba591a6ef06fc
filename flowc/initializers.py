"""Weight initialisers (``fc.nn.init``) driven by ``fc.random`` keys.

Fans: a 2-D weight ``[in, out]`` (used as ``x @ W``) has fan_in = in; a 4-D conv
weight is OIHW by default (fan_in = I*KH*KW, fan_out = O*KH*KW) or HWIO with
``layout="HWIO"``.
"""
from __future__ import annotations

import math

import numpy as np

from . import random as fr
from .ir.types import float32


def fans(shape, layout: str = "OIHW") -> tuple[int, int]:
    shape = tuple(shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        if layout == "OIHW":
            o, i, kh, kw = shape
        elif layout == "HWIO":
            kh, kw, i, o = shape
        else:
            raise ValueError(f"layout must be 'OIHW' or 'HWIO', got {layout!r}")
        return i * kh * kw, o * kh * kw
    raise ValueError(f"cannot infer fans of a weight of shape {shape}")


def normal(key, shape, stddev: float = 0.01, dtype=float32):
    return fr.normal(key, tuple(shape), dtype) * stddev


def zeros(shape, dtype=float32):
    return np.zeros(tuple(shape), np.dtype(str(dtype.np_name)) if hasattr(dtype, "np_name") else dtype)


def _uniform(key, shape, limit, dtype):
    return fr.uniform(key, tuple(shape), dtype, -limit, limit)


def glorot_uniform(key, shape, dtype=float32, layout: str = "OIHW"):
    fi, fo = fans(shape, layout)
    return _uniform(key, shape, math.sqrt(6.0 / (fi + fo)), dtype)


def glorot_normal(key, shape, dtype=float32, layout: str = "OIHW"):
    fi, fo = fans(shape, layout)
    return normal(key, shape, math.sqrt(2.0 / (fi + fo)), dtype)


def he_uniform(key, shape, dtype=float32, layout: str = "OIHW"):
    fi, _ = fans(shape, layout)
    return _uniform(key, shape, math.sqrt(6.0 / fi), dtype)


def he_normal(key, shape, dtype=float32, layout: str = "OIHW"):
    fi, _ = fans(shape, layout)
    return normal(key, shape, math.sqrt(2.0 / fi), dtype)


__all__ = ["fans", "normal", "zeros", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
