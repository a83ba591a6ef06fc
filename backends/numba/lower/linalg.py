"""matmul: BLAS gemm on contiguous 2-D float blocks, looping over broadcast batch dims.

The common case, a float matrix times a matrix, is a call in the program itself to
``kernels.matmul2d`` (compiled once per dtype/layout, cached with the package), which
calls numpy's OpenBLAS through ``blas.gemm`` (faster than the BLAS behind Numba's
``np.dot`` here); batched products call ``gemm`` per batch item, into the result.

1-D operands are promoted to a row/column and the result reshaped to the
declared type (numpy.matmul's rules).  Integer matmul has no BLAS: a plain
triple loop in ``kernels``-free generated code, wrapping like numpy.
"""
from __future__ import annotations

from flowc.ir.types import TensorType

from ..codegen import rules, storage
from .epilogue import epilogue_arg, fuse_epilogue


def _plain(op) -> bool:
    x, y = op.operands[:2]
    return x.type.ndim == 2 and y.type.ndim == 2 and x.type.dtype.is_float


@rules.register("matmul")
def _matmul(e, op):
    if _plain(op):
        x = e.arr(op.operands[0])
        name = e.result_var(op.result)
        e.emit(f"{name} = {e.helper('matmul2d')}({x}, {e.arr(op.operands[1])}, {epilogue_arg(e, op, x)})")
        e.finish(name, op.result.type)
        return name
    return _matmul_general(e, op)


_matmul.uses_blas = True       # BLAS threads: see Emitter.want_parallel


_matmul.in_program = _plain
_matmul.fresh = lambda op: True     # a new C array, never a view (buffers.py may write over it)
_matmul.fuse_epilogue = lambda region: fuse_epilogue(region, "matmul", _plain)  # codegen.Emitter.lower_fusion


def _matmul_general(e, op):
    (xv, yv), res = op.operands, op.result.type
    xt, yt = xv.type, yv.type
    x, y = e.arr(xv), e.arr(yv)
    k = xt.shape[-1]
    xs = ((1,) + xt.shape) if xt.ndim == 1 else xt.shape
    ys = (yt.shape + (1,)) if yt.ndim == 1 else yt.shape
    x2, y2 = e.fresh("mx"), e.fresh("my")
    e.emit(f"{x2} = {e.contiguous(x)}.reshape({e.shape(xs)})")
    e.emit(f"{y2} = {e.contiguous(y)}.reshape({e.shape(ys)})")
    m, n = xs[-2], ys[-1]
    batch = _broadcast(xs[:-2], ys[:-2])
    full = batch + (m, n)
    out = e.fresh("mm")
    e.emit(f"{out} = {e.new_array(TensorType(res.dtype, full))}")
    with e.loops(batch, parallel=False) as idx:
        bx = _batch_index(xs[:-2], batch, idx)
        by = _batch_index(ys[:-2], batch, idx)
        a, b = f"{x2}[{', '.join(bx)}]" if bx else x2, f"{y2}[{', '.join(by)}]" if by else y2
        dst = f"{out}[{', '.join(idx)}]" if idx else out
        if xt.dtype.is_float:
            e.emit(f"{e.helper('gemm')}({a}, {b}, {dst})")
        else:
            i, j, kk, s = e.fresh("i"), e.fresh("j"), e.fresh("k"), e.fresh("s")
            with e.block(f"for {i} in range({e.dim(m)}):"):
                with e.block(f"for {j} in range({e.dim(n)}):"):
                    e.emit(f"{s} = 0")
                    with e.block(f"for {kk} in range({e.dim(k)}):"):
                        e.emit(f"{s} += np.int64({a}[{i}, {kk}]) * np.int64({b}[{kk}, {j}])")
                    e.emit(f"{dst}[{i}, {j}] = {storage(res.dtype)}({s})")
    name = e.result_var(op.result)
    e.emit(f"{name} = {out}.reshape({e.shape(res.shape)})")
    e.finish(name, res)
    return name


def _broadcast(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def _batch_index(dims, batch, idx):
    lead = len(batch) - len(dims)
    return ["0" if d == 1 and batch[lead + j] != 1 else idx[lead + j] for j, d in enumerate(dims)]

