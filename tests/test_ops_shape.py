"""Shape ops: type rules (symbolic dims, canonical attributes, messages) and the reference vs numpy."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from flowc.backends.reference import impls, run
from flowc.ir import Sym, TypeError_, dtype_of, parse_module, print_module, verify_module
from opcheck import apply, build, result_type

seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def rand(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def type_error(name, *types, **attrs) -> str:
    with pytest.raises(TypeError_) as e:
        build(name, *types, **attrs)
    return str(e.value)


# -- reshape ----------------------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_reshape_random_factorization(shape, data):
    factors = [p for d in shape for p in _prime_factors(d)]
    factors = data.draw(st.permutations(factors))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(factors)), max_size=3)))
    groups = [factors[a:b] for a, b in zip([0] + cuts, cuts + [len(factors)])]
    new = tuple(int(np.prod(g, dtype=np.int64)) for g in groups)
    x = rand(shape, data.draw(seeds))
    np.testing.assert_array_equal(apply("reshape", x, shape=new), x.reshape(new))


def _prime_factors(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def test_reshape_symbolic():
    assert result_type("reshape", ("f32", ["B", 12]), shape=("B", 3, 4)) == "f32[B,3,4]"
    assert result_type("reshape", ("f32", ["B", "T", 4]), shape=("T", "B", 2, 2)) == "f32[T,B,2,2]"
    f = build("reshape", ("f32", ["B", 12]), shape=("B", 3, 4))
    x = rand((2, 12), 0)
    np.testing.assert_array_equal(run(f, x)[0], x.reshape(2, 3, 4))


@pytest.mark.parametrize("src, shape, message", [
    ([3, 4], (5, 2), "cannot reshape f32[3,4] (12 elements) to [5,2] (10 elements)"),
    (["B", 3], ("B", 2), "cannot reshape f32[B,3] (3*B elements) to [B,2] (2*B elements)"),
    ([3, 4], (-1, 4), "negative dimension -1"),
])
def test_reshape_errors(src, shape, message):
    assert message in type_error("reshape", ("f32", src), shape=shape)


# -- transpose --------------------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_transpose_random_permutation(shape, data):
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = rand(shape, data.draw(seeds))
    np.testing.assert_array_equal(apply("transpose", x, perm=perm), np.transpose(x, perm))


def test_transpose_symbolic_and_errors():
    assert result_type("transpose", ("f32", ["B", 3, "T"]), perm=(2, 0, 1)) == "f32[T,B,3]"
    assert "perm (0, 0) is not a permutation of 2 axes" in type_error("transpose", ("f32", [2, 3]), perm=(0, 0))
    assert "perm (0,) is not a permutation of 2 axes" in type_error("transpose", ("f32", [2, 3]), perm=(0,))


# -- broadcast_to -----------------------------------------------------------------------------
@given(target=shapes, data=st.data())
def test_broadcast_to_random(target, data):
    src = tuple(data.draw(st.sampled_from([d, 1])) for d in target)
    src = src[data.draw(st.integers(0, len(src))):]
    x = rand(src, data.draw(seeds))
    np.testing.assert_array_equal(apply("broadcast_to", x, shape=target), np.broadcast_to(x, target))


def test_broadcast_to_symbolic_and_errors():
    assert result_type("broadcast_to", ("f32", [1, 10]), shape=("B", 10)) == "f32[B,10]"
    assert result_type("broadcast_to", ("f32", ["B", 1]), shape=(2, "B", 5)) == "f32[2,B,5]"
    f = build("broadcast_to", ("f32", ["B", 1]), shape=("B", 5))
    x = rand((3, 1), 0)
    np.testing.assert_array_equal(run(f, x)[0], np.broadcast_to(x, (3, 5)))
    assert ("cannot broadcast f32[3,4] to [3,5] (axis 1: 4 vs 5)"
            in type_error("broadcast_to", ("f32", [3, 4]), shape=(3, 5)))
    assert "the target has fewer axes" in type_error("broadcast_to", ("f32", [3, 4]), shape=(4,))


# -- expand_dims / squeeze --------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_expand_dims_then_squeeze(shape, data):
    out_rank = len(shape) + data.draw(st.integers(0, 3))
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, out_rank - 1), min_size=out_rank - len(shape),
                                          max_size=out_rank - len(shape)))))
    x = rand(shape, data.draw(seeds))
    y = apply("expand_dims", x, axes=axes)
    np.testing.assert_array_equal(y, np.expand_dims(x, axes))
    np.testing.assert_array_equal(apply("squeeze", y, axes=axes), x)


def test_expand_squeeze_symbolic_and_errors():
    assert result_type("expand_dims", ("f32", ["B", 3]), axes=(0, 2)) == "f32[1,B,1,3]"
    assert result_type("squeeze", ("f32", ["B", 1, 3, 1]), axes=(1, 3)) == "f32[B,3]"
    assert "axes (2, 0) are not sorted and unique" in type_error("expand_dims", ("f32", [3]), axes=(2, 0))
    assert "axis 3 is out of range for rank 3" in type_error("expand_dims", ("f32", [3]), axes=(0, 3))
    assert "axis -1 is negative" in type_error("squeeze", ("f32", [3, 1]), axes=(-1,))
    assert ("cannot squeeze axis 0 of f32[3,1]: its size is 3, not 1"
            in type_error("squeeze", ("f32", [3, 1]), axes=(0,)))
    assert "its size is B, not 1" in type_error("squeeze", ("f32", ["B", 1]), axes=(0,))


# -- concatenate ------------------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_concatenate_random(shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    seed = data.draw(seeds)
    xs = [rand(shape[:axis] + (n,) + shape[axis + 1:], seed + i) for i, n in enumerate(sizes)]
    np.testing.assert_array_equal(apply("concatenate", *xs, axis=axis), np.concatenate(xs, axis=axis))


def test_concatenate_symbolic_and_errors():
    assert result_type("concatenate", ("f32", ["B", 3]), ("f32", ["B", 5]), axis=1) == "f32[B,8]"
    assert result_type("concatenate", ("f32", ["B", 3]), axis=0) == "f32[B,3]"
    assert result_type("concatenate", ("f32", ["B", 3]), ("f32", [4, 3]), axis=1) == "f32[4,6]"
    msg = type_error("concatenate", ("f32", ["B", 3]), ("f32", [2, 3]), axis=0)
    assert "concatenating along axis 0 with symbolic size(s) B + 2: the result dim cannot be expressed" in msg
    assert ("operand 1: axis 1: dims 3 and 4 differ (only axis 0 may differ)"
            in type_error("concatenate", ("f32", [2, 3]), ("f32", [2, 4]), axis=0))
    assert "operand 1 has dtype f64 but operand 0 has f32" in type_error(
        "concatenate", ("f32", [2]), ("f64", [2]), axis=0)
    assert "operand 1 has rank 1 but operand 0 has rank 2" in type_error(
        "concatenate", ("f32", [2, 2]), ("f32", [2]), axis=0)
    assert "axis 2 is out of range for rank 2" in type_error("concatenate", ("f32", [2, 2]), axis=2)
    assert "expects at least one operand" in type_error("concatenate", axis=0)


# -- pad --------------------------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_pad_random(shape, data):
    pads = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    dtype = data.draw(st.sampled_from([np.float32, np.int32]))
    value = float(data.draw(st.integers(-3, 3))) if dtype == np.int32 else data.draw(st.sampled_from([0.0, -1.5]))
    x = rand(shape, data.draw(seeds), dtype)
    want = np.pad(x, pads, constant_values=dtype(value))
    np.testing.assert_array_equal(apply("pad", x, pads=pads, value=value), want)


def test_pad_symbolic_and_errors():
    assert result_type("pad", ("f32", ["B", 3]), pads=((0, 0), (1, 2))) == "f32[B,6]"
    assert ("padding symbolic axis 0 (B) by (1, 0): the result dim cannot be expressed"
            in type_error("pad", ("f32", ["B", 3]), pads=((1, 0), (0, 0))))
    assert "pads ((0, -1),) must be non-negative" in type_error("pad", ("f32", [3]), pads=((0, -1),))
    assert "pads has 1 pair(s) but f32[3,3] has rank 2" in type_error("pad", ("f32", [3, 3]), pads=((0, 1),))
    assert "pad value 0.5 is not representable in i32" in type_error("pad", ("i32", [3]), pads=((0, 1),), value=0.5)
    assert "pad value 300.0 is not representable in i8" in type_error("pad", ("i8", [3]), pads=((0, 1),),
                                                                      value=300.0)


# -- slice ------------------------------------------------------------------------------------
@given(shape=shapes, data=st.data())
def test_slice_random(shape, data):
    starts, limits, strides = [], [], []
    for d in shape:
        s = data.draw(st.integers(0, d))
        starts.append(s)
        limits.append(data.draw(st.integers(s, d)))
        strides.append(data.draw(st.integers(1, 3)))
    x = rand(shape, data.draw(seeds))
    want = x[tuple(slice(*a) for a in zip(starts, limits, strides))]
    got = apply("slice", x, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))
    np.testing.assert_array_equal(got, want)


def test_slice_symbolic_and_errors():
    f = build("slice", ("f32", ["B", 10]), starts=(0, 1), limits=("B", 10), strides=(1, 4))
    assert str(f.results[0].type) == "f32[B,3]"
    x = rand((2, 10), 0)
    np.testing.assert_array_equal(run(f, x)[0], x[:, 1::4])
    assert "a symbolic axis (or limit) allows only the full slice 0:B:1, got 1:B:1" in type_error(
        "slice", ("f32", ["B"]), starts=(1,), limits=("B",), strides=(1,))
    assert "got 0:N:1" in type_error("slice", ("f32", ["B"]), starts=(0,), limits=("N",), strides=(1,))
    assert "axis 0: slice 2:5 is out of bounds (need 0 <= start <= limit <= 4)" in type_error(
        "slice", ("f32", [4]), starts=(2,), limits=(5,), strides=(1,))
    assert "axis 0: stride 0 must be >= 1" in type_error("slice", ("f32", [4]), starts=(0,), limits=(4,),
                                                         strides=(0,))
    assert "starts has 1 entries but f32[4,4] has rank 2" in type_error(
        "slice", ("f32", [4, 4]), starts=(0,), limits=(4, 4), strides=(1, 1))


# -- take -------------------------------------------------------------------------------------
def _wrap_clamp(idx, n):
    return np.clip(np.where(idx < 0, idx + n, idx), 0, n - 1)


@given(shape=shapes, ishape=st.lists(st.integers(0, 3), max_size=2).map(tuple), data=st.data())
def test_take_random(shape, ishape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    seed = data.draw(seeds)
    n = shape[axis]
    idx = np.random.default_rng(seed).integers(-2 * n - 1, 2 * n + 1, size=ishape)
    idx = idx.astype(data.draw(st.sampled_from([np.int32, np.int64])))
    x = rand(shape, seed)
    np.testing.assert_array_equal(apply("take", x, idx, axis=axis), np.take(x, _wrap_clamp(idx, n), axis=axis))


def test_take_wrap_then_clamp():
    x = np.arange(5, dtype=np.float32) * 10
    idx = np.array([-1, -5, -6, 5, 7, 2, 0], np.int64)
    np.testing.assert_array_equal(apply("take", x, idx, axis=0), [40, 0, 0, 40, 40, 20, 0])


def test_take_symbolic_and_errors():
    assert result_type("take", ("f32", ["V", 16]), ("i32", ["B", "T"]), axis=0) == "f32[B,T,16]"
    assert result_type("take", ("f32", ["B", 10, 3]), ("i64", [4]), axis=1) == "f32[B,4,3]"
    assert "indices must be i32 or i64, got f32[3]" in type_error("take", ("f32", [5]), ("f32", [3]), axis=0)
    assert "axis 1 is out of range for rank 1" in type_error("take", ("f32", [5]), ("i32", [3]), axis=1)
    assert "axis -1 is negative" in type_error("take", ("f32", [5]), ("i32", [3]), axis=-1)
    assert "cannot take from axis 0 of f32[0,2]: it is empty" in type_error("take", ("f32", [0, 2]),
                                                                            ("i32", [3]), axis=0)


# -- pick -------------------------------------------------------------------------------------
@given(shape=shapes, seed=seeds, idtype=st.sampled_from([np.int32, np.int64]))
def test_pick_is_the_one_hot_sum_over_the_last_axis(shape, seed, idtype):
    """x[..., idx] where idx is in range, else 0: exactly sum(one_hot(idx) * x, -1) on finite x."""
    rng = np.random.default_rng(seed)
    x, n = rand(shape, seed), shape[-1]
    idx = rng.integers(-2, n + 2, size=shape[:-1]).astype(idtype)
    got = apply("pick", x, idx)
    assert got.dtype == x.dtype and got.shape == shape[:-1]
    np.testing.assert_array_equal(got, ((idx[..., None] == np.arange(n)) * x).sum(-1))


def test_pick_reads_only_the_picked_element():
    """An inf or nan elsewhere in the row does not reach the result (a one-hot product would give nan)."""
    x = np.array([[np.inf, 2.0, np.nan], [1.0, -np.inf, 3.0]], np.float32)
    np.testing.assert_array_equal(apply("pick", x, np.array([1, 3])), [2.0, 0.0])
    np.testing.assert_array_equal(apply("pick", np.zeros((2, 0), np.float64), np.array([0, -1])), [0.0, 0.0])


def test_pick_types():
    assert result_type("pick", ("f32", ["B", 10]), ("i64", ["B"])) == "f32[B]"
    assert result_type("pick", ("i32", [2, 3, 4]), ("i32", [2, 3])) == "i32[2,3]"
    assert "indices must be i32 or i64, got f32[2]" in type_error("pick", ("f32", [2, 5]), ("f32", [2]))
    assert "must have the shape of f32[2,5] without its last axis" in type_error("pick", ("f32", [2, 5]),
                                                                                 ("i64", [2, 1]))
    assert "indices and x dims 3 and 2 differ" in type_error("pick", ("f32", [2, 5]), ("i64", [3]))
    assert "pick needs a numeric x of rank >= 1" in type_error("pick", ("f32", []), ("i64", []))


# -- one_hot ----------------------------------------------------------------------------------
@given(ishape=st.lists(st.integers(0, 3), max_size=3).map(tuple), depth=st.integers(0, 5), seed=seeds,
       dtype=st.sampled_from(["f32", "i32", "bool", "f16"]))
def test_one_hot_random(ishape, depth, seed, dtype):
    idx = np.random.default_rng(seed).integers(-2, depth + 2, size=ishape).astype(np.int32)
    got = apply("one_hot", idx, depth=depth, dtype=dtype_of(dtype))
    want = np.zeros(ishape + (depth,), dtype_of(dtype).np)
    for pos in np.ndindex(*ishape):
        if 0 <= idx[pos] < depth:
            want[pos + (idx[pos],)] = 1
    np.testing.assert_array_equal(got, want)


def test_one_hot_types():
    assert result_type("one_hot", ("i64", ["B"]), depth=10) == "f32[B,10]"
    assert result_type("one_hot", ("i32", ["B", 2]), depth=3, dtype=dtype_of("f16")) == "f16[B,2,3]"
    assert "depth -1 must be non-negative" in type_error("one_hot", ("i32", [2]), depth=-1)
    assert "indices must be i32 or i64, got f32[2]" in type_error("one_hot", ("f32", [2]), depth=3)


# -- scatter_add ------------------------------------------------------------------------------
@st.composite
def scatter_case(draw):
    xshape = draw(shapes)
    axis = draw(st.integers(0, len(xshape) - 1))
    ishape = tuple(draw(st.lists(st.integers(0, 4), max_size=2)))
    return xshape, axis, ishape, draw(seeds)


@given(case=scatter_case())
def test_scatter_add_is_adjoint_of_take(case):
    xshape, axis, ishape, seed = case
    rng = np.random.default_rng(seed)
    n = xshape[axis]
    idx = rng.integers(-n - 2, n + 2, size=ishape).astype(np.int64)   # wrapped, clamped, duplicated
    x = rng.standard_normal(xshape)
    ushape = xshape[:axis] + ishape + xshape[axis + 1:]
    u = rng.standard_normal(ushape)
    tx = apply("take", x, idx, axis=axis)
    su = apply("scatter_add", idx, u, axis=axis, size=n)
    np.testing.assert_allclose(np.vdot(tx, u), np.vdot(x, su), rtol=1e-10, atol=1e-10)


def test_scatter_add_duplicates_accumulate():
    idx = np.array([[0, 2], [2, -1], [9, -9]], np.int32)      # -1 -> 3; 9 -> 3; -9 -> -5 -> 0
    u = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    got = apply("scatter_add", idx, u, axis=1, size=4)
    want = np.zeros((2, 4), np.float32)
    for b in range(2):
        for pos in np.ndindex(3, 2):
            want[b, _wrap_clamp(idx[pos], 4)] += u[(b,) + pos]
    np.testing.assert_array_equal(got, want)


def test_scatter_add_types_and_errors():
    assert result_type("scatter_add", ("i32", ["B", "T"]), ("f32", ["B", "T", 16]), axis=0,
                       size="V") == "f32[V,16]"
    assert result_type("scatter_add", ("i64", [4]), ("f32", ["B", 4, 3]), axis=1, size=10) == "f32[B,10,3]"
    f = build("scatter_add", ("i64", ["N"]), ("f32", ["N", 2]), axis=0, size=3)
    got = run(f, np.array([0, 0, 2, 5]), np.ones((4, 2), np.float32))[0]
    np.testing.assert_array_equal(got, [[2, 2], [0, 0], [2, 2]])
    assert "updates axis 1 must match indices axis 0: dims 5 and 4 differ" in type_error(
        "scatter_add", ("i32", [4]), ("f32", [2, 5]), axis=1, size=3)
    assert "has no room for the 2 axes of indices" in type_error(
        "scatter_add", ("i32", [4, 2]), ("f32", [2, 4]), axis=1, size=3)
    assert "indices must be i32 or i64" in type_error("scatter_add", ("f32", [4]), ("f32", [4]), axis=0, size=3)
    assert "must be numeric (not bool)" in type_error("scatter_add", ("i32", [4]), ("bool", [4]), axis=0, size=3)
    assert "size 0" in type_error("scatter_add", ("i32", [4]), ("f32", [4]), axis=0, size=0)
    assert "axis -1 is negative" in type_error("scatter_add", ("i32", [4]), ("f32", [4]), axis=-1, size=3)


# -- the .fir corpora of the reduction, linalg and shape families ------------------------------
CORPUS = Path(__file__).parent / "fir" / "roundtrip"
FAMILY_OPS = {
    "reduction": {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin"},
    "linalg": {"matmul"},
    "shape": {"reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "concatenate", "pad", "slice",
              "take", "one_hot", "scatter_add"},
}


@pytest.mark.parametrize("family", sorted(FAMILY_OPS))
def test_corpus_covers_family_and_runs(family):
    """Each corpus file round-trips, uses every op of its family, and runs with every symbol bound to 3."""
    text = (CORPUS / f"{family}.fir").read_text()
    m = verify_module(parse_module(text, f"{family}.fir"))
    assert print_module(m) == text
    used = {op.name for f in m for op in f.walk()}
    assert FAMILY_OPS[family] <= used
    assert all(name in impls for name in FAMILY_OPS[family])
    rng = np.random.default_rng(0)
    for f in m:
        args = []
        for p in f.params:
            shape = tuple(3 if isinstance(d, Sym) else d for d in p.type.shape)
            a = rng.standard_normal(shape) if p.type.dtype.is_float else rng.integers(-4, 6, size=shape)
            args.append(a.astype(p.type.dtype.np))
        outs = run(f, *args)
        assert [o.dtype for o in outs] == [v.type.dtype.np for v in f.results]
