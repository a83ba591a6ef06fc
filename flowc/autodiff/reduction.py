"""Gradient rules of reductions.

reduce_max/reduce_min split the gradient equally among tied extrema (JAX's rule);
reduce_prod uses prod/x and so is undefined where an input is exactly 0 (documented limitation).
"""
from .transform import grad_rules, nondifferentiable

nondifferentiable("argmax", "argmin")


def _spread(g, ct, x, axes, keepdims):
    """Broadcast a reduced cotangent back over the reduced axes of x."""
    if not keepdims and axes:
        ct = g("expand_dims", ct, axes=axes)
    return g("broadcast_to", ct, shape=x.type.shape)


@grad_rules.register("reduce_sum")
def _sum(g, op, ct):
    x = op.operands[0]
    return [_spread(g, ct, x, op.attrs["axes"], op.attrs["keepdims"])]


@grad_rules.register("reduce_mean")
def _mean(g, op, ct):
    x = op.operands[0]
    n = g.count(x.type.shape, op.attrs["axes"], x.type.dtype)
    return [g("div", _spread(g, ct, x, op.attrs["axes"], op.attrs["keepdims"]), n)]


def _extremum(g, op, ct):
    x = op.operands[0]
    axes, keep = op.attrs["axes"], op.attrs["keepdims"]
    y = _spread(g, op.result, x, axes, keep)
    mask = g("cast", g("eq", x, y), dtype=x.type.dtype)
    ties = g("reduce_sum", mask, axes=axes, keepdims=True)
    share = g("div", mask, g("broadcast_to", ties, shape=x.type.shape))
    return [g("mul", share, _spread(g, ct, x, axes, keep))]


grad_rules.register("reduce_max", "reduce_min")(_extremum)


@grad_rules.register("reduce_prod")
def _prod(g, op, ct):
    x = op.operands[0]
    axes, keep = op.attrs["axes"], op.attrs["keepdims"]
    y = _spread(g, op.result, x, axes, keep)
    return [g("mul", _spread(g, ct, x, axes, keep), g("div", y, x))]
