"""Gradient rules of the nn family (softmax family and logsumexp here; conv/pool/LRN use their *_grad ops)."""
from .transform import GradError, grad_rules


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


@grad_rules.register("logsumexp")
def _logsumexp(g, op, ct):
    (x,), axis = op.operands, op.attrs["axis"]
    lse = g("expand_dims", op.result, axes=(axis,))
    return [g("mul", g("expand_dims", ct, axes=(axis,)), g("exp", g("sub", x, lse)))]


def _conv_attrs(op):
    return {k: op.attrs[k] for k in ("strides", "padding", "dilation", "groups", "layout")}


def _hw(t, layout):
    return tuple(t.shape[2:4]) if layout == "NCHW" else tuple(t.shape[1:3])


@grad_rules.register("conv2d")
def _conv2d(g, op, ct):
    x, w = op.operands
    attrs = _conv_attrs(op)
    layout = attrs["layout"]
    kh_kw = tuple(w.type.shape[2:4]) if layout == "NCHW" else tuple(w.type.shape[0:2])
    dx = g("conv2d_input_grad", ct, w, input_hw=_hw(x.type, layout), **attrs)
    dw = g("conv2d_filter_grad", x, ct, filter_hw=kh_kw, **attrs)
    return [dx, dw]


@grad_rules.register("max_pool2d")
def _max_pool2d(g, op, ct):
    return [g("max_pool2d_grad", op.operands[0], ct, **op.attrs)]


@grad_rules.register("avg_pool2d")
def _avg_pool2d(g, op, ct):
    x = op.operands[0]
    return [g("avg_pool2d_grad", ct, input_hw=_hw(x.type, op.attrs["layout"]), **op.attrs)]


@grad_rules.register("local_response_norm")
def _lrn(g, op, ct):
    return [g("local_response_norm_grad", op.operands[0], ct, **op.attrs)]


def _second_order(g, op, ct):
    raise GradError(f"second-order gradients through {op.name} are not supported yet "
                    "(differentiate conv/pool/LRN models once)")


grad_rules.register("conv2d_input_grad", "conv2d_filter_grad", "max_pool2d_grad", "avg_pool2d_grad",
                    "local_response_norm_grad")(_second_order)
