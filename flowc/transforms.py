"""``fc.grad``, ``fc.value_and_grad`` and ``fc.vjp``: JAX's conventions over flowc's IR transform.

A transformed function traces the user's function into its own Function (one
parameter per array leaf of the arguments, plus one per traced value it closes
over — constants to autodiff, as in JAX), applies the IR-to-IR autodiff
transform and *inlines* the gradient program into the enclosing trace — so
inside ``@fc.jit`` the whole training step, forward, backward and update, is one
program.  Called outside any trace, it jit-compiles itself (eager use works, and
repeated calls with the same signature reuse the compiled program).
"""
from __future__ import annotations

import functools

import numpy as np

from flowc.autodiff import GradError, grad_function, vjp_function
from flowc.ir.core import Function, Op
from flowc.ir.types import TensorType, dtype_of

from .pytree import flatten, unflatten
from .tracing import Trace, Tracer, current_trace


def _leaf_type(x) -> tuple[TensorType, bool]:
    if isinstance(x, Tracer):
        return x.type, x.weak
    from .api import _leaf_array
    a, weak = _leaf_array("argument", x)
    return TensorType(dtype_of(a.dtype), a.shape), weak


def _trace_inner(fn, args, name):
    """Trace ``fn(*args)`` with a parameter per array leaf; returns the Function and bookkeeping."""
    flat, trees, leaf_slices = [], [], []
    for a in args:
        leaves, tree = flatten(a)
        leaf_slices.append(range(len(flat), len(flat) + len(leaves)))
        flat.extend(leaves)
        trees.append(tree)
    trace = Trace(name, closure=True)
    with trace:
        params = [trace.param(*_leaf_type(x)) for x in flat]
        it = iter(params)
        call = [unflatten(t, [next(it) for _ in range(t.num_leaves)]) for t in trees]
        out = fn(*call)
    return trace, flat, trees, leaf_slices, out


def _captured(trace: Trace) -> list:
    """The enclosing-trace values a transformed function closed over (its trailing parameters)."""
    return [outer for _, outer in trace.captures]


def _inline(f: Function, operands) -> list[Tracer]:
    """Append ``f``'s ops to the current trace with its parameters bound to ``operands``."""
    from .numpy_api import asarray
    trace = current_trace()
    env = {id(p): asarray(o).value for p, o in zip(f.params, operands)}
    for op in f.ops:
        new = Op(op.name, [env[id(v)] for v in op.operands], op.attrs, [r.type for r in op.results], op.regions,
                 op.loc)
        trace.builder.ops.append(new)
        env.update((id(r), s) for r, s in zip(op.results, new.results))
    return [Tracer(env[id(v)], trace) for v in f.results]


def _argnums(argnums, nargs, fname):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise GradError(f"argnums {i} is out of range: {fname} was called with {nargs} positional argument(s)")
    return tuple(i % nargs for i in nums)


def _eager(transformed):
    """Run a transformed function from plain Python by jitting it once."""
    from .api import jit
    jitted = jit(transformed)

    @functools.wraps(transformed)
    def call(*args):
        if current_trace() is not None:
            return transformed(*args)
        return jitted(*args)
    call.jitted = jitted
    return call


def value_and_grad(fun, argnums=0, has_aux=False):
    """``(value, grads)`` or, with ``has_aux``, ``((value, aux), grads)``; grads mirror ``args[argnums]``."""
    name = getattr(fun, "__name__", "f")

    def transformed(*args):
        nums = _argnums(argnums, len(args), name)
        trace, flat, trees, slices, out = _trace_inner(fun, args, name)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise GradError(f"{name} was differentiated with has_aux=True, so it must return (value, aux)")
            value, aux = out
        else:
            value, aux = out, None
        aux_leaves, aux_tree = flatten(aux)
        if not isinstance(value, (Tracer, np.ndarray, np.generic, float, int)):
            raise GradError(f"{name} must return a scalar to be differentiated, got {type(value).__name__}"
                            + ("" if has_aux else " (pass has_aux=True to return extra values)"))
        f = trace.finish([value] + aux_leaves)
        wrt = [i for n in nums for i in slices[n]]
        g = grad_function(f, wrt)
        outs = _inline(g, flat + _captured(trace))
        v, aux_out, grads = outs[0], outs[1:1 + len(aux_leaves)], iter(outs[1 + len(aux_leaves):])
        grad_trees = [unflatten(trees[n], [next(grads) for _ in slices[n]]) for n in nums]
        gr = grad_trees[0] if isinstance(argnums, int) else tuple(grad_trees)
        return ((v, unflatten(aux_tree, aux_out)), gr) if has_aux else (v, gr)

    transformed.__name__ = f"value_and_grad_{name}"
    return _eager(transformed)


def grad(fun, argnums=0, has_aux=False):
    """Gradient of a scalar function w.r.t. ``args[argnums]`` (an int, or a tuple giving a tuple)."""
    vg = value_and_grad(fun, argnums, has_aux)

    def once(*args):
        out = vg(*args)
        if has_aux:
            (_, aux), g = out
            return g, aux
        return out[1]

    once.__name__ = f"grad_{getattr(fun, '__name__', 'f')}"
    return _eager(once)


def vjp(fun, *primals):
    """``(outputs, vjp_fn)`` where ``vjp_fn(cotangents)`` returns one cotangent per primal."""
    name = getattr(fun, "__name__", "f")
    if current_trace() is None:
        raise GradError("fc.vjp must be called inside a traced function (@fc.jit); "
                        "use fc.grad / fc.value_and_grad for eager gradients")
    trace, flat, trees, slices, out = _trace_inner(fun, primals, name)
    out_leaves, out_tree = flatten(out)
    f = trace.finish(out_leaves)
    wrt = [i for i, x in enumerate(flat) if f.params[i].type.dtype.is_float]
    operands = flat + _captured(trace)
    forward = _inline(f, operands)

    def vjp_fn(cotangents):
        ct_leaves, ct_tree = flatten(cotangents)
        if ct_tree != out_tree:
            raise GradError(f"vjp of {name}: cotangents have structure {ct_tree}, outputs have {out_tree}")
        g = vjp_function(f, wrt)
        outs = _inline(g, operands + list(ct_leaves))
        grads = dict(zip(wrt, outs[len(out_leaves):]))
        from .numpy_api import zeros_like
        leaves = [grads[i] if i in grads else zeros_like(flat[i]) for i in range(len(flat))]
        it = iter(leaves)
        return tuple(unflatten(t, [next(it) for _ in s]) for t, s in zip(trees, slices))

    return unflatten(out_tree, forward), vjp_fn
