"""Elementwise ops at the IR level: the reference against numpy, type rules, defined corner cases."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowc.ir import TypeError_
from opcheck import apply, result_type

UNARY = {"neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log, "log1p": np.log1p,
         "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "floor": np.floor, "ceil": np.ceil,
         "relu": lambda x: np.maximum(x, 0), "rsqrt": lambda x: 1 / np.sqrt(x),
         "sigmoid": lambda x: 1 / (1 + np.exp(-x))}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "pow": np.power,
          "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal, "ne": np.not_equal, "lt": np.less,
          "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
shapes = st.lists(st.integers(1, 4), max_size=3).map(tuple)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_matches_numpy(name, dtype, shape, seed):
    x = np.random.default_rng(seed).uniform(0.1, 3.0, shape).astype(dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(apply(name, x), UNARY[name](x).astype(dtype), rtol=1e-6 if dtype == np.float32
                                   else 1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_binary_broadcasting_matches_numpy(name, data, seed):
    shape = data.draw(shapes)
    other = tuple(d if data.draw(st.booleans()) else 1 for d in shape)[data.draw(st.integers(0, len(shape))):]
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0.5, 2, shape).astype(np.float32), rng.uniform(0.5, 2, other).astype(np.float32)
    np.testing.assert_allclose(apply(name, x, y), BINARY[name](x, y), rtol=1e-6)


def test_logical_select_cast_iota():
    a, b = np.array([True, False, True]), np.array([True, True, False])
    np.testing.assert_array_equal(apply("logical_and", a, b), a & b)
    np.testing.assert_array_equal(apply("logical_or", a, b), a | b)
    np.testing.assert_array_equal(apply("logical_not", a), ~a)
    x, y = np.arange(3.0), -np.arange(3.0)
    np.testing.assert_array_equal(apply("select", a, x, y), np.where(a, x, y))
    np.testing.assert_array_equal(apply("cast", np.array([1.7, -1.7, 0.0]), dtype="i32"), [1, -1, 0])
    np.testing.assert_array_equal(apply("cast", np.array([0.0, 2.0]), dtype="bool"), [False, True])


def test_integer_pow_with_negative_exponent_is_defined():
    got = apply("pow", np.array([2, -1, -1, 1, 3, 0], np.int32), np.array([-1, -3, -2, -5, 2, 3], np.int32))
    np.testing.assert_array_equal(got, [0, -1, 1, 1, 9, 0])


@pytest.mark.parametrize("name,types,msg", [
    ("add", [("f32", (3,)), ("f64", (3,))], "operand dtypes f32 and f64 differ"),
    ("exp", [("i32", (3,))], "must be floating point"),
    ("neg", [("bool", (3,))], "must be numeric"),
    ("add", [("f32", (3,)), ("f32", (4,))], "cannot be broadcast"),
    ("select", [("f32", (3,)), ("f32", (3,)), ("f32", (3,))], "condition must be bool"),
    ("logical_and", [("f32", ()), ("f32", ())], "must be bool"),
])
def test_type_errors(name, types, msg):
    with pytest.raises(TypeError_, match=msg):
        result_type(name, *types)


def test_symbolic_broadcasting():
    assert result_type("add", ("f32", ("B", 1)), ("f32", (1, 10))) == "f32[B,10]"
    assert result_type("gt", ("f32", ("B", 10)), ("f32", (10,))) == "bool[B,10]"
