"""``fusion`` regions: one loop nest over the result computing the whole elementwise body per element.

A region qualifies when every op in it has a scalar form (elementwise ops),
or is a constant or an iota, and every value's shape broadcasts into the loop
shape (the broadcast of the region's results).  Each element then costs one
read per operand and one write per result; intermediates are scalar temps.
Anything else (a reduction inside a region, say) is lowered op by op inline.
"""
from __future__ import annotations

from flowc.ir.types import TypeError_, broadcast_shapes

from ..codegen import rules


def _fits(t, loop) -> bool:
    lead = len(loop) - t.ndim
    return lead >= 0 and all(d == 1 or d == loop[lead + j] for j, d in enumerate(t.shape))


def _fusable(e, region, loop) -> bool:
    for op in region.ops:
        if op.regions or not (op.name in ("constant", "iota") or hasattr(rules[op.name], "scalar")):
            return False
        if not all(_fits(r.type, loop) for r in op.results):
            return False
    return all(_fits(p.type, loop) for p in region.params)


def fusable_run(op) -> bool:
    """Whether ``op`` (a fusion op, or a stand-in for a run of ops) lowers to one loop nest."""
    region = op.regions[0]
    try:
        loop = broadcast_shapes(*[t.shape for t in region.result_types])
    except TypeError_:
        return False
    return _fusable(None, region, loop)


@rules.register("fusion")
def _fusion(e, op):
    region = op.regions[0]
    try:
        loop = broadcast_shapes(*[t.shape for t in region.result_types])
    except TypeError_:
        loop = None
    if loop is None or not _fusable(e, region, loop):
        return _inline(e, op, region)
    for p, v in zip(region.params, op.operands):
        if e.scalar(v) is not None:
            e.bind_scalar(p, e.scalar(v))
        else:
            e.bind(p, e.arr(v))
            e.check_bcast(p, e.arr(v), loop)
    body = [o for o in region.ops if not (o.name == "constant" and o.attrs["value"].ndim > 0)]
    for c in region.ops:
        if c not in body:          # non-scalar constants: materialise before the loop, read like operands
            e.lower_op(c)
    outs = [e.alloc(r) for r in op.results]
    with e.loops(loop) as idx:
        env: dict[int, str] = {}

        def get(v):
            if id(v) not in env:
                env[id(v)] = e.load(v, loop, idx)
            return env[id(v)]

        for inner in body:
            t = inner.result.type
            if inner.name == "constant":
                lit = rules["constant"](e, inner)   # rank 0: binds a literal, emits nothing
                assert lit is None
                env[id(inner.result)] = e.scalar(inner.result)
                continue
            if inner.name == "iota":
                expr = e.bcast_index(t, loop, idx)[inner.attrs["axis"]]
            else:
                expr = rules[inner.name].scalar(e, inner, [get(v) for v in inner.operands])
            tmp = e.fresh("t")
            e.emit(f"{tmp} = {e.typed(expr, t.dtype)}  # {inner.name}")
            env[id(inner.result)] = tmp
        for out, r, v in zip(outs, op.results, region.results):
            e.emit(f"{out}{e.sub(e.bcast_index(r.type, loop, idx))} = {get(v)}")
    return outs


def _inline(e, op, region):
    """Fallback: lower the region's ops one by one, as if they were not grouped."""
    for p, v in zip(region.params, op.operands):
        if e.scalar(v) is not None:
            e.bind_scalar(p, e.scalar(v))
        else:
            e.bind(p, e.arr(v))
    e.lower_ops(region.ops)
    return [e.arr(v) for v in region.results]
