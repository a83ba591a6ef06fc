"""Gradients of conv2d, pooling and LRN (through their backward ops) against finite differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import build, check_vjp
from flowc.autodiff import GradError, grad_function, vjp_function
from flowc.backends import reference
from flowc.ir import Builder, Function, float64


def _to_nhwc(shape):
    n, c, h, w = shape
    return (n, h, w, c)


def _w_hwio(shape):
    o, c, kh, kw = shape
    return (kh, kw, c, o)


conv_cases = st.fixed_dictionaries({
    "groups": st.sampled_from([1, 2]), "stride": st.integers(1, 2), "dil": st.integers(1, 2),
    "pad": st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 1), st.integers(0, 2)),
    "k": st.tuples(st.integers(1, 3), st.integers(1, 2)), "layout": st.sampled_from(["NCHW", "NHWC"]),
    "seed": st.integers(0, 1000)})


@given(case=conv_cases)
def test_conv2d_gradient(case):
    g, (kh, kw), layout = case["groups"], case["k"], case["layout"]
    x_shape, w_shape = (2, 2 * g, 6, 5), (2 * g, 2, kh, kw)
    if layout == "NHWC":
        x_shape, w_shape = _to_nhwc(x_shape), _w_hwio(w_shape)
    pt, pb, pl, pr = case["pad"]
    attrs = dict(strides=(case["stride"], 1), padding=((pt, pb), (pl, pr)), dilation=(case["dil"], 1), groups=g,
                 layout=layout)
    f = build(lambda b, x, w: b("conv2d", x, w, **attrs), (float64, x_shape), (float64, w_shape))
    rng = np.random.default_rng(case["seed"])
    check_vjp(f, [rng.normal(size=x_shape), rng.normal(size=w_shape)], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kind", ["max_pool2d", "avg_pool2d", "avg_pool2d_incl"])
def test_pool_gradient_overlapping_windows(kind, layout):
    shape = (2, 3, 7, 6) if layout == "NCHW" else (2, 7, 6, 3)
    attrs = dict(window=(3, 3), strides=(2, 2), padding=((1, 1), (0, 1)), layout=layout)
    if kind == "avg_pool2d_incl":
        kind, attrs["count_include_pad"] = "avg_pool2d", True
    f = build(lambda b, x: b(kind, x, **attrs), (float64, shape))
    rng = np.random.default_rng(3)
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 10  # no ties
    check_vjp(f, [x])


def test_max_pool_ties_go_to_the_first_maximum():
    f = build(lambda b, x: b("max_pool2d", x, window=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0))),
              (float64, (1, 1, 2, 2)))
    _, dx = reference.run(vjp_function(f, [0]), np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("size", [3, 5])
def test_lrn_gradient(size, layout):
    shape = (2, 7, 3, 2) if layout == "NCHW" else (2, 3, 2, 7)
    f = build(lambda b, x: b("local_response_norm", x, size=size, alpha=0.1, beta=0.75, k=2.0, layout=layout),
              (float64, shape))
    check_vjp(f, [np.random.default_rng(size).normal(size=shape)])


def test_second_order_through_conv_is_a_clear_error():
    def loss(b, x, w):
        y = b("conv2d", x, w, strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1))
        return b("reduce_sum", b("mul", y, y), axes=(0, 1, 2, 3))
    f = build(loss, (float64, (1, 1, 3, 3)), (float64, (1, 1, 2, 2)))
    g = grad_function(f, [0])
    bld = Builder()
    bld.ops.extend(g.ops)
    h = Function("h", g.params, bld.ops, [bld("reduce_sum", g.results[1], axes=(0, 1, 2, 3))])
    with pytest.raises(GradError, match="second-order"):
        grad_function(h, [0])
