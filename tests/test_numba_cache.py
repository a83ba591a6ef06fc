"""Numba backend entry/exit and compile cache: one compilation per function, reused across batch sizes
and processes; corrupt cache files are rebuilt; generated source is readable; failures are FlowcErrors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from flowc.backends import numba as nb
from flowc.backends.numba import cache
from flowc.backends.reference import RuntimeInputError, run
from flowc.ir.parser import parse_function
from flowc.ir.types import FlowcError

MLP = """
func @{name}(%x: f32[B,6], %w: f32[6,4], %b: f32[4], %y: i32[B]) -> (f32[], f32[B,4]) {{
  %0 = matmul(%x, %w) : f32[B,4]
  %1 = add(%0, %b) : f32[B,4]
  %2 = tanh(%1) : f32[B,4]
  %3 = log_softmax(%2) {{axis = 1}} : f32[B,4]
  %4 = one_hot(%y) {{depth = 4, dtype = f32}} : f32[B,4]
  %5 = mul(%3, %4) : f32[B,4]
  %6 = reduce_mean(%5) {{axes = (0, 1), keepdims = false}} : f32[]
  return %6, %2
}}
"""


def mlp(name: str):
    return parse_function(MLP.format(name=name))


def mlp_inputs(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 6)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32),
            rng.normal(size=4).astype(np.float32), rng.integers(0, 4, batch).astype(np.int32)]


def check(c, f, batch):
    args = mlp_inputs(batch, seed=batch)
    for g, w in zip(c(*args), run(f, *args)):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))
    return tmp_path / "numba"


def test_batch_sizes_share_one_compilation_and_source_is_readable(cache_dir):
    f = mlp("batches")
    c = nb.compile(f)
    for batch in (2, 7, 1):
        check(c, f, batch)
    assert len(c.signatures) == 1 and c.dispatcher.stats.cache_misses[c.signature] == 1
    assert nb.compile(f) is c                        # in-memory cache per function text
    src = c.source
    assert "def program(p_x, p_w, p_b, p_y):" in src and "B = p_x.shape[0]" in src
    assert "# %0 = matmul(%x, %w) : f32[B,4]" in src and "matmul2d(p_x, p_w, no_epilogue(p_x))" in src   # BLAS
    assert "def k_" in src and "n0 = a0.shape[0]" in src          # kernels follow, over runtime sizes
    assert "define" in c.text("llvm") and c.text("asm").strip()
    with pytest.raises(FlowcError, match="unknown text kind"):
        c.text("ptx")


def test_inputs_checked_and_outputs_fresh(cache_dir):
    f = parse_function("""
func @ident(%x: f32[B,3], %k: i64[B]) -> (f32[B,3], f32[3,B], i64[B]) {
  %0 = transpose(%x) {perm = (1, 0)} : f32[3,B]
  return %x, %0, %k
}""")
    c = nb.compile(f)
    x, k = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([4, 5])
    a, t, kk = c(x, k)
    assert not np.shares_memory(a, x) and not np.shares_memory(t, x) and not np.shares_memory(kk, k)
    a[0, 0] = 99
    assert x[0, 0] == 0
    np.testing.assert_array_equal(t, x.T)
    np.testing.assert_array_equal(c(np.asfortranarray(x), k)[1], x.T)    # any input layout is accepted
    with pytest.raises(RuntimeInputError, match="dtype"):
        c(x.astype(np.float64), k)
    with pytest.raises(RuntimeInputError, match="dim B"):
        c(x, np.array([1, 2, 3]))


def test_results_sharing_one_buffer_come_back_separate(cache_dir):
    """Results that Numba allocated skip the overlap checks unless another result came from the same
    allocation: a value returned twice, or two slices of one buffer, still come back as separate arrays."""
    f = parse_function("""
func @shared(%x: f32[B,4]) -> (f32[B,4], f32[B,4], f32[B,2], f32[B,2], f32[B,4]) {
  %0 = mul(%x, %x) : f32[B,4]
  %1 = slice(%0) {limits = (B, 2), starts = (0, 0), strides = (1, 1)} : f32[B,2]
  %2 = slice(%0) {limits = (B, 4), starts = (0, 2), strides = (1, 1)} : f32[B,2]
  %3 = add(%x, %x) : f32[B,4]
  return %0, %0, %1, %2, %3
}""")
    c = nb.compile(f)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    outs = c(x)
    for i, a in enumerate(outs):
        for b in outs[i + 1:]:
            assert not np.shares_memory(a, b)
    outs[0][...] = -1
    np.testing.assert_array_equal(outs[1], x * x)
    np.testing.assert_array_equal(outs[2], (x * x)[:, :2])
    np.testing.assert_array_equal(outs[4], x + x)


def test_runtime_check_of_assumed_equal_symbol(cache_dir):
    # The type rule unifies N with 3 (it cannot know); the program checks it before reading.
    f = parse_function("""
func @assume(%x: f32[N], %y: f32[3]) -> (f32[3]) {
  %0 = add(%x, %y) : f32[3]
  return %0
}""")
    c = nb.compile(f)
    np.testing.assert_array_equal(c(np.ones(3, np.float32), np.ones(3, np.float32))[0], 2 * np.ones(3))
    with pytest.raises(RuntimeInputError, match="does not match"):
        c(np.ones(2, np.float32), np.ones(3, np.float32))


def test_numba_failure_is_a_flowc_error_naming_the_op(cache_dir, monkeypatch):
    def broken(e, op):
        name = e.result_var(op.result)
        e.emit(f"{name} = undefined_helper({e.arr(op.operands[0])})")
        return name
    monkeypatch.setitem(nb.rules.table, "neg", broken)
    f = parse_function("""
func @broken(%x: f32[4]) -> (f32[4]) {
  %0 = neg(%x) : f32[4]
  return %0
}""")
    with pytest.raises(nb.NumbaBackendBug, match="a flowc bug") as info:
        nb.compile(f)
    msg = str(info.value)
    assert "lowering `%0 = neg(%x) : f32[4]`" in msg and "undefined_helper" in msg
    assert info.value.exit_code == 2 and "Traceback" not in msg


def test_thread_count_from_environment(cache_dir, monkeypatch):
    before = numba.get_num_threads()
    try:
        monkeypatch.setenv("FLOWC_NUM_THREADS", "1")
        nb.compile(mlp("threads"))
        assert numba.get_num_threads() == 1
        monkeypatch.setenv("FLOWC_NUM_THREADS", "0")
        with pytest.raises(FlowcError, match="FLOWC_NUM_THREADS"):
            nb.compile(mlp("threads"))
    finally:
        numba.set_num_threads(before)


SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_numba_cache import mlp, mlp_inputs
    from flowc.backends import numba as nb
    t = time.perf_counter()
    c = nb.compile(mlp("disk"))
    seconds = time.perf_counter() - t
    out = c(*mlp_inputs(5))
    {then}
    stats = c.dispatcher.stats
    print(json.dumps({{"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values()),
                      "seconds": seconds, "loss": float(out[0])}}))
""")


def _fresh_process(tmp_path, script: str = SCRIPT, then: str = "", **env) -> dict:
    env = dict(os.environ, FLOWC_CACHE_DIR=str(tmp_path), **env)
    script = script.format(tests=str(Path(__file__).parent), then=then)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_disk_cache_hit_in_new_process_and_corruption_rebuilt(tmp_path):
    cold = _fresh_process(tmp_path)
    assert cold["misses"] == 1 and cold["hits"] == 0
    warm = _fresh_process(tmp_path)
    assert warm["misses"] == 0 and warm["hits"] == 1, "a new process must load machine code, not compile"
    assert warm["loss"] == cold["loss"]
    # Damaged Numba object code: dropped and recompiled, never a crash or a wrong answer.
    # (A damaged source file is covered in-process by the next test.)
    for data in (tmp_path / "numba").glob("__pycache__/*.nbc"):
        data.write_bytes(data.read_bytes()[:50])
    again = _fresh_process(tmp_path)
    assert again["misses"] == 1 and again["loss"] == cold["loss"]


def test_program_loads_its_kernels_by_symbol_whatever_their_cache_holds(tmp_path):
    cold = _fresh_process(tmp_path)
    numba_dir = tmp_path / "numba"
    (links,) = numba_dir.glob("*.links")
    # The kernels' machine code gone, the program's kept: they compile again under the symbols it calls.
    for p in numba_dir.glob("__pycache__/k_*"):
        p.unlink()
    warm = _fresh_process(tmp_path)
    assert warm["hits"] == 1 and warm["loss"] == cold["loss"]
    # The list of kernels damaged or gone: the program is compiled again, never loaded with a symbol
    # unresolved (LLVM would abort the process).
    links.write_text(links.read_text()[:30])
    again = _fresh_process(tmp_path)
    assert again["misses"] == 1 and again["loss"] == cold["loss"]
    links.unlink()
    again = _fresh_process(tmp_path)
    assert again["misses"] == 1 and again["loss"] == cold["loss"]
    assert _fresh_process(tmp_path)["hits"] == 1


THEN_COMPILE_ANOTHER = textwrap.dedent('''
    from flowc.ir.parser import parse_function
    f = parse_function("""
    func @other(%a: f64[N,5], %b: f64[5,3]) -> (f64[N]) {
      %0 = matmul(%a, %b) : f64[N,3]
      %1 = exp(%0) : f64[N,3]
      %2 = reduce_sum(%1) {axes = (1,), keepdims = false} : f64[N]
      return %2
    }""")
    a, b = np.random.default_rng(1).normal(size=(7, 5)), np.random.default_rng(2).normal(size=(5, 3))
    np.testing.assert_allclose(nb.compile(f)(a, b)[0], np.exp(a @ b).sum(axis=1), rtol=1e-12)
''')


def test_program_compiled_fresh_after_a_disk_cache_hit(tmp_path):
    """A cache hit skips Numba's context refresh (compiler._load_without_refresh); a program compiled
    afterwards in the same process, with kernels no cache holds (matmul, exp), must still type and run."""
    cold = _fresh_process(tmp_path)
    warm = _fresh_process(tmp_path, then=THEN_COMPILE_ANOTHER)
    assert warm["hits"] == 1 and warm["misses"] == 0 and warm["loss"] == cold["loss"]


PARALLEL_SCRIPT = textwrap.dedent('''
    import importlib.util, json, os
    if os.environ.get("IMPORT_TORCH_FIRST") and importlib.util.find_spec("torch"):
        import torch                                    # its OpenMP runtime is loaded before Numba's
    import numpy as np
    from flowc.backends import numba as nb
    from flowc.ir.parser import parse_function
    c = nb.compile(parse_function("""
    func @par(%x: f32[B,4096]) -> (f32[B,4096]) {{
      %0 = tanh(%x) : f32[B,4096]
      %1 = mul(%0, %x) : f32[B,4096]
      return %1
    }}"""))
    assert all("prange(" in k and "parallel=True" in k for k in c.program.kernels.values())
    x = np.random.default_rng(0).normal(size=(64, 4096)).astype(np.float32)
    out = c(x)[0]
    np.testing.assert_allclose(out, np.tanh(x) * x, rtol=1e-5, atol=1e-6)
    stats = c.dispatcher.stats
    print(json.dumps({{"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values()),
                      "sum": float(out.astype(np.float64).sum())}}))
''')


@pytest.mark.parametrize("second", [{"IMPORT_TORCH_FIRST": "1"}, {"NUMBA_THREADING_LAYER": "workqueue"}])
def test_parallel_program_loads_from_disk_cache_in_new_process(tmp_path, second):
    """numba#8578 (a cached program calling a cached parallel function segfaulted) is fixed in the Numba
    we require, so parallel kernels are disk-cached like the others: loaded in a new process, with torch's
    OpenMP runtime loaded first or under another threading layer, they run and agree."""
    env = dict(FLOWC_NUMBA_PARALLEL="1", NUMBA_NUM_THREADS="2")
    cold = _fresh_process(tmp_path, PARALLEL_SCRIPT, **env)
    assert cold["misses"] == 1 and cold["hits"] == 0
    warm = _fresh_process(tmp_path, PARALLEL_SCRIPT, **env, **second)
    assert warm["misses"] == 0 and warm["hits"] == 1 and warm["sum"] == cold["sum"]


def test_corrupt_source_detected_in_process(cache_dir):
    f = mlp("corrupt")
    key = cache.cache_key(f.text())
    path = cache_dir / f"{key}.py"
    cache_dir.mkdir(parents=True)
    path.write_text("# flowc-sha256: 0000\nraise SystemExit('must not run')\n")
    c = nb.compile(f)
    check(c, f, 3)
    assert cache.read_source(path) == c.program.source


ADD_TANH = """
func @{name}(%x: f32[{m},{n}], %b: f32[{n}]) -> (f32[{m},{n}]) {{
  %0 = add(%x, %b) : f32[{m},{n}]
  %1 = tanh(%0) : f32[{m},{n}]
  return %1
}}
"""


def _run_checked(c, f, m, n):
    rng = np.random.default_rng(m * n)
    args = [rng.normal(size=(m, n)).astype(np.float32), rng.normal(size=n).astype(np.float32)]
    np.testing.assert_allclose(c(*args)[0], run(f, *args)[0], rtol=1e-5, atol=1e-6)


def test_kernels_are_shared_across_programs_and_sizes(cache_dir):
    """A kernel's text names no size, so the same ops on other (concrete) sizes reuse its compiled code."""
    f1 = parse_function(ADD_TANH.format(name="share_a", m=3, n=4))
    f2 = parse_function(ADD_TANH.format(name="share_b", m=50, n=7))
    c1, c2 = nb.compile(f1), nb.compile(f2)
    assert list(c1.program.kernels) == list(c2.program.kernels) and len(c1.program.kernels) == 2
    text = c1.program.kernels[next(iter(c1.program.kernels))]
    assert "range(n0)" in text and "range(3)" not in text and "(3, 4)" not in text
    _run_checked(c1, f1, 3, 4)
    _run_checked(c2, f2, 50, 7)
    assert c1.links == c2.links and {name.rsplit(".", 1)[1] for name, _ in c1.links} == set(c1.program.kernels)
    for name in c1.program.kernels:      # compiled once (or not at all: an earlier test's code is still live)
        stats = cache.kernel(name).stats
        assert sum(stats.cache_misses.values()) + sum(stats.cache_hits.values()) <= 1
    assert len(list(cache_dir.glob("k_*.py"))) == 2


def test_programs_call_kernels_by_symbol(cache_dir):
    """A program's machine code holds no copy of its kernels (link.py): it declares them under symbols of
    ours, and ``llvm()`` shows the program and then each kernel."""
    f = parse_function(ADD_TANH.format(name="by_symbol", m=3, n=4))
    c = nb.compile(f)
    own = c.dispatcher.inspect_llvm(c.signature)
    for name in c.program.kernels:
        assert re.search(rf'declare .*@"?flowc\.[\w.]*\.{name}\.\w+"?\(', own)
        assert not re.search(rf"define .*{name}", own)
    shown = c.llvm()
    assert all(re.search(rf"define .*{name}", shown) for name in c.program.kernels)
    _run_checked(c, f, 3, 4)


ELEMENTWISE = """
func @{name}(%x: f32[{dims}], %y: f32[{dims}]) -> (f32[{dims}]) {{
  %0 = mul(%x, %y) : f32[{dims}]
  return %0
}}
"""


def test_elementwise_kernels_run_flat_over_every_shape(cache_dir):
    """Same-shape elementwise ops on contiguous arrays get flat views: one kernel for every shape and rank."""
    kernels, rng = set(), np.random.default_rng(0)
    for k, shape in enumerate([(5,), (3, 4), (2, 3, 4), (6, 1)]):
        f = parse_function(ELEMENTWISE.format(name=f"flat{k}", dims=",".join(map(str, shape))))
        c = nb.compile(f)
        kernels |= set(c.program.kernels)
        x, y = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
        np.testing.assert_array_equal(c(x, y)[0], run(f, x, y)[0])
    assert len(kernels) == 1
    assert "for i0 in range(n0)" in next(iter(c.program.kernels.values()))


def test_strided_operand_keeps_the_nested_kernel(cache_dir):
    f = parse_function("""
func @strided(%x: f32[4,3], %y: f32[3,4]) -> (f32[3,4]) {
  %0 = transpose(%x) {perm = (1, 0)} : f32[3,4]
  %1 = mul(%0, %y) : f32[3,4]
  return %1
}""")
    c = nb.compile(f)
    (text,) = c.program.kernels.values()
    assert "range(n1)" in text and "reshape" not in c.program.source.split("def program")[1]
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(c(x, y)[0], run(f, x, y)[0])


def test_corrupt_kernel_file_is_rewritten(cache_dir):
    f1 = parse_function(ADD_TANH.format(name="kc_a", m=2, n=3))
    c1 = nb.compile(f1)
    name = next(iter(c1.program.kernels))
    path = cache_dir / f"{name}.py"
    path.write_text(path.read_text()[:40])              # truncated, as by a crash mid-write
    f2 = parse_function(ADD_TANH.format(name="kc_b", m=4, n=3))
    c2 = nb.compile(f2)
    _run_checked(c2, f2, 4, 3)
    assert cache.read_source(path) == c2.program.kernels[name]


def test_kernel_caches_are_stamped_with_every_hand_written_file(cache_dir):
    """Numba stamps a disk cache with its own source file only; machine code that inlines helpers from
    other files (image.py's convolutions call blas.gemm; generated kernels call fastmath) must also miss
    the cache when those change: their stamp carries the digest of all the hand-written kernels."""
    from flowc.backends.numba import image, kernels, runtime
    c = nb.compile(parse_function(ADD_TANH.format(name="stamped", m=3, n=4)))
    generated = [cache.kernel(name) for name in c.program.kernels]
    for dispatcher in (image.conv2d_nhwc, kernels.matmul2d, image._patches, *generated):
        locator = dispatcher._cache._impl.locator
        assert isinstance(locator, runtime._StampsHandWritten), dispatcher
        assert locator.get_source_stamp()[1] == runtime.hand_written_digest()
    assert cache.kernels_digest() != runtime.hand_written_digest()       # programs also key on the BLAS provider
