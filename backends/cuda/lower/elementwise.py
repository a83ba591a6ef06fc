"""Elementwise ops: a scalar form each (``scalars``), and a lowering that runs it as a one-op kernel.

The scalar forms are what fusion kernels chain; a plain (unfused) elementwise op is
the same generator applied to a region of one op.  ``iota`` and ``constant`` have
their own rules: constants are uploaded once, at compile time.
"""
from __future__ import annotations

from ..codegen import literal, rules, scalars
from ..program import empty, flat, launch
from .. import device, kernels


def _one(op):
    return literal(1, op.operands[0].type.dtype)


def _float_or_int(float_form, int_form):
    def form(op, xs):
        return (float_form if op.operands[0].type.dtype.is_float else int_form).format(*xs, one=_one(op))
    return form


UNARY = {
    "neg": "-{0}", "abs": "abs({0})",
    "sign": "(1 if {0} > 0 else (-1 if {0} < 0 else {0}))",
    "relu": "({0} if ({0} > {zero} or {0} != {0}) else {zero})",
    "exp": "{f}exp({0})", "log": "{f}log({0})", "log1p": "{f}log1p({0})", "sqrt": "{f}sqrt({0})",
    "rsqrt": "{one} / {f}sqrt({0})", "tanh": "math.tanh({0})", "sin": "math.sin({0})", "cos": "math.cos({0})",
    "floor": "{f}floor({0})", "ceil": "{f}ceil({0})", "logical_not": "(not {0})", "sigmoid": "{f}sigmoid({0})",
}
BINARY = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "maximum": "({0} if ({0} > {1} or {0} != {0}) else {1})",
    "minimum": "({0} if ({0} < {1} or {0} != {0}) else {1})",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}",
    "ge": "{0} >= {1}", "logical_and": "({0} and {1})", "logical_or": "({0} or {1})",
    "select": "({1} if {0} else {2})",
}


def _fmt(text):
    """The scalar form: ``{one}``/``{zero}`` are literals of the operand's type and ``{f}`` picks the
    helpers of its float width (``f32_exp`` for float32: no promotion to float64)."""
    def form(op, xs):
        dt = op.operands[0].type.dtype if op.operands else None
        return text.format(*xs, one=literal(1, dt) if dt else "1", zero=literal(0, dt) if dt else "0",
                           f="f32_" if dt is not None and dt.name == "f32" else "f_")
    return form


def _cast(op, xs):
    (x,), src, dst = xs, op.operands[0].type.dtype, op.attrs["dtype"]
    if dst.is_bool:
        return x if src.is_bool else f"({x} != 0)"
    if src.is_bool:
        return f"(1 if {x} else 0)"
    if src.is_float and dst.is_int:
        return f"int64({x})"        # truncate toward zero, then wrap to the width
    return x


for _name, _text in {**UNARY, **BINARY}.items():
    scalars.register(_name)(_fmt(_text))
scalars.register("pow")(_float_or_int("f_pow({0}, {1})", "i_pow({0}, {1})"))
scalars.register("cast")(_cast)


def _single(ctx, op):
    """An unfused elementwise op: a generated kernel over its result."""
    uniq = list(dict.fromkeys(op.operands))
    run = ctx.loop([op], uniq, [op.result], op.result.type.shape)
    if len(uniq) == len(op.operands):
        return run
    pick = [op.operands.index(v) for v in uniq]
    return lambda args, env: run([args[k] for k in pick], env)


for _name in scalars.table:
    rules.register(_name)(_single)


@rules.register("iota")
def _iota(ctx, op):
    t = op.result.type
    from ..codegen import resolve

    def run(args, env):
        shape = resolve(t.shape, env)
        out = empty(shape, t.dtype.np)
        if out.size:
            launch(kernels.iota, out.size, flat(out), shape, op.attrs["axis"])
        return out
    return run


@rules.register("constant")
def _constant(ctx, op):
    value = op.attrs["value"]
    arr = device.cuda().to_device(value.astype(op.result.type.dtype.np).copy(order="C"))
    ctx.const_ids.add(id(arr))
    return lambda args, env: arr
