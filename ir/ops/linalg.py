"""Linear algebra: matmul with numpy semantics (1-D operands promoted and removed, batch dims broadcast)."""
from __future__ import annotations

from ..registry import defop
from ..types import TensorType, TypeError_, broadcast_shapes, shape_str, unify_dim


@defop("matmul", arity=2, traits=("pure",), doc="numpy.matmul: [..., M, K] @ [..., K, N] -> [..., M, N]")
def _matmul(x: TensorType, y: TensorType) -> TensorType:
    if x.dtype != y.dtype:
        raise TypeError_(f"operand dtypes {x.dtype} and {y.dtype} differ (insert a cast)")
    if x.dtype.is_bool:
        raise TypeError_(f"operands must be numeric (not bool), got {x}")
    if x.ndim == 0 or y.ndim == 0:
        raise TypeError_("operands must have rank >= 1 (use mul for scalars)")
    # A 1-D x is a row [1, K], a 1-D y a column [K, 1]; the added axis is removed from the result.
    xs = x.shape if x.ndim > 1 else (1,) + x.shape
    ys = y.shape if y.ndim > 1 else y.shape + (1,)
    unify_dim(xs[-1], ys[-2], "contracting dims")
    try:
        batch = broadcast_shapes(xs[:-2], ys[:-2])
    except TypeError_:
        raise TypeError_(f"batch dims {shape_str(xs[:-2])} and {shape_str(ys[:-2])} cannot be broadcast") from None
    out = batch + ((xs[-2],) if x.ndim > 1 else ()) + ((ys[-1],) if y.ndim > 1 else ())
    return TensorType(x.dtype, out)
