"""Gradient rules of reductions, matmul and shape ops against finite differences (float64)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import build, check_vjp
from flowc.autodiff import vjp_function
from flowc.backends import reference
from flowc.ir import Sym, float64, int64

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"])
@given(shape=shapes, data=st.data(), seed=st.integers(0, 10**6))
def test_reduction_gradients(name, shape, data, seed):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1)))))
    keepdims = data.draw(st.booleans())
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.linspace(0.5, 2.0, int(np.prod(shape)))).reshape(shape)  # distinct, nonzero
    f = build(lambda b, v: b(name, v, axes=axes, keepdims=keepdims), (float64, shape))
    check_vjp(f, [x])


def test_reduce_max_ties_share_the_gradient():
    f = build(lambda b, v: b("reduce_max", v, axes=(0,)), (float64, (3,)))
    _, dx = reference.run(vjp_function(f, [0]), np.array([2.0, 1.0, 2.0]), np.array(1.0))
    np.testing.assert_array_equal(dx, [0.5, 0.0, 0.5])


def test_reduce_mean_over_symbolic_dim():
    f = build(lambda b, v: b("reduce_mean", v, axes=(0,)), (float64, (Sym("B"), 2)))
    x = np.arange(8.0).reshape(4, 2)
    _, dx = reference.run(vjp_function(f, [0]), x, np.ones(2))
    np.testing.assert_allclose(dx, np.full((4, 2), 0.25))


matmul_shapes = st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                 ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((1, 2, 3), (2, 3, 2))])


@given(shapes=matmul_shapes, seed=st.integers(0, 10**6))
def test_matmul_gradient(shapes, seed):
    rng = np.random.default_rng(seed)
    sx, sy = shapes
    f = build(lambda b, x, y: b("matmul", x, y), (float64, sx), (float64, sy))
    check_vjp(f, [rng.normal(size=sx), rng.normal(size=sy)])


CASES = {
    "reshape": ((2, 3), lambda b, x: b("reshape", x, shape=(3, 2))),
    "transpose": ((2, 3, 4), lambda b, x: b("transpose", x, perm=(2, 0, 1))),
    "broadcast_to": ((3, 1), lambda b, x: b("broadcast_to", x, shape=(2, 3, 4))),
    "expand_dims": ((2, 3), lambda b, x: b("expand_dims", x, axes=(0, 2))),
    "squeeze": ((1, 3, 1), lambda b, x: b("squeeze", x, axes=(0, 2))),
    "concatenate": ((2, 3), lambda b, x: b("concatenate", x, b("exp", x), x, axis=1)),
    "pad": ((2, 3), lambda b, x: b("pad", x, pads=((1, 0), (2, 3)), value=1.5)),
    "slice": ((5, 7), lambda b, x: b("slice", x, starts=(1, 0), limits=(5, 7), strides=(2, 3))),
    "slice_tail": ((6,), lambda b, x: b("slice", x, starts=(1,), limits=(5,), strides=(3,))),
    "softmax": ((2, 4), lambda b, x: b("softmax", x, axis=1)),
    "log_softmax": ((3, 2), lambda b, x: b("log_softmax", x, axis=0)),
    "logsumexp": ((3, 4), lambda b, x: b("logsumexp", x, axis=1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shape_op_gradients(case):
    shape, fn = CASES[case]
    if case in ("softmax", "log_softmax", "logsumexp"):
        pytest.importorskip("flowc.ir.ops.nn")
    f = build(fn, (float64, shape))
    check_vjp(f, [np.random.default_rng(0).normal(size=shape)])


def test_take_and_scatter_add_gradients():
    idx = np.array([[2, 0], [2, 1]], np.int64)
    f = build(lambda b, x, i: b("take", x, i, axis=1), (float64, (2, 3)), (int64, (2, 2)))
    check_vjp(f, [np.random.default_rng(0).normal(size=(2, 3)), idx], wrt=[0])
    g = build(lambda b, i, u: b("scatter_add", i, u, axis=0, size=4), (int64, (3,)), (float64, (3, 2)))
    check_vjp(g, [np.array([0, 3, 0]), np.random.default_rng(1).normal(size=(3, 2))], wrt=[1])


def test_pick_gradient_lands_at_the_picked_index_and_nowhere_for_out_of_range():
    f = build(lambda b, x, i: b("pick", x, i), (float64, (3, 2, 4)), (int64, (3, 2)))
    idx = np.array([[3, 0], [-1, 2], [4, 3]], np.int64)
    x = np.random.default_rng(2).normal(size=(3, 2, 4))
    check_vjp(f, [x, idx], wrt=[0])
    ct = np.arange(1.0, 7.0).reshape(3, 2)
    _, dx = reference.run(vjp_function(f, [0]), x, idx, ct)
    want = np.zeros_like(x)
    for r, c in np.ndindex(3, 2):
        if 0 <= idx[r, c] < 4:
            want[r, c, idx[r, c]] = ct[r, c]
    np.testing.assert_array_equal(dx, want)
