"""Gradient rules of elementwise ops against finite differences (float64)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import build, check_vjp
from flowc.autodiff import GradError, grad_function, vjp_function
from flowc.backends import reference
from flowc.ir import float64, int64

UNARY = {  # op -> input sampler keeping away from kinks and domain edges
    "neg": "any", "abs": "nonzero", "relu": "nonzero", "exp": "any", "log": "pos", "log1p": "pos", "sqrt": "pos",
    "rsqrt": "pos", "tanh": "any", "sigmoid": "any", "sin": "any", "cos": "any",
}
BINARY = {"add": "any", "sub": "any", "mul": "any", "div": "nonzero", "pow": "pos", "maximum": "any",
          "minimum": "any"}

shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


def sample(rng, shape, kind):
    x = np.asarray(rng.uniform(-2, 2, shape))
    if kind == "pos":
        return np.asarray(np.abs(x) + 0.5)
    if kind == "nonzero":
        return np.asarray(np.where(np.abs(x) < 0.2, 0.7, x))
    return x


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=st.integers(0, 10**6))
def test_unary_gradient(name, shape, seed):
    rng = np.random.default_rng(seed)
    f = build(lambda b, x: b(name, x), (float64, shape))
    check_vjp(f, [sample(rng, shape, UNARY[name])])


def _broadcast_pair(draw):
    shape = draw(shapes)
    other = tuple(d if draw(st.booleans()) else 1 for d in shape)
    cut = draw(st.integers(0, len(other)))
    return (shape, other[cut:]) if draw(st.booleans()) else (other[cut:], shape)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data(), seed=st.integers(0, 10**6))
def test_binary_gradient_with_broadcasting(name, data, seed):
    sx, sy = _broadcast_pair(data.draw)
    rng = np.random.default_rng(seed)
    f = build(lambda b, x, y: b(name, x, y), (float64, sx), (float64, sy))
    x, y = sample(rng, sx, BINARY[name]), sample(rng, sy, BINARY[name])
    if name in ("maximum", "minimum"):  # continuous samples never tie; the tie rule is tested below
        assert not np.any(np.broadcast_to(x, np.broadcast_shapes(sx, sy)) == y)
    check_vjp(f, [x, y])


def test_maximum_tie_splits_gradient_equally():
    f = build(lambda b, x, y: b("maximum", x, y), (float64, (2,)), (float64, (2,)))
    g = vjp_function(f, [0, 1])
    x = np.array([1.0, 2.0])
    y = np.array([1.0, 3.0])
    _, dx, dy = reference.run(g, x, y, np.ones(2))
    np.testing.assert_array_equal(dx, [0.5, 0.0])
    np.testing.assert_array_equal(dy, [0.5, 1.0])


def test_relu_and_abs_at_zero_have_zero_gradient():
    for name in ("relu", "abs"):
        f = build(lambda b, x: b(name, x), (float64, (3,)))
        _, dx = reference.run(vjp_function(f, [0]), np.array([0.0, 1.0, -1.0]), np.ones(3))
        assert dx[0] == 0.0


def test_select_and_cast_gradients():
    def fn(b, c, x, y):
        return b("cast", b("select", b("gt", c, y), b("cast", x, dtype="f32"), b("cast", y, dtype="f32")),
                 dtype="f64")
    f = build(fn, (float64, (4,)), (float64, (4,)), (float64, (1,)))
    rng = np.random.default_rng(1)
    check_vjp(f, [rng.normal(size=4), rng.normal(size=4), np.array([0.3])], wrt=[1, 2], eps=1e-2, rtol=1e-3, atol=1e-4)


def test_grad_of_scalar_function_and_errors():
    f = build(lambda b, x: b("exp", x), (float64, ()))
    g = grad_function(f, [0])
    val, dx = reference.run(g, np.array(0.5))
    assert np.isclose(val, np.exp(0.5)) and np.isclose(dx, np.exp(0.5))
    with pytest.raises(GradError, match="floating-point scalar"):
        grad_function(build(lambda b, x: b("exp", x), (float64, (2,))), [0])
    fi = build(lambda b, x, n: b("mul", x, b("cast", n, dtype="f64")), (float64, ()), (int64, ()))
    with pytest.raises(GradError, match="argument 1 of type i64"):
        grad_function(fi, [1])


def test_grad_of_grad_is_ordinary_ir():
    f = build(lambda b, x: b("mul", b("sin", x), x), (float64, ()))
    g = grad_function(f, [0])
    inner = type(g)("dfdx", g.params, g.ops, [g.results[1]])  # x -> f'(x)
    gg = grad_function(inner, [0])
    x = np.array(0.7)
    _, d2 = reference.run(gg, x)
    assert np.isclose(d2, 2 * np.cos(0.7) - 0.7 * np.sin(0.7))

