"""Layout assignment: run conv/pool/LRN chains in the backend's preferred layout (NCHW or NHWC).

Every op with a ``layout`` attribute that differs from ``prefer`` is rewritten to the
preferred layout with transposes at its boundary: images NCHW <-> NHWC, filters
OIHW <-> HWIO (which operands/results are filters: ``WEIGHT_OPERANDS``/``WEIGHT_RESULTS``
in :mod:`.op_roles`).  Then three rules, driven to a fixed point, clean up:

* ``sink-transpose``: an elementwise op whose operands are all the same transpose (or
  are free to re-layout: constants, scalars, broadcast shapes such as a ``[1,C,1,1]``
  bias, which only needs a reshape to ``[1,1,1,C]``, and ``broadcast_to`` of such a
  value, re-broadcast in the other frame) computes on the untransposed
  values and is transposed afterwards, so the transpose drifts down the chain.  A
  reshape stands for the inverse transpose only when the perm keeps the operand's
  non-unit axes in order; otherwise (a real data movement) the rule does not fire...
* ``cancel-transposes``: ...until it meets the next op's inbound transpose: a transpose
  of a transpose becomes one transpose, or nothing when the perms cancel;
* ``fold-transpose``: a transpose of a constant is computed now (pre-transposed
  constant weights); a non-constant weight keeps its transpose op.

Transposes only move values around, so results are bit-identical.  Functions with no
op to convert are returned unchanged.
"""
from __future__ import annotations

import numpy as np

from flowc.ir import Function, Op, Value

from .base import register
from .cse import cse
from .dce import dce
from .op_roles import WEIGHT_OPERANDS, WEIGHT_RESULTS
from .rewrite import Pattern, Rewriter, apply_patterns, const_value, derive

LAYOUTS = ("NCHW", "NHWC")
IMAGE_PERM = {("NCHW", "NHWC"): (0, 2, 3, 1), ("NHWC", "NCHW"): (0, 3, 1, 2)}
WEIGHT_PERM = {("NCHW", "NHWC"): (2, 3, 1, 0), ("NHWC", "NCHW"): (3, 2, 0, 1)}


def inverse(perm) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def compose(inner, outer) -> tuple[int, ...]:
    """The perm of ``transpose(transpose(x, inner), outer)``."""
    return tuple(inner[o] for o in outer)


def _transposed(v: Value):
    p = v.producer
    return p.attrs["perm"] if p is not None and p.name == "transpose" else None


def permute(rw: Rewriter, v: Value, perm) -> Value:
    """``transpose(v, perm)``, folded for constants and composed with an existing transpose."""
    if perm == tuple(range(len(perm))):
        return v
    c = const_value(v)
    if c is not None:
        return rw.constant(np.ascontiguousarray(c.transpose(perm)))
    inner = _transposed(v)
    if inner is not None:
        return permute(rw, v.producer.operands[0], compose(inner, perm))
    return rw("transpose", v, perm=perm)


def _convert(prefer: str):
    def rewrite(op: Op, rw: Rewriter):
        key = (op.attrs["layout"], prefer)
        w_in, w_out = WEIGHT_OPERANDS.get(op.name, ()), WEIGHT_RESULTS.get(op.name, ())
        operands = [permute(rw, v, (WEIGHT_PERM if k in w_in else IMAGE_PERM)[key])
                    for k, v in enumerate(op.operands)]
        new = rw.op(op.name, *operands, **{**op.attrs, "layout": prefer})
        back = (key[1], key[0])
        return [permute(rw, r, (WEIGHT_PERM if k in w_out else IMAGE_PERM)[back]) for k, r in enumerate(new.results)]
    return rewrite


def _relayout(rw: Rewriter, v: Value, perm) -> Value | None:
    """``v`` (an operand of an elementwise op whose result is being un-transposed by ``perm``)
    in the untransposed frame, when that costs no data movement; else None."""
    inner = _transposed(v)
    if inner == perm:
        return v.producer.operands[0]
    if v.type.ndim == 0:
        return v
    back = inverse(perm)
    shape4 = (1,) * (len(perm) - v.type.ndim) + tuple(v.type.shape)
    target = tuple(shape4[i] for i in back)
    c = const_value(v)
    if c is not None:
        return rw.constant(np.ascontiguousarray(c.reshape(shape4).transpose(back)))
    p = v.producer
    if p is not None and p.name == "broadcast_to" and v.type.ndim == len(perm):
        # a splat or broadcast bias (relu-grad's ``x > 0`` compares with one): broadcast the
        # re-laid-out source instead, so the comparison runs in the untransposed frame too
        src = _relayout(rw, p.operands[0], perm)
        return None if src is None else rw("broadcast_to", src, shape=target)
    if inner is None and _keeps_order(shape4, back):
        if target == tuple(v.type.shape):
            return v
        src = v.producer.operands[0] if v.producer is not None and v.producer.name == "reshape" else v
        return rw("reshape", src, shape=target)
    return None


def _keeps_order(shape, perm) -> bool:
    """``transpose(x, perm)`` of an ``x`` of this shape is a mere reshape: the non-unit axes
    keep their relative order (equal sizes are not enough: swapping two size-2 axes moves data)."""
    moved = [a for a in perm if shape[a] != 1]
    return moved == sorted(moved)


def _sink(op: Op, rw: Rewriter):
    perms = {_transposed(v) for v in op.operands} - {None}
    if len(perms) != 1 or op.results[0].type.ndim != len(next(iter(perms))):
        return None
    (perm,) = perms
    operands = [_relayout(rw, v, perm) for v in op.operands]
    if any(v is None for v in operands):
        return None
    return rw("transpose", rw(op.name, *operands, **op.attrs), perm=perm)


def _cancel(op: Op, rw: Rewriter):
    inner = _transposed(op.operands[0])
    if inner is None:
        return None
    return permute(rw, op.operands[0].producer.operands[0], compose(inner, op.attrs["perm"]))


def _fold(op: Op, rw: Rewriter):
    c = const_value(op.operands[0])
    return None if c is None else rw.constant(np.ascontiguousarray(c.transpose(op.attrs["perm"])))


def patterns(prefer: str) -> list[Pattern]:
    return [
        Pattern("convert-layout", lambda op: op.attrs.get("layout", prefer) != prefer and not op.regions,
                _convert(prefer)),
        Pattern("sink-transpose", lambda op: "elementwise" in op.opdef.traits and op.results
                and op.results[0].type.ndim == 4, _sink),
        Pattern("cancel-transposes", "transpose", _cancel),
        Pattern("fold-transpose", "transpose", _fold),
    ]


@register("layout", "run conv/pool/LRN ops in the preferred layout, transposing only at chain boundaries",
          prefer="NHWC")
def layout(f: Function, prefer: str = "NHWC") -> Function:
    from flowc.ir.types import FlowcError
    if prefer not in LAYOUTS:
        raise FlowcError(f"option 'prefer' of pass 'layout' must be NCHW or NHWC, got {prefer!r}")
    if not any(op.attrs.get("layout", prefer) != prefer for op in f.walk()):
        return derive(f, f.ops, f.results, dict(getattr(f, "positions", None) or {}))
    return cse(dce(apply_patterns(f, patterns(prefer))))
