"""Dtype promotion: numpy 2 (NEP 50) rules with weak Python scalars, and pytrees."""
import numpy as np
import pytest

import flowc as fc
from flowc import pytree
from flowc.ir.types import FlowcError


def out_dtype(fn, *args):
    return fc.jit(fn)(*args).dtype


F32, F64 = np.ones(3, np.float32), np.ones(3, np.float64)
I32, I8, U32 = np.ones(3, np.int32), np.ones(3, np.int8), np.ones(3, np.uint32)
B = np.array([True, False, True])


@pytest.mark.parametrize("fn,args,want", [
    (lambda x: x + 1.0, (F32,), np.float32),          # a float literal does not upcast f32
    (lambda x: x * 2, (F32,), np.float32),
    (lambda x: x + 1.5, (I32,), np.float64),          # int array + float literal -> numpy's f64
    (lambda x: x + 1, (I8,), np.int8),                # int literal keeps the small int type
    (lambda x, y: x + y, (F32, F64), np.float64),     # array-array: np.result_type
    (lambda x, y: x + y, (I32, F32), np.float64),
    (lambda x, y: x + y, (I8, U32), np.int64),
    (lambda x: x / 2, (I32,), np.float64),            # integer true division gives float
    (lambda x, y: x / y, (I8, I8), np.float64),
    (lambda x: x + x, (B,), np.bool_),                # bool + bool is logical or, like numpy
    (lambda x: x * x, (B,), np.bool_),
    (lambda x: x + 1, (B,), np.int64),
    (lambda x: x + 1.0, (B,), np.float64),
    (lambda x: x > 0.5, (I32,), np.bool_),
    (lambda x, s: x * s, (F32, 0.5), np.float32),     # a Python scalar argument is weak too
    (lambda x, s: x * s, (I32, 2), np.int32),
])
def test_promotion(fn, args, want):
    assert out_dtype(fn, *args) == want


def test_promotion_values_match_numpy():
    f = fc.jit(lambda a, b: (a + b, a - 1.5, b / 3, a * True))
    a, b = np.arange(4, dtype=np.int32), np.linspace(0, 1, 4).astype(np.float32)
    for got, want in zip(f(a, b), (a + b, a - 1.5, b / 3, a * True)):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_bool_subtract_is_an_error_like_numpy():
    with pytest.raises(FlowcError, match="numpy does not define"):
        fc.jit(lambda x: x - x)(B)


def test_integer_literal_out_of_range():
    with pytest.raises(FlowcError, match="out of bounds for i8"):
        fc.jit(lambda x: x + 1000)(I8)


def test_python_scalar_inputs_are_default_dtype_arrays():
    f = fc.jit(lambda s, i, b: (s, i, b))
    s, i, b = f(1.5, 3, True)
    assert (s.dtype, i.dtype, b.dtype) == (np.float64, np.int64, np.bool_)
    assert s.shape == () and float(s) == 1.5


# --------------------------------------------------------------------------- pytrees

def test_pytree_roundtrip():
    from collections import namedtuple
    Pt = namedtuple("Pt", "x y")
    tree = {"b": [1, (2, None, 3)], "a": Pt(4, {"z": 5})}
    leaves, td = pytree.flatten(tree)
    assert leaves == [4, 5, 1, 2, 3]          # dict keys sorted: insertion order never matters
    assert pytree.unflatten(td, leaves) == tree
    assert td == pytree.flatten({"a": Pt(0, {"z": 0}), "b": [0, (0, None, 0)]})[1]
    assert td != pytree.flatten({"a": (0, {"z": 0}), "b": [0, (0, None, 0)]})[1]
    assert pytree.tree_map(lambda a, b: a + b, tree, tree)["b"][1][2] == 6
    paths = [p for p, _ in pytree.flatten_with_paths(tree, "t")[0]]
    assert paths[0] == "t['a'][0]" and paths[-1] == "t['b'][1][2]"
    with pytest.raises(ValueError):
        pytree.unflatten(td, [1, 2])
