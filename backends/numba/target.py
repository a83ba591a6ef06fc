"""The machine Numba compiles for: full-width AVX-512 vectors where the host has them.

Why: LLVM tunes Skylake-X and later Xeons (up to Emerald Rapids) to *prefer* 256-bit vectors
(the ``prefer-256-bit`` tuning), so on a host with AVX-512 the loop vectorizer still emits ymm
code and every generated kernel runs at half the width the machine has.  Measured on an Emerald
Rapids host (2 cores): W1's fused tanh/sigmoid chain over 2**24 float32 took 9.9-10.3 ms with
ymm code and 7.4-7.9 ms with zmm code.  The hand-written microkernels are unaffected (they
emit 16-lane vectors themselves).

The tuning is switched off through Numba's ``CPU_FEATURES`` (the host's features plus
``-prefer-256-bit``).  It applies process-wide from Numba's first compilation on, so it is
set when the backend is imported; nothing changes when the user set ``NUMBA_CPU_FEATURES`` or
``NUMBA_CPU_NAME`` themselves, or when Numba's CPU target was already initialised by then
(code compiled before flowc was imported: its machine is fixed).  ``FLOWC_PREFER_256_BIT=1``
keeps LLVM's default.
"""
from __future__ import annotations

import os

from llvmlite import binding
from numba.core import config, registry

NO_PREFER_256 = "-prefer-256-bit"


def features_for(host_features: str) -> str | None:
    """The feature string to compile with, or None to keep Numba's default (no AVX-512)."""
    if "+avx512f" not in host_features.split(","):
        return None
    return f"{host_features},{NO_PREFER_256}"


def _target_initialised() -> bool:
    return "_toplevel_target_context" in vars(registry.cpu_target)     # Numba's lazily built CPU context


def configure() -> str:
    """Set Numba's target features for this process; returns what was decided (for ``flowc info`` and tests)."""
    if os.environ.get("FLOWC_PREFER_256_BIT") == "1":
        return "llvm default (FLOWC_PREFER_256_BIT=1)"
    if config.CPU_FEATURES is not None or config.CPU_NAME is not None:
        return "user's NUMBA_CPU_FEATURES/NUMBA_CPU_NAME"
    if _target_initialised():
        return "llvm default (Numba compiled before flowc was imported)"
    binding.initialize_native_target()
    features = features_for(binding.get_host_cpu_features().flatten())
    if features is None:
        return "llvm default (no AVX-512)"
    config.CPU_FEATURES = features
    return "512-bit vectors"
