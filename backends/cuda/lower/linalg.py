"""matmul: numpy semantics (1-D operands promoted, batch dims broadcast) on cuBLAS or the tiled GEMM.

float32/float64 products go to cuBLAS when CuPy (which locates and loads it) is installed,
on the backend's stream with device pointers passed straight through; otherwise, and for
f16 and integers, to the tiled shared-memory kernel.  ``FLOWC_CUDA_BLAS=0`` forces the kernel.  An operand
whose batch is a single matrix is read with batch stride 0 (no copy); other batch
broadcasts are materialised with one gather first."""
from __future__ import annotations

import ctypes
import functools
import os

import numba
import numpy as np

from flowc.ir.types import FlowcError

from .. import device, kernels
from ..codegen import resolve, rules
from ..program import empty, flat, launch_grid
from .shape import broadcast


def acc_type(dtype):
    return {"f16": numba.float32, "f32": numba.float32, "f64": numba.float64}.get(dtype.name, numba.int64)


@functools.lru_cache(maxsize=None)
def cublas():
    """(libcublas, handle), or None: CuPy not installed, ``FLOWC_CUDA_BLAS=0``, or the simulator.

    CuPy finds and loads cuBLAS and owns the handle; the GEMMs are then called in the library itself
    (ctypes), because CuPy's wrappers refuse to run while a stream is captured into a CUDA graph."""
    if os.environ.get("FLOWC_CUDA_BLAS", "1") == "0" or device.simulated():
        return None
    try:
        import cupy
        handle = cupy.cuda.device.get_cublas_handle()
    except ImportError:
        return None
    lib = _libcublas()
    return None if lib is None else (lib, handle)


def _libcublas():
    """The libcublas that CuPy loaded (found in /proc/self/maps), with argument types declared."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "/libcublas.so" in line})
    except OSError:
        paths = []
    lib = None
    for path in paths + ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]:
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError:
            continue
    if lib is None:
        return None
    p, i, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
    lib.cublasSetStream_v2.argtypes = [p, p]
    lib.cublasSetPointerMode_v2.argtypes = [p, i]
    for name in ("cublasSgemm_v2", "cublasDgemm_v2"):
        getattr(lib, name).argtypes = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
    for name in ("cublasSgemmStridedBatched", "cublasDgemmStridedBatched"):
        getattr(lib, name).argtypes = [p, i, i, i, i, i, p, p, i, ll, p, i, ll, p, p, i, ll, i]
    return lib


ONE = {np.dtype(np.float32): np.ones(1, np.float32), np.dtype(np.float64): np.ones(1, np.float64)}
ZERO = {t: np.zeros(1, t) for t in ONE}


def _check(status: int, what: str):
    if status:
        raise FlowcError(f"cuBLAS {what} failed with status {status}")


def _cublas(out_flat, a, b, batch, m, n, k, a_bs, b_bs):
    """Row-major out = a @ b as column-major out^T = b^T a^T: cuBLAS sees b as its first operand."""
    lib, handle = cublas()
    device.LAUNCHES[0] += 1
    t = np.dtype(out_flat.dtype)
    one, zero = ONE[t].ctypes.data, ZERO[t].ctypes.data
    _check(lib.cublasSetStream_v2(handle, int(device.stream().handle)), "cublasSetStream")
    _check(lib.cublasSetPointerMode_v2(handle, 0), "cublasSetPointerMode")   # alpha, beta in host memory
    pa, pb, pc = device.pointer(a), device.pointer(b), device.pointer(out_flat)
    n_op = 0    # CUBLAS_OP_N
    if batch == 1:
        gemm = lib.cublasSgemm_v2 if t == np.float32 else lib.cublasDgemm_v2
        _check(gemm(handle, n_op, n_op, n, m, k, one, pb, n, pa, k, zero, pc, n), "gemm")
    else:
        gemm = lib.cublasSgemmStridedBatched if t == np.float32 else lib.cublasDgemmStridedBatched
        _check(gemm(handle, n_op, n_op, n, m, k, one, pb, n, b_bs, pa, k, a_bs, zero, pc, n, m * n, batch),
               "strided batched gemm")


def gemm(out_flat, a, b, batch, m, n, k, a_bs, b_bs, dtype):
    """out_flat[batch*m*n] = a @ b with flat row-major operands."""
    if dtype.name in ("f32", "f64") and batch * m * n and cublas() is not None:
        return _cublas(out_flat, a, b, batch, m, n, k, a_bs, b_bs)
    acc = acc_type(dtype)
    tiles = batch * -(-m // device.TILE) * -(-n // device.TILE)
    if tiles:
        blocks = max(1, min(device.MAX_BLOCKS * 16, tiles))
        zero = np.dtype(str(acc)).type(0)
        launch_grid(kernels.matmul(acc), (blocks, (device.TILE, device.TILE)), out_flat, a, b, batch, m, n, k, a_bs,
                    b_bs, zero)


def _batched(x, shape, batch_shape, rows, cols):
    """(flat operand, batch stride) for a [*batch, rows, cols] operand against the output batch."""
    own = tuple(shape[:-2])
    if own == tuple(batch_shape):
        return flat(x), rows * cols
    if int(np.prod(own, dtype=np.int64)) == 1:
        return flat(x), 0
    return flat(broadcast(x.reshape(shape), tuple(batch_shape) + (rows, cols))), rows * cols


@rules.register("matmul")
def _matmul(ctx, op):
    t = op.result.type

    def run(args, env):
        x, y = args
        xs = (1,) + tuple(x.shape) if x.ndim == 1 else tuple(x.shape)
        ys = tuple(y.shape) + (1,) if y.ndim == 1 else tuple(y.shape)
        m, k, n = xs[-2], xs[-1], ys[-1]
        bshape = np.broadcast_shapes(xs[:-2], ys[:-2])
        batch = int(np.prod(bshape, dtype=np.int64))
        a, a_bs = _batched(x, xs, bshape, m, k)
        b, b_bs = _batched(y, ys, bshape, k, n)
        out = empty((batch * m * n,), t.dtype.np)
        if k == 0:
            from ..program import launch
            launch(kernels.fill, out.size, out, out.dtype.type(0))
        else:
            gemm(out, a, b, batch, m, n, k, a_bs, b_bs, t.dtype)
        return out.reshape(resolve(t.shape, env))
    return run
