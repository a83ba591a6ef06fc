"""matmul: numpy semantics (1-D operands, batch broadcasting), symbolic dims, error messages."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from flowc.backends.reference import run
from flowc.ir import TypeError_, dtype_of
from opcheck import build


@st.composite
def matmul_shapes(draw):
    """Two numpy-matmul-compatible shapes: 1-D cases and broadcasting batch dims included."""
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 3), max_size=3))
    xb, yb = [], []
    for d in batch:   # each side keeps the dim or stretches from 1
        xb.append(draw(st.sampled_from([d, 1])))
        yb.append(draw(st.sampled_from([d, 1])))
    xb = xb[draw(st.integers(0, len(xb))):]   # drop some leading batch dims on either side
    yb = yb[draw(st.integers(0, len(yb))):]
    xs = (k,) if draw(st.booleans()) else tuple(xb) + (m, k)
    ys = (k,) if draw(st.booleans()) else tuple(yb) + (k, n)
    return xs, ys


@given(shapes=matmul_shapes(), dtype=st.sampled_from(["f32", "f64", "i32", "i64"]), seed=st.integers(0, 2**32 - 1))
def test_matmul_matches_numpy(shapes, dtype, seed):
    xs, ys = shapes
    rng = np.random.default_rng(seed)
    npd = dtype_of(dtype).np
    x = rng.integers(-5, 6, size=xs).astype(npd)
    y = rng.integers(-5, 6, size=ys).astype(npd)
    f = build("matmul", (dtype, xs), (dtype, ys))
    (got,) = run(f, x, y)
    want = np.matmul(x, y)
    assert got.dtype == npd
    assert got.shape == np.shape(want) == f.results[0].type.shape
    np.testing.assert_array_equal(got, want)   # small integers: exact in every dtype


def test_matmul_float_values(rng):
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    y = rng.standard_normal((7, 2)).astype(np.float32)
    (got,) = run(build("matmul", ("f32", [3, 5, 7]), ("f32", [7, 2])), x, y)
    np.testing.assert_allclose(got, x.astype(np.float64) @ y.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_matmul_f16_accumulates_in_f32(rng):
    x = rng.standard_normal((4, 300)).astype(np.float16)
    y = rng.standard_normal((300, 3)).astype(np.float16)
    (got,) = run(build("matmul", ("f16", [4, 300]), ("f16", [300, 3])), x, y)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, (x.astype(np.float32) @ y.astype(np.float32)).astype(np.float16))


@pytest.mark.parametrize("xs, ys, want", [
    (["B", 784], [784, 10], "f32[B,10]"),
    (["B", "T", 16], [16, 8], "f32[B,T,8]"),
    (["B", 3, 4], ["B", 4, 5], "f32[B,3,5]"),
    ([1, 3, 4], ["B", 4, 5], "f32[B,3,5]"),
    (["K"], ["K"], "f32[]"),
    (["K"], ["B", "K", 6], "f32[B,6]"),
    (["B", 5, "K"], [7], "f32[B,5]"),          # a symbolic contracting dim unifies with 7
    ([2, "N"], ["N", "M"], "f32[2,M]"),
])
def test_matmul_symbolic_dims(xs, ys, want):
    assert str(build("matmul", ("f32", xs), ("f32", ys)).results[0].type) == want


def test_matmul_runs_with_bound_symbols(rng):
    f = build("matmul", ("f32", ["B", 784]), ("f32", [784, 10]))
    x = rng.standard_normal((3, 784)).astype(np.float32)
    w = rng.standard_normal((784, 10)).astype(np.float32)
    (got,) = run(f, x, w)
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, x @ w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs, ys, dtypes, message", [
    (["B", 784], [748, 10], ("f32", "f32"), "matmul(f32[B,784], f32[748,10]): contracting dims 784 and 748 differ"),
    ([3], [4], ("f32", "f32"), "contracting dims 3 and 4 differ"),
    ([2, 3], [3, 4], ("f32", "f64"), "operand dtypes f32 and f64 differ (insert a cast)"),
    ([2, 3], [3, 4], ("bool", "bool"), "operands must be numeric (not bool)"),
    ([], [3], ("f32", "f32"), "operands must have rank >= 1"),
    ([2, 5, 3], [4, 3, 6], ("f32", "f32"), "batch dims [2] and [4] cannot be broadcast"),
])
def test_matmul_errors(xs, ys, dtypes, message):
    with pytest.raises(TypeError_) as e:
        build("matmul", (dtypes[0], xs), (dtypes[1], ys))
    assert message in str(e.value)
