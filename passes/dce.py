"""Dead-code elimination: drop ops none of whose results is used.

Every flowc op is pure — random ops included, since their keys are explicit
operands — so an unused result means the op can go.  Liveness is computed
backwards from the returned values; regions of live ops are cleaned the same
way from their yielded values (a region's unused parameters stay: they mirror
the owning op's operands).
"""
from __future__ import annotations

from flowc.ir import Function, Op, Region, Value

from .base import register
from .rewrite import derive, remap


def _dce_region(r: Region, positions: dict) -> tuple[list[Op], tuple[Value, ...], bool]:
    live: set[int] = {id(v) for v in r.results}
    kept: list[Op] = []
    for op in reversed(r.ops):
        if any(id(v) in live for v in op.results):
            kept.append(op)
            live.update(id(v) for v in op.operands)
    kept.reverse()
    changed = len(kept) != len(r.ops)
    mapping: dict[int, Value] = {}
    out: list[Op] = []
    for op in kept:
        operands = [mapping.get(id(v), v) for v in op.operands]
        new = remap(op, operands, mapping, positions, _dce_region)
        op, changed = new, changed or new is not op
        out.append(op)
    return out, tuple(mapping.get(id(v), v) for v in r.results), changed


@register("dce", "remove ops whose results are never used (all ops are pure), inside regions too")
def dce(f: Function) -> Function:
    positions = dict(getattr(f, "positions", None) or {})
    ops, results, _ = _dce_region(f, positions)
    return derive(f, ops, results, positions)
