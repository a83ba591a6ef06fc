"""softmax/log_softmax, conv2d, pooling and LRN (and their gradients) via ``kernels``.

The image kernels take NCHW input and OIHW weights; NHWC/HWIO operands are
transposed (to contiguous copies) on the way in and the result on the way out.
"""
from __future__ import annotations

from ..codegen import rules


def _softmax_block(log: bool):
    """Float softmax: a call to ``kernels.softmax_block`` in the program (compiled once, cached)."""
    def lower(e, op):
        (v,), t = op.operands, op.result.type
        axis = op.attrs["axis"]
        outer, n, inner = e.count(t.shape[:axis]), e.dim(t.shape[axis]), e.count(t.shape[axis + 1:])
        name = e.result_var(op.result)
        if inner == "1" and e.want_parallel(t.shape):       # contiguous rows, large: split across threads
            call = f"{e.helper('softmax_rows_parallel')}({e.arr(v)}, {outer}, {n}, {log})"
        else:
            call = f"{e.helper('softmax_block')}({e.arr(v)}, {outer}, {n}, {inner}, {log})"
        e.emit(f"{name} = {call}.reshape({e.shape(t.shape)})")
        e.finish(name, t)
        return name
    lower.in_program = lambda op: True
    return lower


rules.register("softmax")(_softmax_block(False))
rules.register("log_softmax")(_softmax_block(True))


def nchw(e, var, layout):
    if layout == "NCHW":
        return var
    name = e.fresh("nchw")
    e.emit(f"{name} = np.ascontiguousarray({e.helper('permute')}({var}, (0, 3, 1, 2)))")
    return name


def oihw(e, var, layout):
    if layout == "NCHW":
        return var
    name = e.fresh("oihw")
    e.emit(f"{name} = np.ascontiguousarray({e.helper('permute')}({var}, (3, 2, 0, 1)))")
    return name


def back(e, op, expr, layout, weights=False):
    """Assign ``expr`` (an NCHW / OIHW result) to the op's result variable in its own layout."""
    name = e.result_var(op.result)
    perm = (2, 3, 1, 0) if weights else (0, 2, 3, 1)
    if layout == "NCHW":
        e.emit(f"{name} = {expr}")
    else:
        e.emit(f"{name} = np.ascontiguousarray({e.helper('permute')}({expr}, {perm}))")
    e.finish(name, op.result.type)
    return name


def contiguous(e, var):
    name = e.fresh("cx")
    e.emit(f"{name} = np.ascontiguousarray({var})")
    return name


@rules.register("conv2d")
def _conv2d(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    w = oihw(e, contiguous(e, e.arr(op.operands[1])), a["layout"])
    (sh, sw), (dh, dw), ((pt, pb), (pl, pr)) = a["strides"], a["dilation"], a["padding"]
    call = f"{e.helper('conv2d')}({x}, {w}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr}, {dh}, {dw}, {a['groups']})"
    return back(e, op, call, a["layout"])


@rules.register("conv2d_input_grad")
def _conv_dx(e, op):
    a = op.attrs
    dy = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    w = oihw(e, contiguous(e, e.arr(op.operands[1])), a["layout"])
    (h, wd), (sh, sw), (dh, dw), ((pt, _), (pl, _)) = a["input_hw"], a["strides"], a["dilation"], a["padding"]
    call = (f"{e.helper('conv2d_input_grad')}({dy}, {w}, {h}, {wd}, {sh}, {sw}, {pt}, {pl}, {dh}, {dw}, "
            f"{a['groups']})")
    return back(e, op, call, a["layout"])


@rules.register("conv2d_filter_grad")
def _conv_dw(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    dy = nchw(e, contiguous(e, e.arr(op.operands[1])), a["layout"])
    (kh, kw), (sh, sw), (dh, dw), ((pt, _), (pl, _)) = a["filter_hw"], a["strides"], a["dilation"], a["padding"]
    call = (f"{e.helper('conv2d_filter_grad')}({x}, {dy}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {dh}, {dw}, "
            f"{a['groups']})")
    return back(e, op, call, a["layout"], weights=True)


for _rule in (_conv2d, _conv_dx, _conv_dw):      # im2col GEMMs through BLAS: see Emitter.want_parallel
    _rule.uses_blas = True


def _window(a):
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = a["window"], a["strides"], a["padding"]
    return kh, kw, sh, sw, pt, pb, pl, pr


@rules.register("max_pool2d")
def _max_pool(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    kh, kw, sh, sw, pt, pb, pl, pr = _window(a)
    return back(e, op, f"{e.helper('max_pool2d')}({x}, {kh}, {kw}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr})", a["layout"])


@rules.register("max_pool2d_grad")
def _max_pool_grad(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    dy = nchw(e, contiguous(e, e.arr(op.operands[1])), a["layout"])
    kh, kw, sh, sw, pt, _, pl, _ = _window(a)
    return back(e, op, f"{e.helper('max_pool2d_grad')}({x}, {dy}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl})", a["layout"])


@rules.register("avg_pool2d")
def _avg_pool(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    kh, kw, sh, sw, pt, pb, pl, pr = _window(a)
    call = (f"{e.helper('avg_pool2d')}({x}, {kh}, {kw}, {sh}, {sw}, {pt}, {pb}, {pl}, {pr}, "
            f"{a['count_include_pad']})")
    return back(e, op, call, a["layout"])


@rules.register("avg_pool2d_grad")
def _avg_pool_grad(e, op):
    a = op.attrs
    dy = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    kh, kw, sh, sw, pt, _, pl, _ = _window(a)
    h, wd = a["input_hw"]
    call = (f"{e.helper('avg_pool2d_grad')}({dy}, {h}, {wd}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, "
            f"{a['count_include_pad']})")
    return back(e, op, call, a["layout"])


@rules.register("local_response_norm")
def _lrn(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    call = f"{e.helper('lrn')}({x}, {a['size']}, {a['alpha']!r}, {a['beta']!r}, {a['k']!r})"
    return back(e, op, call, a["layout"])


@rules.register("local_response_norm_grad")
def _lrn_grad(e, op):
    a = op.attrs
    x = nchw(e, contiguous(e, e.arr(op.operands[0])), a["layout"])
    dy = nchw(e, contiguous(e, e.arr(op.operands[1])), a["layout"])
    call = f"{e.helper('lrn_grad')}({x}, {dy}, {a['size']}, {a['alpha']!r}, {a['beta']!r}, {a['k']!r})"
    return back(e, op, call, a["layout"])


# The image ops are single calls into ``kernels`` (compiled once, cached with the package): emitted in the
# program itself, so no generated kernel links in its own copy of a convolution.
for _name in ("conv2d", "conv2d_input_grad", "conv2d_filter_grad", "max_pool2d", "max_pool2d_grad",
              "avg_pool2d", "avg_pool2d_grad", "local_response_norm", "local_response_norm_grad"):
    rules[_name].in_program = lambda op: True
