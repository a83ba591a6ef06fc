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
    if not simulator_requested():
        if not _gpu_present():
            raise CudaUnavailable("backend 'cuda' needs an NVIDIA GPU (none found) or NUMBA_ENABLE_CUDASIM=1 to "
                                  "use the simulator")
        _install_pool()


# --------------------------------------------------------------------------- a caching allocator
# Numba allocates every device array with cuMemAlloc and frees it with cuMemFree, which waits for the
# whole device: a training step that drops fifty intermediates would stall the GPU several times per
# step.  Blocks are kept instead, by size class, and handed out again; one stream (:func:`stream`) runs
# every kernel, so a block reused after its last reader was *launched* is safe in stream order.

_POOL = {"installed": False}


def size_class(nbytes: int) -> int:
    """The block size serving ``nbytes``: 512-byte steps up to 1 MiB, then eighths of a power of two
    (at most 12.5% unused)."""
    if nbytes <= 1 << 20:
        return max(512, -(-nbytes // 512) * 512)
    step = 1 << (nbytes.bit_length() - 4)
    return -(-nbytes // step) * step


def _pool_manager():
    import weakref
    from functools import partial

    from numba.cuda.cudadrv.driver import CudaAPIError, MemoryPointer, NumbaCUDAMemoryManager

    class PooledMemoryManager(NumbaCUDAMemoryManager):
        """Numba's allocator, with freed blocks cached per size class (released on out-of-memory)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.free_blocks: dict[int, list] = {}
            self.private: dict[int, list] | None = None    # set while a CUDA graph is captured

        def memalloc(self, size):
            cls = size_class(size)
            pool = self.private if self.private is not None else self.free_blocks
            stack = pool.setdefault(cls, [])
            if stack:
                block = stack.pop()
            else:
                try:
                    block = super().memalloc(cls)
                except CudaAPIError:          # out of memory: give the cached blocks back, try once more
                    self.release()
                    block = super().memalloc(cls)
            return MemoryPointer(weakref.proxy(self.context), block.device_pointer, size,
                                 finalizer=partial(stack.append, block))

        def release(self):
            """Free every cached block (the driver gets them back once nothing else holds them)."""
            for stack in self.free_blocks.values():
                stack.clear()
            self.deallocations.clear()

        def reset(self):
            self.release()
            super().reset()
    return PooledMemoryManager


def pool_manager():
    """The current context's caching allocator, or None (``FLOWC_CUDA_POOL=0``)."""
    mm = cuda().current_context().memory_manager
    return mm if hasattr(mm, "free_blocks") else None


def _install_pool():
    """Use the caching allocator in the current context and those created later (``FLOWC_CUDA_POOL=0``:
    Numba's own)."""
    if _POOL["installed"] or os.environ.get("FLOWC_CUDA_POOL", "1") == "0":
        return
    _POOL["installed"] = True
    manager = _pool_manager()
    cuda().set_memory_manager(manager)
    # A context the caller made before flowc (cuda.to_device first) keeps the manager it was made with:
    # swap it.  Its earlier allocations stay with the old manager, which their finalizers still reach.
    ctx = cuda().current_context()
    if not hasattr(ctx.memory_manager, "free_blocks"):
        mm = manager(context=ctx)
        mm.initialize()
        ctx.memory_manager = mm


_STREAM: dict = {}


def stream():
    """The stream every kernel of the backend runs on: one per process, created on first use (0, the
    default stream, on the simulator).  It is a blocking stream, so work the caller queues on the
    default stream (numba's, CuPy's and torch's default) is ordered with it both ways; and unlike the
    default stream it can be captured into a CUDA graph."""
    s = _STREAM.get("s")
    if s is None:
        s = _STREAM["s"] = 0 if simulated() else cuda().stream()
    return s


LAUNCHES = [0]     # kernels and cuBLAS calls queued so far (graphs.py decides from the count per call)


def pointer(a) -> int:
    """A device array's data address."""
    return a.device_ctypes_pointer.value or 0


def copy_async(dst, src):
    """dst[...] = src (same size, contiguous) on :func:`stream` by the driver's device-to-device copy."""
    if src.nbytes:
        from numba.cuda.cudadrv.driver import driver
        driver.cuMemcpyDtoDAsync(pointer(dst), pointer(src), src.nbytes, stream().handle)


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
    # Grids are sized from the work, so a small tensor gets a small grid on purpose: Numba's
    # low-occupancy warning would fire on every such launch (it is process-wide; so is this).
    import numba
    numba.config.CUDA_LOW_OCCUPANCY_WARNINGS = 0


def grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    blocks = max(1, min(MAX_BLOCKS, -(-n // THREADS)))
    return blocks, THREADS


def row_grid(rows: int) -> tuple[int, int]:
    """(blocks, BLOCK) for one block per row (grid-stride over rows)."""
    return max(1, min(MAX_BLOCKS * (THREADS // BLOCK if BLOCK <= THREADS else 1), rows)), BLOCK
