"""Random ops: Threefry-2x32-20 per element on the device, bit-identical to reference/threefry.py.

random_bits/split/bernoulli and uniform reproduce the reference bit for bit (uniform's
[0,1) value is computed exactly as mantissa * 2**-23 instead of the reference's bit
cast); random_normal's log/cos are the device's, so it agrees to a few ulp."""
from __future__ import annotations

import numpy as np

from flowc.backends.reference.threefry import SPLIT_DOMAIN
from flowc.ir.ops.random import compute_dtype

from .. import kernels
from ..codegen import resolve, rules
from ..program import empty, flat, launch
from .shape import broadcast


def _words(op, domain):
    t = op.result.type

    def run(args, env):
        out = empty(resolve(t.shape, env), np.uint32)
        if out.size:
            launch(kernels.random_words, (out.size + 1) // 2, flat(out), args[0], np.uint64(domain))
        return out
    return run


rules.register("random_bits")(lambda ctx, op: _words(op, 0))
rules.register("random_split")(lambda ctx, op: _words(op, SPLIT_DOMAIN))


@rules.register("random_uniform")
def _uniform(ctx, op):
    t, a = op.result.type, op.attrs
    dt, ct = a["dtype"].np, compute_dtype(a["dtype"])
    lo, hi = ct.type(a["minval"]), ct.type(a["maxval"])
    lo_d = dt.type(a["minval"])
    hi_d = np.nextafter(dt.type(a["maxval"]), dt.type(-np.inf))
    f64 = dt == np.float64
    kernel = kernels.uniform_f64 if f64 else kernels.uniform_f32

    def run(args, env):
        out = empty(resolve(t.shape, env), dt)
        if out.size:
            n = out.size if f64 else (out.size + 1) // 2
            launch(kernel, n, flat(out), args[0], lo, ct.type(hi - lo), lo_d, hi_d)
        return out
    return run


@rules.register("random_normal")
def _normal(ctx, op):
    t = op.result.type
    kernel = kernels.normal_f64 if t.dtype.np == np.float64 else kernels.normal_f32

    def run(args, env):
        out = empty(resolve(t.shape, env), t.dtype.np)
        if out.size:
            launch(kernel, out.size, flat(out), args[0])
        return out
    return run


@rules.register("random_bernoulli")
def _bernoulli(ctx, op):
    t = op.result.type

    def run(args, env):
        key, p = args
        shape = resolve(t.shape, env)
        out = empty(shape, np.bool_)
        if out.size:
            pb = broadcast(p, shape) if tuple(p.shape) != tuple(shape) else p
            launch(kernels.bernoulli, (out.size + 1) // 2, flat(out), key, flat(pb))
        return out
    return run
