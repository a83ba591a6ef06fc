"""softmax/log_softmax/logsumexp, conv2d, pooling and LRN (and their gradients) via ``kernels``.

The image kernels (``image``) take NHWC images and HWIO filters; the layout pass
gives this backend NHWC programs (``PREFERRED_LAYOUT``), and NCHW ops that remain
(the pass not run) transpose at their edges.
"""
from __future__ import annotations

from ..codegen import rules
from .epilogue import epilogue_arg, fuse_epilogue
from .reduction import block


def _along_axis(block_kernel: str, rows_kernel: str, *extra):
    """An op along one float axis as a call in the program: ``kernels.<block_kernel>(x, outer, n, inner,
    *extra)`` over x viewed as [outer, n, inner], or ``<rows_kernel>(x, outer, n, *extra)``, its rows split
    across threads, when they are contiguous and the op is large.  The kernels are compiled once, cached."""
    def lower(e, op):
        (v,), t, res = op.operands, op.operands[0].type, op.result.type
        outer, n, inner = block(e, t.shape, (op.attrs["axis"],))
        tail = "".join(f", {a}" for a in extra)
        name = e.result_var(op.result)
        if inner == "1" and e.want_parallel(t.shape):
            call = f"{e.helper(rows_kernel)}({e.arr(v)}, {outer}, {n}{tail})"
        else:
            call = f"{e.helper(block_kernel)}({e.arr(v)}, {outer}, {n}, {inner}{tail})"
        e.emit(f"{name} = {call}.reshape({e.shape(res.shape)})")
        e.finish(name, res)
        return name
    lower.in_program = lambda op: True
    return lower


rules.register("softmax")(_along_axis("softmax_block", "softmax_rows_parallel", False))
rules.register("log_softmax")(_along_axis("softmax_block", "softmax_rows_parallel", True))
rules.register("logsumexp")(_along_axis("logsumexp_block", "logsumexp_rows_parallel"))


# Image kernels take contiguous NHWC images and HWIO filters (see ``image``): operands in NCHW/OIHW are
# transposed to contiguous copies on the way in and the result back on the way out (``kernels.transposed``).
_TO_KERNEL = {False: (0, 2, 3, 1), True: (2, 3, 1, 0)}      # weights? -> NCHW->NHWC / OIHW->HWIO
_FROM_KERNEL = {False: (0, 3, 1, 2), True: (3, 2, 0, 1)}


def operand(e, v, layout, weights=False):
    """Operand ``v`` as the contiguous NHWC image (HWIO filter) the kernels read."""
    var = e.fresh("cx")
    if layout == "NHWC":
        e.emit(f"{var} = {e.contiguous(e.arr(v))}")
    else:
        e.emit(f"{var} = {e.helper('transposed')}({e.arr(v)}, {_TO_KERNEL[weights]})")
    return var


def result(e, op, call, layout, weights=False):
    """Assign ``call`` (an NHWC / HWIO kernel result) to the op's result variable in its own layout."""
    name = e.result_var(op.result)
    if layout == "NHWC":
        e.emit(f"{name} = {call}")
    else:
        e.emit(f"{name} = {e.helper('transposed')}({call}, {_FROM_KERNEL[weights]})")
    e.finish(name, op.result.type)
    return name


def _conv_attrs(a):
    (sh, sw), (dh, dw), ((pt, pb), (pl, pr)) = a["strides"], a["dilation"], a["padding"]
    return sh, sw, pt, pb, pl, pr, dh, dw


@rules.register("conv2d")
def _conv2d(e, op):
    a = op.attrs
    x, w = operand(e, op.operands[0], a["layout"]), operand(e, op.operands[1], a["layout"], weights=True)
    sh, sw, pt, pb, pl, pr, dh, dw = _conv_attrs(a)
    call = (f"{e.helper('conv2d_nhwc')}({x}, {w}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr}, {dh}, {dw}, {a['groups']}, "
            f"{epilogue_arg(e, op, x)})")
    return result(e, op, call, a["layout"])


# NHWC only: the kernel's result is [n*oh*ow, channels], the epilogue's bias runs along the channels
_conv2d.fuse_epilogue = lambda region: fuse_epilogue(region, "conv2d", lambda op: op.attrs["layout"] == "NHWC")


@rules.register("conv2d_input_grad")
def _conv_dx(e, op):
    a = op.attrs
    dy, w = operand(e, op.operands[0], a["layout"]), operand(e, op.operands[1], a["layout"], weights=True)
    sh, sw, pt, _, pl, _, dh, dw = _conv_attrs(a)
    h, wd = a["input_hw"]
    call = (f"{e.helper('conv2d_input_grad_nhwc')}({dy}, {w}, {h}, {wd}, {sh}, {sw}, {pt}, {pl}, {dh}, {dw}, "
            f"{a['groups']})")
    return result(e, op, call, a["layout"])


@rules.register("conv2d_filter_grad")
def _conv_dw(e, op):
    a = op.attrs
    x, dy = operand(e, op.operands[0], a["layout"]), operand(e, op.operands[1], a["layout"])
    sh, sw, pt, _, pl, _, dh, dw = _conv_attrs(a)
    kh, kw = a["filter_hw"]
    call = (f"{e.helper('conv2d_filter_grad_nhwc')}({x}, {dy}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {dh}, {dw}, "
            f"{a['groups']})")
    return result(e, op, call, a["layout"], weights=True)


for _rule in (_conv2d, _conv_dx, _conv_dw):      # patch GEMMs through BLAS: see Emitter.want_parallel
    _rule.uses_blas = True


def _window(a):
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = a["window"], a["strides"], a["padding"]
    return kh, kw, sh, sw, pt, pb, pl, pr


@rules.register("max_pool2d")
def _max_pool(e, op):
    a = op.attrs
    x = operand(e, op.operands[0], a["layout"])
    kh, kw, sh, sw, pt, pb, pl, pr = _window(a)
    call = f"{e.helper('max_pool2d_nhwc')}({x}, {kh}, {kw}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr})"
    return result(e, op, call, a["layout"])


@rules.register("max_pool2d_grad")
def _max_pool_grad(e, op):
    a = op.attrs
    x, dy = operand(e, op.operands[0], a["layout"]), operand(e, op.operands[1], a["layout"])
    kh, kw, sh, sw, pt, _, pl, _ = _window(a)
    call = f"{e.helper('max_pool2d_grad_nhwc')}({x}, {dy}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl})"
    return result(e, op, call, a["layout"])


@rules.register("avg_pool2d")
def _avg_pool(e, op):
    a = op.attrs
    x = operand(e, op.operands[0], a["layout"])
    kh, kw, sh, sw, pt, pb, pl, pr = _window(a)
    call = (f"{e.helper('avg_pool2d_nhwc')}({x}, {kh}, {kw}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr}, "
            f"{a['count_include_pad']})")
    return result(e, op, call, a["layout"])


@rules.register("avg_pool2d_grad")
def _avg_pool_grad(e, op):
    a = op.attrs
    dy = operand(e, op.operands[0], a["layout"])
    kh, kw, sh, sw, pt, _, pl, _ = _window(a)
    h, wd = a["input_hw"]
    call = (f"{e.helper('avg_pool2d_grad_nhwc')}({dy}, {h}, {wd}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, "
            f"{a['count_include_pad']})")
    return result(e, op, call, a["layout"])


@rules.register("local_response_norm")
def _lrn(e, op):
    a = op.attrs
    x = operand(e, op.operands[0], a["layout"])
    call = f"{e.helper('lrn_nhwc')}({x}, {a['size']}, {a['alpha']!r}, {a['beta']!r}, {a['k']!r})"
    return result(e, op, call, a["layout"])


@rules.register("local_response_norm_grad")
def _lrn_grad(e, op):
    a = op.attrs
    x, dy = operand(e, op.operands[0], a["layout"]), operand(e, op.operands[1], a["layout"])
    call = f"{e.helper('lrn_grad_nhwc')}({x}, {dy}, {a['size']}, {a['alpha']!r}, {a['beta']!r}, {a['k']!r})"
    return result(e, op, call, a["layout"])


# The image ops are single calls into ``kernels`` (compiled once, cached with the package): emitted in the
# program itself, so no generated kernel links in its own copy of a convolution.
for _name in ("conv2d", "conv2d_input_grad", "conv2d_filter_grad", "max_pool2d", "max_pool2d_grad",
              "avg_pool2d", "avg_pool2d_grad", "local_response_norm", "local_response_norm_grad"):
    rules[_name].in_program = lambda op: True
    rules[_name].fresh = lambda op: True      # each kernel returns an array it allocated (buffers.py)
