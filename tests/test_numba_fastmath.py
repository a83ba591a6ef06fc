"""The numba backend's own exp/expm1/log/log1p/tanh/sigmoid: error bounds, special values, vectorization.

Errors are in ulps of the result's dtype against a more precise reference
(float64 numpy for float32, long double numpy for float64), over random bit
patterns (the whole float range) plus dense sweeps where the functions bend.
"""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest

import flowc as fc
from flowc.backends.numba import fastmath as fm

FUNCS = {
    "exp": (np.exp, fm.exp32, fm.exp64),
    "expm1": (np.expm1, fm.expm1_32, fm.expm1_64),
    "log": (np.log, fm.log32, fm.log64),
    "log1p": (np.log1p, fm.log1p32, fm.log1p64),
    "tanh": (np.tanh, fm.tanh32, fm.tanh64),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), fm.sigmoid32, fm.sigmoid64),
}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-40, -1e-40, 1e-310, 5e-324, 88.72, 88.73, 89.0,
            -87.3, -103.9, -104.0, 709.78, 709.79, -745.1, -746.0, 3e38, -3e38, 1e308, -1e308]


@numba.njit
def _apply(f, xs):
    out = np.empty_like(xs)
    for i in range(xs.shape[0]):
        out[i] = f(xs[i])
    return out


def _inputs(dtype, n, seed):
    rng = np.random.default_rng(seed)
    itype = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(itype).max, n, dtype=itype, endpoint=True).view(dtype)
    with np.errstate(over="ignore"):
        special = np.array(SPECIALS, np.float64).astype(dtype)
    sweeps = [np.linspace(-120, 120, 40001), np.linspace(-1, 1, 40001), np.geomspace(1e-30, 1e30, 20001),
              -np.geomspace(1e-30, 1.0, 2001)]
    return np.concatenate([bits, special] + [s.astype(dtype) for s in sweeps])


def _ulp_errors(got, want, dtype):
    """|got - want| in ulps of ``want`` rounded to ``dtype``; 0 where both are nan or got is the rounded value."""
    with np.errstate(all="ignore"):
        rounded = want.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(want.dtype)
        spacing = np.where(spacing == 0, np.spacing(dtype(0)), spacing)
        err = np.abs(got.astype(want.dtype) - want) / spacing
    same = (got == rounded) | (np.isnan(got) & np.isnan(rounded))
    return np.where(same, 0.0, err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(FUNCS))
def test_error_bound_over_the_float_range(name, dtype):
    ref, f32, f64 = FUNCS[name]
    xs = _inputs(dtype, 400_000, seed=list(FUNCS).index(name))
    got = _apply(f32 if dtype == np.float32 else f64, xs)
    with np.errstate(all="ignore"):
        want = ref(xs.astype(np.float64 if dtype == np.float32 else np.longdouble))
    err = _ulp_errors(got, want, dtype)
    bound = fm.ERROR_BOUNDS_ULP[name][0 if dtype == np.float32 else 1]
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({xs[worst]!r}) = {got[worst]!r}, want {want[worst]!r}: {err[worst]:.2f} ulp"
    assert np.array_equal(np.isnan(got), np.isnan(want)), "nan where numpy has none (or the reverse)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_special_values_follow_numpy(dtype):
    xs = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    for name, (ref, f32, f64) in FUNCS.items():
        got = _apply(f32 if dtype == np.float32 else f64, xs)
        with np.errstate(all="ignore"):
            want = ref(xs).astype(dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)
        zeros = want == 0
        assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), f"{name}: sign of a zero differs"
    assert fm.exp32(np.float32(-200.0)) == 0 and fm.exp32(np.float32(200.0)) == np.inf
    assert fm.exp64(-800.0) == 0 and fm.exp64(800.0) == np.inf
    assert fm.log32(np.float32(-1.0)) != fm.log32(np.float32(-1.0))          # nan


def test_subnormal_arguments_and_results():
    tiny32 = np.float32(1e-45)                                  # the smallest float32 subnormal
    assert fm.log32(tiny32) == pytest.approx(np.log(np.float64(tiny32)), rel=1e-6)
    assert fm.log64(5e-324) == pytest.approx(np.log(5e-324), rel=1e-15)
    assert fm.exp32(np.float32(-100.0)) == np.float32(np.exp(-100.0))       # a subnormal result, one rounding
    assert fm.exp64(-740.0) == np.exp(-740.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_of_non_positive_arguments_has_exps_bits(dtype):
    """``exp_nonpos`` (softmax, logsumexp and sigmoid) scales 2^n in one step: the same bits as ``exp``."""
    xs = -np.abs(_inputs(dtype, 200_000, seed=7))
    xs = np.concatenate([xs, np.array([-0.0, 0.0, -np.inf, np.nan], dtype)])
    f, g = (fm.exp_nonpos32, fm.exp32) if dtype == np.float32 else (fm.exp_nonpos64, fm.exp64)
    got, want = _apply(f, xs), _apply(g, xs)
    assert np.array_equal(got.view(f"u{xs.itemsize}"), want.view(f"u{xs.itemsize}"))


def test_rational_tanh_is_odd_bounded_and_saturates_exactly():
    """float32 tanh is a fitted rational function: odd bit for bit, never past +-1 (the fit overshoots 1 by
    a few ulp near 9, which the last clamp takes back), exactly +-1 from its clamp at 10 on, and x itself
    for tiny x (P(0) = Q(0) = 1)."""
    xs = np.abs(_inputs(np.float32, 200_000, seed=11))
    xs = xs[~np.isnan(xs)]
    up, down = _apply(fm.tanh32, xs), _apply(fm.tanh32, -xs)
    assert np.array_equal(down.view(np.uint32), (-up).view(np.uint32))
    assert np.all(np.abs(up) <= 1)
    near = np.linspace(8.0, 9.5, 20001).astype(np.float32)
    assert np.all(np.abs(_apply(fm.tanh32, near)) <= 1)
    big = np.array([10.0, 10.5, 88.0, 3e38, np.inf], np.float32)
    assert np.all(_apply(fm.tanh32, big) == 1) and np.all(_apply(fm.tanh32, -big) == -1)
    tiny = np.array([1e-45, 1e-38, 2.0 ** -20, 2.0 ** -13], np.float32)
    assert np.array_equal(_apply(fm.tanh32, tiny), tiny)


@pytest.fixture()
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))


def test_fused_transcendental_loop_is_vectorized(_cache):
    """The W1 chain compiles to one loop of vector instructions with no libm call left in it."""
    @fc.jit(backend="numba", opt_level=2)
    def w1(x):
        return fc.tanh(x * 1.5 + 0.25) * fc.nn.sigmoid(x) + 0.5 * x * x

    x = np.linspace(-6, 6, 4099, dtype=np.float32)
    lowered = w1.lower(x)
    assert [op.name for op in lowered.function("optimized").ops] == ["fusion"]
    llvm = lowered.text("llvm")
    assert re.search(r"<(4|8|16) x float>", llvm), "no float vector type in the kernel's LLVM IR"
    assert re.search(r"fmul[^\n]*<(4|8|16) x float>", llvm), "no vector multiply in the kernel's LLVM IR"
    assert not re.search(r"call[^\n]*@(tanhf?|expf?|logf?)\(", llvm), "a libm call is left in the loop"
    want = np.tanh(x * np.float32(1.5) + np.float32(0.25)) * (1 / (1 + np.exp(-x))) + np.float32(0.5) * x * x
    np.testing.assert_allclose(w1(x), want, rtol=2e-6, atol=1e-6)
