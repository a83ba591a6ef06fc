"""Reverse-mode autodiff as an IR-to-IR transform.

``vjp_function(f, wrt)`` returns a new Function ``g(*params, *cotangents) ->
(*results, *grads)``; ``grad_function(f, wrt)`` seeds the first (scalar) result
with 1.  The forward ops are replayed, then each op's gradient rule (registered
per op name in ``grad_rules``) emits ordinary IR for the backward pass, in
reverse order, accumulating cotangents with ``add``.  The result prints,
verifies and runs on every backend like any other function; being ordinary IR,
it can be differentiated again.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from flowc.ir.core import Builder, Function, Op, Value
from flowc.ir.registry import Rules
from flowc.ir.types import FlowcError, Sym, TensorType, TypeError_

grad_rules = Rules("gradient")

NONDIFF = object()  # registered for ops through which no gradient flows


def nondifferentiable(*names: str):
    """Declare ops (comparisons, argmax, RNG, ...) whose outputs carry no gradient."""
    for n in names:
        grad_rules.register(n)(NONDIFF)


class GradError(FlowcError):
    pass


class GradBuilder:
    """A Builder with the helpers gradient rules share (unbroadcast, constants, sums)."""

    def __init__(self, builder: Builder):
        self.b = builder

    def __call__(self, name: str, *operands: Value, **attrs) -> Value:
        return self.b(name, *operands, **attrs)

    def const(self, value, dtype) -> Value:
        return self.b("constant", value=np.asarray(value, dtype=dtype.np))

    def full_like(self, t: TensorType, value) -> Value:
        c = self.const(value, t.dtype)
        return c if t.ndim == 0 else self.b("broadcast_to", c, shape=t.shape)

    def zeros(self, t: TensorType) -> Value:
        return self.full_like(t, 0)

    def scale(self, v: Value, k: float) -> Value:
        return self.b("mul", v, self.const(k, v.type.dtype))

    def sum_to(self, ct: Value, t: TensorType) -> Value:
        """Undo numpy broadcasting: sum ``ct`` down to type ``t``'s shape."""
        shape, target = ct.type.shape, t.shape
        if shape == target:
            return ct
        lead = len(shape) - len(target)
        if lead < 0:
            raise TypeError_(f"cannot sum {ct.type} down to {t}")
        if lead:
            ct = self.b("reduce_sum", ct, axes=tuple(range(lead)))
        axes = tuple(i for i, (d, e) in enumerate(zip(ct.type.shape, target)) if e == 1 and d != 1)
        if axes:
            ct = self.b("reduce_sum", ct, axes=axes, keepdims=True)
        if ct.type.shape != target:  # symbolic dims unified differently: restate the shape
            ct = self.b("reshape", ct, shape=target)
        return ct

    def count(self, shape, axes, dtype) -> Value:
        """Number of elements over ``axes`` as a scalar (symbolic dims are counted at run time)."""
        dims = [shape[a] for a in axes]
        if all(isinstance(d, int) for d in dims):
            return self.const(float(np.prod(dims, dtype=np.float64)), dtype)
        ones = self.b("broadcast_to", self.const(1, dtype), shape=tuple(dims))
        return self.b("reduce_sum", ones, axes=tuple(range(len(dims))))


def _is_float(v: Value) -> bool:
    return v.type.dtype.is_float


def _copy_forward(f: Function, b: Builder) -> tuple[list[Value], dict[int, Value], list[Op]]:
    params = [Value(p.type, p.name) for p in f.params]
    env = {id(p): q for p, q in zip(f.params, params)}
    pairs = []
    for op in f.ops:
        new = Op(op.name, [env[id(v)] for v in op.operands], op.attrs, [r.type for r in op.results], op.regions,
                 op.loc)
        b.ops.append(new)
        for r, s in zip(op.results, new.results):
            env[id(r)] = s
        pairs.append(new)
    return params, env, pairs


def _active_ops(ops: list[Op], sources: set[int]) -> set[int]:
    """Ids of values that depend (through float values) on the differentiated params."""
    active = set(sources)
    for op in ops:
        if any(id(v) in active for v in op.operands):
            active.update(id(r) for r in op.results if _is_float(r))
    return active


def _check_wrt(f: Function, wrt: Sequence[int]):
    for i in wrt:
        if not 0 <= i < len(f.params):
            raise GradError(f"argnums {i} is out of range: @{f.name} has {len(f.params)} parameter(s)")
        t = f.params[i].type
        if not t.dtype.is_float:
            raise GradError(f"cannot differentiate with respect to argument {i} of type {t}: only floating-point "
                            "values have gradients (integer and bool inputs are constants to autodiff)")


def _backward(b: Builder, ops: list[Op], params: list[Value], wrt: Sequence[int], seeds: dict[int, Value]):
    g = GradBuilder(b)
    active = _active_ops(ops, {id(params[i]) for i in wrt})
    cts: dict[int, Value] = dict(seeds)

    def accumulate(v: Value, ct: Value):
        if ct.type != v.type:
            ct = g.sum_to(ct, v.type) if ct.type.dtype == v.type.dtype else g("cast", ct, dtype=v.type.dtype)
        prev = cts.get(id(v))
        cts[id(v)] = ct if prev is None else b("add", prev, ct)

    for op in reversed(ops):
        outs = [cts.get(id(r)) for r in op.results]
        if all(c is None for c in outs) or not any(id(v) in active for v in op.operands):
            continue
        rule = grad_rules.table.get(op.name)
        if rule is None:
            where = f" (at {op.loc})" if op.loc else ""
            raise GradError(f"op '{op.name}'{where} has no gradient rule: it is not differentiable")
        if rule is NONDIFF:
            continue
        b.loc = op.loc
        if len(op.results) == 1:
            grads = rule(g, op, outs[0])
        else:
            grads = rule(g, op, [c if c is not None else g.zeros(r.type) for c, r in zip(outs, op.results)])
        for v, ct in zip(op.operands, grads):
            if ct is not None and id(v) in active:
                accumulate(v, ct)
    b.loc = None
    return [cts.get(id(params[i])) if id(params[i]) in cts else g.zeros(params[i].type) for i in wrt]


def vjp_function(f: Function, wrt: Sequence[int]) -> Function:
    """g(*params, *cotangents) -> (*results, *grads of params[wrt])."""
    _check_wrt(f, wrt)
    b = Builder()
    params, env, ops = _copy_forward(f, b)
    results = [env[id(v)] for v in f.results]
    cot_params = [Value(v.type, f"ct{i}") for i, v in enumerate(results)]
    seeds = {}
    for v, c in zip(results, cot_params):
        if _is_float(v):
            seeds[id(v)] = c if id(v) not in seeds else b("add", seeds[id(v)], c)
    grads = _backward(b, ops, params, wrt, seeds)
    return Function(f"{f.name}_vjp", params + cot_params, b.ops, results + grads)


def grad_function(f: Function, wrt: Sequence[int]) -> Function:
    """g(*params) -> (*results, *grads of the first result w.r.t. params[wrt]); extra results ride along (aux)."""
    _check_wrt(f, wrt)
    if not f.results:
        raise GradError(f"@{f.name} returns nothing to differentiate")
    out = f.results[0].type
    if out.ndim != 0 or not out.dtype.is_float:
        raise GradError(f"grad needs a function returning a floating-point scalar, got {out} "
                        "(use fc.vjp for non-scalar outputs)")
    b = Builder()
    params, env, ops = _copy_forward(f, b)
    results = [env[id(v)] for v in f.results]
    seed = b("constant", value=np.ones((), out.dtype.np))
    grads = _backward(b, ops, params, wrt, {id(results[0]): seed})
    return Function(f"{f.name}_grad", params, b.ops, results + grads)


__all__ = ["grad_rules", "nondifferentiable", "GradBuilder", "GradError", "vjp_function", "grad_function", "Sym"]
