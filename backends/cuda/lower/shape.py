"""Shape ops.  reshape/expand_dims/squeeze are free (a view of the contiguous buffer); transpose,
broadcast_to, slice and pad are the one ``gather`` kernel with per-axis (start, step, stride, limit);
concatenate places each operand with ``place``; take/pick/one_hot/scatter_add have their own kernels."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..codegen import resolve, rules
from ..program import empty, flat, launch


def strides_of(shape) -> list[int]:
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def gather(x, out_shape, axes, dtype, fill=0):
    """Launch ``gather``: ``axes`` is one (start, step, stride, limit) per output axis."""
    out = empty(out_shape, dtype)
    if out.size == 0:
        return out
    if not out_shape:
        out_shape, axes = (1,), [(0, 0, 0, 1)]
    starts, steps, strides, limits = (tuple(int(a[k]) for a in axes) for k in range(4))
    launch(kernels.gather, out.size, flat(out), flat(x), tuple(out_shape), starts, steps, strides, limits,
           np.dtype(dtype).type(fill))
    return out


def transposed(x, perm):
    shape, st = x.shape, strides_of(x.shape)
    return gather(x, tuple(shape[p] for p in perm), [(0, 1, st[p], shape[p]) for p in perm], x.dtype)


def broadcast(x, out_shape):
    shape, st = tuple(x.shape), strides_of(x.shape)
    if shape == tuple(out_shape):
        return x
    lead = len(out_shape) - len(shape)
    axes = [(0, 0, 0, 1)] * lead
    for j, d in enumerate(shape):
        axes.append((0, 0 if d == 1 and out_shape[lead + j] != 1 else 1, st[j], d))
    return gather(x, tuple(out_shape), axes, x.dtype)


def _view(ctx, op):
    t = op.result.type
    return lambda args, env: args[0].reshape(resolve(t.shape, env))


for _name in ("reshape", "expand_dims", "squeeze"):
    rules.register(_name)(_view)


@rules.register("transpose")
def _transpose(ctx, op):
    perm = op.attrs["perm"]
    return lambda args, env: transposed(args[0], perm)


@rules.register("broadcast_to")
def _broadcast_to(ctx, op):
    t = op.result.type
    return lambda args, env: broadcast(args[0], resolve(t.shape, env))


@rules.register("slice")
def _slice(ctx, op):
    t, starts, steps = op.result.type, op.attrs["starts"], op.attrs["strides"]

    def run(args, env):
        x = args[0]
        st = strides_of(x.shape)
        axes = [(s, k, st[j], x.shape[j]) for j, (s, k) in enumerate(zip(starts, steps))]
        return gather(x, resolve(t.shape, env), axes, x.dtype)
    return run


@rules.register("pad")
def _pad(ctx, op):
    t, pads, value = op.result.type, op.attrs["pads"], op.attrs["value"]

    def run(args, env):
        x = args[0]
        st = strides_of(x.shape)
        axes = [(-lo, 1, st[j], x.shape[j]) for j, (lo, _) in enumerate(pads)]
        return gather(x, resolve(t.shape, env), axes, x.dtype, value)
    return run


@rules.register("concatenate")
def _concatenate(ctx, op):
    t, axis = op.result.type, op.attrs["axis"]

    def run(args, env):
        shape = resolve(t.shape, env)
        out = empty(shape, t.dtype.np)
        ost = tuple(strides_of(shape))
        offset = 0
        for a in args:
            if a.size:
                launch(kernels.place, a.size, flat(out), flat(a), tuple(a.shape), ost, offset * ost[axis])
            offset += a.shape[axis]
        return out
    return run


def _split(shape, axis):
    return int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + 1:], dtype=np.int64))


@rules.register("take")
def _take(ctx, op):
    t, axis = op.result.type, op.attrs["axis"]

    def run(args, env):
        x, idx = args
        out = empty(resolve(t.shape, env), t.dtype.np)
        if out.size:
            if x.shape[axis] == 0:
                from flowc.backends.reference import RuntimeInputError
                raise RuntimeInputError(f"take from axis {axis}, which is empty")
            _, inner = _split(x.shape, axis)
            launch(kernels.take, out.size, flat(out), flat(x), flat(idx), idx.size, x.shape[axis], inner)
        return out
    return run


@rules.register("pick")
def _pick(ctx, op):
    t = op.result.type

    def run(args, env):
        x, idx = args
        out = empty(resolve(t.shape, env), t.dtype.np)
        if out.size:
            n = x.shape[len(x.shape) - 1]     # the simulator's shapes take no index from the end
            launch(kernels.pick, out.size, flat(out), flat(x), flat(idx), n)
        return out
    return run


@rules.register("one_hot")
def _one_hot(ctx, op):
    t, depth = op.result.type, op.attrs["depth"]

    def run(args, env):
        out = empty(resolve(t.shape, env), t.dtype.np)
        if out.size:
            launch(kernels.one_hot, out.size, flat(out), flat(args[0]), depth)
        return out
    return run


@rules.register("scatter_add")
def _scatter_add(ctx, op):
    t, axis = op.result.type, op.attrs["axis"]

    def run(args, env):
        idx, upd = args
        shape = resolve(t.shape, env)
        out = empty(shape, t.dtype.np)
        if out.size:
            launch(kernels.fill, out.size, flat(out), out.dtype.type(0))
        if upd.size:
            if shape[axis] == 0:
                from flowc.backends.reference import RuntimeInputError
                raise RuntimeInputError(f"scatter_add into axis {axis}, which is empty")
            _, inner = _split(shape, axis)
            launch(kernels.scatter_add, upd.size, flat(out), flat(idx), flat(upd), idx.size, shape[axis], inner)
        return out
    return run
