"""Gradient rules of shape ops: each is the adjoint data movement."""
from flowc.ir.types import Sym

from .transform import grad_rules, nondifferentiable

nondifferentiable("one_hot")


@grad_rules.register("reshape")
def _reshape(g, op, ct):
    return [g("reshape", ct, shape=op.operands[0].type.shape)]


@grad_rules.register("transpose")
def _transpose(g, op, ct):
    perm = op.attrs["perm"]
    inv = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
    return [g("transpose", ct, perm=inv)]


@grad_rules.register("broadcast_to")
def _broadcast_to(g, op, ct):
    return [g.sum_to(ct, op.operands[0].type)]


@grad_rules.register("expand_dims")
def _expand_dims(g, op, ct):
    return [g("squeeze", ct, axes=op.attrs["axes"])]


@grad_rules.register("squeeze")
def _squeeze(g, op, ct):
    return [g("expand_dims", ct, axes=op.attrs["axes"])]


def _full_slice(shape):
    return [0] * len(shape), list(shape), [1] * len(shape)


@grad_rules.register("concatenate")
def _concatenate(g, op, ct):
    axis, out, offset = op.attrs["axis"], [], 0
    for v in op.operands:
        starts, limits, strides = _full_slice(ct.type.shape)
        n = v.type.shape[axis]
        starts[axis], limits[axis] = offset, offset + n
        out.append(g("slice", ct, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides)))
        offset += n
    return out


@grad_rules.register("pad")
def _pad(g, op, ct):
    x = op.operands[0]
    starts, limits, strides = _full_slice(ct.type.shape)
    for a, ((lo, hi), d) in enumerate(zip(op.attrs["pads"], x.type.shape)):
        if lo or hi:
            starts[a], limits[a] = lo, lo + d
    return [g("slice", ct, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))]


@grad_rules.register("slice")
def _slice(g, op, ct):
    """Scatter the cotangent back: interleave zeros for strides, then pad to the input's extent."""
    x = op.operands[0]
    for a, s in enumerate(op.attrs["strides"]):
        if s > 1:
            n = ct.type.shape[a]
            ct = g("expand_dims", ct, axes=(a + 1,))
            pads = [(0, 0)] * ct.type.ndim
            pads[a + 1] = (0, s - 1)
            ct = g("pad", ct, pads=tuple(pads))
            shape = list(ct.type.shape)
            shape[a:a + 2] = [n * s]
            ct = g("reshape", ct, shape=tuple(shape))
    pads, cut = [], False
    for a, (start, d) in enumerate(zip(op.attrs["starts"], x.type.shape)):
        n = ct.type.shape[a]
        if isinstance(d, Sym):
            pads.append((0, 0))
            continue
        hi = d - start - n
        pads.append((start, max(hi, 0)))
        cut = cut or hi < 0
    ct = g("pad", ct, pads=tuple(pads))
    if cut:  # the stride padding ran past the end: trim
        starts, limits, strides = _full_slice(ct.type.shape)
        limits = list(x.type.shape)
        ct = g("slice", ct, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))
    return [ct]


@grad_rules.register("take")
def _take(g, op, ct):
    x, idx = op.operands
    axis = op.attrs["axis"]
    return [g("scatter_add", idx, ct, axis=axis, size=x.type.shape[axis]), None]


@grad_rules.register("pick")
def _pick(g, op, ct):
    """The cotangent lands where the index picked: one_hot(indices) * ct (an out-of-range index nowhere)."""
    x, idx = op.operands
    hot = g("one_hot", idx, depth=x.type.shape[-1], dtype=x.type.dtype)
    return [g("mul", hot, g("expand_dims", ct, axes=(x.type.ndim - 1,))), None]


@grad_rules.register("scatter_add")
def _scatter_add(g, op, ct):
    idx, _ = op.operands
    return [None, g("take", ct, idx, axis=op.attrs["axis"])]
