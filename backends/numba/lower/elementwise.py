"""Elementwise ops: one loop nest over the result, one scalar expression per element.

Every rule here is built by :func:`elementwise` from a *scalar form*
``scalar(e, op, operands) -> expr`` (operands are names of scalar temps or
literals).  The same scalar forms are what ``fusion`` regions chain inside a
single loop nest.  Numba widens small ints and mixes a Python float literal into
float64, so every result goes through ``Emitter.typed`` (wrap to the int width,
round to f32/f16) — which is also where integer overflow wraps like numpy's.
"""
from __future__ import annotations

from ..codegen import INLINE_MAX, literal, rules, storage


def elementwise(scalar):
    """A lowering rule (with ``.scalar``) for an op computed element by element."""
    def lower(e, op):
        t = op.result.type
        out = e.alloc(op.result)
        for v in op.operands:
            if e.scalar(v) is None:
                e.check_bcast(v, e.arr(v), t.shape)
        with e.loops(t.shape) as idx:
            xs = [e.load(v, t.shape, idx) for v in op.operands]
            e.emit(f"{out}{e.sub(idx)} = {e.typed(scalar(e, op, xs), t.dtype)}")
        return out
    lower.scalar = scalar
    return lower


def _register(name, scalar):
    rules.register(name)(elementwise(scalar))


def _one(op):
    return literal(1, op.operands[0].type.dtype)


_UNARY = {
    "neg": lambda e, op, x: f"-{x}",
    "abs": lambda e, op, x: f"abs({x})",
    "sign": lambda e, op, x: f"(1 if {x} > 0 else (-1 if {x} < 0 else {x}))",
    "relu": lambda e, op, x: f"({x} if ({x} > 0 or {x} != {x}) else 0)",
    # exp, log, log1p, tanh, sigmoid: the backend's own vectorizable versions (see fastmath.py).
    "exp": lambda e, op, x: f"{e.helper('fast_exp')}({x})",
    "log": lambda e, op, x: f"{e.helper('fast_log')}({x})",
    "log1p": lambda e, op, x: f"{e.helper('fast_log1p')}({x})",
    "sqrt": lambda e, op, x: f"np.sqrt({x})",
    "rsqrt": lambda e, op, x: f"{_one(op)} / np.sqrt({x})",
    "tanh": lambda e, op, x: f"{e.helper('fast_tanh')}({x})",
    "sin": lambda e, op, x: f"np.sin({x})",
    "cos": lambda e, op, x: f"np.cos({x})",
    "floor": lambda e, op, x: f"np.floor({x})",
    "ceil": lambda e, op, x: f"np.ceil({x})",
    "logical_not": lambda e, op, x: f"(not {x})",
    "sigmoid": lambda e, op, x: f"{e.helper('fast_sigmoid')}({x})",
}
for _name, _fn in _UNARY.items():
    _register(_name, lambda e, op, xs, _fn=_fn: _fn(e, op, xs[0]))


def _pow(e, op, xs):
    x, y = xs
    if op.operands[0].type.dtype.is_int:
        return f"{e.helper('ipow')}({x}, {y})"
    return f"{x} ** {y}"


_BINARY = {
    "add": "{x} + {y}", "sub": "{x} - {y}", "mul": "{x} * {y}", "div": "{x} / {y}",
    # nan wins: x when x > y or x is nan; otherwise y (which is nan if y is).
    "maximum": "({x} if ({x} > {y} or {x} != {x}) else {y})",
    "minimum": "({x} if ({x} < {y} or {x} != {x}) else {y})",
    "eq": "{x} == {y}", "ne": "{x} != {y}", "lt": "{x} < {y}", "le": "{x} <= {y}", "gt": "{x} > {y}",
    "ge": "{x} >= {y}", "logical_and": "({x} and {y})", "logical_or": "({x} or {y})",
}
for _name, _fmt in _BINARY.items():
    _register(_name, lambda e, op, xs, _fmt=_fmt: _fmt.format(x=xs[0], y=xs[1]))
_register("pow", _pow)
_register("select", lambda e, op, xs: f"({xs[1]} if {xs[0]} else {xs[2]})")


def _cast(e, op, xs):
    (x,), src, dst = xs, op.operands[0].type.dtype, op.attrs["dtype"]
    if dst.is_bool:
        return x if src.is_bool else f"({x} != 0)"
    if src.is_bool:
        return f"(1 if {x} else 0)"
    if src.is_float and dst.is_int:
        return f"np.int64({x})"      # truncate toward zero first; `typed` then wraps to the width
    return x


_register("cast", _cast)


@rules.register("iota")
def _iota(e, op):
    t = op.result.type
    out = e.alloc(op.result)
    with e.loops(t.shape) as idx:
        e.emit(f"{out}{e.sub(idx)} = {e.typed(idx[op.attrs['axis']], t.dtype)}")
    return out


@rules.register("constant")
def _constant(e, op):
    a, t = op.attrs["value"], op.result.type
    if a.ndim == 0:
        e.bind_scalar(op.result, literal(a[()], t.dtype))
        return None
    if a.size == 0:
        name = e.result_var(op.result)
        e.emit(f"{name} = np.empty({e.shape(t.shape)}, {storage(t.dtype)})")
        return name
    if a.size <= INLINE_MAX:
        items = ", ".join(literal(x, t.dtype) for x in a.reshape(-1))
        name = e.result_var(op.result)
        e.emit(f"{name} = np.array([{items}], {storage(t.dtype)}).reshape({e.shape(t.shape)})")
        return name
    return e.const_arg(a)

