"""Neural-network ops: softmax, logsumexp, 2-D convolution, pooling, local response normalisation.

Layouts: "NCHW" inputs take OIHW weights ``[O, C/groups, KH, KW]``; "NHWC" inputs take
HWIO weights ``[KH, KW, C/groups, O]``.  Output channel ``o`` belongs to group
``o // (O/groups)`` and reads input channels ``g*C/groups .. (g+1)*C/groups - 1``.
The batch dim may be symbolic; spatial dims (and the channel dim of grouped
convolutions) must be static because output sizes are computed at compile time:

    out = floor((H + pad_lo + pad_hi - dilation*(K-1) - 1) / stride) + 1

``local_response_norm`` follows the AlexNet paper (Krizhevsky et al. 2012)::

    b_c = a_c / (k + alpha * sum_{c' in [c - size//2, c + size//2], 0 <= c' < C} a_c'^2) ** beta

``alpha`` is NOT divided by ``size`` (torch.nn.LocalResponseNorm(size, alpha_t, beta, k)
equals ours with ``alpha = alpha_t / size``; torch also uses the window
``[c - size//2, c + (size-1)//2]``, identical to ours for odd ``size``; for even
``size`` ours spans ``size + 1`` channels).
"""
from __future__ import annotations

from ..registry import Attr, defop
from ..types import Dim, Sym, TensorType, TypeError_, unify_dim

LAYOUTS = ("NCHW", "NHWC")


def _float_input(x: TensorType, what: str = "input"):
    if not x.dtype.is_float:
        raise TypeError_(f"{what} must be floating point, got {x}")


def _canonical_axis(axis: int, ndim: int):
    if not 0 <= axis < ndim:
        raise TypeError_(f"axis {axis} must be in [0, {ndim}) (attributes hold non-negative axes)")


def _softmax_like(name: str, doc: str):
    @defop(name, attrs={"axis": Attr("int")}, traits=("pure",), doc=doc)
    def infer(x: TensorType, axis) -> TensorType:
        _float_input(x)
        _canonical_axis(axis, x.ndim)
        return x


_softmax_like("softmax", "exp(x - max) / sum(exp(x - max)) along axis")
_softmax_like("log_softmax", "(x - max) - log(sum(exp(x - max))) along axis")


@defop("logsumexp", attrs={"axis": Attr("int")}, traits=("pure",),
       doc="log(sum(exp(x))) along axis, which is removed: m + log(sum(exp(x - m))) with m the max when it is "
           "finite (else 0), so a row holding +inf gives inf, an all -inf or empty row -inf, a nan nan")
def _logsumexp(x: TensorType, axis) -> TensorType:
    _float_input(x)
    _canonical_axis(axis, x.ndim)
    return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i != axis))


# -- shared 2-D window validation ------------------------------------------------------------

def _rank4(x: TensorType, what: str):
    if x.ndim != 4:
        raise TypeError_(f"{what} must have rank 4, got {x}")


def _pair(v: tuple, name: str, minimum: int) -> tuple[int, int]:
    if len(v) != 2:
        raise TypeError_(f"'{name}' needs 2 values (height, width), got {v}")
    for n in v:
        if n < minimum:
            raise TypeError_(f"'{name}' values must be >= {minimum}, got {v}")
    return v


def _padding(v: tuple) -> tuple:
    if len(v) != 2:
        raise TypeError_(f"'padding' needs 2 pairs ((top, bottom), (left, right)), got {v}")
    if any(p < 0 for pair in v for p in pair):
        raise TypeError_(f"'padding' must be non-negative, got {v}")
    return v


def _spatial(x: TensorType, layout: str, what: str) -> tuple[Dim, int, int, Dim]:
    """(batch, H, W, channels) of a rank-4 input; H and W must be static."""
    n, a, b, c = x.shape
    batch, h, w, ch = (n, b, c, a) if layout == "NCHW" else (n, a, b, c)
    if isinstance(h, Sym) or isinstance(w, Sym):
        raise TypeError_(f"{what} needs static spatial dims, got H={h}, W={w} in {x} (layout {layout}); "
                         "only the batch and channel dims may be symbolic")
    return batch, h, w, ch


def _out_size(size: int, lo: int, hi: int, window: int, stride: int, dilation: int, axis: str, what: str) -> int:
    span = dilation * (window - 1) + 1
    if span > size + lo + hi:
        raise TypeError_(f"{what} window spans {span} along {axis} but the padded input has only "
                         f"{size} + {lo} + {hi} = {size + lo + hi}")
    return (size + lo + hi - span) // stride + 1


def _assemble(layout: str, batch: Dim, oh: int, ow: int, ch: Dim) -> tuple:
    return (batch, ch, oh, ow) if layout == "NCHW" else (batch, oh, ow, ch)


# -- conv2d ---------------------------------------------------------------------------------

@defop("conv2d", arity=2, traits=("pure",),
       attrs={"strides": Attr("ints"), "padding": Attr("pairs"), "dilation": Attr("ints"),
              "groups": Attr("int", 1), "layout": Attr("str", "NCHW", choices=LAYOUTS)},
       doc="2-D cross-correlation; NCHW+OIHW or NHWC+HWIO weights, grouped and dilated")
def _conv2d(x: TensorType, w: TensorType, strides, padding, dilation, groups, layout) -> TensorType:
    _rank4(x, "input")
    _rank4(w, "weights")
    _float_input(x)
    if x.dtype != w.dtype:
        raise TypeError_(f"input and weight dtypes {x.dtype} and {w.dtype} differ (insert a cast)")
    sh, sw = _pair(strides, "strides", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    (pt, pb), (pl, pr) = _padding(padding)
    if groups < 1:
        raise TypeError_(f"groups must be >= 1, got {groups}")
    if not w.is_static:
        raise TypeError_(f"weights need a static shape, got {w}")
    o, cg, kh, kw = w.shape if layout == "NCHW" else (w.shape[3], w.shape[2], w.shape[0], w.shape[1])
    wl = "OIHW" if layout == "NCHW" else "HWIO"
    if min(o, cg, kh, kw) < 1:
        raise TypeError_(f"weights {w} ({wl}) have an empty dim")
    if o % groups:
        raise TypeError_(f"output channels O={o} are not divisible by groups={groups}")
    batch, h, wd, c = _spatial(x, layout, "conv2d")
    if isinstance(c, Sym):
        if groups != 1:
            raise TypeError_(f"a grouped conv2d needs a static channel dim, got {c} in {x}")
        unify_dim(c, cg)
    elif c != cg * groups:
        raise TypeError_(f"input has {c} channels but weights expect {cg * groups} "
                         f"(C/groups={cg}, groups={groups}); weights {w} are {wl}")
    oh = _out_size(h, pt, pb, kh, sh, dh, "H", "conv2d")
    ow = _out_size(wd, pl, pr, kw, sw, dw, "W", "conv2d")
    return TensorType(x.dtype, _assemble(layout, batch, oh, ow, o))


# -- pooling --------------------------------------------------------------------------------

def _pool_infer(what: str, x: TensorType, window, strides, padding, layout) -> TensorType:
    _rank4(x, "input")
    _float_input(x)
    kh, kw = _pair(window, "window", 1)
    sh, sw = _pair(strides, "strides", 1)
    (pt, pb), (pl, pr) = _padding(padding)
    batch, h, w, c = _spatial(x, layout, what)
    oh = _out_size(h, pt, pb, kh, sh, 1, "H", what)
    ow = _out_size(w, pl, pr, kw, sw, 1, "W", what)
    # Every window must see at least one real cell (else max is -inf and the average 0/0).
    for axis, size, lo, k, s, n in (("H", h, pt, kh, sh, oh), ("W", w, pl, kw, sw, ow)):
        if lo >= k or (n - 1) * s - lo >= size:
            raise TypeError_(f"{what} padding {padding} leaves a window along {axis} with no input cell "
                             f"(window {k}, stride {s}, input {size}); padding must be smaller than the window")
    return TensorType(x.dtype, _assemble(layout, batch, oh, ow, c))


_POOL_ATTRS = {"window": Attr("ints"), "strides": Attr("ints"), "padding": Attr("pairs"),
               "layout": Attr("str", "NCHW", choices=LAYOUTS)}


@defop("max_pool2d", attrs=_POOL_ATTRS, traits=("pure",),
       doc="max over each window; padded cells are -inf and never win")
def _max_pool2d(x: TensorType, window, strides, padding, layout) -> TensorType:
    return _pool_infer("max_pool2d", x, window, strides, padding, layout)


@defop("avg_pool2d", attrs={**_POOL_ATTRS, "count_include_pad": Attr("bool", False)}, traits=("pure",),
       doc="mean over each window; divides by the real-cell count unless count_include_pad")
def _avg_pool2d(x: TensorType, window, strides, padding, layout, count_include_pad) -> TensorType:
    return _pool_infer("avg_pool2d", x, window, strides, padding, layout)


# -- local response normalisation ------------------------------------------------------------

@defop("local_response_norm", traits=("pure",),
       attrs={"size": Attr("int"), "alpha": Attr("float"), "beta": Attr("float"), "k": Attr("float"),
              "layout": Attr("str", "NCHW", choices=LAYOUTS)},
       doc="AlexNet LRN across channels: a / (k + alpha * window sum of a^2) ** beta")
def _lrn(x: TensorType, size, alpha, beta, k, layout) -> TensorType:
    _rank4(x, "input")
    _float_input(x)
    if size < 1:
        raise TypeError_(f"size must be >= 1, got {size}")
    return x


__all__ = ["LAYOUTS"]
