"""Finite-difference checks of gradient programs (float64, central differences)."""
from __future__ import annotations

import numpy as np

from flowc.autodiff import vjp_function
from flowc.backends import reference
from flowc.ir import Builder, Function, Value, tensor_type, verify


def build(fn, *types, names=None) -> Function:
    """Build a Function from ``fn(builder, *params) -> Value | list[Value]``."""
    b = Builder()
    params = [Value(tensor_type(*t) if isinstance(t, tuple) else t, (names or "abcdefgh")[i])
              for i, t in enumerate(types)]
    out = fn(b, *params)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return verify(Function("f", params, b.ops, outs))


def check_vjp(f: Function, args, wrt=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Compare the vjp program's gradients with central differences of <ct, f(args)>."""
    wrt = [i for i, p in enumerate(f.params) if p.type.dtype.is_float] if wrt is None else list(wrt)
    args = [np.array(a) for a in args]
    g = vjp_function(f, wrt)
    verify(g)
    outs = reference.run(f, *args)
    rng = np.random.default_rng(seed)
    cts = [rng.standard_normal(o.shape).astype(o.dtype) if o.dtype.kind == "f" else np.zeros_like(o) for o in outs]
    res = reference.run(g, *args, *cts)
    for o, r in zip(outs, res[:len(outs)]):
        np.testing.assert_array_equal(o, r)  # the replayed forward pass is the same program
    grads = res[len(outs):]

    def loss(xs):
        return sum(float(np.sum(c * o)) for c, o in zip(cts, reference.run(f, *xs)) if o.dtype.kind == "f")

    for gi, i in zip(grads, wrt):
        num = np.zeros_like(args[i])
        flat = num.reshape(-1)
        for j in range(args[i].size):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            flat[j] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(gi, num, rtol=rtol, atol=atol, err_msg=f"gradient of argument {i}")
    return g
