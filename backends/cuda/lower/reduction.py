"""Reductions: move the reduced axes last (one gather kernel when needed), then one block per output row
reduces its row through shared memory (rows of at most ``SHORT_ROW`` elements: one thread each, no barriers).
Float sums accumulate in f64, integer ones in i64."""
from __future__ import annotations

import numba
import numpy as np

from .. import device, kernels
from ..codegen import resolve, rules
from ..program import empty, flat, launch_grid
from .shape import transposed

SHORT_ROW = 32


def _rows(x, t, axes, env):
    """x with ``axes`` moved last, as (rows, length) counts."""
    shape = resolve(t.shape, env)
    keep = [a for a in range(len(shape)) if a not in axes]
    perm = keep + list(axes)
    if perm != sorted(perm):
        x = transposed(x, perm)
    length = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    rows = int(np.prod([shape[a] for a in keep], dtype=np.int64))
    return x, rows, length


def _acc(dtype):
    return (numba.float64, np.float64) if dtype.is_float else (numba.int64, np.int64)


def _init(kind, dtype):
    if kind in ("sum", "mean"):
        return 0
    if kind == "prod":
        return 1
    if dtype.is_float:
        return -np.inf if kind == "max" else np.inf
    info = np.iinfo(dtype.np)
    return int(info.min if kind == "max" else info.max)


def _reduce(kind):
    def lower(ctx, op):
        (v,), axes = op.operands, op.attrs["axes"]
        t, res = v.type, op.result.type
        acc, acc_np = _acc(t.dtype)
        init = acc_np(_init(kind, t.dtype))

        def run(args, env):
            x, rows, length = _rows(args[0], t, axes, env)
            out = empty((rows,), res.dtype.np)
            if rows and length <= SHORT_ROW:
                blocks, threads = device.grid(rows)
                launch_grid(kernels.reduce_short_rows(kind, acc), (blocks, threads), out, flat(x), rows, length, init)
            elif rows:
                blocks, threads = device.row_grid(rows)
                launch_grid(kernels.reduce_rows(kind, acc), (blocks, threads), out, flat(x), rows, length, init)
            return out.reshape(resolve(res.shape, env))
        return run
    return lower


for _kind in ("sum", "mean", "prod", "max", "min"):
    rules.register(f"reduce_{_kind}")(_reduce(_kind))


def _arg(kind):
    def lower(ctx, op):
        (v,), axis = op.operands, op.attrs["axis"]
        t, res = v.type, op.result.type
        acc = numba.float64 if t.dtype.is_float else numba.int64

        def run(args, env):
            x, rows, length = _rows(args[0], t, (axis,), env)
            out = empty((rows,), np.int64)
            if rows:
                blocks, threads = device.row_grid(rows)
                launch_grid(kernels.arg_rows(kind, acc), (blocks, threads), out, flat(x), rows, length)
            return out.reshape(resolve(res.shape, env))
        return run
    return lower


rules.register("argmax")(_arg("max"))
rules.register("argmin")(_arg("min"))
