"""Epilogues: the elementwise steps after a matmul or convolution that the anchor's kernel applies to each
block of its result while it is in cache (``backends/numba/epilogue.py`` says which steps, in what order).

:func:`fuse_epilogue` reads them off an epilogue region (``passes/fusion.py`` groups the anchor with its
consumers); the codegen then lowers a stand-in for the anchor that carries them (``op.epilogue``) and the
region's other ops as usual.  :func:`epilogue_arg` writes the stand-in's epilogue as the kernel's argument.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

_ARRAYS = ("bias", "base", "mask")
_ORDER = ("alpha", "bias", "base", "relu", "mask")      # the kernel's order of steps


def _constant(v):
    """The value of a rank-0 constant (also broadcast), else None."""
    op = v.producer
    if op is not None and op.name == "broadcast_to":
        op = op.operands[0].producer
    if op is not None and op.name == "constant" and op.attrs["value"].ndim == 0:
        return op.attrs["value"].item()
    return None


def _mask_source(v, t):
    """h where ``v`` is ``cast(gt(h, 0))`` to t's dtype (relu's gradient mask), else None."""
    cast = v.producer
    if cast is None or cast.name != "cast" or v.type.dtype != t.type.dtype:
        return None
    gt = cast.operands[0].producer
    if gt is None or gt.name != "gt" or _constant(gt.operands[1]) != 0:
        return None
    h = gt.operands[0]
    return h if h.type == t.type else None


def _producers(v):
    """The ops computing a rank-0 constant, broadcast or not (consumed with the step that reads it)."""
    op = v.producer
    if op is not None and op.name == "broadcast_to":
        return [op] + _producers(op.operands[0])
    return [op] if op is not None and op.name == "constant" else []


def _step(op, t, params):
    """(step name, value, ops it consumes besides ``op``) where ``op`` applies one epilogue step to ``t``;
    array operands must be region parameters (computed before the product's call)."""
    if len(op.results) != 1 or op.result.type != t.type or any(v.type.dtype != t.type.dtype for v in op.operands):
        return None
    if op.name == "relu":
        return "relu", True, []
    others = [v for v in op.operands if v is not t]
    if len(op.operands) != 2 or len(others) != 1:
        return None
    o = others[0]
    if op.name == "mul":
        c = _constant(o)
        if c is not None:            # finite: the kernel takes alpha - alpha for its zero
            return ("alpha", float(c), _producers(o)) if math.isfinite(c) else None
        h = _mask_source(o, t)
        if h is None or id(h) not in params:
            return None
        gt = o.producer.operands[0].producer
        return "mask", h, [o.producer, gt] + _producers(gt.operands[1])
    if id(o) not in params:
        return None
    if (op.name == "add" and 1 <= o.type.ndim <= t.type.ndim and o.type.shape[-1] == t.type.shape[-1]
            and all(d == 1 for d in o.type.shape[:-1])):      # along the last axis: [n], [1, n], [1, 1, 1, n]
        return "bias", o, []
    if op.name == "add" and o.type == t.type:
        return "base", o, []
    if op.name == "sub" and op.operands[0] is o and o.type == t.type:
        return "-base", o, []
    return None


def fuse_epilogue(region, anchor: str, takes):
    """(a stand-in for the ``anchor`` op applying the epilogue, the region ops it replaces) where the
    region's one ``anchor`` op (for which ``takes(op)``) is followed by a chain of steps the kernel
    applies; None when there are none.  The chain stops at the first op that is not a step, comes out of
    the kernel's order, or where the running value is read by anything else."""
    mm = [op for op in region.ops if op.name == anchor]
    if len(mm) != 1 or not takes(mm[0]):
        return None
    users: dict[int, list] = {}
    for op in region.ops:
        for v in op.operands:
            users.setdefault(id(v), []).append(op)
    params = {id(p) for p in region.params}
    yielded = {id(v) for v in region.results}
    ep = dict(alpha=1.0, bias=None, base=None, relu=False, mask=None)
    t, chain, side, last = mm[0].result, [mm[0]], [], -1
    while id(t) not in yielded and len(users.get(id(t), ())) == 1:
        op = users[id(t)][0]
        step = _step(op, t, params)
        if step is None:
            break
        name, value, extra = step
        if name == "-base":            # base - t = base + (-1 * t): alpha negated (exact), before any bias
            if ep["bias"] is not None:
                break
            name, ep["alpha"] = "base", -ep["alpha"]
        if _ORDER.index(name) <= last:
            break
        ep[name], last = value, _ORDER.index(name)
        chain.append(op)
        side += extra
        t = op.result
    if len(chain) == 1:
        return None
    arrays = [v for k, v in ep.items() if k in _ARRAYS and v is not None]
    ep["alpha"] = repr(ep["alpha"])
    stand_in = SimpleNamespace(name=anchor, operands=list(mm[0].operands) + arrays, results=[t], result=t,
                               attrs=mm[0].attrs, regions=(), loc=mm[0].loc, epilogue=ep, fused=chain)
    # the ops feeding a step (a mask's compare and cast, constants) go too, unless something else reads them
    gone = {id(o) for o in chain + side}
    while True:
        live = {id(v) for v in region.results}
        for op in region.ops:
            if id(op) not in gone:
                live |= {id(v) for v in op.operands}
        back = [o for o in side if id(o) in gone and any(id(r) in live for r in o.results)]
        if not back:
            break
        gone -= {id(o) for o in back}
    return stand_in, [o for o in region.ops if id(o) in gone]


def epilogue_arg(e, op, like: str) -> str:
    """The kernel's epilogue argument for ``op`` (a stand-in from :func:`fuse_epilogue`, or the anchor
    itself: none), of ``like``'s dtype; a matrix operand is passed as the kernel's 2-d result is shaped,
    [everything but the last axis, the last axis]."""
    ep = getattr(op, "epilogue", None)
    if ep is None:
        return f"{e.helper('no_epilogue')}({like})"

    def arg(v, ndim):
        if v is None:
            return "None"
        x = e.contiguous(e.arr(v))
        if v.type.ndim == ndim:
            return x
        return f"{x}.reshape(-1)" if ndim == 1 else f"{x}.reshape((-1, {e.dim(v.type.shape[-1])}))"
    return (f"{e.helper('epilogue')}({like}, {ep['alpha']}, {arg(ep['bias'], 1)}, {arg(ep['base'], 2)}, "
            f"{ep['relu']}, {arg(ep['mask'], 2)})")
