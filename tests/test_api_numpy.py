"""fc.* numpy-style functions against numpy: eagerly and under @fc.jit, values and dtypes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import flowc as fc


@pytest.fixture(autouse=True, scope="module")
def nep50():
    """Expected values come from numpy; make numpy 1.x promote like numpy 2 (NEP 50), as flowc does."""
    set_state = getattr(np, "_set_promotion_state", None)
    if set_state is None:
        yield
        return
    old = np._get_promotion_state()
    set_state("weak")
    yield
    set_state(old)


def both(fc_fn, np_fn, *arrays, rtol=1e-5, **kw):
    """fc_fn eagerly and jitted (arrays as dynamic args) must match np_fn: value and dtype."""
    want = np.asarray(np_fn(*arrays, **kw))
    eager = fc_fn(*arrays, **kw)
    dyn = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray)]

    def g(*d):
        full = list(arrays)
        for i, v in zip(dyn, d):
            full[i] = v
        return fc_fn(*full, **kw)
    jitted = fc.jit(g)(*[arrays[i] for i in dyn])
    for got in (eager, jitted):
        got = np.asarray(got)
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


R = np.random.default_rng(0)
F = R.standard_normal((3, 4)).astype(np.float32)
P = (R.random((3, 4)) + 0.1).astype(np.float32)
I = R.integers(-5, 5, (3, 4)).astype(np.int32)

UNARY = [(fc.exp, np.exp, F), (fc.log, np.log, P), (fc.log1p, np.log1p, P), (fc.sqrt, np.sqrt, P),
         (fc.tanh, np.tanh, F), (fc.abs, np.abs, F), (fc.abs, np.abs, I), (fc.sign, np.sign, F),
         (fc.sign, np.sign, I), (fc.floor, np.floor, F), (fc.exp, np.exp, I), (fc.negative, np.negative, I),
         (fc.sin, np.sin, F), (fc.cos, np.cos, F), (fc.ceil, np.ceil, F), (fc.square, np.square, F)]


@pytest.mark.parametrize("fc_fn,np_fn,x", UNARY, ids=lambda v: getattr(v, "__name__", None))
def test_unary(fc_fn, np_fn, x):
    both(fc_fn, np_fn, x)


shapes2 = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)
BIN = [(fc.add, np.add), (fc.subtract, np.subtract), (fc.multiply, np.multiply), (fc.divide, np.divide),
       (fc.maximum, np.maximum), (fc.minimum, np.minimum), (fc.less, np.less), (fc.greater_equal,
                                                                                np.greater_equal),
       (fc.equal, np.equal)]


@given(shapes=shapes2, which=st.integers(0, len(BIN) - 1),
       dts=st.sampled_from([(np.float32, np.float32), (np.float32, np.float64), (np.int32, np.float32),
                            (np.int32, np.int64), (np.int8, np.int32)]))
def test_binary_broadcasting_and_promotion(shapes, which, dts):
    fc_fn, np_fn = BIN[which]
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shapes.input_shapes[0]) * 3).astype(dts[0])
    b = (rng.standard_normal(shapes.input_shapes[1]) * 3).astype(dts[1])
    if np_fn is np.divide:
        b = np.where(b == 0, 1, b).astype(dts[1])
    both(fc_fn, np_fn, a, b)


def test_power_and_operators():
    f = fc.jit(lambda x, y: (x ** 2, 2 ** x, x @ y, -x, x / 2, 1 - x, x * 3, x > 0, abs(x)))
    outs = f(F, F.T)
    want = (F ** 2, 2 ** F, F @ F.T, -F, F / 2, 1 - F, F * 3, F > 0, abs(F))
    for g, w in zip(outs, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5)


def test_numpy_ufuncs_on_tracers_dispatch_to_fc():
    f = fc.jit(lambda x, y: (np.exp(x), y + x, y @ x.T, np.maximum(x, 0.0)))
    outs = f(F, F)
    for g, w in zip(outs, (np.exp(F), F + F, F @ F.T, np.maximum(F, 0))):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6)
    g = fc.jit(lambda x: np.ones(4, np.float32) + x)        # ndarray on the left: still traced
    np.testing.assert_allclose(g(F), F + 1)
    assert "add" in fc.jit(lambda x: np.ones(4, np.float32) + x).lower(F).text()


def test_where_clip_logical():
    both(fc.where, np.where, F > 0, F, I)
    both(lambda c, x: fc.where(c, x, 0.0), lambda c, x: np.where(c, x, np.float32(0)), F > 0, F)
    both(fc.clip, np.clip, F, -0.5, 0.5)
    both(fc.logical_and, np.logical_and, F > 0, I > 0)
    both(fc.logical_or, np.logical_or, F > 0, I > 0)
    both(fc.logical_not, np.logical_not, F > 0)
    both(lambda a, b: (a & b) | ~a, lambda a, b: (a & b) | ~a, F > 0, I > 0)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_reductions(shape, data):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    for fc_fn, np_fn in [(fc.sum, np.sum), (fc.mean, np.mean), (fc.max, np.max), (fc.min, np.min),
                         (fc.prod, np.prod)]:
        both(fc_fn, np_fn, x, axis=axis, keepdims=keep)
    both(fc.argmax, np.argmax, x, axis=axis, keepdims=keep)
    both(fc.argmin, np.argmin, x, axis=axis, keepdims=keep)


def test_reduction_dtypes_follow_numpy():
    both(fc.sum, np.sum, I)                  # i32 -> i64
    both(fc.mean, np.mean, I, axis=0)        # i32 -> f64
    both(fc.sum, np.sum, F > 0, axis=1)      # bool -> i64
    both(fc.max, np.max, F > 0, axis=1)      # bool stays bool
    both(fc.prod, np.prod, I, axis=(0, 1))
    both(fc.sum, np.sum, F, axis=(0, -1))
    both(lambda x: x.sum(0) + x.mean() - x.max(axis=1, keepdims=True) * x.min(),
         lambda x: x.sum(0) + x.mean() - x.max(axis=1, keepdims=True) * x.min(), F)


def test_matmul_dot():
    a = R.standard_normal((2, 3, 4)).astype(np.float32)
    b = R.standard_normal((4, 5)).astype(np.float32)
    v = R.standard_normal(4).astype(np.float32)
    both(fc.matmul, np.matmul, a, b)
    both(fc.matmul, np.matmul, v, b)
    both(fc.matmul, np.matmul, a, v)
    both(fc.dot, np.dot, b.T, v)
    both(fc.dot, np.dot, v, v)
    both(fc.dot, np.dot, np.float32(2.0), v)


def test_shape_functions():
    x = R.standard_normal((2, 3, 4)).astype(np.float32)
    both(fc.reshape, np.reshape, x, (4, -1))
    both(fc.reshape, np.reshape, x, (-1,))
    both(fc.transpose, np.transpose, x)
    both(fc.transpose, np.transpose, x, (1, -1, 0))
    both(fc.broadcast_to, np.broadcast_to, x[0, 0], (3, 4))
    both(fc.expand_dims, np.expand_dims, x, (0, -1))
    both(fc.expand_dims, np.expand_dims, x, 1)
    both(fc.squeeze, np.squeeze, x[:, :1, None])
    both(fc.squeeze, np.squeeze, x[:, :1], axis=1)
    both(lambda a, b: fc.concatenate([a, b], axis=-1), lambda a, b: np.concatenate([a, b], axis=-1), x, x)
    both(lambda a, b: fc.concatenate([a, b], axis=None), lambda a, b: np.concatenate([a, b], axis=None), x, x)
    both(lambda a, b: fc.concatenate([a, b]), lambda a, b: np.concatenate([a, b]), F, I)   # promotes
    both(lambda a, b: fc.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1), x, x)
    both(fc.pad, np.pad, x, 1)
    both(fc.pad, np.pad, x, ((0, 1), (2, 0), (1, 1)), constant_values=3)
    both(fc.pad, np.pad, x, (1, 2))
    both(lambda a: a.T.reshape(4, 6).ravel(), lambda a: a.T.reshape(4, 6).ravel(), x)


def test_take_one_hot():
    x = R.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([[0, 4], [-1, 2]])
    both(fc.take, np.take, x, idx, axis=0)
    both(fc.take, np.take, x, idx)
    both(fc.take, np.take, x, np.array([2, 0, 1], np.int32), axis=-1)
    labels = np.array([0, 2, 1, 2])
    both(lambda l: fc.one_hot(l, 3), lambda l: np.eye(3, dtype=np.float32)[l], labels)
    both(lambda l: fc.one_hot(l, 3, dtype=fc.int32), lambda l: np.eye(3, dtype=np.int32)[l], labels)
    out = fc.take(x, np.array([7, -9]), axis=0)   # documented: clamped, not an error
    np.testing.assert_array_equal(out, x[[4, 0]])


@given(data=st.data())
def test_getitem_matches_numpy(data):
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    def sl(n):
        return st.builds(slice, st.one_of(st.none(), st.integers(-n - 1, n + 1)),
                         st.one_of(st.none(), st.integers(-n - 1, n + 1)),
                         st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2])))
    parts = [data.draw(st.one_of(sl(n), st.integers(-n, n - 1))) for n in x.shape]
    k = data.draw(st.integers(0, 3))
    key = tuple(parts[:k]) + (None,) + tuple(parts[k:]) if data.draw(st.booleans()) else tuple(parts[:k])
    if data.draw(st.booleans()):
        key = (Ellipsis,) + key[1:] if key else (Ellipsis,)
    want = x[key]
    got = fc.jit(lambda a: a[key])(x)
    np.testing.assert_array_equal(got, want)
    assert got.shape == want.shape


def test_getitem_integer_array():
    both(lambda a: a[np.array([2, 0])], lambda a: a[np.array([2, 0])], F)
    both(lambda a: a[[1, 1]], lambda a: a[[1, 1]], F)


def test_creation_defaults_to_float32():
    assert fc.zeros((2, 3)).dtype == np.float32
    assert fc.ones(4).dtype == np.float32
    assert fc.full((2,), 1.5).dtype == np.float32
    assert fc.full((2,), 7).dtype == np.int64
    assert fc.full((2,), True).dtype == np.bool_
    assert fc.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_array_equal(fc.arange(5), np.arange(5))
    np.testing.assert_array_equal(fc.arange(2, 11, 3), np.arange(2, 11, 3))
    np.testing.assert_array_equal(fc.arange(5, 0, -2), np.arange(5, 0, -2))
    np.testing.assert_allclose(fc.arange(0.5, 2.0, 0.5), np.arange(0.5, 2.0, 0.5))
    np.testing.assert_array_equal(fc.zeros((2,), dtype=fc.int32), np.zeros(2, np.int32))
    both(fc.zeros_like, np.zeros_like, I)
    both(fc.ones_like, np.ones_like, F)
    both(lambda x: fc.full_like(x, 2), lambda x: np.full_like(x, 2), F)
    f = fc.jit(lambda x: fc.zeros(x.shape) + fc.ones((x.shape[1],), dtype=fc.float64))
    assert f(F).dtype == np.float64 and f(F).shape == F.shape


def test_astype_cast():
    both(lambda x: fc.astype(x, fc.int32), lambda x: x.astype(np.int32), F * 3)
    assert fc.jit(lambda x: x.astype(fc.int32))(F * 3).dtype == np.int32
    both(lambda x: fc.astype(x, "float64"), lambda x: x.astype("float64"), I)
    both(lambda x: fc.cast(x, np.bool_), lambda x: x.astype(np.bool_), I)
    both(lambda x: fc.astype(x, float), lambda x: x.astype(float), I)


def test_tracer_attributes():
    seen = {}

    @fc.jit
    def f(x):
        seen.update(shape=x.shape, dtype=x.dtype, ndim=x.ndim, T=x.T.shape)
        return x.transpose(1, 0).reshape(2, 6).argmax(axis=1)
    out = f(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert seen == {"shape": (3, 4), "dtype": fc.float32, "ndim": 2, "T": (4, 3)}
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4).T.reshape(2, 6).argmax(axis=1))
