"""The Numba backend keeps freed memory in the process (``backends/numba/malloc.py``)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from flowc.ir.types import FlowcError

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A step with an 8 MB intermediate (a matmul result, its relu computed over it) freed at the end of every
# call, and a 48 MB result (over glibc's 32 MB ceiling for serving blocks from the heap), dropped by the caller.
FAULTS = """
import resource, numpy as np, flowc as fc
f = fc.jit(lambda x, w: fc.nn.relu(x @ w) @ w, backend="numba")
g = fc.jit(lambda v: (v * 2.0 + 1.0) * v, backend="numba")
x = np.ones((2048, 1024), np.float32); w = np.ones((1024, 1024), np.float32) / 1024
v = np.ones(12 << 20, np.float32)
for _ in range(3): f(x, w), g(v)
for call in (lambda: f(x, w), lambda: g(v)):
    m0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5): call()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - m0) / 5)
"""


def _faults_per_call(mode: str) -> list[float]:
    env = {**os.environ, "FLOWC_MALLOC": mode}
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return [float(v) for v in out.stdout.split()[-2:]]


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_repeated_calls_reuse_memory_instead_of_faulting_it_in_again():
    small, large = _faults_per_call("system")
    # glibc's defaults re-map both (measured 998 and 536 faults per call): the measurement sees faults
    assert small > 500 and large > 100, (small, large)
    assert max(_faults_per_call("retain")) < 50


def test_bad_setting_is_a_one_line_error(monkeypatch):
    from flowc.backends.numba import malloc
    monkeypatch.setenv("FLOWC_MALLOC", "jemalloc")
    with pytest.raises(FlowcError, match="FLOWC_MALLOC must be 'retain' or 'system', got 'jemalloc'"):
        malloc.tune()
