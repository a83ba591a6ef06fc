"""fc.random: counter-based random numbers (Threefry-2x32), keys are ``u32[2]`` arrays.

Random functions are pure: the same key gives the same numbers, on every
backend.  Split a key to get independent streams; never reuse one.
"""
from __future__ import annotations

import numpy as np

from flowc.ir.types import Sym, TypeError_, as_dim, dtype_of, float32, uint32

from . import numpy_api as fnp
from .numpy_api import api, asarray, constant, emit
from .tracing import Tracer


def _shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer, Sym, str)):
        shape = (shape,)
    return tuple(as_dim(d) for d in shape)


def _key(key):
    k = asarray(key)
    if k.type.dtype != uint32 or k.shape != (2,):
        raise TypeError_(f"expected a key u32[2] (from fc.random.key/split), got {k.type}")
    return k


@api
def key(seed):
    """A key from an integer seed: ``[seed >> 32, seed & 0xFFFFFFFF]``."""
    if isinstance(seed, Tracer):
        lo = fnp.reshape(fnp.astype(seed, uint32), (1,))
        return fnp.concatenate([constant(np.zeros(1, np.uint32)), lo])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError_(f"seed must be an integer, got {seed!r}")
    s = int(seed) % 2**64
    return constant(np.array([s >> 32, s & 0xFFFFFFFF], np.uint32))


@api
def split(key, n=2):
    """``n`` independent child keys, ``u32[n, 2]`` (index them: ``k1, k2 = keys[0], keys[1]``)."""
    return emit("random_split", _key(key), n=int(n))


@api
def bits(key, shape=()):
    return emit("random_bits", _key(key), shape=_shape(shape))


@api
def uniform(key, shape=(), dtype=float32, minval=0.0, maxval=1.0):
    """Uniform floats in ``[minval, maxval)``."""
    d = dtype_of(dtype)
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)):
        return emit("random_uniform", _key(key), shape=_shape(shape), dtype=d, minval=float(minval),
                    maxval=float(maxval))
    u = emit("random_uniform", _key(key), shape=_shape(shape), dtype=d)
    return fnp.add(fnp.multiply(u, fnp.subtract(maxval, minval)), minval)


@api
def normal(key, shape=(), dtype=float32):
    """Standard normal floats."""
    return emit("random_normal", _key(key), shape=_shape(shape), dtype=dtype_of(dtype))


@api
def bernoulli(key, p=0.5, shape=None):
    """Booleans, true with probability ``p`` (``shape`` defaults to p's shape)."""
    p = asarray(p)
    if not p.dtype.is_float:
        p = fnp.astype(p, float32)
    return emit("random_bernoulli", _key(key), p, shape=p.shape if shape is None else _shape(shape))
