"""The numba backend agrees with the reference interpreter on every op, one compiled program per op family.

Programs are the op corpus in ``tests/fir/roundtrip/*.fir`` (each function covers
part of one op family with many ops); each is compiled ONCE and run at two batch
sizes, which also checks that a new size reuses the compiled code (Numba compiles
per dtype/rank/layout).  Merging a file's functions into one program compiled
slower in total (Numba's compile time grows faster than linearly with size).

Tolerances (float32 unless noted), and why:

- exact: integer and bool results, shape ops, select/cast/compare, max/min/argmax,
  pooling max, take/one_hot, random bits/split/bernoulli/uniform (bit for bit).
- rtol 1e-5: elementwise transcendental ops (libm vs numpy's SIMD: <= 2 ulp).
- rtol 1e-4, atol 1e-5: reductions and matmul/conv (summation order: ours
  accumulates float sums in float64, numpy sums pairwise; BLAS blocking differs),
  softmax, LRN and the conv/pool/LRN gradients (accumulation order).
- f16: rtol/atol 1e-2 (per-op rounding emulated from float32; numpy's f16
  ufuncs round intermediate values of composite ops such as sigmoid).
- random_normal: rtol 1e-5 (log/cos are not correctly rounded everywhere).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from irgen import functions, inputs_for

from flowc.backends import numba as nb
from flowc.backends.reference import run
from flowc.ir.parser import parse_module
from flowc.ir.types import FlowcError, Sym

CORPUS = Path(__file__).parent / "fir" / "roundtrip"
UNBOUND = {"casts_and_constants"}     # uses a symbol no input binds: an error on both backends


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory):
    """Every compile in this module writes its cache under a temporary directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOWC_CACHE_DIR", str(tmp_path_factory.mktemp("flowc-cache")))
        yield


def _functions():
    out = []
    for path in sorted(CORPUS.glob("*.fir")):
        for f in parse_module(path.read_text(), str(path)):
            if f.name not in UNBOUND:
                out.append(pytest.param(f, id=f"{path.stem}-{f.name}"))
    return out


def inputs(f, seed: int, base: int):
    """Seeded inputs: floats in [-2, 2], ints in [0, 5] (no negative int powers), u32 in [0, 10]."""
    rng = np.random.default_rng(seed)
    syms = sorted({d for p in f.params for d in p.type.shape if isinstance(d, Sym)})
    sizes = {s: base + i for i, s in enumerate(syms)}
    args = []
    for p in f.params:
        shape = tuple(sizes[d] if isinstance(d, Sym) else d for d in p.type.shape)
        dt = p.type.dtype
        if dt.is_bool:
            a = rng.random(shape) < 0.5
        elif dt.is_float:
            a = rng.uniform(-2, 2, shape)
        else:
            a = rng.integers(0, 11 if dt.name == "u32" else 6, shape)
        args.append(np.asarray(a).astype(dt.np))
    return args


def tolerance(dtype) -> dict:
    if dtype == np.float16:
        return dict(rtol=1e-2, atol=1e-2)
    return dict(rtol=1e-4, atol=1e-5)


def assert_agrees(got, want, what=""):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"{what} result {k}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), equal_nan=True,
                                       err_msg=f"{what} result {k}", **tolerance(w.dtype))
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} result {k}")


@pytest.mark.parametrize("f", _functions())
def test_op_family_matches_reference(f):
    c = nb.compile(f)
    for seed, base in ((1, 3), (2, 5)):
        args = inputs(f, seed, base)
        assert_agrees(c(*args), run(f, *args), f"{f.name} (sizes from {base})")
    assert len(c.signatures) == 1, "a new batch size must not recompile"


def test_unbound_symbol_is_a_compile_error():
    (f,) = [f for f in parse_module((CORPUS / "elementwise.fir").read_text()) if f.name in UNBOUND]
    with pytest.raises(FlowcError, match="symbolic dim B is not bound by any input"):
        nb.compile(f)


@settings(max_examples=4, deadline=None)
@given(functions(max_ops=14, special=False))
def test_random_programs_match_reference(f):
    """A few larger random programs (irgen) — few, since each example costs a Numba compile."""
    c = nb.compile(f)
    for base in (3, 4):
        args = inputs_for(f, seed=base, sizes={"B": base})
        assert_agrees(c(*args), run(f, *args), f.name)


CHUNKED_CONV = """
func @conv_chunked(%x: f32[B,32,32,64], %w: f32[7,7,32,8], %dy: f32[B,26,16,8]) -> (f32[B,26,16,8], f32[B,32,32,64], f32[7,7,32,8]) {
  %0 = conv2d(%x, %w) {dilation = (2, 1), groups = 2, layout = "NHWC", padding = ((3, 3), (2, 4)), strides = (1, 2)} : f32[B,26,16,8]
  %1 = conv2d_input_grad(%dy, %w) {dilation = (2, 1), groups = 2, input_hw = (32, 32), layout = "NHWC", padding = ((3, 3), (2, 4)), strides = (1, 2)} : f32[B,32,32,64]
  %2 = conv2d_filter_grad(%x, %dy) {dilation = (2, 1), filter_hw = (7, 7), groups = 2, layout = "NHWC", padding = ((3, 3), (2, 4)), strides = (1, 2)} : f32[7,7,32,8]
  return %0, %1, %2
}
"""


def test_conv_batch_split_into_gemm_chunks_matches_reference():
    """A batch whose patch matrix exceeds one chunk: the GEMM-per-chunk path (groups, dilation, NHWC, padding)."""
    from flowc.backends.numba import image
    (f,) = parse_module(CHUNKED_CONV)
    n, rows, ohw = 9, 32 * 7 * 7, 26 * 16
    chunk = image._batch_chunk(rows, ohw, n)
    assert 1 < chunk < n and n % chunk, "want several items per chunk and a partial last chunk"
    assert chunk <= image.COLS_MAX_ELEMENTS // (rows * ohw)
    args = inputs_for_sizes(f, seed=3, n=n)
    got, want = nb.compile(f)(*args), run(f, *args)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape
        # sums of up to 10^4 float32 products: compare against the result's scale, not element by element
        assert np.abs(g.astype(np.float64) - w).max() <= 1e-5 * np.abs(w).max(), f"result {k}"


SINGLE_CHANNEL_CONVS = ["""
func @gray(%x: f32[B,15,14,1], %w: f32[5,5,1,6], %dy: f32[B,7,9,6]) -> (f32[B,7,9,6], f32[B,15,14,1], f32[5,5,1,6]) {
  %0 = conv2d(%x, %w) {dilation = (1, 2), groups = 1, layout = "NHWC", padding = ((2, 1), (3, 0)), strides = (2, 1)} : f32[B,7,9,6]
  %1 = conv2d_input_grad(%dy, %w) {dilation = (1, 2), groups = 1, input_hw = (15, 14), layout = "NHWC", padding = ((2, 1), (3, 0)), strides = (2, 1)} : f32[B,15,14,1]
  %2 = conv2d_filter_grad(%x, %dy) {dilation = (1, 2), filter_hw = (5, 5), groups = 1, layout = "NHWC", padding = ((2, 1), (3, 0)), strides = (2, 1)} : f32[5,5,1,6]
  return %0, %1, %2
}""", """
func @depthwise(%x: f32[B,13,11,8], %w: f32[3,3,1,16], %dy: f32[B,13,11,16]) -> (f32[B,13,11,16], f32[B,13,11,8], f32[3,3,1,16]) {
  %0 = conv2d(%x, %w) {dilation = (1, 1), groups = 8, layout = "NHWC", padding = ((1, 1), (0, 2)), strides = (1, 1)} : f32[B,13,11,16]
  %1 = conv2d_input_grad(%dy, %w) {dilation = (1, 1), groups = 8, input_hw = (13, 11), layout = "NHWC", padding = ((1, 1), (0, 2)), strides = (1, 1)} : f32[B,13,11,8]
  %2 = conv2d_filter_grad(%x, %dy) {dilation = (1, 1), filter_hw = (3, 3), groups = 8, layout = "NHWC", padding = ((1, 1), (0, 2)), strides = (1, 1)} : f32[3,3,1,16]
  return %0, %1, %2
}"""]


@pytest.mark.parametrize("text", SINGLE_CHANNEL_CONVS, ids=["grayscale", "depthwise"])
def test_single_channel_convolutions_build_patches_by_tap_and_match_reference(text):
    """One input channel per group takes image._patches_by_tap (its own loop nest): strided, dilated,
    asymmetrically padded, and grouped, against the reference; its matrix is _patches' transposed."""
    from flowc.backends.numba import image
    (f,) = parse_module(text)
    assert f.params[1].type.shape[2] <= image.BY_TAP_MAX_CHANNELS
    args = inputs_for_sizes(f, seed=5, n=3)
    for k, (g, w) in enumerate(zip(nb.compile(f)(*args), run(f, *args))):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.abs(g.astype(np.float64) - w).max() <= 1e-5 * np.abs(w).max(), f"result {k}"
    x = args[0][..., :1].copy()
    by_rows = image._patches(x, 1, 2, 5, 5, 7, 9, 2, 1, 2, 3, 1, 2)
    np.testing.assert_array_equal(image._patches_by_tap(x, 1, 2, 5, 5, 7, 9, 2, 1, 2, 3, 1, 2), by_rows.T)


def _im2col(x, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """The patch matrix written out with numpy: P[(b, p, q), (i, j, c)], zero outside the image."""
    n, h, wd, c = x.shape
    pad = np.zeros((n, h + pt + dh * kh + sh * oh, wd + pl + dw * kw + sw * ow, c), x.dtype)
    pad[:, pt:pt + h, pl:pl + wd] = x
    taps = [pad[b0:b0 + nb, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw][:, :oh, :ow]
            for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=3).reshape(nb * oh * ow, kh * kw * c)


@settings(max_examples=40, deadline=None)
@given(c=st.sampled_from([1, 2, 3, 5, 17]), k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 2),
       pad=st.integers(0, 3), nb=st.integers(1, 3))
def test_patch_matrix_equals_numpy_im2col(c, k, s, d, pad, nb):
    """image._patches against numpy, over channel counts on both sides of RUN_COPY_MAX_CHANNELS (whole-run
    copies and per-tap copies), strides, dilations, padding and batch chunks that start past image 0."""
    from flowc.backends.numba import image
    x = np.random.default_rng(c * 100 + k).uniform(-1, 1, (4, 9, 8, c)).astype(np.float32)
    oh, ow = ((n + 2 * pad - d * (k - 1) - 1) // s + 1 for n in (9, 8))
    if oh < 1 or ow < 1:
        return
    args = (4 - nb, nb, k, k, oh, ow, s, s, pad, pad, d, d)
    np.testing.assert_array_equal(image._patches(x, *args), _im2col(x, *args))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 70), min_size=4, max_size=4), perm=st.permutations(range(4)),
       dtype=st.sampled_from([np.float32, np.float64, np.int64]), view=st.booleans(), seed=st.integers(0, 99))
def test_transposed_copy_equals_numpy(shape, perm, dtype, view, seed):
    """kernels.transposed: every permutation, short and long destination rows (the two tile orders), sizes
    on both sides of TRANSPOSE_SERIAL, empty arrays, a strided operand; the operand is untouched."""
    from flowc.backends.numba import kernels
    shape[0] = min(shape[0], 8)
    x = np.random.default_rng(seed).uniform(-9, 9, shape).astype(dtype)
    if view:
        x = x[:, ::-1, :, ::2]
    before = x.copy()
    got = kernels.transposed(x, tuple(perm))
    assert got.flags.c_contiguous and got.dtype == dtype
    np.testing.assert_array_equal(got, np.transpose(x, perm))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("shape,perm", [((32, 16, 3, 3), (2, 3, 1, 0)), ((64, 48, 5, 5), (2, 3, 1, 0)),
                                        ((96, 3, 11, 11), (2, 3, 1, 0)), ((48, 7, 3, 3), (2, 3, 1, 0)),
                                        ((2, 32, 4, 8), (0, 2, 3, 1)), ((3, 4, 80, 16), (1, 3, 0, 2))])
def test_transposed_float32_blocks_of_16_equal_numpy(shape, perm):
    """kernels.transposed's 16 x 16 register blocks (float32 tiles whose sides are multiples of 16, AVX-512
    hosts), beside the element-wise copy of the other tiles in the same array."""
    from flowc.backends.numba import kernels
    x = np.random.default_rng(len(shape)).uniform(-9, 9, shape).astype(np.float32)
    got = kernels.transposed(x, perm)
    np.testing.assert_array_equal(got, np.transpose(x, perm))


@pytest.mark.parametrize("c", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("shape,perm", [((2, None, 5, 7), (0, 2, 3, 1)), ((3, None, 100, 120), (0, 2, 3, 1)),
                                        ((2, None, 6, 5), (0, 3, 2, 1)), ((4, 9, None, 11), (0, 1, 3, 2)),
                                        ((None, 6, 7, 8), (1, 2, 3, 0))])
def test_transposed_interleaves_a_few_channels(c, shape, perm):
    """kernels.transposed with a destination row of 1-4 elements whose rows follow the source's order
    (NCHW -> NHWC: ``_interleave``), beside 5 elements and rows out of order (the element-wise copy),
    serial and parallel sizes, and a strided operand."""
    from flowc.backends.numba import kernels
    shape = tuple(c if d is None else d for d in shape)
    x = np.random.default_rng(c).uniform(-9, 9, shape).astype(np.float32)
    for operand in (x, x[:, :, ::-1, :]):
        np.testing.assert_array_equal(kernels.transposed(operand, perm), np.transpose(operand, perm))


def inputs_for_sizes(f, seed: int, n: int):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, tuple(n if isinstance(d, Sym) else d for d in p.type.shape)).astype(np.float32)
            for p in f.params]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_max_pool_kernels_match_reference_with_ties_nan_and_padding(data):
    """The NHWC pool kernels agree with the reference: first maximum wins a tie, a nan wins its window, padding
    never wins; overlapping windows and windows that tile the image (stride = window: the gradient writes
    every pixel once, those past the last window 0)."""
    from flowc.backends.numba import image
    from flowc.backends.reference.nn import _max_pool2d
    from flowc.backends.reference.nn_grad import _maxpool_dx
    kh, kw = data.draw(st.sampled_from([(2, 2), (3, 3), (2, 3), (1, 1), (3, 1)]))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    if data.draw(st.booleans()):                                     # windows that tile the image
        sh, sw = kh, kw
    pt, pb = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kh - 1))
    pl, pr = data.draw(st.integers(0, kw - 1)), data.draw(st.integers(0, kw - 1))
    h, w = data.draw(st.integers(kh, 9)), data.draw(st.integers(kw, 9))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.integers(-2, 3, (2, 3, h, w)).astype(np.float32)        # small integers: many ties
    special = rng.random(x.shape)
    x[special < 0.04] = np.nan
    x[(special >= 0.04) & (special < 0.08)] = -np.inf
    padding = ((pt, pb), (pl, pr))
    want = _max_pool2d(x, (kh, kw), (sh, sw), padding, "NCHW")
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = image.max_pool2d_nhwc(nhwc, kh, kw, sh, sw, pt, pb, pl, pr).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, want)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want_dx = _maxpool_dx(x, dy, (kh, kw), (sh, sw), padding, "NCHW")
    got_dx = image.max_pool2d_grad_nhwc(nhwc, np.ascontiguousarray(dy.transpose(0, 2, 3, 1)), kh, kw, sh, sw, pt,
                                        pl).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-6, atol=1e-6)   # overlapping windows: sum order


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_avg_pool_kernels_match_reference_with_padding_and_both_counts(data):
    """The NHWC average-pool kernels agree with the reference for border windows, with and without padding
    taps in the count."""
    from flowc.backends.numba import image
    from flowc.backends.reference.nn import _avg_pool2d
    from flowc.backends.reference.nn_grad import _avgpool_dx
    kh, kw = data.draw(st.sampled_from([(2, 2), (3, 3), (2, 3), (1, 1), (3, 1)]))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    if data.draw(st.booleans()):                                     # windows that tile the image
        sh, sw = kh, kw
    pt, pb = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kh - 1))
    pl, pr = data.draw(st.integers(0, kw - 1)), data.draw(st.integers(0, kw - 1))
    h, w = data.draw(st.integers(kh, 9)), data.draw(st.integers(kw, 9))
    include = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    padding = ((pt, pb), (pl, pr))
    want = _avg_pool2d(x, (kh, kw), (sh, sw), padding, "NCHW", include)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = image.avg_pool2d_nhwc(nhwc, kh, kw, sh, sw, pt, pb, pl, pr, include).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want_dx = _avgpool_dx(dy, (h, w), (kh, kw), (sh, sw), padding, "NCHW", include)
    got_dx = image.avg_pool2d_grad_nhwc(np.ascontiguousarray(dy.transpose(0, 2, 3, 1)), h, w, kh, kw, sh, sw, pt,
                                        pl, include).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-5, atol=1e-6)


THROUGH_TRANSPOSE = """
func @bias_grads(%x: f32[B,5,6,3]) -> (f32[1,3,1,1], f32[3], f32[B,3], f32[B,5,6], f32[6,5]) {
  %0 = transpose(%x) {perm = (0, 3, 1, 2)} : f32[B,3,5,6]
  %1 = reduce_sum(%0) {axes = (0, 2, 3), keepdims = true} : f32[1,3,1,1]
  %2 = reduce_max(%0) {axes = (0, 2, 3), keepdims = false} : f32[3]
  %3 = reduce_mean(%0) {axes = (2, 3), keepdims = false} : f32[B,3]
  %4 = reduce_sum(%0) {axes = (1,), keepdims = false} : f32[B,5,6]
  %5 = transpose(%x) {perm = (2, 1, 3, 0)} : f32[6,5,3,B]
  %6 = reduce_min(%5) {axes = (2, 3), keepdims = false} : f32[6,5]
  return %1, %2, %3, %4, %6
}
"""


def test_reduction_of_a_transposed_value_reads_the_source_in_memory_order():
    """NCHW bias gradients of NHWC activations: reduce_block over x itself (its axes mapped through the
    perm) when the kept axes stay in order; the (2,1,3,0) case keeps (1,2)->(1,0) order and is lowered
    the generic way.  Every case agrees with the reference."""
    (f,) = parse_module(THROUGH_TRANSPOSE)
    c = nb.compile(f)
    body = c.source.split("def program", 1)[1]
    assert body.count("reduce_block(p_x,") == 4, body
    for n in (1, 4):
        args = inputs_for_sizes(f, seed=n, n=n)
        assert_agrees(c(*args), run(f, *args), f"batch {n}")


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_logsumexp_kernels_match_numpy_on_short_and_long_rows_with_special_values(data):
    """Rows up to SHORT_ROW long take the chunked path (chunks of _CHUNK elements, so several per array);
    longer ones the per-row path; the parallel kernel splits rows across threads with either.  +inf in a
    row gives inf, an all -inf row -inf, nan nan, as numpy's max-shifted formula does."""
    from flowc.backends.numba import kernels
    n = data.draw(st.sampled_from([1, 2, 3, 10, kernels.SHORT_ROW, kernels.SHORT_ROW + 1, 40]))
    outer = data.draw(st.integers(0, 2 * kernels._CHUNK // n + 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = (rng.standard_normal((outer, n)) * 30).astype(np.float32)
    for value in data.draw(st.lists(st.sampled_from([np.inf, -np.inf, np.nan]), max_size=3)):
        if outer:
            x[rng.integers(outer), rng.integers(n)] = value
    if outer > 1 and data.draw(st.booleans()):
        x[rng.integers(outer)] = -np.inf
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = x64.max(axis=1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        want = (np.log(np.exp(x64 - m).sum(axis=1)) + m[:, 0]).astype(np.float32)
    for got in (kernels.logsumexp_block(x, outer, n, 1), kernels.logsumexp_rows_parallel(x, outer, n)):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


PERMUTED_OPERANDS = """
func @permuted(%x: f32[B,3,9,8], %w: f32[16,3,3,3]) -> (f32[B,7,6,16], f32[B,216]) {
  %0 = transpose(%x) {perm = (0, 2, 3, 1)} : f32[B,9,8,3]
  %1 = transpose(%w) {perm = (2, 3, 1, 0)} : f32[3,3,3,16]
  %2 = conv2d(%0, %1) {dilation = (1, 1), groups = 1, layout = "NHWC", padding = ((0, 0), (0, 0)), strides = (1, 1)} : f32[B,7,6,16]
  %3 = reshape(%0) {shape = (B, 216)} : f32[B,216]
  return %2, %3
}
"""


def test_a_transposed_view_that_must_be_contiguous_is_copied_by_tiles():
    """A 4-d transpose feeding a convolution or a reshape: ``kernels.transposed`` of the source, never
    ``np.ascontiguousarray`` of the strided view (an element-by-element gather).  Agrees with the reference."""
    (f,) = parse_module(PERMUTED_OPERANDS)
    c = nb.compile(f)
    body = c.source.split("def program", 1)[1]
    assert body.count("transposed(p_x, (0, 2, 3, 1))") == 2 and "transposed(p_w, (2, 3, 1, 0))" in body, body
    views = re.findall(r"(\w+) = permute\(", body)
    assert views and not any(f"ascontiguousarray({v})" in body for v in views), body
    for n in (1, 3):
        args = inputs_for_sizes(f, seed=n, n=n)
        assert_agrees(c(*args), run(f, *args), f"batch {n}")
