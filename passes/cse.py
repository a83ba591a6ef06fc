"""Common-subexpression elimination: merge structurally equal ops within a region.

Two ops are equal when they have the same name, the same operands (in any order
for ``commutative`` ops) and equal attributes.  Tensor attributes compare by
dtype, shape and raw bytes, and floats by their bit pattern, so NaN constants
merge with themselves while 0.0 and -0.0 stay apart.  Every op is pure, so the
first occurrence can stand for the rest.  Ops owning regions are not merged with
each other (their regions are CSE'd on their own); regions are isolated from
above, so each one gets a fresh table.
"""
from __future__ import annotations

import struct

import numpy as np

from flowc.ir import Function, Op, Region, Value

from .base import register
from .rewrite import derive, remap


def attr_key(v):
    """A hashable key for an attribute value, equal exactly when the values are identical."""
    if isinstance(v, np.ndarray):
        return ("tensor", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (float, np.floating)) and not isinstance(v, bool):
        return ("float", struct.pack("<d", float(v)))
    if isinstance(v, (tuple, list)):
        return ("tuple", tuple(attr_key(x) for x in v))
    return (type(v).__name__, v)


def op_key(op: Op, operand_ids: list[int]):
    if op.regions:
        return None
    if "commutative" in op.opdef.traits:
        operand_ids = sorted(operand_ids)
    attrs = tuple(sorted((k, attr_key(v)) for k, v in op.attrs.items()))
    return (op.name, tuple(operand_ids), attrs, tuple(r.type for r in op.results))


def _cse_region(r: Region, positions: dict) -> tuple[list[Op], tuple[Value, ...], bool]:
    mapping: dict[int, Value] = {}
    seen: dict[tuple, Op] = {}
    out: list[Op] = []
    changed = False
    for op in r.ops:
        operands = [mapping.get(id(v), v) for v in op.operands]
        key = op_key(op, [id(v) for v in operands])
        if key is not None and key in seen:
            mapping.update((id(a), b) for a, b in zip(op.results, seen[key].results))
            changed = True
            continue
        new = remap(op, operands, mapping, positions, _cse_region)
        op, changed = new, changed or new is not op
        if key is not None:
            seen[key] = op
        out.append(op)
    return out, tuple(mapping.get(id(v), v) for v in r.results), changed


@register("cse", "merge structurally equal ops (same name, operands and attributes) within each region")
def cse(f: Function) -> Function:
    positions = dict(getattr(f, "positions", None) or {})
    ops, results, _ = _cse_region(f, positions)
    return derive(f, ops, results, positions)
