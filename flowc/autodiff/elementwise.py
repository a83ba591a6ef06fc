"""Gradient rules of the elementwise family.

Conventions at kinks (documented, tested): relu'(0) = 0, abs'(0) = 0, sign/floor/ceil have zero gradient,
maximum/minimum split the gradient equally between tied operands (as JAX does).
"""
from .transform import grad_rules, nondifferentiable

nondifferentiable("sign", "floor", "ceil", "logical_not", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                  "logical_or", "constant", "iota")


def _rule(name):
    return grad_rules.register(name)


@_rule("neg")
def _neg(g, op, ct):
    return [g("neg", ct)]


@_rule("abs")
def _abs(g, op, ct):
    return [g("mul", ct, g("sign", op.operands[0]))]


@_rule("relu")
def _relu(g, op, ct):
    """The mask from the output, y > 0 (the same as x > 0 for every x, nan and -0 included), as torch's
    threshold_backward does: the forward keeps y for its consumers anyway, so the backward needs no mask
    or pre-activation kept from the forward (the MNIST CNN wrote a float mask per conv activation)."""
    y = op.result
    mask = g("cast", g("gt", y, g.zeros(y.type)), dtype=y.type.dtype)
    return [g("mul", ct, mask)]


@_rule("exp")
def _exp(g, op, ct):
    return [g("mul", ct, op.result)]


@_rule("log")
def _log(g, op, ct):
    return [g("div", ct, op.operands[0])]


@_rule("log1p")
def _log1p(g, op, ct):
    x = op.operands[0]
    return [g("div", ct, g("add", x, g.const(1, x.type.dtype)))]


@_rule("sqrt")
def _sqrt(g, op, ct):
    y = op.result
    return [g("div", ct, g.scale(y, 2.0))]


@_rule("rsqrt")
def _rsqrt(g, op, ct):
    x, y = op.operands[0], op.result
    return [g("mul", ct, g.scale(g("div", y, x), -0.5))]


@_rule("tanh")
def _tanh(g, op, ct):
    y = op.result
    one = g.const(1, y.type.dtype)
    return [g("mul", ct, g("sub", one, g("mul", y, y)))]


@_rule("sigmoid")
def _sigmoid(g, op, ct):
    y = op.result
    one = g.const(1, y.type.dtype)
    return [g("mul", ct, g("mul", y, g("sub", one, y)))]


@_rule("sin")
def _sin(g, op, ct):
    return [g("mul", ct, g("cos", op.operands[0]))]


@_rule("cos")
def _cos(g, op, ct):
    return [g("neg", g("mul", ct, g("sin", op.operands[0])))]


@_rule("add")
def _add(g, op, ct):
    x, y = op.operands
    return [g.sum_to(ct, x.type), g.sum_to(ct, y.type)]


@_rule("sub")
def _sub(g, op, ct):
    x, y = op.operands
    return [g.sum_to(ct, x.type), g.sum_to(g("neg", ct), y.type)]


@_rule("mul")
def _mul(g, op, ct):
    x, y = op.operands
    return [g.sum_to(g("mul", ct, y), x.type), g.sum_to(g("mul", ct, x), y.type)]


@_rule("div")
def _div(g, op, ct):
    x, y = op.operands
    dx = g("div", ct, y)
    dy = g("neg", g("mul", dx, op.result))  # -ct * x / y**2 == -(ct / y) * (x / y)
    return [g.sum_to(dx, x.type), g.sum_to(dy, y.type)]


@_rule("pow")
def _pow(g, op, ct):
    x, y = op.operands
    if not x.type.dtype.is_float:
        return [None, None]
    one = g.const(1, x.type.dtype)
    dx = g("mul", ct, g("mul", y, g("pow", x, g("sub", y, one))))
    # d/dy x**y = log(x) * x**y, taken as 0 where x == 0 (the limit for y > 0).
    zero = g.zeros(x.type)
    safe_log = g("select", g("eq", x, zero), zero, g("log", x))
    dy = g("mul", ct, g("mul", op.result, safe_log))
    return [g.sum_to(dx, x.type), g.sum_to(dy, y.type)]


def _minmax(g, op, ct, cmp):
    x, y = op.operands
    dt = op.result.type.dtype
    win_x = g("cast", g(cmp, x, y), dtype=dt)
    tie = g.scale(g("cast", g("eq", x, y), dtype=dt), 0.5)
    wx = g("add", win_x, tie)
    wy = g("sub", g.const(1, dt), wx)
    return [g.sum_to(g("mul", ct, wx), x.type), g.sum_to(g("mul", ct, wy), y.type)]


@_rule("maximum")
def _maximum(g, op, ct):
    return _minmax(g, op, ct, "gt")


@_rule("minimum")
def _minimum(g, op, ct):
    return _minmax(g, op, ct, "lt")


@_rule("select")
def _select(g, op, ct):
    c, x, y = op.operands
    zero = g.zeros(ct.type)
    return [None, g.sum_to(g("select", c, ct, zero), x.type), g.sum_to(g("select", c, zero, ct), y.type)]


@_rule("cast")
def _cast(g, op, ct):
    x = op.operands[0]
    if not (x.type.dtype.is_float and op.result.type.dtype.is_float):
        return [None]
    return [g("cast", ct, dtype=x.type.dtype)]
