"""Explicit-vector loops (``backends/numba/vector.py``) and the vector width Numba compiles for (``target.py``)."""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llvmlite import binding

import flowc as fc
from flowc.backends.numba import VECTORS, target
from flowc.backends.numba.vector import max_skip_nan


@numba.njit
def _row_maxes(x):
    """max_skip_nan of every row of x, each row passed as a contiguous slice of the flat array."""
    flat, n = x.reshape(x.size), x.shape[1]
    out = np.empty(x.shape[0], x.dtype)
    for o in range(x.shape[0]):
        out[o] = max_skip_nan(flat[o * n:(o + 1) * n])
    return out


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 4), n=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2 ** 16))
def test_max_equals_numpy_over_every_length(rows, n, dtype, seed):
    """Whole vectors, the tail after them, and rows shorter than one vector."""
    x = (np.random.default_rng(seed).standard_normal((rows, n)) * 100).astype(dtype)
    assert _row_maxes(x).dtype == dtype
    np.testing.assert_array_equal(_row_maxes(x), x.max(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_special_values(dtype):
    """inf and -inf win and lose as numbers; a nan after the first element never wins; a nan first is the result."""
    n = 37
    rows = np.zeros((5, n), dtype) - 1
    rows[0, 20] = np.inf
    rows[1, :] = -np.inf
    rows[2, 3], rows[2, 33] = np.nan, 5          # in a whole vector and in the tail
    rows[3, 0] = np.nan
    rows[4, 36] = 7                              # the last element of the tail
    np.testing.assert_array_equal(_row_maxes(rows), np.array([np.inf, -np.inf, 5, np.nan, 7], dtype))


def test_max_rejects_strided_rows():
    """Only C-contiguous float rows type (a strided view must not be read as if it were contiguous)."""
    @numba.njit
    def every_other(x):
        return max_skip_nan(x[::2])
    with pytest.raises(numba.core.errors.TypingError):
        every_other(np.ones(8, np.float32))


def test_features_turn_off_the_256_bit_preference_only_with_avx512():
    assert target.features_for("+avx,+avx2,+fma,-avx512f") is None
    assert target.features_for("+avx2,+avx512f,+avx512bw").endswith(",-prefer-256-bit")


def _host_avx512() -> bool:
    return "+avx512f" in binding.get_host_cpu_features().flatten().split(",")


def test_configure_leaves_a_users_numba_target_alone(monkeypatch):
    monkeypatch.setattr(numba.core.config, "CPU_FEATURES", "+avx2")
    assert target.configure() == "user's NUMBA_CPU_FEATURES/NUMBA_CPU_NAME"
    assert numba.core.config.CPU_FEATURES == "+avx2"
    monkeypatch.setenv("FLOWC_PREFER_256_BIT", "1")
    assert target.configure().startswith("llvm default")


def test_fused_loop_uses_the_hosts_full_vector_width(tmp_path, monkeypatch):
    """On an AVX-512 host the W1 chain's loop runs on 512-bit registers (LLVM alone picks 256-bit ones);
    elsewhere it still runs on vectors."""
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))

    @fc.jit(backend="numba", opt_level=2)
    def w1(x):
        return fc.tanh(x * 1.5 + 0.25) * fc.nn.sigmoid(x) + 0.5 * x * x

    asm = w1.lower(np.ones(1000, np.float32)).text("asm")
    if _host_avx512() and VECTORS == "512-bit vectors":
        assert re.search(r"vfmadd\w+\s+%zmm", asm), "no 512-bit multiply-add in the W1 kernel"
    else:
        assert re.search(r"%[xy]mm", asm)
