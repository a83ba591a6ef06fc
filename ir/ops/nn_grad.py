"""Backward ops of conv2d, pooling and LRN.

They are ops of their own (not compositions) so each backend can give them a
fast kernel.  Each type rule checks consistency by running the forward op's rule
on the reconstructed input type and comparing with the incoming gradient.
"""
from __future__ import annotations

from ..registry import OPS, Attr, defop
from ..types import TensorType, TypeError_

_LAYOUT = Attr("str", "NCHW", choices=("NCHW", "NHWC"))
_CONV = {"strides": Attr("ints"), "padding": Attr("pairs"), "dilation": Attr("ints"), "groups": Attr("int", 1),
         "layout": _LAYOUT}
_POOL = {"window": Attr("ints"), "strides": Attr("ints"), "padding": Attr("pairs"), "layout": _LAYOUT}


def _image_type(like: TensorType, batch, channels, hw, layout) -> TensorType:
    if len(hw) != 2:
        raise TypeError_(f"input_hw must have 2 entries, got {hw}")
    shape = (batch, channels, *hw) if layout == "NCHW" else (batch, *hw, channels)
    return TensorType(like.dtype, shape)


def _channels(t: TensorType, layout) -> object:
    return t.shape[1] if layout == "NCHW" else t.shape[3]


def _check_forward(name: str, dy: TensorType, operands, attrs):
    out = OPS[name].infer_types(operands, attrs)[0]
    if out != dy:
        raise TypeError_(f"gradient {dy} does not match {name}'s output {out} for input "
                         + ", ".join(map(str, operands)))


def _rank4(*ts):
    for t in ts:
        if t.ndim != 4:
            raise TypeError_(f"expected a rank-4 tensor, got {t}")


@defop("conv2d_input_grad", arity=2, attrs={"input_hw": Attr("ints"), **_CONV}, traits=("pure",),
       doc="gradient of conv2d w.r.t. its input (a transposed convolution of dy with w)")
def _conv_dx(dy, w, input_hw, strides, padding, dilation, groups, layout):
    _rank4(dy, w)
    cin = (w.shape[1] if layout == "NCHW" else w.shape[2]) * groups
    x = _image_type(dy, dy.shape[0], cin, input_hw, layout)
    _check_forward("conv2d", dy, (x, w), dict(strides=strides, padding=padding, dilation=dilation, groups=groups,
                                              layout=layout))
    return x


@defop("conv2d_filter_grad", arity=2, attrs={"filter_hw": Attr("ints"), **_CONV}, traits=("pure",),
       doc="gradient of conv2d w.r.t. its weights (a correlation of x with dy)")
def _conv_dw(x, dy, filter_hw, strides, padding, dilation, groups, layout):
    _rank4(x, dy)
    if len(filter_hw) != 2:
        raise TypeError_(f"filter_hw must have 2 entries, got {filter_hw}")
    cin, cout = _channels(x, layout), _channels(dy, layout)
    if not isinstance(cin, int) or cin % groups:
        raise TypeError_(f"input channels {cin} are not divisible by groups={groups}")
    kh, kw = filter_hw
    shape = (cout, cin // groups, kh, kw) if layout == "NCHW" else (kh, kw, cin // groups, cout)
    w = TensorType(x.dtype, shape)
    _check_forward("conv2d", dy, (x, w), dict(strides=strides, padding=padding, dilation=dilation, groups=groups,
                                              layout=layout))
    return w


@defop("max_pool2d_grad", arity=2, attrs=dict(_POOL), traits=("pure",),
       doc="routes dy to the first maximum (row-major) of each window of x")
def _maxpool_dx(x, dy, window, strides, padding, layout):
    _rank4(x, dy)
    _check_forward("max_pool2d", dy, (x,), dict(window=window, strides=strides, padding=padding, layout=layout))
    return x


@defop("avg_pool2d_grad", arity=1, attrs={"input_hw": Attr("ints"), **_POOL,
                                          "count_include_pad": Attr("bool", False)}, traits=("pure",),
       doc="spreads dy evenly over each window's cells")
def _avgpool_dx(dy, input_hw, window, strides, padding, layout, count_include_pad):
    _rank4(dy)
    x = _image_type(dy, dy.shape[0], _channels(dy, layout), input_hw, layout)
    _check_forward("avg_pool2d", dy, (x,), dict(window=window, strides=strides, padding=padding, layout=layout,
                                                count_include_pad=count_include_pad))
    return x


@defop("local_response_norm_grad", arity=2,
       attrs={"size": Attr("int"), "alpha": Attr("float"), "beta": Attr("float"), "k": Attr("float"),
              "layout": _LAYOUT}, traits=("pure",),
       doc="gradient of local_response_norm w.r.t. its input")
def _lrn_dx(x, dy, size, alpha, beta, k, layout):
    _check_forward("local_response_norm", dy, (x,), dict(size=size, alpha=alpha, beta=beta, k=k, layout=layout))
    return x
