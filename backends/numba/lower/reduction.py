"""Reductions as loop nests over the operand accumulating into a keepdims-shaped array.

Float sums, means and products accumulate in float64 (numpy sums float32
pairwise in float32: results agree to float32 rounding, ours being the more
accurate); integer ones in int64 and wrap to the operand's width when stored,
like numpy's.  max/min let nan win; argmax/argmin keep the first extreme.
"""
from __future__ import annotations

import numpy as np

from ..codegen import rules, storage


def _keep_shape(t, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(t.shape))


def _reduce(kind):
    def lower(e, op):
        (v,), t = op.operands, op.operands[0].type
        axes, res = op.attrs["axes"], op.result.type
        x = e.arr(v)
        keep = _keep_shape(t, axes)
        dt = t.dtype
        acc = e.fresh("acc")
        if kind in ("max", "min"):
            if dt.is_float:
                init = "-np.inf" if kind == "max" else "np.inf"
            else:
                info = np.iinfo(dt.np)
                init = str(int(info.min if kind == "max" else info.max))
            e.emit(f"{acc} = np.full({e.shape(keep)}, {init}, {storage(dt)})")
        else:
            acc_dt = "np.float64" if dt.is_float else "np.int64"
            e.emit(f"{acc} = np.{'ones' if kind == 'prod' else 'zeros'}({e.shape(keep)}, {acc_dt})")
        with e.loops(t.shape, parallel=False) as idx:
            at = acc + e.sub(["0" if i in axes else j for i, j in enumerate(idx)])
            val = f"{x}{e.sub(idx)}"
            if kind in ("sum", "mean") and dt.is_float:
                e.emit(f"{at} = {e.helper('add_any_order')}({at}, {val})")
            elif kind in ("sum", "mean"):
                e.emit(f"{at} += {val}")
            elif kind == "prod":
                e.emit(f"{at} *= {val}")
            else:
                cmp = ">" if kind == "max" else "<"
                xv = e.fresh("x")
                e.emit(f"{xv} = {val}")
                e.emit(f"if {xv} {cmp} {at} or {xv} != {xv}:")
                e.emit(f"    {at} = {xv}")
        if kind == "mean":   # np.asarray: dividing a 0-d array gives a scalar in Numba (found by flowc fuzz)
            e.emit(f"{acc} = np.asarray({acc} / ({e.count([t.shape[a] for a in axes])}))")
        out = e.result_var(op.result)
        e.emit(f"{out} = {acc}.astype({storage(res.dtype)}).reshape({e.shape(res.shape)})")
        if kind != "max" and kind != "min":
            e.finish(out, res)
        return out
    return lower


_KINDS = {"sum": 0, "mean": 1, "prod": 2, "max": 3, "min": 4}


def block(e, shape, axes) -> tuple[str, str, str]:
    """(outer, n, inner) size expressions of ``shape`` viewed around the contiguous block ``axes``."""
    lo, hi = min(axes), max(axes) + 1
    return e.count(shape[:lo]), e.count(shape[lo:hi]), e.count(shape[hi:])


def _contiguous_float(op, axes) -> bool:
    axes = sorted(axes)
    return (op.operands[0].type.dtype.is_float and len(axes) > 0
            and axes == list(range(axes[0], axes[0] + len(axes))))


def _through_transpose(op):
    """(source, axes of the source) when the operand is a transpose (a strided view here) that can be
    reduced in the source's memory order instead: the kept axes keep their relative order, so the
    source's reduction, reshaped, is the result.  A bias gradient is such a reduction: the NCHW
    ``sum over (0, 2, 3)`` of an NHWC activation becomes the contiguous ``sum over (0, 1, 2)``, whose
    inner loop runs along C (measured on the MNIST CNN's [64,32,28,28]: 1.3-1.5 ms reading the view
    NCHW-wise).  Only the float summation order changes, which this backend never promises."""
    v, axes = op.operands[0], op.attrs["axes"]
    p = v.producer
    if p is None or p.name != "transpose":
        return None
    perm = p.attrs["perm"]
    kept = [perm[i] for i in range(len(perm)) if i not in axes]
    if kept != sorted(kept):
        return None
    return p.operands[0], tuple(sorted(perm[a] for a in axes))


def _reduce_block(kind):
    """Float reductions over one block of adjacent axes (of the operand, or of the source of a transposed
    operand): a call to ``kernels.reduce_block`` in the program."""
    generated = _reduce(kind)

    def source(op):
        through = _through_transpose(op)              # first: reduce_block copies a strided view
        if through is not None and _contiguous_float(op, through[1]):
            return through
        if _contiguous_float(op, op.attrs["axes"]):
            return op.operands[0], op.attrs["axes"]
        return None

    def lower(e, op):
        found = source(op)
        if found is None:
            return generated(e, op)
        (v, axes), res = found, op.result.type
        outer, n, inner = block(e, v.type.shape, axes)
        name = e.result_var(op.result)
        e.emit(f"{name} = {e.helper('reduce_block')}({e.arr(v)}, {outer}, {n}, {inner}, {_KINDS[kind]})"
               f".reshape({e.shape(res.shape)})")
        if kind not in ("max", "min"):
            e.finish(name, res)
        return name
    lower.in_program = lambda op: source(op) is not None
    lower.reduce_kind = kind          # fusion regions accumulate sum/mean/max/min themselves (region.py)
    return lower


for _kind in _KINDS:
    rules.register(f"reduce_{_kind}")(_reduce_block(_kind))


def _arg(kind):
    def lower(e, op):
        (v,), t = op.operands, op.operands[0].type
        axis, res = op.attrs["axis"], op.result.type
        x = e.arr(v)
        rest = [d for i, d in enumerate(t.shape) if i != axis]
        out = e.fresh("am")
        e.emit(f"{out} = np.empty({e.shape(rest)}, np.int64)")
        cmp = ">" if kind == "max" else "<"
        with e.loops(rest, parallel=False) as idx:
            full = list(idx[:axis]) + ["0"] + list(idx[axis:])
            best, bi, k, xv = e.fresh("best"), e.fresh("bi"), e.fresh("k"), e.fresh("x")
            e.emit(f"{best} = {x}{e.sub(full)}")
            e.emit(f"{bi} = 0")
            full[axis] = k
            with e.block(f"for {k} in range(1, {e.dim(t.shape[axis])}):"):
                e.emit(f"{xv} = {x}{e.sub(full)}")
                e.emit(f"if {xv} {cmp} {best} or ({xv} != {xv} and {best} == {best}):")
                e.emit(f"    {best} = {xv}")
                e.emit(f"    {bi} = {k}")
            e.emit(f"{out}{e.sub(idx)} = {bi}")
        name = e.result_var(op.result)
        e.emit(f"{name} = {out}.reshape({e.shape(res.shape)})")
        return name
    return lower


rules.register("argmax")(_arg("max"))
rules.register("argmin")(_arg("min"))
