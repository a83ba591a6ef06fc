"""Float32 products with fewer than 16 columns and a's rows contiguous (``x @ W`` with 10 logits): the
dot-product kernel ``microkernel.gemm_nt_block`` on a copy of b's transpose (``blas._takes_narrow``)."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.backends.numba import blas, microkernel

pytestmark = pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: gemm keeps BLAS")


def _rows_padded(x):
    """x with rows further apart than its length (unit column stride, not C-contiguous), nan between."""
    wide = np.full((x.shape[0], x.shape[1] + 3), np.nan, x.dtype)
    wide[:, :x.shape[1]] = x
    return wide[:, :x.shape[1]]


def _gemm(a, b, threads):
    was = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    token = blas.program_threads(True)
    try:
        return blas.gemm(a, b, np.full((a.shape[0], b.shape[1]), np.nan, np.float32))
    finally:
        blas.restore(token)
        numba.set_num_threads(was)


_takes = numba.njit(lambda a, b, out: blas._takes_narrow(a, b, out))


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 300), k=st.sampled_from([1, 5, 16, 33, 100, 784]), n=st.integers(1, blas.NARROW),
       la=st.sampled_from(["C", "rows padded"]), lb=st.sampled_from(["C", "rows padded"]),
       threads=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_narrow_products_match_numpy(m, k, n, la, lb, threads, seed):
    """Every column count below 16 (tiles of 4, 2 and 1 columns), partial row tiles, k with a partial last
    16 (masked loads: the nan past each padded row is never read), split over 1 or 2 threads; the operands
    untouched."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    A = a if la == "C" else _rows_padded(a)
    B = b if lb == "C" else _rows_padded(b)
    assert _takes(A, B, np.empty((m, n), np.float32))
    got = _gemm(A, B, threads)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=2e-5 * k)
    np.testing.assert_array_equal(A, a), np.testing.assert_array_equal(B, b)


def test_which_products_are_narrow():
    a, b, out = np.zeros((8, 32), np.float32), np.zeros((32, 10), np.float32), np.zeros((8, 10), np.float32)
    assert _takes(a, b, out)
    assert not _takes(np.asfortranarray(a), b, out)                            # a's columns contiguous: BLAS
    assert not _takes(a, np.zeros((32, 16), np.float32), np.zeros((8, 16), np.float32))    # 16: microkernel
    assert not _takes(a.astype(np.float64), b.astype(np.float64), out.astype(np.float64))


def test_the_softmax_regression_logits_split_over_threads():
    """The W3 step's [100,784]x[784,10] (over SPLIT_MIN multiply-adds: one block of rows per thread)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((100, 784)).astype(np.float32)
    b = rng.standard_normal((784, 10)).astype(np.float32)
    assert a.shape[0] * a.shape[1] * b.shape[1] >= blas.SPLIT_MIN
    np.testing.assert_allclose(_gemm(a, b, 2), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


def test_special_values_propagate_like_numpy():
    a = np.ones((20, 37), np.float32)
    a[1, 2], a[4, 0], a[19, 36] = np.inf, np.nan, -np.inf
    b = np.ones((37, 6), np.float32)
    b[5, 3] = -np.inf
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(_gemm(a, b, 1), a @ b)


def test_transposed_copy_is_aligned_and_empty_unless_wanted():
    b = np.arange(15, dtype=np.float32).reshape(5, 3)
    t = blas._transposed_copy(b, True)
    assert t.ctypes.data % 64 == 0
    np.testing.assert_array_equal(t, b.T)
    assert blas._transposed_copy(b, False).size == 0
