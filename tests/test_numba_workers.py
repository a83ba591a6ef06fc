"""Kernels compiled by forked workers (backends/numba/workers.py): same results, the parent loads what a worker
compiled, and a worker that fails, dies or hangs costs time, never a wrong answer or a lost error."""
from __future__ import annotations

import os
import sys
import time
import types

import numpy as np
import pytest

import flowc as fc
from flowc.backends import numba as nb
from flowc.backends.numba import cache, link, workers
from flowc.backends.numba.lower.elementwise import elementwise
from flowc.ir.types import FlowcError

# Matmuls between the elementwise chains keep them apart: each chain is a kernel (deferred).  The scalar
# constant is part of every kernel's text, so each test's kernels are new to this process (kernels with the
# same text are shared by every program: one compiled by an earlier test would never be deferred).
def _chains(k: float):
    def f(x, w):
        h = fc.tanh(x * k) @ w
        h = fc.nn.sigmoid(h - k) @ w
        h = fc.exp(h + k) @ w
        return -h * k
    return f


@pytest.fixture
def cold(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(workers.JOBS_ENV, "2")
    return tmp_path / "numba"


def _args():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6)).astype(np.float32), (rng.normal(size=(6, 6)) / 3).astype(np.float32)


def _compile_checked(k: float):
    args = _args()
    c = fc.jit(_chains(k), backend="numba", opt_level=2).lower(*args).compile()
    want = fc.jit(_chains(k), backend="reference", opt_level=2)(*args)
    np.testing.assert_allclose(c(*args)[0], want, rtol=1e-5, atol=1e-6)
    assert len(c.program.kernels) >= 4 and all(f"{k!r}" in src for src in c.program.kernels.values())
    return c


def _loaded_from_disk(c) -> list[str]:
    """The kernels whose machine code this process loaded from the disk cache rather than compiled."""
    return [k for k in c.program.kernels if sum(cache.kernel(k).stats.cache_hits.values())]


def test_workers_compile_kernels_the_parent_loads(cold):
    c = _compile_checked(1.0625)
    assert _loaded_from_disk(c), "no kernel came from a worker"
    with pytest.raises(ChildProcessError):      # every worker reaped
        os.waitpid(-1, os.WNOHANG)


def test_one_job_compiles_everything_in_process(cold, monkeypatch):
    monkeypatch.setenv(workers.JOBS_ENV, "1")
    c = _compile_checked(1.125)
    assert _loaded_from_disk(c) == []


def test_no_fork_where_a_threaded_runtime_is_loaded(cold, monkeypatch):
    """With JAX in the process (its threads' locks would be copied mid-use) the parent compiles everything."""
    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked with JAX loaded"))
    c = _compile_checked(1.15625)
    assert _loaded_from_disk(c) == []


def test_a_worker_that_dies_leaves_its_kernels_to_the_parent(cold, monkeypatch):
    monkeypatch.setattr(workers, "_serve", lambda fd, claims: os._exit(3))
    c = _compile_checked(1.1875)
    assert _loaded_from_disk(c) == []


def test_a_hung_worker_is_killed_and_its_claim_compiled_here(cold, monkeypatch):
    def hang(fd, claims):
        workers._claim(claims, 0)       # claims the first kernel, then never compiles it
        time.sleep(600)
    monkeypatch.setattr(workers, "_serve", hang)
    monkeypatch.setattr(workers, "WAIT_S", 0.5)
    t0 = time.monotonic()
    c = _compile_checked(1.25)
    assert time.monotonic() - t0 < 120 and _loaded_from_disk(c) == []
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_a_deferred_kernel_that_fails_is_reported_naming_its_ops(cold, monkeypatch):
    monkeypatch.setitem(nb.rules.table, "neg", elementwise(lambda e, op, xs: f"undefined_helper({xs[0]})"))
    with pytest.raises(nb.NumbaBackendBug, match="could not compile the kernel") as info:
        fc.jit(_chains(1.3125), backend="numba", opt_level=2).lower(*_args()).compile()
    assert "lowering `%" in str(info.value) and "undefined_helper" in str(info.value)
    assert not workers.deferring() and link.take_failure() is None


def test_compile_jobs_must_be_a_positive_integer(cold, monkeypatch):
    monkeypatch.setenv(workers.JOBS_ENV, "zero")
    with pytest.raises(FlowcError, match="FLOWC_COMPILE_JOBS must be a positive integer, got 'zero'"):
        fc.jit(_chains(1.375), backend="numba", opt_level=2).lower(*_args()).compile()


def test_a_deferred_kernel_must_compile_to_the_abi_it_was_called_with(cold):
    """The program calls a deferred kernel as returning nothing: one that returns a value is an error at
    the drain, before any code calling it is linked."""
    import numba
    from numba.core import types

    @numba.njit(cache=False)
    def returns_a_value(a):
        return a[0]
    call = link.linked(returns_a_value, returns=())
    name = f"{returns_a_value.py_func.__module__}.{returns_a_value.py_func.__qualname__}"
    sig = (types.Array(types.float32, 1, "C"),)
    with workers.session():
        workers.defer(name, sig, types.none)
        with pytest.raises(TypeError, match="-> none"):
            workers.drain()
    assert call.dispatcher is returns_a_value


@pytest.mark.parametrize("returns", [(), (("float32", 0),), (("float32", 1),), (("float32", 2), ("float32", 2)),
                                     (("float32", 0), ("float64", 1), ("bool", 2))])
def test_declared_return_types_are_what_numba_infers(returns):
    """``linked(..., returns=...)`` types a deferred call without compiling the kernel: the type must be
    exactly the one Numba infers for a kernel returning those freshly allocated arrays."""
    import numba
    shapes = {0: "()", 1: "(3,)", 2: "(2, 3)"}
    allocs = [f"np.empty({shapes[nd]}, np.{dt})" for dt, nd in returns]
    body = "return " + ", ".join(allocs) if allocs else "return None"
    scope = {"np": np}
    exec(f"def kernel(x):\n    {body}\n", scope)
    d = numba.njit(scope["kernel"])
    d(np.zeros(1))
    assert d.nopython_signatures[0].return_type == link._return_type(returns)
