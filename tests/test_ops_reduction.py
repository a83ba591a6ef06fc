"""Reductions and argmax/argmin: type rules (incl. symbolic dims, canonical axes) and the reference vs numpy."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from flowc.backends.reference import run
from flowc.ir import TypeError_, dtype_of
from opcheck import build, result_type

REDUCE = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max, "reduce_min": np.min,
          "reduce_prod": np.prod}


def data_for(dtype, shape, rng):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-3, 4, size=shape).astype(dtype)


@st.composite
def reduce_case(draw, name):
    rank = draw(st.integers(0, 4))
    low = 1 if name in ("reduce_max", "reduce_min") else 0    # max/min of nothing is a type error
    shape = tuple(draw(st.lists(st.integers(low, 4), min_size=rank, max_size=rank)))
    axes = tuple(sorted(draw(st.sets(st.integers(0, rank - 1), max_size=rank)))) if rank else ()
    dtypes = ["f32", "f64", "f16"] + ([] if name == "reduce_mean" else ["i32", "i64"])
    return shape, axes, draw(st.booleans()), draw(st.sampled_from(dtypes)), draw(st.integers(0, 2**32 - 1))


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
@pytest.mark.parametrize("name", sorted(REDUCE))
@given(data=st.data())
def test_reduce_matches_numpy(name, data):
    shape, axes, keepdims, dtype, seed = data.draw(reduce_case(name))
    x = data_for(dtype_of(dtype).np, shape, np.random.default_rng(seed))
    f = build(name, (dtype, shape), axes=axes, keepdims=keepdims)
    (got,) = run(f, x)
    acc = np.float64 if x.dtype.kind == "f" else x.dtype
    with np.errstate(all="ignore"):
        want = REDUCE[name](x.astype(acc), axis=axes, keepdims=keepdims)
    assert got.dtype == x.dtype
    assert got.shape == np.shape(want) == f.results[0].type.shape
    tol = {np.float16: 2e-3, np.float32: 1e-5}.get(x.dtype.type, 1e-12)
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(want, np.float64).astype(x.dtype),
                               rtol=tol, atol=tol * max(1, x.size))


def test_reduce_mean_f16_accumulates_in_f32():
    x = np.full(5000, 0.1, np.float16) + np.linspace(0, 1, 5000).astype(np.float16)
    (got,) = run(build("reduce_mean", ("f16", [5000]), axes=(0,)), x)
    assert got.dtype == np.float16
    assert got == (x.astype(np.float32).sum() / np.float32(5000)).astype(np.float16)


def test_reduce_sum_int_wraps_in_its_dtype():
    x = np.array([100, 100], np.int8)
    (got,) = run(build("reduce_sum", ("i8", [2]), axes=(0,)), x)
    assert got.dtype == np.int8 and got == np.int8(-56)


def test_empty_axes_is_identity():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = run(build("reduce_max", ("f32", [2, 3]), axes=()), x)
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_arg_matches_numpy_first_on_ties(name, data):
    rank = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(0, rank - 1))
    keepdims = data.draw(st.booleans())
    dtype = data.draw(st.sampled_from(["i32", "f32"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 3, size=shape).astype(dtype_of(dtype).np)   # few values: many ties
    (got,) = run(build(name, (dtype, shape), axis=axis, keepdims=keepdims), x)
    want = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_argmax_ties_pick_first():
    x = np.array([[1, 3, 3], [2, 2, 0]], np.int32)
    (got,) = run(build("argmax", ("i32", [2, 3]), axis=1), x)
    np.testing.assert_array_equal(got, [1, 0])
    (got,) = run(build("argmin", ("i32", [2, 3]), axis=0, keepdims=True), x)
    np.testing.assert_array_equal(got, [[0, 1, 1]])


def test_symbolic_dims_propagate():
    assert result_type("reduce_sum", ("f32", ["B", 10]), axes=(1,)) == "f32[B]"
    assert result_type("reduce_mean", ("f32", ["B", 10]), axes=(0,), keepdims=True) == "f32[1,10]"
    assert result_type("reduce_max", ("f32", ["B", "T", 4]), axes=(2,), keepdims=True) == "f32[B,T,1]"
    assert result_type("argmax", ("f32", ["B", 10]), axis=1) == "i64[B]"
    assert result_type("argmin", ("f32", ["B", 10]), axis=0, keepdims=True) == "i64[1,10]"
    f = build("reduce_sum", ("f32", ["B", 10]), axes=(0,))   # reducing over the symbolic axis
    (got,) = run(f, np.ones((7, 10), np.float32))
    np.testing.assert_array_equal(got, np.full(10, 7, np.float32))


@pytest.mark.parametrize("name, types, attrs, message", [
    ("reduce_sum", [("f32", [2, 3])], {"axes": (-1,)}, "axis -1 is negative"),
    ("reduce_sum", [("f32", [2, 3])], {"axes": (1, 0)}, "axes (1, 0) are not sorted and unique"),
    ("reduce_sum", [("f32", [2, 3])], {"axes": (1, 1)}, "axes (1, 1) are not sorted and unique"),
    ("reduce_sum", [("f32", [2, 3])], {"axes": (2,)}, "axis 2 is out of range for rank 2"),
    ("reduce_sum", [("bool", [2])], {"axes": (0,)}, "operand of type bool[2] must be numeric (not bool)"),
    ("reduce_mean", [("i32", [2])], {"axes": (0,)}, "operand of type i32[2] must be floating point"),
    ("reduce_max", [("f32", [0, 3])], {"axes": (0,)}, "axis 0 of f32[0,3] is empty and reduce_max has no identity"),
    ("argmax", [("f32", [2, 3])], {"axis": -1}, "axis -1 is negative"),
    ("argmin", [("f32", [2, 3])], {"axis": 2}, "axis 2 is out of range for rank 2"),
    ("argmax", [("f32", [2, 0])], {"axis": 1}, "axis 1 of f32[2,0] is empty"),
    ("argmax", [("bool", [2])], {"axis": 0}, "must be numeric (not bool)"),
])
def test_type_errors(name, types, attrs, message):
    with pytest.raises(TypeError_) as e:
        build(name, *types, **attrs)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{name}(")
