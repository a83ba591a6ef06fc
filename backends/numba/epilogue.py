"""What a matrix product's consumers do to each result element, applied by the product's own kernel.

A fused epilogue is data, not code: ``(alpha, bias, base, relu, mask)`` turns the product's element
``acc[i, j]`` into ::

    t = alpha * acc                      # a scalar factor (1: none)
    t = t + bias[j]                      # a row vector (an empty array: none)
    t = base[i, j] + t                   # a matrix of the result's shape (empty: none)
    t = t if t > 0 or t != t else 0      # relu (nan passes, as the op's reference does)
    t = t * (1 if mask[i, j] > 0 else 0) # relu's gradient mask (empty: none)

each step rounded to the dtype, so a fused result is bit for bit the unfused ops' on the same product.
One tuple type per dtype means one compiled GEMM serves a plain product and every fused one (each
specialization of the GEMM costs seconds of Numba compile).  The kernels apply it to each block of the
result right after computing it, while the block is in cache: W4's SGD updates ``w - lr * (x.T @ g)``
had read and written the gradient once more (0.30 ms of a 5.5 ms step), its ReLUs the activations.
"""
from __future__ import annotations

import numba
import numba.extending
import numpy as np

from .runtime import jit



def none(out):
    """The epilogue that leaves a product as it is, typed like every other of ``out``'s dtype."""
    return of(out, 1, None, None, False, None)


@numba.extending.overload(none)
def _none_impl(out):
    return lambda out: of(out, 1, None, None, False, None)


def of(like, alpha, bias, base, relu, mask):
    """The epilogue of a product of ``like``'s dtype: ``alpha`` a number, ``relu`` a bool, the arrays C-ordered
    or None (the step left out).  Also callable from Python (``flowc profile`` runs a program there)."""
    dt = like.dtype
    return (dt.type(alpha), np.empty(0, dt) if bias is None else bias, np.empty((0, 0), dt) if base is None else base,
            bool(relu), np.empty((0, 0), dt) if mask is None else mask)


def _vector(x, like):
    """x, or an empty vector of ``like``'s dtype for None."""


def _matrix(x, like):
    """x, or an empty matrix of ``like``'s dtype for None."""


def _operand_impl(ndim):
    def impl(x, like):
        if isinstance(x, (numba.types.NoneType, numba.types.Omitted)):
            shape = (0,) * ndim
            return lambda x, like: np.empty(shape, like.dtype)
        if not (isinstance(x, numba.types.Array) and x.ndim == ndim and x.layout == "C" and x.dtype == like.dtype):
            raise numba.errors.TypingError(f"an epilogue operand must be a C-ordered {ndim}-d array of "
                                           f"{like.dtype}, not {x}")
        return lambda x, like: x
    return impl


numba.extending.overload(_vector)(_operand_impl(1))
numba.extending.overload(_matrix)(_operand_impl(2))


@numba.extending.overload(of)
def _of_impl(like, alpha, bias, base, relu, mask):
    cast = numba.np.numpy_support.as_dtype(like.dtype).type
    return lambda like, alpha, bias, base, relu, mask: (cast(alpha), _vector(bias, like), _matrix(base, like),
                                                        bool(relu), _matrix(mask, like))


@jit
def apply(out, r0, r1, c0, c1, ep):
    """out[r0:r1, c0:c1] = the epilogue of the products there: one pass per step and row, over a block
    small enough to be in cache (a loop per step vectorizes; one loop with every step did not, for some).
    A function of its own, not inlined: each copy in the GEMM's specializations costs compile time."""
    alpha, bias, base, relu, mask = ep
    zero = alpha - alpha                # typed like out (an int 0 would widen to float64); alpha is finite
    scale, biased, based, masked = alpha != 1, bias.size > 0, base.size > 0, mask.size > 0
    if not (scale or biased or based or relu or masked):
        return
    w = c1 - c0
    sgd = scale and based and not (biased or relu or masked)
    bv = bias[c0:c1] if biased else bias
    for i in range(r0, r1):
        o = out[i, c0:c1]           # row slices indexed from 0: these loops vectorize, out[i, j] did not
        if sgd:                     # w - lr * g, in one pass
            b = base[i, c0:c1]
            for j in range(w):
                o[j] = b[j] + o[j] * alpha
            continue
        if scale:
            for j in range(w):
                o[j] = o[j] * alpha
        if biased:
            for j in range(w):
                o[j] = o[j] + bv[j]
        if based:
            b = base[i, c0:c1]
            for j in range(w):
                o[j] = b[j] + o[j]
        if relu:
            for j in range(w):
                x = o[j]
                o[j] = x if x > 0 or x != x else zero
        if masked:
            h = mask[i, c0:c1]
            for j in range(w):
                x = o[j]
                o[j] = x if h[j] > 0 else x * zero
