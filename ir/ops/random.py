"""Counter-based random numbers: Threefry-2x32-20 keyed by a ``u32[2]`` key.

These ops are pure functions of their key (same key, same numbers), so a
program is reproducible on every backend and CSE/DCE may treat them like any
other op.  To get independent numbers, split the key; never reuse one.
Everything below is exact and normative; ``flowc.backends.reference.threefry``
is the numpy implementation other backends may reuse.

**Block function.**  ``threefry(key, (x0, x1)) -> (y0, y1)`` is Threefry-2x32 with
20 rounds (Salmon et al., SC 2011; Random123's ``threefry2x32_R(20, ...)``): key
schedule ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)``; ``x += (ks0, ks1)``; round ``i``
does ``x0 += x1; x1 = rotl(x1, R[i % 8]) ^ x0`` with ``R = 13,15,26,6,17,29,16,24``;
after round ``4s - 1`` (s = 1..5) ``x0 += ks[s % 3]; x1 += ks[(s+1) % 3] + s``.
All arithmetic wraps mod 2**32.  Known answer: key (0, 0), counter (0, 0) gives
(0x6b200159, 0x99ba4efe).

**random_bits(key){shape}** with ``n = prod(shape)`` elements: block ``j`` uses the
64-bit counter ``j`` as words ``(j mod 2**32, j >> 32)`` and supplies stream
words ``2j`` (y0) and ``2j+1`` (y1).  Output element ``i`` (C order) is stream word
``i``; an odd ``n`` drops the last y1.  Hence it is *prefix-consistent*:
``bits(key, [n]) == bits(key, [m])[:n]`` for ``n <= m``, and
``bits(key, shape) == bits(key, [n]).reshape(shape)`` — so two draws of different
sizes from one key overlap; split first.

**random_split(key){n}** -> ``u32[n, 2]``: child ``i`` is ``threefry(key, (i, 0x80000000))``.
The high bit of counter word 1 is never set by random_bits (arrays below 2**63
elements), and threefry is a bijection per key, so children are pairwise
distinct and differ from every block of the parent's bit stream.

**random_uniform(key){shape, dtype, minval, maxval}**, values in ``[minval, maxval)``.
A 32-bit word ``b`` gives ``u32(b) = f32 from bits((b >> 9) | 0x3F800000) - 1.0``
(23 random mantissa bits; exact in f32).  A block ``(y0, y1)`` gives
``u64 = f64 from bits(((y0 << 32 | y1) >> 12) | 0x3FF0000000000000) - 1.0`` (52 bits).

- f32 / f16: element ``i`` uses word ``i`` of ``random_bits(key, shape)``, ``u = u32(word)``;
  computed in f32.  f64: element ``i`` uses block ``i`` (words 2i, 2i+1), ``u = u64``.
- ``r = u * (hi - lo) + lo`` in the compute type (f32, or f64 for f64) with
  ``lo, hi`` = minval, maxval rounded to it; then ``r`` is rounded to ``dtype`` and
  clamped to ``[lo_d, nextafter(hi_d, -inf)]`` (lo_d, hi_d: minval, maxval in dtype),
  which keeps the half-open range despite rounding.  The type rule requires
  ``lo_d < hi_d`` and ``hi - lo`` finite.

**random_normal(key){shape, dtype}**: Box-Muller, cosine branch only, so element ``i``
depends on a fixed slice of the stream:
``z = sqrt(-2 * log(1 - u1)) * cos(2*pi * u2)`` (``1 - u1`` lies in (0, 1]).
f32 / f16: element ``i`` uses block ``i``: ``u1 = u32(y0), u2 = u32(y1)``, computed in
f32 (2*pi rounded to f32), then rounded to dtype.  f64: element ``i`` uses blocks
``2i`` and ``2i+1``: ``u1 = u64(block 2i), u2 = u64(block 2i+1)``, computed in f64.
Tails: |z| <= sqrt(2 * 23 * ln 2) ~ 5.65 for f32 (52 bits: ~8.5 for f64).

**random_bernoulli(key, p){shape}** -> bool: element ``i`` is ``u32(word i) < p_i``, with
``p`` broadcast to ``shape`` and compared exactly (``u`` is a multiple of 2**-23, so
p <= 0 never fires, p >= 1 always does).

**Cross-backend contract.**  random_bits, random_split and random_bernoulli agree
bit for bit; uniform floats agree exactly when ``u * (hi - lo) + lo`` is not
contracted into an FMA (to one ulp otherwise); normals agree to float tolerance
only, since log/cos/sqrt are not correctly rounded everywhere.
"""
from __future__ import annotations

import numpy as np

from ..registry import Attr, defop
from ..types import TensorType, TypeError_, bool_, broadcast_shapes, float32, shape_str, uint32

_TRAITS = ("pure", "random")


def _key(key: TensorType):
    if key.dtype != uint32 or key.shape != (2,):
        raise TypeError_(f"a random key must be u32[2], got {key}")


@defop("random_split", attrs={"n": Attr("int")}, traits=_TRAITS, doc="n independent child keys, u32[n, 2]")
def _random_split(key: TensorType, n) -> TensorType:
    _key(key)
    if not 1 <= n < 2 ** 32:
        raise TypeError_(f"n must be in [1, 2**32), got {n}")
    return TensorType(uint32, (n, 2))


@defop("random_bits", attrs={"shape": Attr("dims")}, traits=_TRAITS, doc="raw Threefry stream words, u32[shape]")
def _random_bits(key: TensorType, shape) -> TensorType:
    _key(key)
    return TensorType(uint32, shape)


def _float_dtype(dtype):
    if not dtype.is_float:
        raise TypeError_(f"dtype must be floating point, got {dtype}")


def compute_dtype(dtype) -> np.dtype:
    """The precision a random float of ``dtype`` is computed in (f32 for f16)."""
    return np.dtype(np.float64) if dtype.np == np.float64 else np.dtype(np.float32)


@defop("random_uniform", traits=_TRAITS,
       attrs={"shape": Attr("dims"), "dtype": Attr("dtype", float32), "minval": Attr("float", 0.0),
              "maxval": Attr("float", 1.0)},
       doc="uniform floats in [minval, maxval)")
def _random_uniform(key: TensorType, shape, dtype, minval, maxval) -> TensorType:
    _key(key)
    _float_dtype(dtype)
    with np.errstate(all="ignore"):
        lo_d, hi_d = dtype.np.type(minval), dtype.np.type(maxval)
        lo, hi = compute_dtype(dtype).type(minval), compute_dtype(dtype).type(maxval)
        width = hi - lo
    if not (np.isfinite(lo_d) and np.isfinite(hi_d)):
        raise TypeError_(f"minval {minval} and maxval {maxval} must be finite in {dtype}")
    if not lo_d < hi_d:
        raise TypeError_(f"minval {minval} must be less than maxval {maxval} (in {dtype}: {lo_d} vs {hi_d})")
    if not np.isfinite(width):
        raise TypeError_(f"the range maxval - minval = {maxval} - {minval} overflows {compute_dtype(dtype)}")
    return TensorType(dtype, shape)


@defop("random_normal", attrs={"shape": Attr("dims"), "dtype": Attr("dtype", float32)}, traits=_TRAITS,
       doc="standard normal floats (Box-Muller)")
def _random_normal(key: TensorType, shape, dtype) -> TensorType:
    _key(key)
    _float_dtype(dtype)
    return TensorType(dtype, shape)


@defop("random_bernoulli", arity=2, attrs={"shape": Attr("dims")}, traits=_TRAITS,
       doc="bool[shape], true with probability p (broadcast to shape)")
def _random_bernoulli(key: TensorType, p: TensorType, shape) -> TensorType:
    _key(key)
    if not p.dtype.is_float:
        raise TypeError_(f"p must be floating point, got {p}")
    try:
        ok = p.ndim <= len(shape) and broadcast_shapes(p.shape, shape) == tuple(shape)
    except TypeError_:
        ok = False
    if not ok:
        raise TypeError_(f"p of shape {shape_str(p.shape)} does not broadcast to shape {shape_str(shape)}")
    return TensorType(bool_, shape)
