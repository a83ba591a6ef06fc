"""Matrix products with fused epilogues: the elementwise steps after a matmul (scale, bias, base, relu,
relu's gradient mask) applied by the product's own kernel (``backends/numba/epilogue.py``), chosen from a
``matmul_epilogue`` region by ``backends/numba/lower/linalg.py``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowc as fc
from flowc.backends import numba as nb
from flowc.backends.numba import blas, epilogue, kernels
from flowc.backends.reference import run
from flowc.ir import parse
from test_numba_buffers import _calls, _in_place
from test_numba_ops import assert_agrees

FILECHECK = Path(sys.executable).with_name("filecheck")


def _filecheck(text: str, checks: str, tmp_path):
    spec = tmp_path / "checks.txt"
    spec.write_text(checks)
    res = subprocess.run([str(FILECHECK), str(spec)], input=text, capture_output=True, text=True)
    assert res.returncode == 0, f"filecheck failed on:\n{text}\n{res.stdout}{res.stderr}"


def _check_against_reference(f, seed=0):
    rng = np.random.default_rng(seed)
    args = []
    for p in f.params:
        shape = tuple(4 if not isinstance(d, int) else d for d in p.type.shape)
        args.append(rng.standard_normal(shape).astype(np.float32))
    compiled = nb.compile(f)
    assert_agrees(compiled(*args), run(f, *args), f.name)
    return compiled


FORWARD = """
func @forward(%x: f32[B,24], %w: f32[24,32], %b: f32[32]) -> (f32[B,32]) {
  %0 = fusion(%x, %w, %b) {kind = "matmul_epilogue"} : f32[B,32] {
  ^(%1: f32[B,24], %2: f32[24,32], %3: f32[32]):
    %4 = matmul(%1, %2) : f32[B,32]
    %5 = add(%4, %3) : f32[B,32]
    %6 = relu(%5) : f32[B,32]
    yield %6
  }
  return %0
}
"""


def test_bias_and_relu_go_into_the_product(tmp_path):
    c = _check_against_reference(parse(FORWARD))
    _filecheck(c.source, """
CHECK:      # %4 = matmul(%1, %2) : f32[B,32]
CHECK-NEXT: # %5 = add(%4, %3) : f32[B,32]
CHECK-NEXT: # %6 = relu(%5) : f32[B,32]
CHECK-NEXT: # matmul with its epilogue (add, relu) in one kernel
CHECK-NEXT: v6 = matmul2d(p_x, p_w, epilogue(p_x, 1.0, np.ascontiguousarray(p_b), None, True, None))
CHECK-NEXT: return (v6,)
CHECK-NOT:  def k_
""", tmp_path)


SGD = """
func @sgd(%a: f32[40,B], %g: f32[B,48], %w: f32[40,48], %h: f32[B,48], %v: f32[48,48]) -> (f32[40,48], f32[B,48]) {
  %0 = transpose(%a) {perm = (1, 0)} : f32[B,40]
  %1 = fusion(%a, %g, %w) {kind = "matmul_epilogue"} : f32[40,48] {
  ^(%2: f32[40,B], %3: f32[B,48], %4: f32[40,48]):
    %5 = matmul(%2, %3) : f32[40,48]
    %6 = constant() {value = dense<[0.25]> : f32[]} : f32[]
    %7 = mul(%6, %5) : f32[40,48]
    %8 = sub(%4, %7) : f32[40,48]
    yield %8
  }
  %9 = fusion(%g, %v, %h) {kind = "matmul_epilogue"} : f32[B,48] {
  ^(%10: f32[B,48], %11: f32[48,48], %12: f32[B,48]):
    %13 = constant() {value = dense<[0.0]> : f32[]} : f32[]
    %14 = broadcast_to(%13) {shape = (B, 48)} : f32[B,48]
    %15 = matmul(%10, %11) : f32[B,48]
    %16 = gt(%12, %14) : bool[B,48]
    %17 = cast(%16) {dtype = f32} : f32[B,48]
    %18 = mul(%15, %17) : f32[B,48]
    yield %18
  }
  return %1, %9
}
"""


def test_sgd_update_and_relu_gradient_mask_go_into_the_product(tmp_path):
    """``w - lr * (a @ g)`` is base ``w`` plus alpha ``-lr`` times the product (exact: negation is); the
    mask ``cast(gt(h, 0))`` is read from h, its compare and cast not materialised."""
    c = _check_against_reference(parse(SGD))
    _filecheck(c.source, """
CHECK: # matmul with its epilogue (mul, sub) in one kernel
CHECK-NEXT: matmul2d(p_a, p_g, epilogue(p_a, -0.25, None, np.ascontiguousarray(p_w), False, None))
CHECK: # matmul with its epilogue (mul) in one kernel
CHECK-NEXT: matmul2d(p_g, p_v, epilogue(p_g, 1.0, None, None, False, np.ascontiguousarray(p_h)))
CHECK-NOT: def k_
""", tmp_path)


PARTIAL = """
func @partial(%x: f32[B,24], %w: f32[24,32], %b: f32[32]) -> (f32[B,32], f32[B,32]) {
  %0, %1 = fusion(%x, %w, %b) {kind = "matmul_epilogue"} : f32[B,32], f32[B,32] {
  ^(%2: f32[B,24], %3: f32[24,32], %4: f32[32]):
    %5 = matmul(%2, %3) : f32[B,32]
    %6 = relu(%5) : f32[B,32]
    %7 = add(%6, %4) : f32[B,32]
    %8 = tanh(%7) : f32[B,32]
    yield %8, %6
  }
  return %0, %1
}
"""

YIELDED = """
func @yielded(%x: f32[B,24], %w: f32[24,32], %b: f32[32]) -> (f32[B,32], f32[B,32]) {
  %0, %1 = fusion(%x, %w, %b) {kind = "matmul_epilogue"} : f32[B,32], f32[B,32] {
  ^(%2: f32[B,24], %3: f32[24,32], %4: f32[32]):
    %5 = matmul(%2, %3) : f32[B,32]
    %6 = add(%5, %4) : f32[B,32]
    yield %6, %5
  }
  return %0, %1
}
"""

INNER = """
func @inner(%x: f32[B,24], %w: f32[24,32], %b: f32[32]) -> (f32[B,32]) {
  %0 = fusion(%x, %w, %b) {kind = "matmul_epilogue"} : f32[B,32] {
  ^(%1: f32[B,24], %2: f32[24,32], %3: f32[32]):
    %4 = matmul(%1, %2) : f32[B,32]
    %5 = exp(%3) : f32[32]
    %6 = add(%4, %5) : f32[B,32]
    yield %6
  }
  return %0
}
"""


def test_the_chain_stops_where_the_kernel_cannot_follow(tmp_path):
    """A value read twice (relu's, also yielded), a product that is also a result, a step whose operand is
    computed inside the region: the product stops there and the rest is an elementwise kernel."""
    c = _check_against_reference(parse(PARTIAL))
    _filecheck(c.source, """
CHECK: matmul2d(p_x, p_w, epilogue(p_x, 1.0, None, None, True, None))
CHECK: # %7 = add(%6, %4)
CHECK: def k_
""", tmp_path)
    for text in (YIELDED, INNER):
        c = _check_against_reference(parse(text))
        _filecheck(c.source, """
CHECK: matmul2d(p_x, p_w, no_epilogue(p_x))
CHECK: # %6 = add(
CHECK: def k_
""", tmp_path)


def test_mlp_training_step_updates_weights_in_the_products(tmp_path):
    """W4's step: the forward bias-add and ReLU, the backward ReLU masks and the SGD updates of both weights
    all happen in GEMM epilogues; the one elementwise kernel left, the softmax gradient, writes over the
    dying logits (buffers.py); the result matches the reference and the inputs are untouched."""
    def loss(p, x, y):
        h = fc.nn.relu(x @ p["w0"] + p["b0"])
        return fc.nn.softmax_cross_entropy(h @ p["w1"] + p["b1"], y)

    def step(p, x, y):
        value, g = fc.value_and_grad(loss)(p, x, y)
        return value, {k: p[k] - 0.125 * g[k] for k in p}

    rng = np.random.default_rng(0)
    p = {"w0": rng.normal(size=(32, 64)).astype(np.float32) * 0.2, "b0": np.zeros(64, np.float32),
         "w1": rng.normal(size=(64, 10)).astype(np.float32) * 0.2, "b1": np.zeros(10, np.float32)}
    x = rng.random((16, 32), dtype=np.float32)
    y = rng.integers(0, 10, 16).astype(np.int32)
    keep = {k: v.copy() for k, v in p.items()}
    fast = fc.jit(step, backend="numba")
    program = fast.lower(p, x, y).compile().program
    assert sum(map(_in_place, _calls(program))) >= 1, program.source
    _filecheck(program.source, """
CHECK: matmul2d(p_x, p_p_w0, epilogue(p_x, 1.0, np.ascontiguousarray(p_p_b0), None, True, None))
CHECK: epilogue({{.*}}, 1.0, None, None, False, np.ascontiguousarray(v{{[0-9]+}})))
CHECK: epilogue({{.*}}, -0.125, None, np.ascontiguousarray(p_p_w0), False, None)
CHECK: epilogue({{.*}}, -0.125, None, np.ascontiguousarray(p_p_w1), False, None)
""", tmp_path)
    got, want = fast(p, x, y), fc.jit(step, backend="reference")(p, x, y)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for k in p:
        np.testing.assert_allclose(got[1][k], want[1][k], rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(p[k], keep[k])


CONV = """
func @conv(%x: f32[B,9,9,3], %w: f32[3,3,3,{o}], %b: f32[1,1,1,{o}], %h: f32[B,{oh},{oh},{o}]) -> (f32[B,{oh},{oh},{o}]) {{
  %0 = fusion(%x, %w, %b, %h) {{kind = "conv_epilogue"}} : f32[B,{oh},{oh},{o}] {{
  ^(%1: f32[B,9,9,3], %2: f32[3,3,3,{o}], %3: f32[1,1,1,{o}], %4: f32[B,{oh},{oh},{o}]):
    %5 = conv2d(%1, %2) {{dilation = (1, 1), groups = 1, layout = "NHWC", padding = ((1, 1), (1, 1)), strides = ({s}, {s})}} : f32[B,{oh},{oh},{o}]
    %6 = add(%5, %3) : f32[B,{oh},{oh},{o}]
    %7 = add(%4, %6) : f32[B,{oh},{oh},{o}]
    %8 = relu(%7) : f32[B,{oh},{oh},{o}]
    yield %8
  }}
  return %0
}}
"""


@pytest.mark.parametrize("o,s", [(32, 1), (6, 2)])
def test_convolution_epilogues_on_the_implicit_gemm_and_on_patches(o, s, tmp_path):
    """A convolution's bias ([1,1,1,O] in NHWC), residual input and relu: per tile of the implicit GEMM (O a
    multiple of 16) or per batch chunk of the patch-matrix path; the residual passed as [B*H*W, O]."""
    c = _check_against_reference(parse(CONV.format(o=o, s=s, oh=9 if s == 1 else 5)))
    _filecheck(c.source, f"""
CHECK: # conv2d with its epilogue (add, add, relu) in one kernel
CHECK:      [[X:cx[0-9]*]] = np.ascontiguousarray(p_x)
CHECK:      conv2d_nhwc([[X]], {{{{.*}}}}, {s}, {s}, 1, 1, 1, 1, 1, 1, 1, epilogue([[X]], 1.0, np.ascontiguousarray(p_b).reshape(-1), np.ascontiguousarray(p_h).reshape((-1, {o})), True, None))
CHECK-NOT: def k_
""", tmp_path)


# -- the kernel: each step, on every GEMM path, bit for bit the unfused ops on the same product -----------

def _steps_by_hand(acc, alpha, bias, base, relu, mask):
    t = acc * acc.dtype.type(alpha)
    if bias is not None:
        t = t + bias
    if base is not None:
        t = base + t
    if relu:
        t = np.where((t > 0) | np.isnan(t), t, 0).astype(acc.dtype)
    if mask is not None:
        t = t * (mask > 0).astype(acc.dtype)
    return t


_PATHS = {     # (m, k, n, b transposed): which kernel gemm picks for float32 (float64: BLAS or few rows)
    "microkernel": (37, 50, 48, False),                  # 16-column tiles; MR-row tiles and a rest; 1 thread
    "microkernel, rows split": (101, 50, 48, False),     # over SPLIT_MIN multiply-adds: a block per thread
    "microkernel, columns split": (37, 80, 96, False),
    "packed transposed weight": (37, 20, 32, True),
    "dot products": (150, 50, 20, True),                 # a transposed weight, not 16-column tiles
    "narrow": (300, 50, 10, False),                      # under 16 columns
    "few rows": (5, 9, 70, False),
    "blas": (140, 50, 20, False),
}


@settings(max_examples=40, deadline=None)
@given(path=st.sampled_from(sorted(_PATHS)), dtype=st.sampled_from([np.float32, np.float64]),
       alpha=st.sampled_from([1.0, -0.5, 3.0]), bias=st.booleans(), base=st.booleans(), relu=st.booleans(),
       mask=st.booleans(), threads=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_every_step_on_every_path_matches_the_unfused_ops(path, dtype, alpha, bias, base, relu, mask, threads, seed):
    m, k, n, transposed = _PATHS[path]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T if transposed else rng.standard_normal((k, n)).astype(dtype)
    vec = rng.standard_normal(n).astype(dtype) if bias else None
    mat = rng.standard_normal((m, n)).astype(dtype) if base else None
    msk = rng.standard_normal((m, n)).astype(dtype) if mask else None
    if mask:
        msk[0, 0], msk[-1, -1] = np.nan, 0.0             # neither is > 0
    was = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    token = blas.program_threads(True)
    try:
        plain = kernels.matmul2d(a, b, epilogue.none(a))
        got = kernels.matmul2d(a, b, epilogue.of(a, alpha, vec, mat, relu, msk))
    finally:
        blas.restore(token)
        numba.set_num_threads(was)
    np.testing.assert_array_equal(got, _steps_by_hand(plain, alpha, vec, mat, relu, msk))


def test_special_values_pass_through_the_steps():
    """nan in the product survives relu and the mask (nan * 0), inf * 0 is nan, -0 stays signed."""
    a = np.array([[np.nan, 1.0], [np.inf, 0.0], [-1.0, 0.0]], np.float32)
    b = np.eye(2, dtype=np.float32)
    mask = np.array([[0, 0], [0, 0], [0, 0]], np.float32)
    got = kernels.matmul2d(a, b, epilogue.of(a, 1.0, None, None, True, mask))
    with np.errstate(invalid="ignore"):
        want = _steps_by_hand(a @ b, 1.0, None, None, True, mask)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 0]) and not np.signbit(got[2, 0])


def test_an_epilogue_operand_of_the_wrong_kind_is_a_typing_error():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(numba.core.errors.TypingError, match="C-ordered 1-d array of float32"):
        numba.njit(lambda a: epilogue.of(a, 1.0, np.ones(4), None, False, None))(a)
