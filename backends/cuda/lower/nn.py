"""conv2d (im2col + the tiled GEMM, per group), pooling and LRN (direct kernels over NCHW), softmax.

The kernels index NCHW (pool, LRN) or NHWC (conv); the other layout is transposed
in and out with the gather kernel.  The layout pass can make those transposes vanish
across a chain; the cuda backend prefers NHWC for conv like the CPU one."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..codegen import resolve, rules
from ..program import empty, flat, launch, launch_grid
from .linalg import gemm
from .shape import gather, strides_of, transposed

TO_NHWC, TO_NCHW, OIHW_TO_HWIO = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)


@rules.register("conv2d")
def _conv2d(ctx, op):
    t, a = op.result.type, op.attrs
    (sh, sw), (dh, dw), groups = a["strides"], a["dilation"], a["groups"]
    (pt, _), (pl, _) = a["padding"]
    nchw = a["layout"] == "NCHW"

    def run(args, env):
        x, w = args
        if nchw:
            x, w = transposed(x, TO_NHWC), transposed(w, OIHW_TO_HWIO)
        n, h, wd, c = x.shape
        kh, kw, cg, o = w.shape
        oshape = resolve(t.shape, env)
        oh, ow = (oshape[2], oshape[3]) if nchw else (oshape[1], oshape[2])
        p, kk, og = n * oh * ow, kh * kw * cg, o // groups
        out = empty((p * o,), t.dtype.np)
        wm = flat(w)
        for g in range(groups):
            cols = empty((p * kk,), t.dtype.np)
            if cols.size:
                launch(kernels.im2col, cols.size, cols, flat(x), (n, h, wd, c, oh, ow, kh, kw, cg),
                       (sh, sw, dh, dw, pt, pl), g * cg)
            if groups == 1:
                gemm(out, cols, wm, 1, p, o, kk, 0, 0, t.dtype)
                break
            wg = gather(wm, (kk, og), [(0, 1, o, kk), (g * og, 1, 1, o)], wm.dtype)
            part = empty((p * og,), t.dtype.np)
            gemm(part, cols, flat(wg), 1, p, og, kk, 0, 0, t.dtype)
            if part.size:
                launch(kernels.place, part.size, out, part, (p, og), (o, 1), g * og)
        out = out.reshape((n, oh, ow, o))
        return transposed(out, TO_NCHW) if nchw else out
    return run


def _nchw(fn):
    """Wrap a kernel computing on NCHW so it also serves NHWC inputs."""
    def lower(ctx, op):
        nhwc = op.attrs["layout"] == "NHWC"
        inner = fn(ctx, op)

        def run(args, env):
            x = transposed(args[0], TO_NCHW) if nhwc else args[0]
            out = inner(x, env)
            return transposed(out, TO_NHWC) if nhwc else out
        return run
    return lower


def _pool(is_max):
    def build(ctx, op):
        a, t = op.attrs, op.result.type
        (kh, kw), (sh, sw), ((pt, _), (pl, _)) = a["window"], a["strides"], a["padding"]
        include = bool(a.get("count_include_pad", False))

        def run(x, env):
            n, c, h, w = x.shape
            shape = resolve(t.shape, env)
            oh, ow = (shape[2], shape[3]) if a["layout"] == "NCHW" else (shape[1], shape[2])
            out = empty((n, c, oh, ow), t.dtype.np)
            if out.size:
                launch(kernels.pool, out.size, flat(out), flat(x), (n, c, h, w, oh, ow), (kh, kw, sh, sw, pt, pl),
                       is_max, include)
            return out
        return run
    return build


rules.register("max_pool2d")(_nchw(_pool(True)))
rules.register("avg_pool2d")(_nchw(_pool(False)))


@rules.register("local_response_norm")
@_nchw
def _lrn(ctx, op):
    a, t = op.attrs, op.result.type

    def run(x, env):
        n, c, h, w = x.shape
        out = empty(x.shape, t.dtype.np)
        if out.size:
            launch(kernels.lrn, out.size, flat(out), flat(x), (n, c, h * w), a["size"], a["alpha"], a["beta"],
                   a["k"])
        return out
    return run


def _rows_along(x, axis):
    """``x`` with ``axis`` moved last (a transposed copy when it was not), as (array, perm or None, rows,
    length)."""
    r = x.ndim
    perm = [a for a in range(r) if a != axis] + [axis]
    moved = perm != list(range(r))
    if moved:
        x = transposed(x, perm)
    length = tuple(x.shape)[r - 1] if r else 1
    rows = int(np.prod(tuple(x.shape)[:r - 1], dtype=np.int64)) if r else 1
    return x, (perm if moved else None), rows, length


def _softmax(log):
    def lower(ctx, op):
        axis, t = op.attrs["axis"], op.result.type

        def run(args, env):
            x, perm, rows, length = _rows_along(args[0], axis)
            out = empty(x.shape, t.dtype.np)
            if rows and length:
                from .. import device
                blocks, threads = device.row_grid(rows)
                launch_grid(kernels.softmax_rows(log), (blocks, threads), flat(out), flat(x), rows, length)
            if perm is not None:
                out = transposed(out, list(np.argsort(perm)))
            return out
        return run
    return lower


rules.register("softmax")(_softmax(False))
rules.register("log_softmax")(_softmax(True))


@rules.register("logsumexp")
def _logsumexp(ctx, op):
    axis, t = op.attrs["axis"], op.result.type

    def run(args, env):
        x, _, rows, length = _rows_along(args[0], axis)
        out = empty(tuple(x.shape)[:-1], t.dtype.np)
        if rows:
            from .. import device
            blocks, threads = device.row_grid(rows)
            launch_grid(kernels.logsumexp_rows(), (blocks, threads), flat(out), flat(x), rows, length)
        return out
    return run


__all__ = ["strides_of"]
