"""Reductions: reduce_{sum,mean,max,min,prod} over a set of axes, argmax/argmin along one axis.

Axes are canonical (sorted, unique, non-negative); an empty ``axes`` is the identity.
Reduced dims may be symbolic: the result simply drops (or keeps as 1) those axes.
"""
from __future__ import annotations

from ..registry import Attr, defop
from ..types import TensorType, TypeError_, int64
from .shape import canonical_axes, canonical_axis


def _reduced_shape(x: TensorType, axes, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def _reduce(name: str, float_only: bool, needs_identity: bool, doc: str):
    @defop(name, attrs={"axes": Attr("ints"), "keepdims": Attr("bool", False)}, traits=("pure", "reduction"),
           doc=doc)
    def infer(x: TensorType, axes, keepdims) -> TensorType:
        if x.dtype.is_bool or (float_only and not x.dtype.is_float):
            raise TypeError_(f"operand of type {x} must be " + ("floating point" if float_only else
                                                                 "numeric (not bool)"))
        canonical_axes(axes, x.ndim)
        if needs_identity:
            for a in axes:
                if x.shape[a] == 0:
                    raise TypeError_(f"axis {a} of {x} is empty and {name} has no identity")
        return TensorType(x.dtype, _reduced_shape(x, axes, keepdims))


for _name, _float_only, _needs_identity, _doc in [
    ("reduce_sum", False, False, "sum over axes (f16 accumulates in f32; ints wrap)"),
    ("reduce_mean", True, False, "mean over axes (f16 accumulates in f32)"),
    ("reduce_max", False, True, "maximum over axes (nan wins)"),
    ("reduce_min", False, True, "minimum over axes (nan wins)"),
    ("reduce_prod", False, False, "product over axes (f16 accumulates in f32; ints wrap)"),
]:
    _reduce(_name, _float_only, _needs_identity, _doc)


def _arg(name: str, doc: str):
    @defop(name, attrs={"axis": Attr("int"), "keepdims": Attr("bool", False)}, traits=("pure", "reduction"),
           doc=doc)
    def infer(x: TensorType, axis, keepdims) -> TensorType:
        if x.dtype.is_bool:
            raise TypeError_(f"operand of type {x} must be numeric (not bool)")
        canonical_axis(axis, x.ndim)
        if x.shape[axis] == 0:
            raise TypeError_(f"axis {axis} of {x} is empty: {name} has no answer")
        return TensorType(int64, _reduced_shape(x, (axis,), keepdims))


_arg("argmax", "index (i64) of the largest element along axis; first one on ties, nan wins")
_arg("argmin", "index (i64) of the smallest element along axis; first one on ties, nan wins")
