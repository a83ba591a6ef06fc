"""Reference implementations of the random family (exact recipes in ``flowc.ir.ops.random``)."""
from __future__ import annotations

import numpy as np

from flowc.ir.ops.random import compute_dtype

from . import impls
from .threefry import blocks, random_bits, split


def uniform01_f32(words: np.ndarray) -> np.ndarray:
    """[0, 1) f32 from the top 23 bits of each uint32 word."""
    return ((words >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.0)


def uniform01_f64(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """[0, 1) f64 from the top 52 bits of the 64-bit word ``hi << 32 | lo``."""
    w = (hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64)
    return ((w >> np.uint64(12)) | np.uint64(0x3FF0000000000000)).view(np.float64) - 1.0


def _count(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


@impls.register("random_split")
def _random_split(key, n):
    return split(key, n)


@impls.register("random_bits")
def _random_bits(key, shape):
    return random_bits(key, shape)


@impls.register("random_uniform")
def _random_uniform(key, shape, dtype, minval, maxval):
    n = _count(shape)
    if dtype.np == np.float64:
        b = blocks(key, n)
        u = uniform01_f64(b[:, 0], b[:, 1])
    else:
        u = uniform01_f32(random_bits(key, (n,)))
    ct = compute_dtype(dtype)
    lo, hi = ct.type(minval), ct.type(maxval)
    r = (u * (hi - lo) + lo).astype(dtype.np)
    lo_d, hi_d = dtype.np.type(minval), dtype.np.type(maxval)
    r = np.minimum(np.maximum(r, lo_d), np.nextafter(hi_d, dtype.np.type(-np.inf)))
    return r.reshape(shape)


@impls.register("random_normal")
def _random_normal(key, shape, dtype):
    n = _count(shape)
    ct = compute_dtype(dtype)
    if dtype.np == np.float64:
        b = blocks(key, 2 * n).reshape(n, 2, 2)
        u1, u2 = uniform01_f64(b[:, 0, 0], b[:, 0, 1]), uniform01_f64(b[:, 1, 0], b[:, 1, 1])
    else:
        b = blocks(key, n)
        u1, u2 = uniform01_f32(b[:, 0]), uniform01_f32(b[:, 1])
    one, minus_two, two_pi = ct.type(1), ct.type(-2), ct.type(2 * np.pi)
    z = np.sqrt(minus_two * np.log(one - u1)) * np.cos(two_pi * u2)
    return z.astype(dtype.np).reshape(shape)


@impls.register("random_bernoulli")
def _random_bernoulli(key, p, shape):
    u = uniform01_f32(random_bits(key, shape))
    wide = np.result_type(p.dtype, np.float32)     # both sides exact: the comparison is exact
    return u.astype(wide) < np.broadcast_to(p, shape).astype(wide)
