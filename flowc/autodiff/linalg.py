"""Gradient rule of matmul (numpy semantics: 1-D operands and broadcast batch dims)."""
from .transform import grad_rules


def _swap_last(g, v):
    n = v.type.ndim
    perm = tuple(range(n - 2)) + (n - 1, n - 2)
    return g("transpose", v, perm=perm)


@grad_rules.register("matmul")
def _matmul(g, op, ct):
    x, y = op.operands
    x2 = x if x.type.ndim >= 2 else g("expand_dims", x, axes=(0,))
    y2 = y if y.type.ndim >= 2 else g("expand_dims", y, axes=(1,))
    ct2 = ct
    if x.type.ndim == 1:   # the removed M axis sits just before the last axis of the 2-D result
        ct2 = g("expand_dims", ct2, axes=(ct2.type.ndim - (0 if y.type.ndim == 1 else 1),))
    if y.type.ndim == 1:
        ct2 = g("expand_dims", ct2, axes=(ct2.type.ndim,))
    dx = g.sum_to(g("matmul", ct2, _swap_last(g, y2)), x2.type)
    dy = g.sum_to(g("matmul", _swap_last(g, x2), ct2), y2.type)
    if x.type.ndim == 1:
        dx = g("squeeze", dx, axes=(0,))
    if y.type.ndim == 1:
        dy = g("squeeze", dy, axes=(1,))
    return [dx, dy]
