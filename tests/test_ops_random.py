"""random ops: Threefry known answers, the documented stream layout, statistics, type rules, .fir round trip."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowc.backends.reference import run
from flowc.backends.reference.threefry import threefry2x32
from flowc.ir import Builder, Function, TypeError_, Value, parse, tensor_type, verify
from flowc.ir.registry import OPS
from opcheck import apply, infer

FIR = Path(__file__).parent / "fir" / "roundtrip" / "random.fir"
RANDOM_OPS = {"random_split", "random_bits", "random_uniform", "random_normal", "random_bernoulli"}
KEY = np.array([0xDEADBEEF, 42], np.uint32)
N = 100_000


def block(key, c0, c1):
    y0, y1 = threefry2x32(key[0], key[1], c0, c1)     # scalars broadcast like arrays
    return int(y0), int(y1)


def keys():
    return st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1)).map(lambda k: np.array(k, np.uint32))


# -- the block function and the stream layout -------------------------------------------------

@pytest.mark.parametrize("counter, key, want", [
    # Random123 tests/kat_vectors, "threefry2x32 20" lines: counter, key -> output.
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry2x32_20_known_answers(counter, key, want):
    assert block(key, *counter) == want


def test_random_bits_follow_the_documented_counter_layout():
    got = apply("random_bits", KEY, shape=(5,))
    want = [*block(KEY, 0, 0), *block(KEY, 1, 0), block(KEY, 2, 0)[0]]
    assert got.dtype == np.uint32 and got.tolist() == want
    zero = np.zeros(2, np.uint32)
    assert apply("random_bits", zero, shape=(2,)).tolist() == [0x6B200159, 0x99BA4EFE]


@given(keys(), st.integers(0, 40), st.integers(0, 40))
def test_random_bits_are_prefix_and_reshape_consistent(key, n, m):
    n, m = min(n, m), max(n, m)
    long = apply("random_bits", key, shape=(m,))
    np.testing.assert_array_equal(apply("random_bits", key, shape=(n,)), long[:n])
    if m % 4 == 0 and m:
        np.testing.assert_array_equal(apply("random_bits", key, shape=(2, m // 4, 2)), long.reshape(2, m // 4, 2))


def test_random_bits_determinism_and_key_sensitivity():
    a = apply("random_bits", KEY, shape=(1000,))
    np.testing.assert_array_equal(a, apply("random_bits", KEY.copy(), shape=(1000,)))
    for other in ([0xDEADBEEF, 43], [0xDEADBEEE, 42], [42, 0xDEADBEEF]):
        b = apply("random_bits", np.array(other, np.uint32), shape=(1000,))
        assert (a != b).mean() > 0.99
    assert len(np.unique(a)) > 995          # 1000 draws from 2**32: collisions are rare
    # Every bit position is fair.
    bits = (apply("random_bits", KEY, shape=(N,))[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    assert np.abs(bits.mean(axis=0) - 0.5).max() < 5 * 0.5 / np.sqrt(N)


def test_random_split_layout_distinctness_and_independence():
    kids = apply("random_split", KEY, n=4)
    assert kids.dtype == np.uint32 and kids.shape == (4, 2)
    assert [tuple(k) for k in kids.tolist()] == [block(KEY, i, 0x80000000) for i in range(4)]
    np.testing.assert_array_equal(apply("random_split", KEY, n=7)[:4], kids)     # prefix-consistent
    parent_stream = apply("random_bits", KEY, shape=(64,)).reshape(-1, 2)
    assert len({tuple(k) for k in kids.tolist()} | {tuple(b) for b in parent_stream.tolist()}) == 4 + 32
    streams = [apply("random_uniform", k, shape=(N // 10,)) for k in kids]
    corr = np.corrcoef(streams)
    assert np.abs(corr[np.triu_indices(4, 1)]).max() < 5 / np.sqrt(N // 10)
    grandkids = apply("random_split", kids[0], n=2)
    assert not (grandkids == kids[:2]).all(axis=1).any()


# -- uniform ------------------------------------------------------------------------------------

def test_uniform_f32_is_the_documented_bit_recipe():
    bits = apply("random_bits", KEY, shape=(3, 7))
    want = ((bits >> 9) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    np.testing.assert_array_equal(apply("random_uniform", KEY, shape=(3, 7)), want)
    lo, hi = np.float32(-2.0), np.float32(3.0)
    np.testing.assert_array_equal(apply("random_uniform", KEY, shape=(3, 7), minval=-2.0, maxval=3.0),
                                  want * (hi - lo) + lo)


def test_uniform_f64_uses_one_block_per_element():
    b = apply("random_bits", KEY, shape=(10,)).astype(np.uint64)
    w = (b[0::2] << np.uint64(32)) | b[1::2]
    want = ((w >> np.uint64(12)) | np.uint64(0x3FF0000000000000)).view(np.float64) - 1.0
    np.testing.assert_array_equal(apply("random_uniform", KEY, shape=(5,), dtype="f64"), want)


@pytest.mark.parametrize("dtype, lo, hi", [("f32", 0.0, 1.0), ("f64", -3.0, 5.0), ("f16", 2.0, 4.0),
                                           ("f32", -1e-3, 1e-3)])
def test_uniform_statistics_and_range(dtype, lo, hi):
    u = apply("random_uniform", KEY, shape=(N,), dtype=dtype, minval=lo, maxval=hi)
    assert u.dtype == np.dtype({"f16": np.float16, "f32": np.float32, "f64": np.float64}[dtype])
    assert (u >= lo).all() and (u < hi).all()
    x = (u.astype(np.float64) - lo) / (hi - lo)             # back to [0, 1)
    assert abs(x.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    assert abs(x.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / N)  # var of (x - 1/2)^2 is 1/180
    hist = np.bincount((x * 10).astype(int), minlength=10)
    assert np.abs(hist - N / 10).max() < 5 * np.sqrt(N / 10)


def test_uniform_clamps_to_half_open_range_after_rounding():
    # In f16, many f32 results round up to maxval: the clamp keeps them strictly below.
    hi = np.float16(1.001)
    u = apply("random_uniform", KEY, shape=(N // 10,), dtype="f16", minval=1.0, maxval=1.001)
    assert set(np.unique(u).tolist()) == {1.0}
    assert (u < hi).all()
    u = apply("random_uniform", KEY, shape=(N // 10,), minval=0.0, maxval=3.0)
    assert u.max() < np.float32(3.0) and u.min() >= 0.0


@given(keys(), st.integers(0, 30), st.integers(0, 30), st.sampled_from(["f16", "f32", "f64"]))
def test_float_ops_are_prefix_consistent(key, n, m, dtype):
    n, m = min(n, m), max(n, m)
    for name, attrs in (("random_uniform", dict(minval=-1.0, maxval=2.0)), ("random_normal", {})):
        long = apply(name, key, shape=(m,), dtype=dtype, **attrs)
        np.testing.assert_array_equal(apply(name, key, shape=(n,), dtype=dtype, **attrs), long[:n])


# -- normal -------------------------------------------------------------------------------------

def test_normal_is_box_muller_on_documented_uniforms():
    b = apply("random_bits", KEY, shape=(16,)).reshape(8, 2)
    u = ((b >> 9) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    want = np.sqrt(-2 * np.log1p(-u[:, 0].astype(np.float64))) * np.cos(2 * np.pi * u[:, 1].astype(np.float64))
    np.testing.assert_allclose(apply("random_normal", KEY, shape=(8,)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["f16", "f32", "f64"])
def test_normal_statistics(dtype):
    z = apply("random_normal", KEY, shape=(N,), dtype=dtype).astype(np.float64)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 5 / np.sqrt(N)
    assert abs(z.std() - 1) < 5 * np.sqrt(0.5 / N) + 1e-3
    assert abs((np.abs(z) < 1).mean() - 0.682689) < 0.01
    assert abs((np.abs(z) < 2).mean() - 0.954500) < 0.005
    assert abs(((z - z.mean()) ** 3).mean()) < 0.05        # symmetric


# -- bernoulli ----------------------------------------------------------------------------------

def test_bernoulli_frequency_broadcast_and_exact_half():
    p = np.array([0.0, 0.3, 1.0], np.float32)
    b = apply("random_bernoulli", KEY, p, shape=(N // 3, 3))
    assert b.dtype == np.bool_ and b.shape == (N // 3, 3)
    assert not b[:, 0].any() and b[:, 2].all()
    assert abs(b[:, 1].mean() - 0.3) < 5 * np.sqrt(0.21 / (N // 3))
    # u < 0.5 exactly when the top bit of the word is clear.
    half = apply("random_bernoulli", KEY, np.array(0.5, np.float64), shape=(1000,))
    np.testing.assert_array_equal(half, apply("random_bits", KEY, shape=(1000,)) < 2 ** 31)


# -- type rules ---------------------------------------------------------------------------------

def test_random_types_with_symbolic_shapes():
    assert str(infer("random_bits", ("u32", [2]), shape=("B", 3))) == "u32[B,3]"
    assert str(infer("random_split", ("u32", [2]), n=3)) == "u32[3,2]"
    assert str(infer("random_uniform", ("u32", [2]), shape=("B",))) == "f32[B]"
    assert str(infer("random_normal", ("u32", [2]), shape=(4, "N"), dtype="f16")) == "f16[4,N]"
    assert str(infer("random_bernoulli", ("u32", [2]), ("f32", ["B", 1]), shape=("B", 5))) == "bool[B,5]"


@pytest.mark.parametrize("name, types, attrs, msg", [
    ("random_bits", [("u32", [3])], dict(shape=(2,)), r"random_bits\(u32\[3\]\): a random key must be u32\[2\]"),
    ("random_bits", [("i32", [2])], dict(shape=(2,)), r"a random key must be u32\[2\], got i32\[2\]"),
    ("random_split", [("u32", [2])], dict(n=0), r"n must be in \[1, 2\*\*32\)"),
    ("random_uniform", [("u32", [2])], dict(shape=(2,), dtype="i32"), r"dtype must be floating point, got i32"),
    ("random_uniform", [("u32", [2])], dict(shape=(2,), minval=1.0, maxval=1.0), r"minval 1.0 must be less than"),
    ("random_uniform", [("u32", [2])], dict(shape=(2,), dtype="f16", minval=1.0, maxval=1.0001),
     r"in f16: 1.0 vs 1.0"),
    ("random_uniform", [("u32", [2])], dict(shape=(2,), dtype="f16", maxval=1e6), r"must be finite in f16"),
    ("random_uniform", [("u32", [2])], dict(shape=(2,), minval=-3e38, maxval=3e38), r"overflows float32"),
    ("random_normal", [("u32", [2])], dict(shape=(2,), dtype="bool"), r"dtype must be floating point"),
    ("random_bernoulli", [("u32", [2]), ("i32", [])], dict(shape=(2,)), r"p must be floating point"),
    ("random_bernoulli", [("u32", [2]), ("f32", [3])], dict(shape=(2,)), r"p of shape \[3\] does not broadcast"),
    ("random_bernoulli", [("u32", [2]), ("f32", [1, 2])], dict(shape=(2,)), r"does not broadcast to shape \[2\]"),
])
def test_random_type_errors(name, types, attrs, msg):
    with pytest.raises(TypeError_, match=msg):
        infer(name, *types, **attrs)


def test_random_op_traits():
    for name in RANDOM_OPS:
        assert {"pure", "random"} <= OPS[name].traits


# -- the IR text corpus ------------------------------------------------------------------------

def build_corpus() -> Function:
    """One function using every random op with attribute variants and a symbolic batch."""
    b = Builder()
    key = Value(tensor_type("u32", [2]), "key")
    x = Value(tensor_type("f32", ["B", 8]), "x")
    p = Value(tensor_type("f64", ["B", 1]), "p")
    kids = b("random_split", key, n=3)
    bits = b("random_bits", key, shape=("B", 8))
    u = b("random_uniform", key, shape=("B", 8))
    u16 = b("random_uniform", key, shape=(4,), dtype="f16", minval=-0.5, maxval=0.5)
    u64 = b("random_uniform", key, shape=(2, 3), dtype="f64", minval=-1e-3, maxval=2.5)
    z = b("random_normal", key, shape=("B", 8))
    z64 = b("random_normal", key, shape=(5,), dtype="f64")
    mask = b("random_bernoulli", key, p, shape=("B", 8))
    noisy = b("add", b("mul", x, u), z)
    return Function("random_corpus", [key, x, p], b.ops, [kids, bits, u16, u64, z64, mask, noisy])


def test_fir_corpus_round_trips_and_runs():
    text = FIR.read_text()
    built = build_corpus()
    assert built.text() == text, "tests/fir/roundtrip/random.fir is stale: regenerate it from build_corpus()"
    f = verify(parse(text, str(FIR)))
    assert f.text() == text
    assert RANDOM_OPS <= {op.name for op in f.ops} and RANDOM_OPS <= set(OPS)
    args = [KEY, np.ones((6, 8), np.float32), np.full((6, 1), 0.25)]
    outs = run(f, *args)
    assert [o.shape for o in outs] == [(3, 2), (6, 8), (4,), (2, 3), (5,), (6, 8), (6, 8)]
    assert [o.dtype.name for o in outs] == ["uint32", "uint32", "float16", "float64", "float64", "bool", "float32"]
    for got, want in zip(outs, run(built, *args)):
        np.testing.assert_array_equal(got, want)
