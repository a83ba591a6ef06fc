"""nn ops: type rules (symbolic batch, precise errors), reference vs straightforward loops, .fir round trip."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowc.backends.reference import run
from flowc.ir import Builder, Function, TypeError_, Value, parse, tensor_type, verify
from flowc.ir.registry import OPS
from opcheck import apply, infer

FIR = Path(__file__).parent / "fir" / "roundtrip" / "nn.fir"
NN_OPS = {"softmax", "log_softmax", "logsumexp", "conv2d", "max_pool2d", "avg_pool2d", "local_response_norm"}


def conv_attrs(strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), **kw):
    return dict(strides=strides, padding=padding, dilation=dilation, **kw)


def pool_attrs(window=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0)), **kw):
    return dict(window=window, strides=strides, padding=padding, **kw)


# -- loop references (NCHW / OIHW, float64) ---------------------------------------------------

def conv_loop(x, w, strides, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    (sh, sw), (dh, dw) = strides, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for b in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0
                    for ci in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                acc += xp[b, g * cg + ci, i * sh + a * dh, j * sw + e * dw] * w[oc, ci, a, e]
                    out[b, oc, i, j] = acc
    return out


def pool_loop(x, window, strides, padding, mode, count_include_pad=False):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = window, strides, padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    cells = [x[b, ch, r, s]
                             for r in range(i * sh - pt, i * sh - pt + kh)
                             for s in range(j * sw - pl, j * sw - pl + kw)
                             if 0 <= r < h and 0 <= s < w]
                    if mode == "max":
                        out[b, ch, i, j] = max(cells)
                    else:
                        out[b, ch, i, j] = sum(cells) / (kh * kw if count_include_pad else len(cells))
    return out


def lrn_loop(x, size, alpha, beta, k):
    out = np.empty_like(x)
    c = x.shape[1]
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + size // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (k + alpha * s) ** beta
    return out


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def hwio(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


# -- conv2d -----------------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 2)) for _ in range(4))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = max(1, dh * (kh - 1) + 1 - pads[0] - pads[1] + draw(st.integers(0, 3)))
    w = max(1, dw * (kw - 1) + 1 - pads[2] - pads[3] + draw(st.integers(0, 3)))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 16))
    return groups, cg, og, (kh, kw), (sh, sw), (dh, dw), ((pads[0], pads[1]), (pads[2], pads[3])), (n, h, w), seed


@given(conv_cases())
def test_conv2d_matches_loop_in_both_layouts(case):
    groups, cg, og, (kh, kw), strides, dilation, padding, (n, h, w), seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cg * groups, h, w))
    wt = rng.standard_normal((og * groups, cg, kh, kw))
    attrs = conv_attrs(strides, padding, dilation, groups=groups)
    want = conv_loop(x, wt, strides, padding, dilation, groups)
    got = apply("conv2d", x, wt, **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    got_nhwc = apply("conv2d", nhwc(x), hwio(wt), layout="NHWC", **attrs)
    np.testing.assert_allclose(got_nhwc, nhwc(want), rtol=1e-12, atol=1e-12)


def test_conv2d_alexnet_style_groups_f32(rng):
    # AlexNet conv2: two towers, 4 -> 6 channels, 5x5 kernels, padding 2.
    x = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    w = rng.standard_normal((6, 2, 5, 5)).astype(np.float32)
    attrs = conv_attrs(padding=((2, 2), (2, 2)), groups=2)
    got = apply("conv2d", x, w, **attrs)
    assert got.dtype == np.float32 and got.shape == (2, 6, 7, 7)
    want = conv_loop(x.astype(np.float64), w.astype(np.float64), (1, 1), ((2, 2), (2, 2)), (1, 1), 2)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # Each tower only sees its own input channels.
    x2 = x.copy()
    x2[:, 2:] = 0
    np.testing.assert_allclose(apply("conv2d", x2, w, **attrs)[:, :3], got[:, :3], rtol=1e-6, atol=1e-6)


def test_conv2d_alexnet_conv1_shapes_stride_and_asymmetric_padding(rng):
    x = rng.standard_normal((1, 3, 19, 19))
    w = rng.standard_normal((4, 3, 11, 11))
    got = apply("conv2d", x, w, **conv_attrs((4, 4), ((1, 2), (0, 3))))
    assert got.shape == (1, 4, 3, 3)
    np.testing.assert_allclose(got, conv_loop(x, w, (4, 4), ((1, 2), (0, 3)), (1, 1), 1), rtol=1e-12, atol=1e-12)


def test_conv2d_f16_rounds_once_and_keeps_dtype(rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float16)
    got = apply("conv2d", x, w, **conv_attrs())
    want = conv_loop(x.astype(np.float64), w.astype(np.float64), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, want.astype(np.float16), rtol=2e-3, atol=2e-3)


def test_conv2d_batch_chunking_matches_single_pass(rng, monkeypatch):
    from flowc.backends.reference import nn as ref_nn
    x = rng.standard_normal((5, 2, 6, 6))
    w = rng.standard_normal((4, 2, 3, 3))
    whole = apply("conv2d", x, w, **conv_attrs())
    monkeypatch.setattr(ref_nn, "IM2COL_MAX_ELEMENTS", 1)   # one image per chunk
    np.testing.assert_array_equal(apply("conv2d", x, w, **conv_attrs()), whole)


def test_conv2d_types_symbolic_batch_and_layouts():
    t = infer("conv2d", ("f32", ["B", 3, 32, 32]), ("f32", [8, 3, 3, 3]), **conv_attrs((2, 2), ((1, 1), (1, 1))))
    assert str(t) == "f32[B,8,16,16]"
    t = infer("conv2d", ("f32", ["B", 32, 32, 6]), ("f32", [5, 5, 3, 4]), layout="NHWC", groups=2,
              **conv_attrs(dilation=(2, 1)))
    assert str(t) == "f32[B,24,28,4]"
    # A symbolic channel dim is fine without groups (unified with the weights).
    assert str(infer("conv2d", ("f32", ["B", "C", 4, 4]), ("f32", [2, 3, 1, 1]), **conv_attrs())) == "f32[B,2,4,4]"


@pytest.mark.parametrize("x, w, attrs, msg", [
    (["B", 3, 8, 8], [4, 3, 3, 3], dict(groups=2),
     r"conv2d\(f32\[B,3,8,8\], f32\[4,3,3,3\]\): input has 3 channels but weights expect 6 "
     r"\(C/groups=3, groups=2\)"),
    ([1, 6, 8, 8], [5, 3, 3, 3], dict(groups=2), r"O=5 are not divisible by groups=2"),
    ([1, 3, 2, 2], [4, 3, 3, 3], {}, r"window spans 3 along H but the padded input has only 2 \+ 0 \+ 0 = 2"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(strides=(0, 1)), r"'strides' values must be >= 1"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(dilation=(1, 0)), r"'dilation' values must be >= 1"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(strides=(1, 1, 1)), r"'strides' needs 2 values"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(padding=((1, 1),)), r"'padding' needs 2 pairs"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(padding=((1, -1), (0, 0))), r"'padding' must be non-negative"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(layout="NCWH"), r"attribute 'layout' must be one of 'NCHW', 'NHWC'"),
    ([1, 3, 8, 8], [4, 3, 3, 3], dict(groups=0), r"groups must be >= 1"),
    ([3, 8, 8], [4, 3, 3, 3], {}, r"input must have rank 4"),
    ([1, 3, "H", 8], [4, 3, 3, 3], {}, r"conv2d needs static spatial dims, got H=H, W=8"),
    ([1, "C", 8, 8], [4, 3, 3, 3], dict(groups=2), r"grouped conv2d needs a static channel dim"),
    ([1, 3, 8, 8], [4, "K", 3, 3], {}, r"weights need a static shape"),
])
def test_conv2d_type_errors(x, w, attrs, msg):
    full = {**conv_attrs(), **attrs}
    with pytest.raises(TypeError_, match=msg):
        infer("conv2d", ("f32", x), ("f32", w), **full)


def test_conv2d_dtype_errors():
    with pytest.raises(TypeError_, match=r"dtypes f32 and f64 differ"):
        infer("conv2d", ("f32", [1, 1, 3, 3]), ("f64", [1, 1, 1, 1]), **conv_attrs())
    with pytest.raises(TypeError_, match=r"must be floating point"):
        infer("conv2d", ("i32", [1, 1, 3, 3]), ("i32", [1, 1, 1, 1]), **conv_attrs())
    with pytest.raises(TypeError_, match=r"missing attribute 'strides'"):
        infer("conv2d", ("f32", [1, 1, 3, 3]), ("f32", [1, 1, 1, 1]), padding=((0, 0), (0, 0)), dilation=(1, 1))


# -- pooling ----------------------------------------------------------------------------------

@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    extra = int(draw(st.booleans()))   # allow pad == window: then a window may see no input
    pads = (draw(st.integers(0, kh - 1 + extra)), draw(st.integers(0, kh - 1 + extra)),
            draw(st.integers(0, kw - 1 + extra)), draw(st.integers(0, kw - 1 + extra)))
    h = max(1, kh - pads[0] - pads[1]) + draw(st.integers(0, 4))
    w = max(1, kw - pads[2] - pads[3]) + draw(st.integers(0, 4))
    return (kh, kw), (sh, sw), ((pads[0], pads[1]), (pads[2], pads[3])), (h, w), draw(st.integers(0, 2 ** 16))


def _pool_valid(window, strides, padding, h, w):
    """Mirror of the type rule's 'every window sees a real cell' condition."""
    for k, s, (lo, hi), size in zip(window, strides, padding, (h, w)):
        n = (size + lo + hi - k) // s + 1
        if lo >= k or (n - 1) * s - lo >= size:
            return False
    return True


@given(pool_cases(), st.booleans())
def test_pools_match_loop_in_both_layouts(case, include_pad):
    window, strides, padding, (h, w), seed = case
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    attrs = pool_attrs(window, strides, padding)
    if not _pool_valid(window, strides, padding, h, w):
        with pytest.raises(TypeError_, match="leaves a window along . with no input cell"):
            apply("max_pool2d", x, **attrs)
        return
    want_max = pool_loop(x, window, strides, padding, "max")
    want_avg = pool_loop(x, window, strides, padding, "avg", include_pad)
    np.testing.assert_array_equal(apply("max_pool2d", x, **attrs), want_max)
    np.testing.assert_allclose(apply("avg_pool2d", x, count_include_pad=include_pad, **attrs), want_avg,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(apply("max_pool2d", nhwc(x), layout="NHWC", **attrs), nhwc(want_max))
    np.testing.assert_allclose(apply("avg_pool2d", nhwc(x), layout="NHWC", count_include_pad=include_pad, **attrs),
                               nhwc(want_avg), rtol=1e-12, atol=1e-12)


def test_overlapping_alexnet_pool_with_padding(rng):
    x = rng.standard_normal((2, 4, 13, 13)).astype(np.float32)
    attrs = pool_attrs((3, 3), (2, 2), ((1, 1), (1, 1)))
    got = apply("max_pool2d", x, **attrs)
    assert got.shape == (2, 4, 7, 7) and got.dtype == np.float32
    np.testing.assert_array_equal(got, pool_loop(x.astype(np.float64), (3, 3), (2, 2), ((1, 1), (1, 1)), "max"))
    # Padded cells never win, even when every real cell is negative.
    neg = -np.abs(x) - 1
    assert (apply("max_pool2d", neg, **attrs) < 0).all()
    # The corner window sees 2x2 real cells: TF-SAME average divides by 4, count_include_pad by 9.
    ones = np.ones((1, 1, 13, 13), np.float32)
    assert apply("avg_pool2d", ones, **attrs)[0, 0, 0, 0] == 1.0
    assert apply("avg_pool2d", ones, count_include_pad=True, **attrs)[0, 0, 0, 0] == np.float32(4 / 9)


def test_pool_types_and_errors():
    assert str(infer("max_pool2d", ("f32", ["B", 96, 55, 55]), **pool_attrs((3, 3), (2, 2)))) == "f32[B,96,27,27]"
    assert str(infer("avg_pool2d", ("f16", ["B", 55, 55, "C"]), layout="NHWC",
                     **pool_attrs((3, 3), (2, 2), ((1, 1), (1, 1))))) == "f16[B,28,28,C]"
    with pytest.raises(TypeError_, match=r"max_pool2d\(f32\[B,1,W,4\]\): max_pool2d needs static spatial dims"):
        infer("max_pool2d", ("f32", ["B", 1, "W", 4]), **pool_attrs())
    with pytest.raises(TypeError_, match=r"window spans 5 along W but the padded input has only 3 \+ 1 \+ 0 = 4"):
        infer("avg_pool2d", ("f32", [1, 1, 5, 3]), **pool_attrs((1, 5), (1, 1), ((0, 0), (1, 0))))
    with pytest.raises(TypeError_, match=r"padding must be smaller than the window"):
        infer("max_pool2d", ("f32", [1, 1, 5, 5]), **pool_attrs((2, 2), (1, 1), ((2, 0), (0, 0))))
    with pytest.raises(TypeError_, match=r"leaves a window along W with no input cell \(window 2, stride 2, input 3\)"):
        infer("avg_pool2d", ("f32", [1, 1, 5, 3]), **pool_attrs((2, 2), (2, 2), ((0, 0), (0, 3))))
    with pytest.raises(TypeError_, match=r"'window' values must be >= 1"):
        infer("max_pool2d", ("f32", [1, 1, 5, 5]), **pool_attrs((0, 2)))
    with pytest.raises(TypeError_, match=r"must be floating point"):
        infer("max_pool2d", ("i32", [1, 1, 4, 4]), **pool_attrs())
    with pytest.raises(TypeError_, match=r"rank 4"):
        infer("avg_pool2d", ("f32", [1, 4, 4]), **pool_attrs())


# -- local response norm -----------------------------------------------------------------------

@given(st.integers(1, 7), st.integers(1, 6), st.sampled_from(["NCHW", "NHWC"]), st.integers(0, 2 ** 16))
def test_lrn_matches_loop(size, channels, layout, seed):
    x = np.random.default_rng(seed).standard_normal((2, channels, 3, 2))
    want = lrn_loop(x, size, 1e-2, 0.75, 2.0)
    if layout == "NHWC":
        x, want = nhwc(x), nhwc(want)
    got = apply("local_response_norm", x, size=size, alpha=1e-2, beta=0.75, k=2.0, layout=layout)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lrn_alpha_not_divided_by_size_and_types():
    # One lit channel among 5: b = a / (k + alpha * a^2) ** beta for every channel within size//2.
    x = np.zeros((1, 5, 1, 1))
    x[0, 2] = 2.0
    got = apply("local_response_norm", x, size=3, alpha=0.5, beta=1.0, k=1.0)
    assert got[0, 2, 0, 0] == 2.0 / (1.0 + 0.5 * 4.0)
    assert str(infer("local_response_norm", ("f32", ["B", 96, 55, 55]), size=5, alpha=1e-4, beta=0.75,
                     k=2.0)) == "f32[B,96,55,55]"
    with pytest.raises(TypeError_, match=r"size must be >= 1"):
        infer("local_response_norm", ("f32", [1, 2, 3, 3]), size=0, alpha=1.0, beta=1.0, k=1.0)
    with pytest.raises(TypeError_, match=r"missing attribute 'beta'"):
        infer("local_response_norm", ("f32", [1, 2, 3, 3]), size=3, alpha=1.0, k=1.0)


# -- softmax -----------------------------------------------------------------------------------

@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(), st.floats(0.1, 1e3))
def test_softmax_and_log_softmax_match_formula(shape, data, scale):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = np.random.default_rng(len(shape) + axis).standard_normal(shape) * scale
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    want = e / e.sum(axis=axis, keepdims=True)
    got = apply("softmax", x, axis=axis)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-12)
    # log-sum-exp form: finite even where softmax underflows to 0.
    want_log = z - np.log(e.sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(apply("log_softmax", x, axis=axis), want_log, rtol=1e-12, atol=1e-12)


def test_softmax_is_stable_and_keeps_dtype():
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], np.float32)
    s = apply("softmax", x, axis=1)
    assert s.dtype == np.float32 and np.isfinite(s).all()
    np.testing.assert_allclose(s, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    ls = apply("log_softmax", x, axis=1)
    np.testing.assert_allclose(ls[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    h = apply("softmax", np.array([[60000.0, 0.0]], np.float16), axis=1)
    assert h.dtype == np.float16 and h.tolist() == [[1.0, 0.0]]


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(), st.floats(0.1, 1e3))
def test_logsumexp_matches_formula_and_log_softmax(shape, data, scale):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = np.random.default_rng(len(shape) + axis).standard_normal(shape) * scale
    m = x.max(axis=axis, keepdims=True)
    want = (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)
    got = apply("logsumexp", x, axis=axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # x - logsumexp(x) is log_softmax(x)
    np.testing.assert_allclose(x - np.expand_dims(got, axis), apply("log_softmax", x, axis=axis), atol=1e-9)


def test_logsumexp_special_values_and_type_rule():
    x = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 0.0], [1e4, 1e4], [-np.inf, 2.0]], np.float32)
    got = apply("logsumexp", x, axis=1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [np.inf, -np.inf, np.nan, 1e4 + np.log(2), 2.0], rtol=1e-6)
    assert apply("logsumexp", np.zeros((3, 0), np.float32), axis=1).tolist() == [-np.inf] * 3
    assert str(infer("logsumexp", ("f32", ["B", 10]), axis=1)) == "f32[B]"
    with pytest.raises(TypeError_, match=r"input must be floating point"):
        infer("logsumexp", ("i32", [3]), axis=0)


def test_softmax_type_rules():
    assert str(infer("log_softmax", ("f32", ["B", 10]), axis=1)) == "f32[B,10]"
    with pytest.raises(TypeError_, match=r"axis -1 must be in \[0, 2\)"):
        infer("softmax", ("f32", ["B", 10]), axis=-1)
    with pytest.raises(TypeError_, match=r"softmax\(i32\[3\]\): input must be floating point"):
        infer("softmax", ("i32", [3]), axis=0)


# -- the IR text corpus ------------------------------------------------------------------------

def build_corpus() -> Function:
    """One function using every nn op with several attribute variants and a symbolic batch."""
    b = Builder()
    x = Value(tensor_type("f32", ["B", 4, 12, 12]), "x")
    xh = Value(tensor_type("f16", ["B", 9, 9, 6]), "xh")
    w = Value(tensor_type("f32", [8, 2, 3, 3]), "w")
    wh = Value(tensor_type("f16", [3, 3, 3, 4]), "wh")
    logits = Value(tensor_type("f64", ["B", 10]), "logits")
    c1 = b("conv2d", x, w, **conv_attrs((2, 2), ((1, 2), (0, 1)), (1, 1), groups=2))
    c2 = b("conv2d", xh, wh, layout="NHWC", groups=2, **conv_attrs((1, 1), ((2, 2), (2, 2)), (2, 2)))
    m1 = b("max_pool2d", c1, **pool_attrs((3, 3), (2, 2), ((1, 1), (1, 1))))
    m2 = b("max_pool2d", c2, layout="NHWC", **pool_attrs((2, 2), (1, 1)))
    a1 = b("avg_pool2d", m1, **pool_attrs((2, 2), (1, 1), ((0, 1), (0, 1))))
    a2 = b("avg_pool2d", m2, layout="NHWC", count_include_pad=True, **pool_attrs((3, 3), (2, 2), ((1, 1), (1, 1))))
    l1 = b("local_response_norm", a1, size=5, alpha=1e-4, beta=0.75, k=2.0)
    l2 = b("local_response_norm", a2, size=3, alpha=0.5, beta=1.0, k=1.0, layout="NHWC")
    s = b("softmax", logits, axis=1)
    ls = b("log_softmax", l1, axis=1)
    lse, lse64 = b("logsumexp", l1, axis=1), b("logsumexp", logits, axis=1)
    return Function("nn_corpus", [x, xh, w, wh, logits], b.ops, [ls, l2, s, lse, lse64])


def test_fir_corpus_round_trips_and_runs():
    text = FIR.read_text()
    built = build_corpus()
    assert built.text() == text, "tests/fir/roundtrip/nn.fir is stale: regenerate it from build_corpus()"
    f = verify(parse(text, str(FIR)))
    assert f.text() == text
    assert {op.name for op in f.ops} == NN_OPS == {n for n in OPS if n in NN_OPS}
    rng = np.random.default_rng(1)
    args = [rng.standard_normal([3 if not isinstance(d, int) else d for d in p.type.shape]).astype(p.type.dtype.np)
            for p in f.params]
    outs = run(f, *args)
    assert [o.shape for o in outs] == [(3, 8, 4, 3), (3, 4, 4, 4), (3, 10), (3, 4, 3), (3,)]
    for got, want in zip(outs, run(built, *args)):
        np.testing.assert_array_equal(got, want)
