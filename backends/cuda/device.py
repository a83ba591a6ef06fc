"""Finding a CUDA device (or the simulator) and choosing launch configurations.

``numba.cuda`` is imported only here and only after :func:`check_available`
passed, so importing the backend never needs numba-cuda or a GPU.  The
simulator (``NUMBA_ENABLE_CUDASIM=1``) runs every CUDA thread as a Python
thread, so launches there use tiny blocks and few of them: every kernel loops
grid-stride, so any grid size is correct and only speed changes.
"""
from __future__ import annotations

import importlib.util
import os

from flowc.ir.types import FlowcError


class CudaUnavailable(FlowcError):
    """The cuda backend cannot run here (no numba-cuda, or no GPU and no simulator)."""


def simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")


def _numba_cuda_installed() -> bool:
    try:
        return importlib.util.find_spec("numba.cuda") is not None
    except (ImportError, ValueError):
        return False


def _gpu_present() -> bool:
    from numba import cuda
    try:
        return bool(cuda.is_available())
    except Exception:       # a broken driver install reads as "no GPU"
        return False


def check_available():
    """Raise a one-line :class:`CudaUnavailable` unless kernels can run (a GPU or the simulator)."""
    if not _numba_cuda_installed():
        raise CudaUnavailable("backend 'cuda' needs numba-cuda, which is not installed: pip install -e '.[cuda]'")
    if not simulator_requested() and not _gpu_present():
        raise CudaUnavailable("backend 'cuda' needs an NVIDIA GPU (none found) or NUMBA_ENABLE_CUDASIM=1 to use "
                              "the simulator")


def cuda():
    """The ``numba.cuda`` module (after :func:`check_available`)."""
    from numba import cuda as _cuda
    return _cuda


def simulated() -> bool:
    import numba
    return bool(numba.config.ENABLE_CUDASIM)


# Threads per block and the most blocks one grid-stride launch uses.  Reductions and the
# GEMM tile need their block shapes at compile time (shared-memory arrays): BLOCK and TILE.
def _config():
    if simulated():
        return 8, 2, 8, 4
    return 256, 4096, 256, 16


THREADS, MAX_BLOCKS, BLOCK, TILE = (None,) * 4


def configure():
    global THREADS, MAX_BLOCKS, BLOCK, TILE
    THREADS, MAX_BLOCKS, BLOCK, TILE = _config()


def grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    blocks = max(1, min(MAX_BLOCKS, -(-n // THREADS)))
    return blocks, THREADS


def row_grid(rows: int) -> tuple[int, int]:
    """(blocks, BLOCK) for one block per row (grid-stride over rows)."""
    return max(1, min(MAX_BLOCKS * (THREADS // BLOCK if BLOCK <= THREADS else 1), rows)), BLOCK
