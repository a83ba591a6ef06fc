"""Gradient rules of the nn family (softmax family here; conv/pool/LRN use their *_grad ops)."""
from .transform import grad_rules


@grad_rules.register("softmax")
def _softmax(g, op, ct):
    y, axis = op.result, op.attrs["axis"]
    dot = g("reduce_sum", g("mul", ct, y), axes=(axis,), keepdims=True)
    return [g("mul", y, g("sub", ct, dot))]


@grad_rules.register("log_softmax")
def _log_softmax(g, op, ct):
    y, axis = op.result, op.attrs["axis"]
    total = g("reduce_sum", ct, axes=(axis,), keepdims=True)
    return [g("sub", ct, g("mul", g("exp", y), total))]
