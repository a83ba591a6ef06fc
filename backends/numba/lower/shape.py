"""Shape ops.  Views where Numba allows them (transpose, slice), copies into fresh arrays otherwise.

``reshape`` needs a contiguous operand, so it goes through ``Emitter.contiguous``
(a no-op on the C arrays most ops produce).  take/scatter_add apply the IR's index
rule inline: a negative index wraps once, then clamps to ``[0, n-1]``.
"""
from __future__ import annotations

from ..codegen import literal, rules, storage


def _reshape_to(e, op, x):
    name = e.result_var(op.result)
    e.emit(f"{name} = {e.contiguous(x)}.reshape({e.shape(op.result.type.shape)})")
    return name


for _name in ("reshape", "expand_dims", "squeeze"):
    rules.register(_name)(lambda e, op: _reshape_to(e, op, e.arr(op.operands[0])))


@rules.register("transpose")
def _transpose(e, op):
    """A view.  A full reversal (every 2-D transpose) is ``.T``; Numba compiles ``np.transpose`` with
    an axes tuple through a generic permutation routine that took ~5 s per process (measured)."""
    name = e.result_var(op.result)
    perm, x = tuple(op.attrs["perm"]), e.arr(op.operands[0])
    if perm == tuple(range(len(perm))):
        e.emit(f"{name} = {x}")
        if x not in e.strided:
            return name
    elif perm == tuple(reversed(range(len(perm)))):
        e.emit(f"{name} = {x}.T")
    else:
        e.emit(f"{name} = {e.helper('permute')}({x}, {e.shape(perm)})")
        if len(perm) == 4:
            e.permuted[name] = (x, perm)
    e.strided.add(name)
    return name


@rules.register("broadcast_to")
def _broadcast_to(e, op):
    (v,), t = op.operands, op.result.type
    out = e.alloc(op.result)
    if e.scalar(v) is None:
        e.check_bcast(v, e.arr(v), t.shape)
    with e.loops(t.shape) as idx:
        e.emit(f"{out}{e.sub(idx)} = {e.load(v, t.shape, idx)}")
    return out


# Inside a fused loop nest a broadcast is free: the operand is read at the broadcast index.
_broadcast_to.scalar = lambda e, op, xs: xs[0]


def _slices(parts):
    return "[" + ", ".join(parts) + "]" if parts else "[()]"


@rules.register("concatenate")
def _concatenate(e, op):
    axis, t = op.attrs["axis"], op.result.type
    out = e.alloc(op.result)
    start = 0
    for v in op.operands:
        size = v.type.shape[axis]
        if len(op.operands) == 1:
            sl = ":"
        else:
            sl = f"{start}:{start + size}"
            start += size
        parts = [sl if i == axis else ":" for i in range(t.ndim)]
        e.emit(f"{out}{_slices(parts)} = {e.arr(v)}")
    return out


@rules.register("pad")
def _pad(e, op):
    (v,), t = op.operands, op.result.type
    pads = op.attrs["pads"]
    out = e.result_var(op.result)
    e.emit(f"{out} = np.full({e.shape(t.shape)}, {literal(op.attrs['value'], t.dtype)}, {storage(t.dtype)})")
    parts = [f"{lo}:{lo} + {e.dim(d)}" if (lo or hi) else ":" for (lo, hi), d in zip(pads, v.type.shape)]
    e.emit(f"{out}{_slices(parts)} = {e.arr(v)}")
    return out


@rules.register("slice")
def _slice(e, op):
    (v,) = op.operands
    a = op.attrs
    parts = []
    for d, s, lim, st in zip(v.type.shape, a["starts"], a["limits"], a["strides"]):
        full = s == 0 and lim == d and st == 1
        parts.append(":" if full else f"{s}:{lim}" + (f":{st}" if st != 1 else ""))
    name = e.result_var(op.result)
    e.emit(f"{name} = {e.arr(v)}{_slices(parts)}" if any(p != ":" for p in parts) else f"{name} = {e.arr(v)}")
    e.strided.add(name)
    return name


# Results that may share their operand's memory (a reshape copies only a non-contiguous operand): a buffer
# lives as long as its views are read (buffers.py).
for _name in ("reshape", "expand_dims", "squeeze", "transpose", "slice"):
    rules[_name].view = True


def _fix(e, j, n):
    """Emit the take/scatter_add index rule on variable ``j`` against size ``n``."""
    e.emit(f"if {j} < 0:")
    e.emit(f"    {j} += {n}")
    e.emit(f"{j} = min(max({j}, 0), {n} - 1)")


@rules.register("take")
def _take(e, op):
    (xv, iv), t = op.operands, op.result.type
    axis, ni = op.attrs["axis"], iv.type.ndim
    x = e.arr(xv)
    out = e.alloc(op.result)
    n = e.dim(xv.type.shape[axis])
    with e.loops(t.shape) as idx:
        j = e.fresh("j")
        e.emit(f"{j} = np.int64({e.at(iv, idx[axis:axis + ni])})")
        _fix(e, j, n)
        src = list(idx[:axis]) + [j] + list(idx[axis + ni:])
        e.emit(f"{out}{e.sub(idx)} = {x}{e.sub(src)}")
    return out


@rules.register("pick")
def _pick(e, op):
    (xv, iv), t = op.operands, op.result.type
    x = e.arr(xv)
    out = e.alloc(op.result)
    n = e.dim(xv.type.shape[-1])
    with e.loops(t.shape) as idx:
        j = e.fresh("j")
        e.emit(f"{j} = np.int64({e.at(iv, idx)})")
        picked = f"{x}{e.sub(list(idx) + [j])} if 0 <= {j} < {n} else 0"
        e.emit(f"{out}{e.sub(idx)} = {e.typed(picked, t.dtype)}")
    return out


@rules.register("one_hot")
def _one_hot(e, op):
    (iv,), t = op.operands, op.result.type
    out = e.alloc(op.result)
    with e.loops(t.shape) as idx:
        hit = f"{e.at(iv, idx[:-1])} == {idx[-1]}"
        e.emit(f"{out}{e.sub(idx)} = {e.typed(hit if t.dtype.is_bool else f'(1 if {hit} else 0)', t.dtype)}")
    return out


@rules.register("scatter_add")
def _scatter_add(e, op):
    (iv, uv), t = op.operands, op.result.type
    axis, ni = op.attrs["axis"], iv.type.ndim
    u = e.arr(uv)
    acc = "np.float64" if t.dtype.is_float else "np.int64"
    buf = e.fresh("sc")
    e.emit(f"{buf} = np.zeros({e.shape(t.shape)}, {acc})")
    n = e.dim(op.attrs["size"])
    with e.loops(uv.type.shape, parallel=False) as idx:
        j = e.fresh("j")
        e.emit(f"{j} = np.int64({e.at(iv, idx[axis:axis + ni])})")
        _fix(e, j, n)
        dst = list(idx[:axis]) + [j] + list(idx[axis + ni:])
        e.emit(f"{buf}{e.sub(dst)} += {u}{e.sub(idx)}")
    name = e.result_var(op.result)
    e.emit(f"{name} = {buf}.astype({storage(t.dtype)})")
    e.finish(name, t)
    return name
