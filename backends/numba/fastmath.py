"""Vectorizable exp / expm1 / log / log1p / tanh / sigmoid for float32 and float64.

Why: the llvmlite wheels ship without Intel SVML, so ``np.exp`` in a Numba loop
is a scalar libm call and the loop cannot be vectorized (a fused
``tanh``/``sigmoid`` chain ran slower than numpy).  These versions use only
``+ - * /``, compares, selects and integer/float bit casts, all of which LLVM
vectorizes once they are inlined into a generated loop.

Method (textbook reductions; float32 ``exp`` and ``tanh`` use minimax fits, the rest Taylor series):

* ``exp``:  x = n*ln2 + r, |r| <= ln2/2 (ln2 split in two so n*ln2_hi is exact);
  e^r by a polynomial (float32: degree 6, minimax; float64: Taylor, degree 13); 2^n applied as
  two exponent-field multiplies so overflow gives inf and underflow rounds once
  into the subnormals.
* ``expm1``: the same reduction; e^r - 1 by the Taylor polynomial without its constant
  term, so tiny arguments keep full relative accuracy.
* ``log``:  x = 2^k * m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with
  s = (m-1)/(m+1), |s| <= 0.172, by its odd series; subnormals are rescaled first.
* ``log1p``: log(u) + (x - (u - 1)) / u with u = 1 + x (corrects u's rounding).
* ``tanh``: float32, x P(x^2) / Q(x^2) with P, Q of degree 4 (a minimax rational fit on
  [0, 9.1], x clamped at 10 and the result to [-1, 1]); float64, sign(x) * e / (e + 2) with
  e = expm1(2|x|) (no cancellation near 0).
* ``sigmoid``: with e = exp(-|x|): 1/(1+e) for x >= 0, e/(1+e) below.

The minimax coefficients come from ``benchmarks/fastmath_fit.py``.  Why the float32 fits: the W1 chain
``tanh(x*1.5+0.25)*sigmoid(x) + 0.5*x*x`` is bound by vector instructions, not memory (a copy of the same
arrays takes a third of its time).  Counted in the hot loop of a plain loop over an array (assembly,
one iteration): tanh 26 instructions where the expm1 route took 48, at a cost in accuracy (5.6 ulp worst
against 2.4); sigmoid 33 against 40 (the fitted exp polynomial, n read from bits, nan-propagating clamps);
the W1 chain 58 against 76.  W1's kernel, two threads, old and new alternating in one process: 10.95 ->
8.39 ms on 2^24 elements.

Special values follow numpy: nan propagates, exp(-inf) = 0, exp(inf) = inf,
log(0) = -inf, log(x<0) = nan, tanh(-0) = -0.  The error bounds measured over
the whole float range are asserted by ``tests/test_numba_fastmath.py`` and
listed in ``ERROR_BOUNDS_ULP``.  ``pow`` keeps libm's ``**``: exp(y log x)
loses about log2(|y log x|) bits, too much for a general power.

Every function is a plain ``@njit``: LLVM inlines it into the calling loop
(the generated kernels are checked for vector instructions by a test).
"""
from __future__ import annotations

from decimal import Decimal, localcontext

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import types
from numba.extending import intrinsic, overload

# Maximum error in ulps (float32, float64) against the exact result, asserted by the tests (float64 numpy
# is the reference for float32, long double numpy for float64).  benchmarks/fastmath_accuracy.py measured,
# float32, with fused multiply-adds (``jit`` below): over every input exp 1.06, tanh 5.62 (the rational
# fit, near 1: 8.50 -> 0.99999958 for 0.99999992; through expm1 it was 2.42), sigmoid 2.78; over every 7th
# input expm1 1.64, log 1.96, log1p 2.46; no nan/inf disagreement with numpy anywhere.
ERROR_BOUNDS_ULP = {"exp": (1.5, 1.5), "expm1": (2, 2), "log": (2, 2), "log1p": (2.5, 2.5), "tanh": (6, 2.5),
                    "sigmoid": (3, 3)}

# "contract": a * b + c may become one fused multiply-add (one rounding, not two), so the polynomials run
# as FMA chains.  Measured on one core, float32 in a loop: exp 0.48 -> 0.35 ns per element, tanh 0.85 ->
# 0.65, log 0.69 -> 0.62.  The Cody-Waite reduction stays exact: n * ln2_hi has no rounding to lose.
jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


# -- bit casts (LLVM ``bitcast``: free, and vectorizable) -------------------------------------------

def _bitcast(src, dst, llvm_type):
    def impl(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], llvm_type)
        return dst(src), codegen
    return intrinsic(impl)


f32_bits = _bitcast(types.float32, types.int32, llvm_ir.IntType(32))
f32_from_bits = _bitcast(types.int32, types.float32, llvm_ir.FloatType())
f64_bits = _bitcast(types.float64, types.int64, llvm_ir.IntType(64))
f64_from_bits = _bitcast(types.int64, types.float64, llvm_ir.DoubleType())


# -- constants ------------------------------------------------------------------------------------

def _ln2_split(fraction_bits: int):
    """(hi, lo) with hi = ln 2 rounded to ``fraction_bits`` bits (so n*hi is exact) and lo the rest."""
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        hi = float(round(ln2 * 2 ** fraction_bits) / Decimal(2 ** fraction_bits))
        lo = float(ln2 - Decimal(hi))
    return hi, lo


_F32 = np.float32
_LN2_HI_32, _LN2_LO_32 = (_F32(v) for v in _ln2_split(14))    # |n| <= 151: n*hi needs <= 22 bits
_LN2_HI_64, _LN2_LO_64 = _ln2_split(40)                         # |n| <= 1076: n*hi needs <= 51 bits
_LOG2E_32, _LOG2E_64 = _F32(1 / np.log(2)), 1 / np.log(2)
_ROUND_32, _ROUND_64 = _F32(1.5 * 2 ** 23), 1.5 * 2 ** 52     # (t + R) - R rounds t to an integer
_ROUND_BITS_32 = np.int32(0x4B400000)                          # ... and bits(t + R) - bits(R) is that integer
_SQRT2_32, _SQRT2_64 = _F32(np.sqrt(2.0)), float(np.sqrt(2.0))

# Taylor coefficients 1/k! of e^r (k = 0..7 for f32, 0..13 for f64).
_E32 = tuple(_F32(1.0 / np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(8))
_E64 = tuple(float(1.0 / np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(14))
(_E32_0, _E32_1, _E32_2, _E32_3, _E32_4, _E32_5, _E32_6, _E32_7) = _E32
# float32 e^r on |r| <= ln2/2: 1 + c1 r + ... + c6 r^6, minimax (benchmarks/fastmath_fit.py: relative
# error 2.0e-9 before rounding; Taylor needs degree 7 for 5e-9).
(_X32_1, _X32_2, _X32_3, _X32_4, _X32_5, _X32_6) = (
    _F32(1.0), _F32(0.4999999403953552), _F32(0.16666431725025177), _F32(0.04166800156235695),
    _F32(0.008374162949621677), _F32(0.001384364441037178))
# float32 tanh(x) = x P(x^2) / Q(x^2) on [0, 9.1], P(0) = Q(0) = 1, degrees 4/4, minimax (the same script:
# relative error 2.4e-8 before rounding).
(_TP32_1, _TP32_2, _TP32_3, _TP32_4) = (_F32(0.13377495110034943), _F32(0.0034912857227027416),
                                        _F32(2.0534018403850496e-05), _F32(1.3242764218546199e-08))
(_TQ32_1, _TQ32_2, _TQ32_3, _TQ32_4) = (_F32(0.4671081602573395), _F32(0.025860896334052086),
                                        _F32(0.00032784134964458644), _F32(7.732422773187864e-07))
(_E64_0, _E64_1, _E64_2, _E64_3, _E64_4, _E64_5, _E64_6, _E64_7, _E64_8, _E64_9, _E64_10, _E64_11,
 _E64_12, _E64_13) = _E64
# 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...): coefficients 1/(2j+1) (j = 1..5 for f32, 1..10 for f64).
_L32 = tuple(_F32(1.0 / (2 * j + 1)) for j in range(1, 6))
_L64 = tuple(1.0 / (2 * j + 1) for j in range(1, 11))
(_L32_1, _L32_2, _L32_3, _L32_4, _L32_5) = _L32
(_L64_1, _L64_2, _L64_3, _L64_4, _L64_5, _L64_6, _L64_7, _L64_8, _L64_9, _L64_10) = _L64

_ONE32, _TWO32, _HALF32, _ZERO32 = _F32(1), _F32(2), _F32(0.5), _F32(0)
_EXP_LO_32, _EXP_HI_32 = _F32(-104.0), _F32(89.0)        # beyond these exp is 0 / inf in float32
_EXP_LO_64, _EXP_HI_64 = -746.0, 710.0                   # ... and in float64
_TANH_BIG_64 = 20.0                                        # tanh rounds to +-1 from 19.1 (f64) on
# float32 tanh's fit covers [0, 9.1] (tanh rounds to 1 from 9.02 on); at the clamp, 10, it is 26 ulp above 1,
# more than rounding can take away, so the last clamp makes tanh of any larger |x| exactly +-1.
_TANH_CLAMP_32 = _F32(10.0)
_TANH_TINY_64 = 2.0 ** -27                                   # tanh(x) rounds to x below here
_EXPM1_TINY_32, _EXPM1_TINY_64 = _F32(2.0 ** -25), 2.0 ** -54    # expm1(x) rounds to x below here
_MIN_NORMAL_32, _MIN_NORMAL_64 = _F32(2.0 ** -126), 2.0 ** -1022
_INF32, _NAN32 = _F32(np.inf), _F32(np.nan)
_TWO_M24_32, _TWO_M54_64 = _F32(2.0 ** -24), 2.0 ** -54


# -- float32 --------------------------------------------------------------------------------------

@jit
def _reduce32(x):
    """(n, r) with x = n*ln2 + r, |r| <= ln2/2 (x already clamped, or nan: then r is nan).  n is read from
    the bits of the rounding sum, which saves a float-to-int conversion per vector."""
    s = x * _LOG2E_32 + _ROUND_32
    nf = s - _ROUND_32
    r = (x - nf * _LN2_HI_32) - nf * _LN2_LO_32
    return f32_bits(s) - _ROUND_BITS_32, r


@jit
def _scale32(p, n):
    """p * 2**n for |n| <= 151 with a single rounding (two exponent-field multiplies)."""
    n1 = n >> 1
    n2 = n - n1
    s1 = f32_from_bits(np.int32((n1 + 127) << 23))
    s2 = f32_from_bits(np.int32((n2 + 127) << 23))
    return (p * s1) * s2


@jit
def _expm1_poly32(r):
    """e^r - 1 for |r| <= ln2/2."""
    q = _E32_6 + r * _E32_7
    q = _E32_5 + r * q
    q = _E32_4 + r * q
    q = _E32_3 + r * q
    q = _E32_2 + r * q
    return r + (r * r) * q


@jit
def _exp_poly32(r):
    """e^r for |r| <= ln2/2 (the minimax polynomial, six fused multiply-adds)."""
    q = _X32_5 + r * _X32_6
    q = _X32_4 + r * q
    q = _X32_3 + r * q
    q = _X32_2 + r * q
    q = _X32_1 + r * q
    return _ONE32 + r * q


@jit
def exp32(x):
    # the clamps let nan through (a compare that fails keeps x), and nan then reaches the result
    xc = _EXP_LO_32 if x < _EXP_LO_32 else x
    xc = _EXP_HI_32 if xc > _EXP_HI_32 else xc
    n, r = _reduce32(xc)
    return _scale32(_exp_poly32(r), n)


@jit
def exp_nonpos32(x):
    """exp(x) for x <= 0 (and nan): the bits of ``exp32`` in 26 instructions a loop iteration against 35.
    With n <= 0 no overflow is possible, so one exponent field 2^(n+24) (normal for n >= -150) and a
    constant 2^-24 scale with one rounding, where ``_scale32`` splits n in two.  Positive x is clamped to 0:
    callers pass differences from a row maximum (softmax, logsumexp, sigmoid)."""
    xc = _EXP_LO_32 if x < _EXP_LO_32 else x
    xc = _ZERO32 if xc > _ZERO32 else xc
    n, r = _reduce32(xc)
    return (_exp_poly32(r) * f32_from_bits(np.int32((n + 151) << 23))) * _TWO_M24_32


@jit
def expm1_32(x):
    xc = min(max(x, _F32(-20.0)), _EXP_HI_32)       # e^x - 1 rounds to -1 below -17.4
    n, r = _reduce32(xc)
    p = _expm1_poly32(r)
    small = _scale32(p, n) + (_scale32(_ONE32, n) - _ONE32)   # 2^n (e^r - 1) + (2^n - 1): 2^n - 1 exact
    big = _scale32(_ONE32 + p, n) - _ONE32                    # 2^n alone may overflow near the top
    y = p if n == 0 else (small if n <= 24 else big)
    return x if (x != x or abs(x) < _EXPM1_TINY_32) else y      # keeps expm1(-0) = -0


@jit
def log32(x):
    sub = x < _MIN_NORMAL_32
    xs = x * _F32(2.0 ** 24) if sub else x                  # subnormals become normal
    bits = f32_bits(xs)
    k = ((bits >> 23) & 0xFF) - 127
    m = f32_from_bits(np.int32((bits & 0x007FFFFF) | 0x3F800000))     # in [1, 2)
    big_m = m > _SQRT2_32
    m = m * _HALF32 if big_m else m
    k = k + 1 if big_m else k
    k = k - 24 if sub else k
    f = m - _ONE32
    s = f / (_TWO32 + f)
    z = s * s
    q = _L32_4 + z * _L32_5
    q = _L32_3 + z * q
    q = _L32_2 + z * q
    q = _L32_1 + z * q
    log_m = _TWO32 * s + (_TWO32 * s) * (z * q)
    kf = _F32(k)
    y = kf * _LN2_HI_32 + (log_m + kf * _LN2_LO_32)
    y = -_INF32 if x == _ZERO32 else y
    y = _NAN32 if x < _ZERO32 else y
    return x if (x != x or x == _INF32) else y


@jit
def log1p32(x):
    u = _ONE32 + x
    y = log32(u) + (x - (u - _ONE32)) / u
    y = x if u == _ONE32 else y               # |x| below half an ulp of 1: log1p(x) = x (keeps -0)
    return log32(u) if (u == _INF32 or u <= _ZERO32) else y


@jit
def tanh32(x):
    # x P(x^2) / Q(x^2): P(0) = Q(0) = 1 keeps tanh(x) = x for tiny x (and -0); the last clamp keeps
    # rounding from overshooting 1 and gives +-1 past 9.1 (see _TANH_CLAMP_32).  nan passes every clamp.
    xc = -_TANH_CLAMP_32 if x < -_TANH_CLAMP_32 else x
    xc = _TANH_CLAMP_32 if xc > _TANH_CLAMP_32 else xc
    u = xc * xc
    p = _TP32_3 + u * _TP32_4
    p = _TP32_2 + u * p
    p = _TP32_1 + u * p
    p = _ONE32 + u * p
    q = _TQ32_3 + u * _TQ32_4
    q = _TQ32_2 + u * q
    q = _TQ32_1 + u * q
    q = _ONE32 + u * q
    t = (xc * p) / q
    t = _ONE32 if t > _ONE32 else t
    return -_ONE32 if t < -_ONE32 else t


@jit
def sigmoid32(x):
    e = exp_nonpos32(-abs(x))
    s = _ONE32 / (_ONE32 + e)
    return s if x >= _ZERO32 else e * s          # nan: e is nan


# -- float64 --------------------------------------------------------------------------------------

@jit
def _reduce64(x):
    t = x * _LOG2E_64
    nf = (t + _ROUND_64) - _ROUND_64
    r = (x - nf * _LN2_HI_64) - nf * _LN2_LO_64
    return np.int64(nf), r


@jit
def _scale64(p, n):
    n1 = n >> 1
    n2 = n - n1
    s1 = f64_from_bits(np.int64((n1 + 1023) << 52))
    s2 = f64_from_bits(np.int64((n2 + 1023) << 52))
    return (p * s1) * s2


@jit
def _expm1_poly64(r):
    q = _E64_12 + r * _E64_13
    q = _E64_11 + r * q
    q = _E64_10 + r * q
    q = _E64_9 + r * q
    q = _E64_8 + r * q
    q = _E64_7 + r * q
    q = _E64_6 + r * q
    q = _E64_5 + r * q
    q = _E64_4 + r * q
    q = _E64_3 + r * q
    q = _E64_2 + r * q
    return r + (r * r) * q


@jit
def exp64(x):
    xc = min(max(x, _EXP_LO_64), _EXP_HI_64)
    n, r = _reduce64(xc)
    y = _scale64(1.0 + _expm1_poly64(r), n)
    return x if x != x else y


@jit
def exp_nonpos64(x):
    """``exp_nonpos32`` in float64: 2^(n+54) is normal for n >= -1076."""
    xc = min(max(x, _EXP_LO_64), 0.0)
    n, r = _reduce64(xc)
    y = ((1.0 + _expm1_poly64(r)) * f64_from_bits(np.int64((n + 1077) << 52))) * _TWO_M54_64
    return x if x != x else y


@jit
def expm1_64(x):
    xc = min(max(x, -40.0), _EXP_HI_64)            # e^x - 1 rounds to -1 below -37.5
    n, r = _reduce64(xc)
    p = _expm1_poly64(r)
    big = _scale64(1.0 + p, n) - 1.0
    small = _scale64(p, n) + (_scale64(1.0, n) - 1.0)
    y = p if n == 0 else (small if n <= 53 else big)
    return x if (x != x or abs(x) < _EXPM1_TINY_64) else y


@jit
def log64(x):
    sub = x < _MIN_NORMAL_64
    xs = x * 2.0 ** 54 if sub else x
    bits = f64_bits(xs)
    k = ((bits >> 52) & 0x7FF) - 1023
    m = f64_from_bits(np.int64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000))
    big_m = m > _SQRT2_64
    m = m * 0.5 if big_m else m
    k = k + 1 if big_m else k
    k = k - 54 if sub else k
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = _L64_9 + z * _L64_10
    q = _L64_8 + z * q
    q = _L64_7 + z * q
    q = _L64_6 + z * q
    q = _L64_5 + z * q
    q = _L64_4 + z * q
    q = _L64_3 + z * q
    q = _L64_2 + z * q
    q = _L64_1 + z * q
    log_m = 2.0 * s + (2.0 * s) * (z * q)
    kf = np.float64(k)
    y = kf * _LN2_HI_64 + (log_m + kf * _LN2_LO_64)
    y = -np.inf if x == 0.0 else y
    y = np.nan if x < 0.0 else y
    return x if (x != x or x == np.inf) else y


@jit
def log1p64(x):
    u = 1.0 + x
    y = log64(u) + (x - (u - 1.0)) / u
    y = x if u == 1.0 else y
    return log64(u) if (u == np.inf or u <= 0.0) else y


@jit
def tanh64(x):
    ax = min(abs(x), _TANH_BIG_64)
    e = expm1_64(2.0 * ax)
    t = e / (e + 2.0)
    t = t if x >= 0.0 else -t
    return x if (abs(x) < _TANH_TINY_64 or x != x) else t


@jit
def sigmoid64(x):
    e = exp_nonpos64(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else (x if x != x else e * s)


# -- dtype-generic entry points for hand-written kernels -------------------------------------------

def _generic(name, f32, f64):
    def stub(x):
        raise NotImplementedError(f"{name} is only callable from Numba-compiled code")
    stub.__name__ = stub.__qualname__ = name

    @overload(stub)
    def _impl(x):
        if x == types.float32:
            return lambda x: f32(x)
        if x == types.float64:
            return lambda x: f64(x)
        return None
    return stub


fast_exp = _generic("fast_exp", exp32, exp64)
fast_exp_nonpos = _generic("fast_exp_nonpos", exp_nonpos32, exp_nonpos64)
fast_expm1 = _generic("fast_expm1", expm1_32, expm1_64)
fast_log = _generic("fast_log", log32, log64)
fast_log1p = _generic("fast_log1p", log1p32, log1p64)
fast_tanh = _generic("fast_tanh", tanh32, tanh64)
fast_sigmoid = _generic("fast_sigmoid", sigmoid32, sigmoid64)
