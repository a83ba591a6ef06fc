"""``microkernel.gemm_block``: the register-blocked float32 product (``backends/numba/microkernel.py``)."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.backends.numba import blas, epilogue, microkernel


def _strided(x, kind):
    """x's values in a C, Fortran, or padded-row (leading dimension over the width) array."""
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "padded":
        wide = np.full((x.shape[0], x.shape[1] + 16), np.nan, x.dtype)
        wide[:, :x.shape[1]] = x
        return wide[:, :x.shape[1]]
    if kind == "padded-T":                                  # the transpose of a padded-row array
        return _strided(x.T, "padded").T
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
       lb=st.sampled_from(["C", "padded", "F", "padded-T"]), lc=st.sampled_from(["C", "padded"]),
       seed=st.integers(0, 2 ** 16), data=st.data())
def test_block_of_the_product_matches_numpy(m, k, n, la, lb, lc, seed, data):
    """Any block of whole column tiles, rows from anywhere (a last tile under MR rows is padded), over
    several contraction blocks (k > KC), with any strides of a, b with its columns or (a transposed
    weight, packed 16 x 16 blocks at a time plus a remainder) its rows contiguous, any row stride of out;
    nothing outside the block is written."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    r0, r1, c0, c1 = _draw_block(data, m, n, 16)
    A, B = _strided(a, la), _strided(b, lb)
    out = _strided(np.full((m, n), np.nan, np.float32), lc)
    microkernel.gemm_block(A, B, out, r0, r1, c0, c1, epilogue.none(out))
    _assert_block(out, a.astype(np.float64) @ b.astype(np.float64), (r0, r1, c0, c1), k)
    np.testing.assert_array_equal(A, a), np.testing.assert_array_equal(B, b)


def test_special_values_propagate_like_numpy():
    a = np.ones((7, 3), np.float32)
    a[1, 2], a[4, 0] = np.inf, np.nan
    b = np.ones((3, 32), np.float32)
    b[0, 5] = -np.inf
    out = np.empty((7, 32), np.float32)
    microkernel.gemm_block(a, b, out, 0, 7, 0, 32, epilogue.none(out))
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
    assert takes(f32, np.zeros((32, 8), np.float32).T, np.zeros((8, 32), np.float32))         # b transposed
    assert not takes(f32, np.zeros((8, 64), np.float32)[:, ::2], np.zeros((8, 32), np.float32))  # b strided
    assert not takes(f32.astype(np.float64), np.zeros((8, 32)), np.zeros((8, 32)))             # float64


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 21), k=st.sampled_from([1, 7, 16, 48, 100, 1024, 1 << 15]), n=st.integers(0, 21),
       la=st.sampled_from(["C", "padded"]), lw=st.sampled_from(["C", "padded"]), seed=st.integers(0, 2 ** 16),
       data=st.data())
def test_nt_block_of_a_times_w_transposed_matches_numpy(m, k, n, la, lw, seed, data):
    """``gemm_nt_block``: any block (whole NT x NT tiles and partial ones at its edges), k with a partial last
    16 (masked loads), rows of a in several L2 chunks (k = 2**15), any row strides; nothing outside the block
    is written, the operands are untouched."""
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
    assert takes(a, w.T, out)                                                  # 24 columns: not gemm_block
    assert not takes(a, np.ascontiguousarray(w.T), out)                        # b's rows contiguous: gemm_block
    assert takes(a[:, :24], w[:, :24].T, out)                                  # k = 24: a masked last 16
    assert not takes(a.astype(np.float64), w.T.astype(np.float64), out.astype(np.float64))


@pytest.mark.parametrize("m,k,n", [(128, 1024, 1030), (1030, 64, 128), (5, 16, 7), (130, 100, 48)])
def test_gemm_of_a_transposed_b_splits_over_threads(m, k, n):
    """Through ``matmul2d``: the dot-product kernel (n not a multiple of 16) or the packed one, in blocks
    per thread (by rows or by columns), the last one taking the rest."""
    from flowc.backends.numba import kernels
    rng = np.random.default_rng(m + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    token = blas.program_threads(True)
    try:
        got = kernels.matmul2d(a, w.T, epilogue.none(a))
    finally:
        blas.restore(token)
    np.testing.assert_allclose(got, a.astype(np.float64) @ w.astype(np.float64).T, rtol=1e-4, atol=1e-3)


def _conv_reference(x, w, strides, pads, dilation, dy=None):
    """NHWC/HWIO convolution in float64, one tap at a time; with ``dy``, the gradients (dx, dw) instead."""
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = strides, pads, dilation
    kh, kw, _, o = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, o))
    dxp, dwt = np.zeros_like(xp), np.zeros(w.shape)
    for i in range(kh):
        for j in range(kw):
            taps = (slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                    slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))
            if dy is None:
                out += xp[taps] @ w[i, j].astype(np.float64)
            else:
                dwt[i, j] = np.einsum("nhwc,nhwo->co", xp[taps], dy.astype(np.float64))
                dxp[taps] += dy.astype(np.float64) @ w[i, j].astype(np.float64).T
    if dy is None:
        return out
    return dxp[:, pt:pt + x.shape[1], pl:pl + x.shape[2]], dwt


@pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: conv2d keeps the patch matrix")
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 12), wd=st.integers(1, 12), c=st.sampled_from([1, 3, 20, 130]),
       kh=st.integers(1, 4), kw=st.integers(1, 4), o=st.sampled_from([16, 48, 80]),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 2)] * 4), seed=st.integers(0, 2 ** 16))
def test_implicit_gemm_convolution_matches_the_reference(n, h, wd, c, kh, kw, o, sh, sw, dh, pads, seed):
    """``conv2d_nhwc`` on ``conv_block`` (no patch matrix): strides, height dilation, asymmetric padding,
    windows crossing image rows and images within a tile, tap rows longer than a contraction block (c=130,
    kw=4: 520 > KC) and tiles under MR rows; the image and weights are untouched."""
    from flowc.backends.numba import image
    pt, pb, pl, pr = pads
    if h + pt + pb < dh * (kh - 1) + 1 or wd + pl + pr < kw:
        return                                                         # no output pixel
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
    w = rng.standard_normal((kh, kw, c, o)).astype(np.float32)
    x0, w0 = x.copy(), w.copy()
    got = image.conv2d_nhwc(x, w, sh, sw, pt, pb, pl, pr, dh, 1, 1, epilogue.none(x))
    want = _conv_reference(x, w, (sh, sw), pads, (dh, 1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(kh * kw * c))
    np.testing.assert_array_equal(x, x0), np.testing.assert_array_equal(w, w0)


@pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: conv2d keeps the patch matrix")
@pytest.mark.parametrize("rows", [(0, 7), (6, 30), (12, 98)])
def test_conv_block_writes_only_its_rows(rows):
    """A thread's block of output pixels: rows from anywhere (a partial last tile), nothing else written."""
    rng = np.random.default_rng(rows[0])
    x = rng.standard_normal((2, 9, 8, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 5, 32)).astype(np.float32)
    out = np.full((2 * 7 * 7, 32), np.nan, np.float32)
    microkernel.conv_block(x, w.reshape(-1, 32), out, 3, 2, 1, 1, 1, 7, 7, *rows, epilogue.none(out))
    want = _conv_reference(x, w, (1, 1), (0, 0, 0, 0), (1, 1)).reshape(-1, 32)
    _assert_block(out, want, (*rows, 0, 32), 30)


@pytest.mark.skipif(not microkernel.AVAILABLE, reason="the host has no AVX-512: the gradients keep the patch matrix")
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 11), wd=st.integers(1, 11), c=st.sampled_from([1, 16, 32, 48]),
       kh=st.integers(1, 4), kw=st.integers(1, 4), o=st.sampled_from([16, 32, 80]),
       strides=st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 3)]), dilation=st.sampled_from([(1, 1), (2, 1), (1, 2)]),
       pads=st.tuples(*[st.integers(0, 3)] * 4), seed=st.integers(0, 2 ** 16))
def test_implicit_gemm_convolution_gradients_match_the_reference(n, h, wd, c, kh, kw, o, strides, dilation,
                                                                 pads, seed):
    """The filter gradient on ``conv_filter_block`` (any strides and dilations; threads split its rows, or the
    images for few rows) and the input gradient as the stride-1 convolution of dy with the flipped filters
    (padding past a window's reach and other strides take the patch matrix): both against float64."""
    from flowc.backends.numba import image
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = strides, dilation, pads
    if h + pt + pb < dh * (kh - 1) + 1 or wd + pl + pr < dw * (kw - 1) + 1:
        return                                                         # no output pixel
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
    w = rng.standard_normal((kh, kw, c, o)).astype(np.float32)
    oh, ow = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1, (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    dy = rng.standard_normal((n, oh, ow, o)).astype(np.float32)
    x0, dy0 = x.copy(), dy.copy()
    want_dx, want_dw = _conv_reference(x, w, strides, pads, dilation, dy)
    dx = image.conv2d_input_grad_nhwc(dy, w, h, wd, sh, sw, pt, pl, dh, dw, 1)
    dwt = image.conv2d_filter_grad_nhwc(x, dy, kh, kw, sh, sw, pt, pl, dh, dw, 1)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4 * np.sqrt(kh * kw * o))
    np.testing.assert_allclose(dwt, want_dw, rtol=1e-4, atol=1e-4 * np.sqrt(n * oh * ow))
    np.testing.assert_array_equal(x, x0), np.testing.assert_array_equal(dy, dy0)
