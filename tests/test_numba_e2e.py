"""End to end on the numba backend: a jitted MLP training step, fused regions, exact random bits."""
from __future__ import annotations

import re
import sys

import numba
import numpy as np
import pytest

import flowc as fc
from flowc import optim
from flowc.backends import numba as nb
from flowc.backends.reference import run
from flowc.ir import Builder, Region, Sym, TensorType, Value
from flowc.ir.core import Function
from flowc.ir.parser import parse_module
from flowc.ir.types import float32
from flowc.transforms import value_and_grad

from test_numba_ops import CORPUS, inputs


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))


def _step(backend):
    def loss(p, x, y):
        h = fc.tanh(x @ p["w1"] + p["b1"])
        logits = h @ p["w2"] + p["b2"]
        return -fc.mean(fc.sum(fc.nn.log_softmax(logits, axis=1) * fc.one_hot(y, 10), axis=1))
    opt = optim.sgd(0.1, momentum=0.9)

    @fc.jit(backend=backend)
    def step(p, s, x, y):
        val, g = value_and_grad(loss)(p, x, y)
        p, s = opt.update(g, s, p)
        return val, p, s
    return step, opt


def test_mlp_training_step_matches_reference():
    rng = np.random.default_rng(0)
    p = {"w1": (rng.normal(size=(20, 32)) * 0.3).astype(np.float32), "b1": np.zeros(32, np.float32),
         "w2": (rng.normal(size=(32, 10)) * 0.3).astype(np.float32), "b2": np.zeros(10, np.float32)}
    x, y = rng.normal(size=(16, 20)).astype(np.float32), rng.integers(0, 10, 16).astype(np.int32)
    (ref, opt), (fast, _) = _step("reference"), _step("numba")
    pr, sr = p, opt.init(p)
    pn, sn = p, opt.init(p)
    losses = []
    for _ in range(3):
        vr, pr, sr = ref(pr, sr, x, y)
        vn, pn, sn = fast(pn, sn, x, y)
        np.testing.assert_allclose(vn, vr, rtol=1e-5)
        for k in p:
            np.testing.assert_allclose(pn[k], pr[k], rtol=1e-4, atol=1e-5)
            assert pn[k].dtype == np.float32
        losses.append(float(vn))
    assert losses[-1] < losses[0] and fast.trace_count == 1


def _fused(n: int) -> Function:
    """y = tanh(x * 1.5 + b) * sigmoid(x) as one fusion region over f32[B, n] (+ an iota and a bool result)."""
    B = Sym("B")
    x, b = Value(TensorType(float32, (B, n)), "x"), Value(TensorType(float32, (n,)), "b")
    rb = Builder()
    px, pb = Value(x.type), Value(b.type)
    c = rb("constant", value=np.array(1.5, np.float32))
    t = rb("tanh", rb("add", rb("mul", px, c), pb))
    y = rb("mul", t, rb("sigmoid", px))
    io = rb("iota", shape=(B, n), dtype=float32, axis=1)
    z = rb("add", y, io)
    pos = rb("gt", z, rb("constant", value=np.array(0.0, np.float32)))
    fb = Builder()
    op = fb.op("fusion", x, b, regions=[Region([px, pb], rb.ops, [z, pos])])
    return Function("fused", [x, b], fb.ops, list(op.results)).verify()


@pytest.mark.parametrize("n", [5, 8192])
def test_fusion_region_is_one_kernel_with_one_loop_nest(n, monkeypatch):
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "0")
    f = _fused(n)
    c = nb.compile(f)
    program, kernels = c.program.source, list(c.program.kernels.values())
    assert len(kernels) == 1 and "for " not in program.split("def program")[1]   # the program only calls
    body = kernels[0].split("def k_")[1]
    assert body.count("for ") == 2 and "fast_tanh(" in body         # one nest over [B, n], no temporaries
    assert "prange" not in body                                      # threads off (FLOWC_NUMBA_PARALLEL=0)
    for batch in (3, 33):
        args = inputs(f, batch, batch)
        got, want = c(*args), run(f, *args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got[1], want[1])
    assert len(c.signatures) == 1
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "auto")               # the default: large outputs in parallel
    monkeypatch.delenv("FLOWC_NUM_THREADS", raising=False)
    src = nb.generate(f).kernels
    big = 64 * n >= nb.codegen.PARALLEL_MIN                           # B counts as 64
    assert any("prange(n0)" in k for k in src.values()) == (big and numba.config.NUMBA_NUM_THREADS > 1)
    monkeypatch.setenv("FLOWC_NUM_THREADS", "1")                     # one thread: no prange
    assert not any("prange(" in k for k in nb.generate(f).kernels.values())


def _blas_program():
    b = Sym("B")
    x, w = Value(TensorType(float32, (b, 8192)), "x"), Value(TensorType(float32, (8192, 64)), "w")
    fb = Builder()
    y = fb("tanh", x)
    z = fb("matmul", y, w)
    return Function("mm", [x, w], fb.ops, [z, y]).verify()


@pytest.mark.parametrize("mode", ["auto", "0"])
def test_programs_calling_blas_use_one_thread_pool_at_a_time(mode, monkeypatch):
    """Parallel programs run BLAS single-threaded (their GEMMs split over Numba's threads); serial ones run
    Numba on one thread and leave BLAS its threads.  Whatever was set before the call is set after it."""
    from flowc.backends.numba import blas
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", mode)
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")
    f = _blas_program()
    c = nb.compile(f)
    assert c.program.blas and any("prange(" in k for k in c.program.kernels.values()) == (mode == "auto")
    seen, dispatch = [], c.dispatcher
    blas_threads = (lambda: blas._GET_BLAS_THREADS()) if blas.SPLITS else (lambda: None)

    def spy(*a):
        seen.append((blas_threads(), numba.get_num_threads()))
        return dispatch(*a)
    monkeypatch.setattr(c, "dispatcher", spy)
    numba.set_num_threads(2)
    before = (blas_threads(), numba.get_num_threads())
    args = inputs(f, 4, 4)
    got = c(*args)
    np.testing.assert_allclose(got[0], run(f, *args)[0], rtol=1e-4, atol=1e-4)
    if mode == "auto" and blas.SPLITS:
        assert seen == [(1, 2)]
    else:
        assert seen == [(before[0], 1)]
    assert (blas_threads(), numba.get_num_threads()) == before


def test_random_ops_bit_identical():
    (f,) = parse_module((CORPUS / "random.fir").read_text())
    c = nb.compile(f)
    args = inputs(f, 0, 4)
    args = [np.array([123, 456789], np.uint32) if a.dtype == np.uint32 and a.shape == (2,) else a for a in args]
    got, want = c(*args), run(f, *args)
    normal = {4, 6}     # random_normal f64, and x * uniform + normal
    for k, (g, w) in enumerate(zip(got, want)):
        if k in normal:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)     # bits, split, bernoulli and uniform floats: exact


_REDUCE_REGION = """
func @f(%x: f32[B,7,5], %b: f32[5]) -> (f32[B,7,5], {res}) {{
  %0, %1 = fusion(%x, %b) {{kind = "reduce"}} : f32[B,7,5], {res} {{
  ^(%2: f32[B,7,5], %3: f32[5]):
    %4 = broadcast_to(%3) {{shape = (B, 7, 5)}} : f32[B,7,5]
    %5 = mul(%2, %4) : f32[B,7,5]
    %6 = exp(%5) : f32[B,7,5]
    %7 = {kind}(%6) {{axes = {axes}, keepdims = {keep}}} : {res}
    yield %5, %7
  }}
  return %0, %1
}}
"""


@pytest.mark.parametrize("kind,axes,keep,res", [
    ("reduce_sum", "(2,)", "false", "f32[B,7]"), ("reduce_mean", "(1, 2)", "true", "f32[B,1,1]"),
    ("reduce_max", "(2,)", "true", "f32[B,7,1]"), ("reduce_min", "(1, 2)", "false", "f32[B]")])
def test_reduce_region_is_one_kernel_with_a_scalar_accumulator(kind, axes, keep, res):
    """An elementwise body feeding a reduction over trailing axes is one loop nest accumulating in a scalar;
    the full-shape result gets a nest of its own first (so that it vectorizes), in the same kernel."""
    (f,) = parse_module(_REDUCE_REGION.format(kind=kind, axes=axes, keep=keep, res=res))
    f.verify()
    c = nb.compile(f)
    (kernel,) = c.program.kernels.values()
    body = kernel.split("def k_")[1]
    assert "acc" in body and "np.zeros" not in body and body.count("for ") == 3 + 3
    for batch in (1, 6):
        args = inputs(f, batch, batch)
        args[0][0, 0, 0] = np.nan                        # max/min let nan win, like the reference
        got, want = c(*args), run(f, *args)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=2e-6)


_WIDE_SUM = """
func @f(%x: f32[B,{n}], %y: f32[B,1]) -> (f32[B], f32[B,{n}]) {{
  %0, %1 = fusion(%x, %y) {{kind = "reduce"}} : f32[B], f32[B,{n}] {{
  ^(%2: f32[B,{n}], %3: f32[B,1]):
    %4 = mul(%2, %3) : f32[B,{n}]
    %5 = {kind}(%4) {{axes = (1,), keepdims = false}} : f32[B]
    yield %5, %4
  }}
  return %0, %1
}}
"""


@pytest.mark.parametrize("n", [3, 259, 1000])
@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean"])
def test_fused_sum_accumulates_through_a_reassociable_add_and_vectorizes(kind, n):
    """The row sum adds through runtime.add_any_order: one plain loop per row, which LLVM turns into
    lanes of float64 partial sums (a vector add with the reassoc flag in the program's machine code)."""
    (f,) = parse_module(_WIDE_SUM.format(n=n, kind=kind))
    c = nb.compile(f)
    (kernel,) = c.program.kernels.values()
    body = kernel.split("def k_")[1]
    assert "add_any_order(acc" in body and body.count("for ") == 2 + 2   # the [B, n] result; rows, elements
    assert re.search(r"fadd reassoc <(2|4|8) x double>", c.llvm()), "the row sum is not vectorized"
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(3, n)).astype(np.float32), rng.normal(size=(3, 1)).astype(np.float32)
    got, want = c(x, y), run(f, x, y)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[1], want[1])


_PICK_AND_GRAD = """
func @f(%y: i64[B,1], %z: f32[B,{n}], %lse: f32[B,1], %g: f32[B,1]) -> (f32[B], f32[B,{n}]) {{
  %0, %1 = fusion(%y, %z, %lse, %g) {{kind = "reduce"}} : f32[B], f32[B,{n}] {{
  ^(%2: i64[B,1], %3: f32[B,{n}], %4: f32[B,1], %5: f32[B,1]):
    %6 = iota() {{axis = 1, dtype = i64, shape = (B, {n})}} : i64[B,{n}]
    %7 = eq(%2, %6) : bool[B,{n}]
    %8 = cast(%7) {{dtype = f32}} : f32[B,{n}]
    %9 = mul(%8, %3) : f32[B,{n}]
    %10 = reduce_sum(%9) {{axes = (1,), keepdims = false}} : f32[B]
    %11 = sub(%3, %4) : f32[B,{n}]
    %12 = exp(%11) : f32[B,{n}]
    %13 = mul(%5, %12) : f32[B,{n}]
    %14 = sub(%13, %8) : f32[B,{n}]
    yield %10, %14
  }}
  return %0, %1
}}
"""


@pytest.mark.parametrize("n", [7, 300])
def test_reduce_region_with_ops_after_the_reduction_is_one_kernel(n):
    """Softmax cross-entropy's backward region: the picked logit (a one-hot sum) and the gradient
    exp(z - lse) g - onehot, which the fusion pass groups after the reduction: one kernel, two nests."""
    (f,) = parse_module(_PICK_AND_GRAD.format(n=n))
    c = nb.compile(f)
    (kernel,) = c.program.kernels.values()
    body = kernel.split("def k_")[1]
    assert "acc" in body and "fast_exp(" in body
    rng = np.random.default_rng(n)
    args = [rng.integers(0, n, (5, 1)), rng.normal(size=(5, n)).astype(np.float32),
            rng.normal(size=(5, 1)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)]
    got, want = c(*args), run(f, *args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 4, 37])
@pytest.mark.parametrize("axis", [1, 0])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows_and_strided_columns_match_reference(axis, log, n):
    """Row maxima run in vector lanes that may skip nan; nan and inf - inf still reach every output of their row."""
    x = np.random.default_rng(1).normal(size=(9, n)).astype(np.float32) * 30
    x[2, :] = -np.inf
    x[3, min(5, n - 1)] = np.nan
    x[4, 0] = np.nan                                    # the lanes' first value
    x[5, -1] = np.nan                                   # the remainder loop
    x[6, n // 2] = np.inf
    x[7, :] = np.inf
    f = fc.jit(lambda x: (fc.nn.log_softmax if log else fc.nn.softmax)(x, axis=axis), backend="numba")
    r = fc.jit(lambda x: (fc.nn.log_softmax if log else fc.nn.softmax)(x, axis=axis), backend="reference")
    np.testing.assert_allclose(f(x), r(x), rtol=3e-6, atol=1e-7)


@pytest.mark.parametrize("log", [False, True])
def test_large_softmax_splits_rows_across_threads(log, monkeypatch):
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "1")
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")
    x = np.random.default_rng(2).normal(size=(600, 501)).astype(np.float32) * 30
    x[7, 3], x[8, :], x[9, 0] = np.nan, -np.inf, np.inf
    fn = fc.nn.log_softmax if log else fc.nn.softmax
    f = fc.jit(lambda x: fn(x, axis=1), backend="numba")
    assert "softmax_rows_parallel(" in f.lower(x).text("source")
    want = fc.jit(lambda x: fn(x, axis=1), backend="reference")(x)
    # log-probabilities near 0 are -log(sum) with sum ~ 1: an ulp of 1.0 (1.2e-7) is the float32 floor there
    np.testing.assert_allclose(f(x), want, rtol=3e-6, atol=3e-7 if log else 1e-7)


@pytest.mark.parametrize("opt_level", [1, 2])
def test_parallel_loops_read_rank0_arrays_before_the_loop(opt_level, monkeypatch):
    """Numba's prange cannot index a 0-d array (a learning rate, a loss scale): kernels read it up front."""
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "1")
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")

    def f(x, s, k, on):
        return fc.where(on, x * s / (s + 1), x - fc.astype(k, fc.float32))
    args = (np.random.default_rng(3).normal(size=(600, 501)).astype(np.float32), np.array(2.5, np.float32),
            np.array(7, np.int32), np.array(True))
    got = fc.jit(f, backend="numba", opt_level=opt_level)
    assert "prange(" in got.lower(*args).text("source")
    want = fc.jit(f, backend="reference")
    np.testing.assert_allclose(got(*args), want(*args), rtol=1e-6)
    off = args[:3] + (np.array(False),)
    np.testing.assert_allclose(got(*off), want(*off), rtol=1e-6)


_TAKE_RANK0 = """
func @t(%x: bool[4,3,5], %i: i32[], %k: i32[]) -> (bool[4,5], f32[4,3], bool[4,5]) {
  %0 = take(%x, %i) {axis = 1} : bool[4,5]
  %1 = one_hot(%k) {depth = 3, dtype = f32} : f32[3]
  %2 = broadcast_to(%1) {shape = (4, 3)} : f32[4,3]
  %3 = constant() {value = dense<[-2]> : i64[]} : i64[]
  %4 = take(%x, %3) {axis = 1} : bool[4,5]
  return %0, %2, %4
}
"""


@pytest.mark.parametrize("i,k", [(-1, 2), (7, -3)])
def test_parallel_gathers_by_rank0_indices(i, k, monkeypatch):
    """take/one_hot index their operands (and inline 0-d constants) themselves: those reads are hoisted too
    (found by ``flowc fuzz`` with every loop under prange: FLOWC_NUMBA_PARALLEL=1 FLOWC_NUMBA_PARALLEL_MIN=1)."""
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "1")
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL_MIN", "1")
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")
    (f,) = parse_module(_TAKE_RANK0)
    c = nb.compile(f)
    assert all("prange(" in k for k in c.program.kernels.values())
    args = (np.random.default_rng(0).random((4, 3, 5)) > 0.5, np.array(i, np.int32), np.array(k, np.int32))
    for got, want in zip(c(*args), run(f, *args)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("parallel", ["0", "1"])
def test_region_results_smaller_than_the_loop_get_their_own_nest(parallel, monkeypatch):
    """A [1,5] or 0-d result of a [B,5] region is computed over its own shape: written when B = 0, and
    never a 0-d store inside prange (found by fuzzing with every loop parallel)."""
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", parallel)
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL_MIN", "1")
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")
    f = parse_module((CORPUS / "region.fir").read_text())["small_results"]
    c = nb.compile(f)
    w = np.arange(5, dtype=np.float32).reshape(1, 5)
    for batch in (0, 3):
        x = np.ones((batch, 5), np.float32)
        for got, want in zip(c(x, w), run(f, x, w)):
            np.testing.assert_array_equal(got, want)


def test_parallel_mode_default_and_bad_value(monkeypatch):
    """Threads by default where they pay (auto); a typo is an error, not a silent serial run."""
    monkeypatch.delenv("FLOWC_NUMBA_PARALLEL", raising=False)
    monkeypatch.setenv("FLOWC_NUM_THREADS", "2")
    assert nb.codegen.parallel_mode() == "auto"
    (kernel,) = nb.generate(_fused(8192)).kernels.values()
    assert "prange(n0)" in kernel and "parallel=True" in kernel and "cache=True" in kernel
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "yes")
    with pytest.raises(fc.FlowcError, match="FLOWC_NUMBA_PARALLEL must be auto, 1 or 0, got 'yes'"):
        nb.generate(_fused(2048))
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL", "1")
    monkeypatch.setenv("FLOWC_NUMBA_PARALLEL_MIN", "lots")
    with pytest.raises(fc.FlowcError, match="FLOWC_NUMBA_PARALLEL_MIN must be a non-negative integer"):
        nb.generate(_fused(2048))


def _vm_flags(addr: int) -> list[str]:
    """The VmFlags of the mapping holding ``addr`` (Linux /proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(h, 16) for h in head.split("-"))
                inside = lo <= addr < hi
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {addr:#x}")


def test_large_arrays_get_huge_pages():
    """A fresh 64 MB result costs 16k first-touch faults per call unless advised as huge pages (as numpy does)."""
    program = nb.generate(_fused(2048))                 # f32[B, 2048]: B unknown, so advised at run time
    assert "advise(np.empty((B, 2048), np.float32))" in program.source     # the program allocates results
    c = nb.compile(_fused(2048))
    x = np.random.default_rng(0).normal(size=(1024, 2048)).astype(np.float32)     # 8 MB per result
    b = np.random.default_rng(1).normal(size=2048).astype(np.float32)
    got, want = c(x, b), run(_fused(2048), x, b)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    if sys.platform.startswith("linux"):                 # elsewhere advise does nothing
        inner = (got[0].ctypes.data + (1 << 21) - 1) & ~((1 << 21) - 1)     # first whole 2 MB page
        assert "hg" in _vm_flags(inner)


def test_constant_broadcast_joins_its_users_kernel():
    """ReLU's gradient mask compares with a broadcast zero: it is computed in the masking kernel, not
    materialised by a kernel of its own (W4's [128,1024] array of zeros)."""
    rng = np.random.default_rng(3)
    p = {f"w{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate([(12, 16), (16, 16), (16, 5)])}
    p.update({f"b{i}": rng.normal(size=n).astype(np.float32) for i, n in enumerate([16, 16])})
    x = rng.normal(size=(8, 12)).astype(np.float32)

    def loss(p):
        h = fc.nn.relu(x @ p["w0"] + p["b0"])
        return fc.sum(fc.nn.relu(h @ p["w1"] + p["b1"]) @ p["w2"])

    fast = fc.jit(fc.grad(loss), backend="numba", opt_level=2)
    exe = fast.lower(p).compile()
    assert not any(re.search(r"def k_\w+\((n\d+(, )?)+\):", src) for src in exe.program.kernels.values())
    want = fc.jit(fc.grad(loss), backend="reference", opt_level=2)(p)
    for k, g in fast(p).items():
        np.testing.assert_allclose(g, want[k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [5, 1000, 2500])
def test_logsumexp_rows_sum_in_blocks_within_two_ulp_of_float64(n):
    """Rows longer than EXP_SUM_BLOCK sum block by block (float32 partials, float64 total); every row agrees with a
    float64 logsumexp to float32 precision, and inf/-inf/nan rows keep their meaning."""
    x = np.random.default_rng(n).normal(size=(6, n)).astype(np.float32) * 20
    x[1, :] = -np.inf
    x[2, n // 2] = np.inf
    x[3, -1] = np.nan
    f = fc.jit(lambda x: fc.nn.logsumexp(x, axis=1), backend="numba")
    got = f(x)
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.max(np.where(np.isnan(x64), -np.inf, x64), axis=1, keepdims=True)
        want = (np.log(np.exp(x64 - np.where(np.isfinite(m), m, 0)).sum(1)) + np.where(np.isfinite(m), m, 0)[:, 0])
    want[1], want[2], want[3] = -np.inf, np.inf, np.nan
    np.testing.assert_allclose(got[[0, 4, 5]], want[[0, 4, 5]].astype(np.float32), rtol=2.5e-7, atol=0)
    np.testing.assert_array_equal(got[1:4], want[1:4].astype(np.float32))
