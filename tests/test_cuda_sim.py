"""The cuda backend against the reference interpreter, on Numba's CUDA simulator (or a GPU).

``NUMBA_ENABLE_CUDASIM`` must be set before ``numba.cuda`` is first imported, and the
simulator replaces that module for the whole process, so these tests never run in the
main pytest process: there, one test re-runs THIS file in a subprocess with the
simulator switched on (``FLOWC_CUDA_SIM=0`` runs it on a real GPU instead) and checks
that every inner test passed.  The simulator runs each CUDA thread as a Python thread:
sizes stay tiny and launches small (see ``backends/cuda/device.py``).

Tolerances: exact for ints, bools, shape ops, random bits/split/bernoulli/uniform;
rtol 1e-4/atol 1e-5 for float32/64 (math library and accumulation order); 1e-2 for f16.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

INNER = os.environ.get("FLOWC_CUDA_INNER") == "1"
CORPUS = Path(__file__).parent / "fir" / "roundtrip"
SKIP_FUNCS = {"casts_and_constants"}       # binds a symbol no input has: an error on every backend


if not INNER:
    def test_cuda_suite_passes_in_a_subprocess():
        env = dict(os.environ, FLOWC_CUDA_INNER="1")
        if os.environ.get("FLOWC_CUDA_SIM", "1") != "0":
            env["NUMBA_ENABLE_CUDASIM"] = "1"
        r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W",
                            "ignore::RuntimeWarning", __file__], env=env, capture_output=True, text=True,
                           cwd=Path(__file__).parent.parent, timeout=600)
        tail = (r.stdout + r.stderr)[-4000:]
        assert r.returncode == 0, tail
        summary = tail.strip().splitlines()[-1]
        assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
        print(summary)


def _functions():
    from flowc.ir.parser import parse_module
    out = []
    for path in sorted(CORPUS.glob("*.fir")):
        for f in parse_module(path.read_text(), str(path)):
            if f.name not in SKIP_FUNCS:
                out.append(pytest.param(f, id=f"{path.stem}-{f.name}"))
    return out


def _inputs(f, seed, size):
    from flowc.ir.types import Sym
    rng = np.random.default_rng(seed)
    args = []
    for p in f.params:
        shape = tuple(size if isinstance(d, Sym) else d for d in p.type.shape)
        dt = p.type.dtype
        if dt.is_bool:
            a = rng.random(shape) < 0.5
        elif dt.is_float:
            a = rng.uniform(-2, 2, shape)
        else:
            a = rng.integers(0, 11 if dt.name == "u32" else 6, shape)
        args.append(np.asarray(a).astype(dt.np))
    return args


def _close(got, ref):
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert isinstance(g, np.ndarray) and g.shape == r.shape and g.dtype == r.dtype
        if r.dtype.kind == "f":
            tol = 1e-2 if r.dtype == np.float16 else None
            np.testing.assert_allclose(g, r, rtol=tol or 1e-4, atol=tol or 1e-5, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, r)


if INNER:
    from flowc.backends import cuda as cb
    from flowc.backends.reference import RuntimeInputError, run

    @pytest.mark.parametrize("f", _functions())
    def test_op_corpus_matches_reference(f):
        """Every op family (the .fir corpus), at two batch sizes through ONE compiled program."""
        exe = cb.compile(f)
        for seed, size in ((0, 2), (1, 3)):
            args = _inputs(f, seed, size)
            _close(exe(*args), run(f, *args))

    def _w1(x):
        import flowc as fc
        return fc.tanh(x * 1.5 + 0.25) * fc.nn.sigmoid(x) + 0.5 * x * x

    def test_fused_elementwise_chain_is_one_generated_kernel():
        import flowc as fc
        f = fc.jit(_w1, backend="cuda", opt_level=2)
        x = np.linspace(-3, 3, 37, dtype=np.float32)
        want = np.tanh(x * np.float32(1.5) + np.float32(0.25)) / (1 + np.exp(-x)) + np.float32(0.5) * x * x
        np.testing.assert_allclose(f(x), want, rtol=1e-5, atol=1e-6)
        src = f.lower(x).text("source")
        assert src.count("@cuda.jit") == 1 and "math.tanh" in src and "f32_sigmoid" in src
        assert "while flat + 3 * g < n:" in src and "while flat < n:" in src

    def test_repeated_calls_replay_a_cuda_graph_with_fresh_inputs_and_outputs():
        """Call 1 runs step by step, call 2 captures a CUDA graph and replays it, call 3 replays it (on a
        GPU; the simulator runs every call step by step): each on new inputs, each result fresh."""
        import flowc as fc
        from flowc.backends.cuda import device

        def layer(x, w, b):
            h = fc.nn.relu(fc.matmul(x, w) + b)
            g = fc.matmul(h, w.T)
            return fc.nn.softmax(h, axis=1), fc.sum(h, axis=0), fc.max(g, axis=1)
        rng = np.random.default_rng(5)
        f = fc.jit(layer, backend="cuda", opt_level=2)
        ref = fc.jit(layer, opt_level=0)
        seen = []
        for _ in range(3):
            args = [rng.standard_normal(s).astype(np.float32) for s in ((6, 5), (5, 7), (7,))]
            before = device.LAUNCHES[0]
            got = f(*args)
            if not seen:
                assert device.LAUNCHES[0] - before >= 4     # enough launches for graphs.worth_it
            _close(list(got), list(ref(*args)))
            seen.append(got)
        assert seen[1][0] is not seen[2][0] and not np.array_equal(seen[1][0], seen[2][0])
        (exe,) = [e for _, e in f._cache.values()]
        made = [g for g in exe._graphs.values() if g]
        assert exe.graph_failure is None
        assert len(made) == (0 if device.simulated() else 1)

    def test_unrolled_loop_with_broadcasts_and_two_outputs_covers_every_element():
        """Enough elements for the unrolled trips and a ragged tail (the simulator runs 16 threads)."""
        import flowc as fc

        def f(x, b, s):
            y = fc.nn.relu(x * s + b)
            return y, fc.exp(-y) + fc.floor(x)
        rng = np.random.default_rng(3)
        x = rng.uniform(-3, 3, (13, 17)).astype(np.float32)
        b = rng.uniform(-1, 1, 17).astype(np.float32)
        s = np.float32(1.5)
        got = fc.jit(f, backend="cuda", opt_level=2)(x, b, s)
        _close(list(got), list(fc.jit(f, opt_level=0)(x, b, s)))

    def test_reduce_and_epilogue_regions_keep_values_on_device():
        import flowc as fc

        def layer(x, w, b):
            h = fc.maximum(fc.matmul(x, w) + b, 0.0)
            return fc.sum(h * h, axis=1), h
        rng = np.random.default_rng(0)
        x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((5, 6), (6, 7), (7,)))
        got = fc.jit(layer, backend="cuda", opt_level=2)(x, w, b)
        ref = fc.jit(layer, opt_level=0)(x, w, b)
        _close(list(got), list(ref))

    def test_device_inputs_are_used_in_place_and_outputs_can_stay_on_device():
        import flowc as fc
        from numba import cuda
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        exe = fc.jit(lambda a: (a * 2.0, fc.sum(a, axis=0)), backend="cuda").lower(x).compile()
        dx = cuda.to_device(x)
        outs = exe(dx, device_outputs=True)
        assert all(hasattr(o, "copy_to_host") and not isinstance(o, np.ndarray) for o in outs)
        np.testing.assert_array_equal(outs[0].copy_to_host(), x * 2)
        np.testing.assert_array_equal(outs[1].copy_to_host(), x.sum(0))
        host = exe(x)
        assert isinstance(host[0], np.ndarray)
        same = exe(dx, device_outputs=True)
        assert same[0] is not outs[0]

    def test_identity_outputs_do_not_alias_inputs_and_bad_inputs_are_reported():
        from numba import cuda
        from flowc.ir.parser import parse_module
        (f,) = parse_module("func @id(%x: f32[N]) -> (f32[N]) {\n  return %x\n}\n")
        exe = cb.compile(f)
        dx = cuda.to_device(np.ones(3, np.float32))
        (out,) = exe(dx, device_outputs=True)
        assert out is not dx
        with pytest.raises(RuntimeInputError, match="expected dtype float32"):
            exe(np.ones(3, np.float64))
        with pytest.raises(RuntimeInputError, match="numpy array or a CUDA array"):
            exe([1.0, 2.0])

    def test_random_bits_are_bit_identical_to_the_reference():
        from flowc.backends.reference.threefry import random_bits, split
        from flowc.ir.parser import parse_module
        (f,) = parse_module("func @r(%k: u32[2]) -> (u32[2,7], u32[3,2]) {\n"
                            "  %0 = random_bits(%k) {shape = (2, 7)} : u32[2,7]\n"
                            "  %1 = random_split(%k) {n = 3} : u32[3,2]\n  return %0, %1\n}\n")
        key = np.array([42, 7], np.uint32)
        bits, keys = cb.compile(f)(key)
        np.testing.assert_array_equal(bits, random_bits(key, (2, 7)))
        np.testing.assert_array_equal(keys, split(key, 3))

    def test_mnist_softmax_regression_step_matches_reference():
        """One SGD step of softmax regression (small: 8 samples, 20 features, 10 classes)."""
        import flowc as fc

        def loss(w, b, x, y):
            return fc.nn.softmax_cross_entropy(fc.matmul(x, w) + b, y)

        def step(w, b, x, y):
            value, (gw, gb) = fc.value_and_grad(loss, argnums=(0, 1))(w, b, x, y)
            return w - 0.5 * gw, b - 0.5 * gb, value
        rng = np.random.default_rng(0)
        w = (rng.standard_normal((20, 10)) * 0.1).astype(np.float32)
        b = np.zeros(10, np.float32)
        x = rng.random((8, 20), dtype=np.float32)
        y = rng.integers(0, 10, 8)
        cstep = fc.jit(step, backend="cuda", opt_level=2)
        rstep = fc.jit(step)
        got, ref = cstep(w, b, x, y), rstep(w, b, x, y)
        _close(list(got), list(ref))
        w2, b2, first = got
        w3, b3, second = cstep(w2, b2, x, y)
        assert float(second) < float(first) and cstep.trace_count == 1


    GRADS_MORE = """\
func @grads_more(%x: f32[B,7,6,4], %w: f32[2,2,2,4], %xc: f32[B,3,5,5], %wc: f32[2,3,3,2]) -> (f32[B,7,6,4], f32[2,2,2,4], f32[B,3,5,5], f32[2,3,3,2], f32[B,3,5,5], f32[B,3,5,5], f32[B,7,6,4]) {
  %0 = conv2d(%x, %w) {dilation = (2, 1), groups = 2, layout = "NHWC", padding = ((1, 1), (0, 1)), strides = (1, 2)} : f32[B,7,3,4]
  %1 = conv2d_input_grad(%0, %w) {dilation = (2, 1), groups = 2, input_hw = (7, 6), layout = "NHWC", padding = ((1, 1), (0, 1)), strides = (1, 2)} : f32[B,7,6,4]
  %2 = conv2d_filter_grad(%x, %0) {dilation = (2, 1), filter_hw = (2, 2), groups = 2, layout = "NHWC", padding = ((1, 1), (0, 1)), strides = (1, 2)} : f32[2,2,2,4]
  %3 = conv2d(%xc, %wc) {dilation = (1, 2), groups = 1, layout = "NCHW", padding = ((1, 1), (2, 1)), strides = (2, 1)} : f32[B,2,3,6]
  %4 = conv2d_input_grad(%3, %wc) {dilation = (1, 2), groups = 1, input_hw = (5, 5), layout = "NCHW", padding = ((1, 1), (2, 1)), strides = (2, 1)} : f32[B,3,5,5]
  %5 = conv2d_filter_grad(%xc, %3) {dilation = (1, 2), filter_hw = (3, 2), groups = 1, layout = "NCHW", padding = ((1, 1), (2, 1)), strides = (2, 1)} : f32[2,3,3,2]
  %6 = floor(%xc) : f32[B,3,5,5]
  %7 = max_pool2d(%6) {layout = "NCHW", padding = ((0, 1), (1, 0)), strides = (1, 2), window = (2, 3)} : f32[B,3,5,2]
  %8 = max_pool2d_grad(%6, %7) {layout = "NCHW", padding = ((0, 1), (1, 0)), strides = (1, 2), window = (2, 3)} : f32[B,3,5,5]
  %9 = avg_pool2d_grad(%7) {count_include_pad = false, input_hw = (5, 5), layout = "NCHW", padding = ((0, 1), (1, 0)), strides = (1, 2), window = (2, 3)} : f32[B,3,5,5]
  %10 = local_response_norm_grad(%x, %1) {alpha = 0.5, beta = 0.75, k = 1.0, layout = "NHWC", size = 5} : f32[B,7,6,4]
  return %1, %2, %4, %5, %8, %9, %10
}
"""

    def test_conv_pool_lrn_grads_in_both_layouts_with_dilation_ties_and_padding():
        """Beyond the corpus: NHWC grouped dilated conv grads, NCHW ungrouped ones, max-pool grad on floored
        inputs (many ties: the first row-major maximum wins), avg-pool grad without padded counts, NHWC LRN."""
        from flowc.ir.parser import parse_module
        (f,) = parse_module(GRADS_MORE)
        args = _inputs(f, 2, 1)
        got, ref = cb.compile(f)(*args), run(f, *args)
        _close(got, ref)
        assert np.count_nonzero(ref[4]) < ref[4].size // 2      # max-pool grad: ties resolved to one cell

    def _cnn_loss(params, x, y):
        import flowc as fc
        w, b, wd, bd = params
        h = fc.nn.relu(fc.nn.conv2d(x, w, padding="SAME") + b)
        h = fc.nn.max_pool2d(h, 2)
        logits = fc.matmul(fc.reshape(h, (x.shape[0], -1)), wd) + bd
        return fc.nn.softmax_cross_entropy(logits, y)

    def _cnn_step(params, x, y):
        import flowc as fc
        value, grads = fc.value_and_grad(_cnn_loss)(params, x, y)
        return [p - 0.1 * g for p, g in zip(params, grads)], value

    def test_tiny_cnn_training_step_matches_reference():
        """conv-relu-maxpool-dense, value_and_grad + SGD, batch 2 of 1x8x8 images: the step's new parameters
        and loss agree with the reference backend (the backward ops run as cuda kernels)."""
        import flowc as fc
        rng = np.random.default_rng(0)
        params = [(rng.standard_normal((3, 1, 3, 3)) * 0.3).astype(np.float32), np.zeros((3, 1, 1), np.float32),
                  (rng.standard_normal((48, 4)) * 0.1).astype(np.float32), np.zeros(4, np.float32)]
        x = rng.random((2, 1, 8, 8), dtype=np.float32)
        y = np.array([1, 3])
        cstep = fc.jit(_cnn_step, backend="cuda", opt_level=2)
        (got, gv), (ref, rv) = cstep(params, x, y), fc.jit(_cnn_step)(params, x, y)
        _close([*got, gv], [*ref, rv])
        ops = {op.name for op in cstep.lower(params, x, y).final.walk()}
        assert {"conv2d_filter_grad", "max_pool2d_grad"} <= ops and cstep.trace_count == 1
        assert not np.allclose(got[0], params[0])

    def test_jit_takes_device_arrays_and_can_keep_outputs_on_device():
        import flowc as fc
        from numba import cuda

        def f(a, b):
            return a * b + 1.0, fc.sum(a, axis=0)
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        dx, dy = cuda.to_device(x), cuda.to_device(x + 1)
        host = fc.jit(f, backend="cuda")(dx, dy)
        assert all(isinstance(o, np.ndarray) for o in host)
        np.testing.assert_array_equal(host[0], x * (x + 1) + 1)
        keep = fc.jit(f, backend="cuda", device_outputs=True)
        outs = keep(dx, x + 1)                       # device and host inputs mix; one trace serves both
        assert all(hasattr(o, "copy_to_host") and not isinstance(o, np.ndarray) for o in outs)
        np.testing.assert_array_equal(outs[0].copy_to_host(), host[0])
        np.testing.assert_array_equal(outs[1].copy_to_host(), x.sum(0))
        again = keep(outs[0], dy)                    # an output feeds the next call without leaving the device
        np.testing.assert_array_equal(again[0].copy_to_host(), host[0] * (x + 1) + 1)
        assert keep.trace_count == 1 and np.array_equal(dx.copy_to_host(), x)

    def test_region_results_smaller_than_the_loop_are_written_for_an_empty_batch():
        """A [1,5] or 0-d result of a [B,5] run gets its own kernel over its own shape (B = 0 left it unset)."""
        from flowc.backends import get_backend
        from flowc.backends.reference import run
        from flowc.ir.parser import parse_module
        f = parse_module((CORPUS / "region.fir").read_text())["small_results"]
        c = get_backend("cuda").compile(f)
        w = np.arange(5, dtype=np.float32).reshape(1, 5)
        for batch in (0, 3):
            x = np.ones((batch, 5), np.float32)
            for got, want in zip(c(x, w), run(f, x, w)):
                np.testing.assert_array_equal(np.asarray(got), want)
