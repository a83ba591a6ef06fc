"""matmul: numpy semantics (1-D operands promoted, batch dims broadcast) on the tiled shared-memory GEMM.

An operand whose batch is a single matrix is read with batch stride 0 (no copy);
other batch broadcasts are materialised with one gather first."""
from __future__ import annotations

import numba
import numpy as np

from .. import device, kernels
from ..codegen import resolve, rules
from ..program import empty, flat
from .shape import broadcast


def acc_type(dtype):
    return {"f16": numba.float32, "f32": numba.float32, "f64": numba.float64}.get(dtype.name, numba.int64)


def gemm(out_flat, a, b, batch, m, n, k, a_bs, b_bs, dtype):
    """out_flat[batch*m*n] = a @ b with flat row-major operands."""
    acc = acc_type(dtype)
    tiles = batch * -(-m // device.TILE) * -(-n // device.TILE)
    if tiles:
        blocks = max(1, min(device.MAX_BLOCKS * 16, tiles))
        zero = np.dtype(str(acc)).type(0)
        kernels.matmul(acc)[blocks, (device.TILE, device.TILE)](out_flat, a, b, batch, m, n, k, a_bs, b_bs, zero)


def _batched(x, shape, batch_shape, rows, cols):
    """(flat operand, batch stride) for a [*batch, rows, cols] operand against the output batch."""
    own = tuple(shape[:-2])
    if own == tuple(batch_shape):
        return flat(x), rows * cols
    if int(np.prod(own, dtype=np.int64)) == 1:
        return flat(x), 0
    return flat(broadcast(x.reshape(shape), tuple(batch_shape) + (rows, cols))), rows * cols


@rules.register("matmul")
def _matmul(ctx, op):
    t = op.result.type

    def run(args, env):
        x, y = args
        xs = (1,) + tuple(x.shape) if x.ndim == 1 else tuple(x.shape)
        ys = tuple(y.shape) + (1,) if y.ndim == 1 else tuple(y.shape)
        m, k, n = xs[-2], xs[-1], ys[-1]
        bshape = np.broadcast_shapes(xs[:-2], ys[:-2])
        batch = int(np.prod(bshape, dtype=np.int64))
        a, a_bs = _batched(x, xs, bshape, m, k)
        b, b_bs = _batched(y, ys, bshape, k, n)
        out = empty((batch * m * n,), t.dtype.np)
        if k == 0:
            from ..program import launch
            launch(kernels.fill, out.size, out, out.dtype.type(0))
        else:
            gemm(out, a, b, batch, m, n, k, a_bs, b_bs, t.dtype)
        return out.reshape(resolve(t.shape, env))
    return run
