"""``blas.gemm``: matrix products through numpy's OpenBLAS, bound by symbol name (``backends/numba/blas.py``)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.backends.numba import blas


def _layout(a, kind):
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":                     # neither C nor F: gemm copies it first
        wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
        wide[:, ::2] = a
        return wide[:, ::2]
    return a


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 9), k=st.integers(0, 9), n=st.integers(0, 9), dtype=st.sampled_from([np.float32, np.float64]),
       la=st.sampled_from(["C", "F", "strided"]), lb=st.sampled_from(["C", "F", "strided"]),
       seed=st.integers(0, 2 ** 16))
def test_gemm_matches_numpy_for_every_layout_dtype_and_empty_dim(m, k, n, dtype, la, lb, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    a0, b0 = a.copy(), b.copy()
    out = np.full((m, n), np.nan, dtype)
    got = blas.gemm(_layout(a, la), _layout(b, lb), out)
    assert got is out or np.shares_memory(got, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a, a0), np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("kind,dtype", [("s", np.float32), ("d", np.float64)])
def test_fallback_gemm_for_numpy_builds_without_openblas(kind, dtype):
    """The cblas-shaped fallback (row-major, alpha 1, beta 0, either operand transposed) agrees with numpy."""
    ct = ctypes.c_float if kind == "s" else ctypes.c_double
    p = ctypes.POINTER(ct)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                          ctypes.c_int64, ct, p, ctypes.c_int64, p, ctypes.c_int64, ct, p,
                          ctypes.c_int64)(blas._fallback(kind))
    rng = np.random.default_rng(0)
    m, k, n = 4, 6, 3
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    for ta, A, lda in ((111, a, k), (112, np.ascontiguousarray(a.T), m)):
        for tb, B, ldb in ((111, b, n), (112, np.ascontiguousarray(b.T), k)):
            out = np.zeros((m, n), dtype)
            fn(101, ta, tb, m, n, k, 1.0, A.ctypes.data_as(p), lda, B.ctypes.data_as(p), ldb, 0.0,
               out.ctypes.data_as(p), n)
            np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_provider_is_part_of_the_cache_key():
    from flowc.backends.numba import cache
    assert blas.PROVIDER in ("numpy-openblas", "numba-np.dot")
    cache.kernels_digest.cache_clear()
    before = cache.kernels_digest()
    try:
        blas.PROVIDER, saved = "other", blas.PROVIDER
        cache.kernels_digest.cache_clear()
        assert cache.kernels_digest() != before
    finally:
        blas.PROVIDER = saved
        cache.kernels_digest.cache_clear()


# split by rows / by columns; n = 80 and 96 are float32 microkernel shapes (rows split into whole tiles
# of MR but for the last, columns into whole tiles of 16), 120 a BLAS one
@pytest.mark.parametrize("m,k,n", [(300, 100, 80), (301, 100, 80), (70, 300, 120), (71, 300, 96)])
@pytest.mark.parametrize("la,lb", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F")])
def test_large_gemm_split_over_threads_matches_numpy(m, k, n, la, lb):
    """Products over SPLIT_MIN multiply-adds run as one BLAS call per thread on a block of rows or
    columns, addressed in place in every operand layout."""
    import numba
    assert m * n * k >= blas.SPLIT_MIN
    rng = np.random.default_rng(m)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    was = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        out = blas.gemm(_layout(a, la), _layout(b, lb), np.full((m, n), np.nan, np.float32))
    finally:
        numba.set_num_threads(was)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, blas.FEW_ROWS), k=st.integers(1, 11), extra=st.integers(0, 70),
       dtype=st.sampled_from([np.float32, np.float64]), la=st.sampled_from(["C", "F", "strided"]),
       threads=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_products_with_few_rows_stream_b_and_match_numpy(m, k, extra, dtype, la, threads, seed):
    """Few rows and a C-ordered b take ``_few_rows_block``: every row count (the 4-row passes and the rest), every
    k (the 4-row passes of b and the rest), column blocks split over 1 or 2 threads."""
    import numba
    n = blas.FEW_ROWS_MIN_COLS + extra
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    takes = numba.njit(lambda a, b: blas._takes_few_rows(a, b))
    assert takes(a, b) and (k == 1 or not takes(a, np.asfortranarray(b)))      # a [1, n] b is also C-ordered
    was = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        out = blas.gemm(_layout(a, la), b, np.full((m, n), np.nan, dtype))
    finally:
        numba.set_num_threads(was)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_few_rows_split_keeps_each_block_of_accumulators_bounded():
    """A wide product gets more column blocks than threads, so no block's accumulators outgrow _ACC_MAX."""
    m, n = blas.FEW_ROWS, 4 * blas._ACC_MAX // blas.FEW_ROWS + 3
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((m, 5)).astype(np.float32), rng.standard_normal((5, n)).astype(np.float32)
    np.testing.assert_allclose(blas.gemm(a, b, np.empty((m, n), np.float32)), a @ b, rtol=1e-5, atol=1e-5)
