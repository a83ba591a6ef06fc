"""``microkernel.gemm_block``: the register-blocked float32 product (``backends/numba/microkernel.py``)."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.backends.numba import blas, microkernel


def _strided(x, kind):
    """x's values in a C, Fortran, or padded-row (leading dimension over the width) array."""
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "padded":
        wide = np.full((x.shape[0], x.shape[1] + 16), np.nan, x.dtype)
        wide[:, :x.shape[1]] = x
        return wide[:, :x.shape[1]]
    return np.ascontiguousarray(x)


def _assert_block(out, want, block, k):
    """out matches want inside the block (float32 tolerance over a k-term sum) and is nan (unwritten) outside."""
    r0, r1, c0, c1 = block
    np.testing.assert_allclose(out[r0:r1, c0:c1], want[r0:r1, c0:c1], rtol=1e-4, atol=1e-4 * np.sqrt(k))
    outside = np.ones(out.shape, bool)
    outside[r0:r1, c0:c1] = False
    assert np.isnan(out[outside]).all()


def _draw_block(data, m, n, col_tile=1):
    """(r0, r1, c0, c1): any rows of m, any columns of n in whole tiles of ``col_tile``."""
    r0 = data.draw(st.integers(0, m))
    r1 = data.draw(st.integers(r0, m))
    c0 = col_tile * data.draw(st.integers(0, n // col_tile))
    c1 = col_tile * data.draw(st.integers(c0 // col_tile, n // col_tile))
    return r0, r1, c0, c1


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 20), k=st.sampled_from([1, 2, 7, 64, microkernel.KC + 3]),
       n=st.sampled_from([16, 32, 48, 64, 80, 144]), la=st.sampled_from(["C", "F", "padded"]),
       lb=st.sampled_from(["C", "padded"]), lc=st.sampled_from(["C", "padded"]), seed=st.integers(0, 2 ** 16),
       data=st.data())
def test_block_of_the_product_matches_numpy(m, k, n, la, lb, lc, seed, data):
    """Any block of whole column tiles, rows from anywhere (a last tile under MR rows is padded), over
    several contraction blocks (k > KC), with any strides of a and row strides of b and out; nothing
    outside the block is written."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    r0, r1, c0, c1 = _draw_block(data, m, n, 16)
    A, B = _strided(a, la), _strided(b, lb)
    out = _strided(np.full((m, n), np.nan, np.float32), lc)
    microkernel.gemm_block(A, B, out, r0, r1, c0, c1)
    _assert_block(out, a.astype(np.float64) @ b.astype(np.float64), (r0, r1, c0, c1), k)
    np.testing.assert_array_equal(A, a), np.testing.assert_array_equal(B, b)


def test_special_values_propagate_like_numpy():
    a = np.ones((7, 3), np.float32)
    a[1, 2], a[4, 0] = np.inf, np.nan
    b = np.ones((3, 32), np.float32)
    b[0, 5] = -np.inf
    out = np.empty((7, 32), np.float32)
    microkernel.gemm_block(a, b, out, 0, 7, 0, 32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, a @ b)


@pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: gemm keeps BLAS")
def test_gemm_takes_the_microkernel_for_float32_with_16_column_tiles():
    @numba.njit
    def takes(a, b, out):
        return blas._takes_microkernel(a, b, out)

    f32 = np.zeros((8, 8), np.float32)
    assert takes(f32, np.zeros((8, 32), np.float32), np.zeros((8, 32), np.float32))
    assert takes(f32.T, np.zeros((8, 48), np.float32), np.zeros((8, 48), np.float32))
    assert not takes(f32, np.zeros((8, 24), np.float32), np.zeros((8, 24), np.float32))       # 24 columns
    assert not takes(f32, np.zeros((32, 8), np.float32).T, np.zeros((8, 32), np.float32))     # b transposed
    assert not takes(f32.astype(np.float64), np.zeros((8, 32)), np.zeros((8, 32)))             # float64


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 21), k=st.sampled_from([16, 48, 1024, 1 << 15]), n=st.integers(0, 21),
       la=st.sampled_from(["C", "padded"]), lw=st.sampled_from(["C", "padded"]), seed=st.integers(0, 2 ** 16),
       data=st.data())
def test_nt_block_of_a_times_w_transposed_matches_numpy(m, k, n, la, lw, seed, data):
    """``gemm_nt_block``: any block (whole NT x NT tiles plus dot-product tails), rows of a in several L2
    chunks (k = 2**15), any row strides; nothing outside the block is written, the operands are untouched."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    r0, r1, c0, c1 = _draw_block(data, m, n)
    A, W = _strided(a, la), _strided(w, lw)
    out = np.full((m, n), np.nan, np.float32)
    microkernel.gemm_nt_block(A, W, out, r0, r1, c0, c1)
    _assert_block(out, a.astype(np.float64) @ w.astype(np.float64).T, (r0, r1, c0, c1), k)
    np.testing.assert_array_equal(A, a), np.testing.assert_array_equal(W, w)


def test_nt_special_values_propagate_like_numpy():
    a = np.ones((9, 32), np.float32)
    a[1, 2], a[4, 0] = np.inf, np.nan
    w = np.ones((6, 32), np.float32)
    w[0, 5] = -np.inf
    out = np.empty((9, 6), np.float32)
    microkernel.gemm_nt_block(a, w, out, 0, 9, 0, 6)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, a @ w.T)


@pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: gemm keeps BLAS")
def test_gemm_takes_the_nt_kernel_for_a_transposed_float32_b():
    @numba.njit
    def takes(a, b, out):
        return blas._takes_nt(a, b, out)

    a, w, out = np.zeros((8, 32), np.float32), np.zeros((24, 32), np.float32), np.zeros((8, 24), np.float32)
    assert takes(a, w.T, out)
    assert not takes(a, np.ascontiguousarray(w.T), out)                        # b's rows contiguous: gemm_block
    assert not takes(a[:, :24], w[:, :24].T, out)                              # k = 24, not a multiple of 16
    assert not takes(a.astype(np.float64), w.T.astype(np.float64), out.astype(np.float64))


@pytest.mark.parametrize("m,k,n", [(128, 1024, 1030), (1030, 64, 128), (5, 16, 7)])
def test_gemm_of_a_transposed_b_splits_over_threads(m, k, n):
    """Through ``matmul2d``: blocks of whole NT tiles per thread (by rows or by columns), the last one
    taking the rest."""
    from flowc.backends.numba import kernels
    rng = np.random.default_rng(m + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    token = blas.program_threads(True)
    try:
        got = kernels.matmul2d(a, w.T)
    finally:
        blas.restore(token)
    np.testing.assert_allclose(got, a.astype(np.float64) @ w.astype(np.float64).T, rtol=1e-4, atol=1e-3)
