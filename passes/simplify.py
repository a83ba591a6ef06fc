"""Algebraic simplification: a declarative table of exact rewrites.

Each rule is a :class:`Pattern` row in ``PATTERNS``; the fixed-point driver applies
them.  A rule's replacement always has exactly the op's result type: when the kept
operand is smaller than the broadcast result, it is wrapped in ``broadcast_to`` (or
the rule does not fire).  Unused operands (the constant ``1`` of ``x*1``) are left
for ``dce``.

Rules are exact for every input (NaN, inf and signed zeros included) unless stated.
Decisions on rewrites that are NOT done, because they are not exact:
- ``x + 0.0 -> x`` for floats: ``-0.0 + 0.0`` is ``+0.0``, so only ``x + (-0.0)`` and
  ``x - (+0.0)`` fold for floats (integers fold any zero).
- ``x * 0 -> 0`` for floats: ``inf * 0`` and ``nan * 0`` are NaN and ``-1 * 0`` is ``-0.0``
  (integers only).
- ``x - x -> 0`` for floats: ``inf - inf`` is NaN (integers only).
- ``exp(log(x)) -> x``: NaN for negative x, ``-0.0`` becomes ``+0.0``, and both roundings
  change the value.
- ``log(exp(x)) -> x``: never exact in floating point — exp rounds (and overflows to
  inf above ~88 for f32, underflows to 0 below ~-103), log rounds again.
- ``cast(cast(x, A), B) -> cast(x, B)`` only when x -> A is exact (every value of x's
  dtype is representable in A) and not a float A feeding an integer B (out-of-range
  float-to-int conversion is implementation-defined, so the widths could disagree).

Not exact, on purpose: ``log(softmax(x)) -> log_softmax(x)`` is the numerically
stable form (the same value up to rounding, and finite where the composite gives
``-inf``).
"""
from __future__ import annotations

import numpy as np

from flowc.ir import Function, Op

from .base import register
from .rewrite import SPLAT_DENSE_MAX, Pattern, Rewriter, apply_patterns, as_type, const_value, is_splat, splat

SMALL = SPLAT_DENSE_MAX   # largest constant a rule materialises (e.g. broadcast of a scalar constant)


def _binop_identity(const_side: int, value, *, float_zero_sign: bool | None = None):
    """x op c -> x (const_side 1) or c op x -> x (const_side 0) when c splats ``value``."""
    def rewrite(op: Op, rw: Rewriter):
        c, x = op.operands[const_side], op.operands[1 - const_side]
        sign = float_zero_sign if x.type.dtype.is_float else None
        if not is_splat(c, value, negative_zero=sign):
            return None
        return as_type(rw, x, op.result.type)
    return rewrite


def _int_only(rewrite):
    def wrapped(op: Op, rw: Rewriter):
        return rewrite(op, rw) if op.result.type.dtype.is_int else None
    return wrapped


def _mul_zero(const_side: int):
    def rewrite(op: Op, rw: Rewriter):
        if not is_splat(op.operands[const_side], 0):
            return None
        return splat(rw, 0, op.result.type, SMALL)
    return _int_only(rewrite)


def _sub_self(op: Op, rw: Rewriter):
    x, y = op.operands
    return splat(rw, 0, op.result.type, SMALL) if x is y else None


def _involution(op: Op, rw: Rewriter):
    """f(f(x)) -> x for f in {neg, logical_not}."""
    (x,) = op.operands
    p = x.producer
    return p.operands[0] if p is not None and p.name == op.name else None


def _transpose(op: Op, rw: Rewriter):
    (x,) = op.operands
    perm = op.attrs["perm"]
    p = x.producer
    if p is not None and p.name == "transpose":
        # out[i] = inner[perm[i]] = x[inner_perm[perm[i]]]
        x, perm = p.operands[0], tuple(p.attrs["perm"][i] for i in perm)
    if perm == tuple(range(len(perm))):
        return x
    return rw("transpose", x, perm=perm) if x is not op.operands[0] else None


def _reshape(op: Op, rw: Rewriter):
    (x,) = op.operands
    shape = op.attrs["shape"]
    p = x.producer
    if p is not None and p.name == "reshape":
        x = p.operands[0]
    if x.type.shape == shape:
        return x
    return rw("reshape", x, shape=shape) if x is not op.operands[0] else None


def _broadcast_same(op: Op, rw: Rewriter):
    (x,) = op.operands
    return x if x.type == op.result.type else None


def _broadcast_constant(op: Op, rw: Rewriter):
    a = const_value(op.operands[0])
    if a is None or a.size == 0 or not np.all(a == a.reshape(-1)[0]):
        return None
    t = op.result.type
    if not t.is_static or int(np.prod(t.shape, dtype=np.int64)) > SMALL:
        return None
    first = a.reshape(-1)[:1]
    if a.dtype.kind == "f" and not np.all(np.signbit(a) == np.signbit(first)):
        return None   # 0.0 and -0.0 compare equal but are different constants
    return rw.constant(np.full(t.shape, first[0], dtype=a.dtype))


def _cast_same(op: Op, rw: Rewriter):
    (x,) = op.operands
    return x if x.type.dtype == op.attrs["dtype"] else None


# src -> dtypes that hold every value of src exactly
_EXACT = {
    "bool": {"i8", "i32", "i64", "u32", "f16", "f32", "f64"},
    "i8": {"i32", "i64", "f16", "f32", "f64"},
    "i32": {"i64", "f64"},
    "u32": {"i64", "f64"},
    "f16": {"f32", "f64"},
    "f32": {"f64"},
}


def exact_cast(src, dst) -> bool:
    return src == dst or dst.name in _EXACT.get(src.name, ())


def _cast_cast(op: Op, rw: Rewriter):
    (y,) = op.operands
    p = y.producer
    if p is None or p.name != "cast":
        return None
    x, mid, dst = p.operands[0], y.type.dtype, op.attrs["dtype"]
    if not exact_cast(x.type.dtype, mid) or (mid.is_float and dst.is_int):
        return None
    return x if x.type.dtype == dst else rw("cast", x, dtype=dst)


def _log_softmax(op: Op, rw: Rewriter):
    (x,) = op.operands
    p = x.producer
    if p is None or p.name != "softmax":
        return None
    return rw("log_softmax", p.operands[0], axis=p.attrs["axis"])


def _select_constant(op: Op, rw: Rewriter):
    c, x, y = op.operands
    if is_splat(c, True):
        return as_type(rw, x, op.result.type)
    if is_splat(c, False):
        return as_type(rw, y, op.result.type)
    if x is y:
        return as_type(rw, x, op.result.type)
    return None


PATTERNS: list[Pattern] = [
    Pattern("mul-one", "mul", _binop_identity(1, 1), doc="x * 1 -> x"),
    Pattern("one-mul", "mul", _binop_identity(0, 1), doc="1 * x -> x"),
    Pattern("mul-zero", "mul", _mul_zero(1), doc="x * 0 -> 0 (integers only)"),
    Pattern("zero-mul", "mul", _mul_zero(0), doc="0 * x -> 0 (integers only)"),
    Pattern("add-zero", "add", _binop_identity(1, 0, float_zero_sign=True), doc="x + 0 -> x (floats: -0.0 only)"),
    Pattern("zero-add", "add", _binop_identity(0, 0, float_zero_sign=True), doc="0 + x -> x (floats: -0.0 only)"),
    Pattern("sub-zero", "sub", _binop_identity(1, 0, float_zero_sign=False), doc="x - 0 -> x (floats: +0.0 only)"),
    Pattern("sub-self", "sub", _int_only(_sub_self), doc="x - x -> 0 (integers only)"),
    Pattern("div-one", "div", _binop_identity(1, 1), doc="x / 1 -> x"),
    Pattern("neg-neg", "neg", _involution, doc="neg(neg(x)) -> x"),
    Pattern("not-not", "logical_not", _involution, doc="logical_not(logical_not(x)) -> x"),
    Pattern("transpose", "transpose", _transpose, doc="compose transpose(transpose(x)); drop identity perms"),
    Pattern("reshape", "reshape", _reshape, doc="reshape(reshape(x)) -> reshape(x); drop same-shape reshapes"),
    Pattern("broadcast-same", "broadcast_to", _broadcast_same, doc="broadcast_to(x) of x's own shape -> x"),
    Pattern("broadcast-constant", "broadcast_to", _broadcast_constant,
            doc=f"broadcast_to(splat constant) -> constant (static, up to {SMALL} elements)"),
    Pattern("cast-same", "cast", _cast_same, doc="cast(x, dtype of x) -> x"),
    Pattern("cast-cast", "cast", _cast_cast, doc="cast(cast(x, A), B) -> cast(x, B) when x -> A is exact"),
    Pattern("log-softmax", "log", _log_softmax, requires=("softmax", "log_softmax"),
            doc="log(softmax(x)) -> log_softmax(x) (stable; equal up to rounding)"),
    Pattern("select-constant", "select", _select_constant,
            doc="select(true, x, y) -> x; select(false, x, y) -> y; select(c, x, x) -> x"),
]

@register("simplify", "algebraic simplification by a table of exact rewrites (x*1, neg(neg x), "
          "transpose/reshape/cast chains, ...)")
def simplify(f: Function) -> Function:
    return apply_patterns(f, PATTERNS)


__all__ = ["PATTERNS", "SMALL", "simplify", "exact_cast"]
