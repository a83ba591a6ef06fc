"""Backward ops of conv2d, pooling and LRN, mirroring the forward lowerings in ``nn.py``.

Conv gradients reuse im2col and the tiled GEMM over NHWC, per group:
``conv2d_filter_grad`` is dW_g = dy_g^T @ cols_g (contracted over batch and pixels) and
``conv2d_input_grad`` is dcols_g = dy_g @ W_g^T followed by a gathering ``col2im``.
Pool and LRN gradients are direct gather kernels over NCHW (``kernels_grad``); NHWC
operands are transposed in and the result transposed back."""
from __future__ import annotations

import numpy as np

from .. import kernels, kernels_grad
from ..codegen import rules
from ..program import empty, flat, launch
from .linalg import gemm
from .nn import OIHW_TO_HWIO, TO_NCHW, TO_NHWC
from .shape import gather, transposed

OKKC_TO_HWIO, OKKC_TO_OIHW = (1, 2, 3, 0), (0, 3, 1, 2)   # dW is computed as [O, KH, KW, CG]


def _conv_geometry(a):
    (sh, sw), (dh, dw) = a["strides"], a["dilation"]
    (pt, _), (pl, _) = a["padding"]
    return (sh, sw, dh, dw, pt, pl), a["groups"], a["layout"] == "NCHW"


def _columns(x, g, dims, conv, dtype):
    """im2col of group ``g`` of NHWC ``x``: flat [P, KH*KW*CG]."""
    n, h, w, c, oh, ow, kh, kw, cg = dims
    cols = empty((n * oh * ow * kh * kw * cg,), dtype)
    if cols.size:
        launch(kernels.im2col, cols.size, cols, flat(x), dims, conv, g * cg)
    return cols


@rules.register("conv2d_input_grad")
def _conv_dx(ctx, op):
    t = op.result.type
    conv, groups, nchw = _conv_geometry(op.attrs)

    def run(args, env):
        dy, w = args
        if nchw:
            dy, w = transposed(dy, TO_NHWC), transposed(w, OIHW_TO_HWIO)
        n, oh, ow, o = dy.shape
        kh, kw, cg, _ = w.shape
        h, wd = op.attrs["input_hw"]
        p, kk, og, c = n * oh * ow, kh * kw * cg, o // groups, cg * groups
        dims = (n, h, wd, c, oh, ow, kh, kw, cg)
        dx = empty((n * h * wd * c,), t.dtype.np)
        for g in range(groups):
            dyg = flat(dy) if groups == 1 else gather(flat(dy), (p, og), [(0, 1, o, p), (g * og, 1, 1, o)], dy.dtype)
            wgt = gather(flat(w), (og, kk), [(g * og, 1, 1, o), (0, 1, o, kk)], w.dtype)      # W_g^T
            dcols = empty((p * kk,), t.dtype.np)
            gemm(dcols, flat(dyg), flat(wgt), 1, p, kk, og, 0, 0, t.dtype)
            if n * h * wd * cg:
                launch(kernels_grad.col2im, n * h * wd * cg, dx, dcols, dims, conv, g * cg)
        dx = dx.reshape((n, h, wd, c))
        return transposed(dx, TO_NCHW) if nchw else dx
    return run


@rules.register("conv2d_filter_grad")
def _conv_dw(ctx, op):
    t = op.result.type
    conv, groups, nchw = _conv_geometry(op.attrs)
    kh, kw = op.attrs["filter_hw"]

    def run(args, env):
        x, dy = args
        if nchw:
            x, dy = transposed(x, TO_NHWC), transposed(dy, TO_NHWC)
        n, h, wd, c = x.shape
        _, oh, ow, o = dy.shape
        cg, og = c // groups, o // groups
        p, kk = n * oh * ow, kh * kw * cg
        dims = (n, h, wd, c, oh, ow, kh, kw, cg)
        dw = empty((o * kk,), t.dtype.np)
        for g in range(groups):
            cols = _columns(x, g, dims, conv, t.dtype.np)
            dyt = gather(flat(dy), (og, p), [(g * og, 1, 1, o), (0, 1, o, p)], dy.dtype)      # dy_g^T
            gemm(dw[g * og * kk:(g + 1) * og * kk], flat(dyt), cols, 1, og, kk, p, 0, 0, t.dtype)
        return transposed(dw.reshape((o, kh, kw, cg)), OKKC_TO_OIHW if nchw else OKKC_TO_HWIO)
    return run


def _image_op(build):
    """Lower an op whose image operands/result are NCHW inside: NHWC ones are transposed in and out."""
    def lower(ctx, op):
        nhwc = op.attrs["layout"] == "NHWC"
        inner = build(op)

        def run(args, env):
            args = [transposed(a, TO_NCHW) for a in args] if nhwc else list(args)
            out = inner(args, env)
            return transposed(out, TO_NHWC) if nhwc else out
        return run
    return lower


def _window(a):
    (kh, kw), (sh, sw), ((pt, _), (pl, _)) = a["window"], a["strides"], a["padding"]
    return kh, kw, sh, sw, pt, pl


@rules.register("max_pool2d_grad")
@_image_op
def _maxpool_dx(op):
    win, dtype = _window(op.attrs), op.result.type.dtype.np

    def run(args, env):
        x, dy = args
        n, c, h, w = x.shape
        oh, ow = dy.shape[2], dy.shape[3]
        dims = (n, c, h, w, oh, ow)
        dx = empty((n, c, h, w), dtype)
        if dx.size:
            winner = empty((dy.size,), np.int32)
            if dy.size:
                launch(kernels_grad.pool_winner, dy.size, winner, flat(x), dims, win)
            launch(kernels_grad.max_pool_grad, dx.size, flat(dx), flat(dy), winner, dims, win)
        return dx
    return run


@rules.register("avg_pool2d_grad")
@_image_op
def _avgpool_dx(op):
    a, dtype = op.attrs, op.result.type.dtype.np
    win, include = _window(a), bool(a["count_include_pad"])
    h, w = a["input_hw"]

    def run(args, env):
        (dy,) = args
        n, c, oh, ow = dy.shape
        dx = empty((n, c, h, w), dtype)
        if dx.size:
            launch(kernels_grad.avg_pool_grad, dx.size, flat(dx), flat(dy), (n, c, h, w, oh, ow), win, include)
        return dx
    return run


@rules.register("local_response_norm_grad")
@_image_op
def _lrn_dx(op):
    a, dtype = op.attrs, op.result.type.dtype.np

    def run(args, env):
        x, dy = args
        n, c, h, w = x.shape
        dx = empty(x.shape, dtype)
        if dx.size:
            launch(kernels_grad.lrn_grad, dx.size, flat(dx), flat(x), flat(dy), (n, c, h * w), a["size"],
                   a["alpha"], a["beta"], a["k"])
        return dx
    return run

