"""``fusion`` regions: one loop nest over the result computing the whole elementwise body per element.

A region qualifies when every op in it has a scalar form (elementwise ops),
or is a constant or an iota, and every value's shape broadcasts into the loop
shape (the broadcast of the region's results).  Each element then costs one
read per operand and one write per result; intermediates are scalar temps.

A ``reduce`` region (an elementwise body feeding one float sum/mean/max/min over
trailing axes, which nothing else in the region reads) is one loop nest too: the
loop runs over the reduction's operand and a scalar accumulator per output element
replaces the operand's array (sums accumulate in float64, like the unfused
reduction); values of the body with the loop's shape get a plain nest of their own
before it (softmax cross-entropy: the gradient, then the picked logit).
Anything else is lowered op by op inline.
"""
from __future__ import annotations

from types import SimpleNamespace

from flowc.ir.graph import backward_slice
from flowc.ir.types import Sym, TensorType, TypeError_, broadcast_shapes

from ..codegen import pointwise, rules, storage


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


_FUSED_KINDS = ("sum", "mean", "max", "min")


def _reduce_kind(op):
    kind = getattr(rules[op.name], "reduce_kind", None) if op.name in rules else None
    return kind if kind in _FUSED_KINDS else None


def _trailing_reduction(region):
    """The region's final reduce op when the region is an elementwise body feeding one float reduction over
    trailing axes (see the module docstring), else None.  The region may also yield values of the body
    that have the loop's full shape (they are stored from inside the loop)."""
    reds = [op for op in region.ops if _reduce_kind(op) is not None]
    if len(reds) != 1 or any(reds[0].result in op.operands for op in region.ops):
        return None                       # one reduction, and nothing in the loop reads its total
    red = reds[0]
    t = red.operands[0].type
    axes = sorted(red.attrs["axes"])
    if not t.dtype.is_float or not axes or axes != list(range(axes[0], t.ndim)):
        return None
    others = [v for v in region.results if v is not red.result]
    if len(others) != len(region.results) - 1 or any(tuple(v.type.shape) != tuple(t.shape) for v in others):
        return None
    body = SimpleNamespace(ops=[o for o in region.ops if o is not red], params=region.params)
    return red if _fusable(None, body, t.shape) else None


def _loop(region):
    """The shape of the one elementwise loop nest computing ``region`` (its results' broadcast), or None."""
    try:
        loop = broadcast_shapes(*[t.shape for t in region.result_types])
    except TypeError_:
        return None
    return loop if _fusable(None, region, loop) else None


def fusable_run(op) -> bool:
    """Whether ``op`` (a fusion op, or a stand-in for a run of ops) lowers to one loop nest."""
    region = op.regions[0]
    return _trailing_reduction(region) is not None or _loop(region) is not None


@rules.register("fusion")
def _fusion(e, op):
    region = op.regions[0]
    red = _trailing_reduction(region)
    if red is not None:
        return _fused_reduction(e, op, region, red)
    loop = _loop(region)
    if loop is None:
        return _inline(e, op, region)
    _bind_params(e, op, region, loop)
    body = _hoist_constants(e, region.ops)
    outs = [e.alloc(r) for r in op.results]
    full = [k for k, r in enumerate(op.results) if _full(r.type, loop)]
    for k, (out, r, v) in enumerate(zip(outs, op.results, region.results)):
        if k not in full:   # smaller than the loop: its own nest (written even when the loop is empty)
            shape = tuple(r.type.shape)
            with e.loops(shape) as idx:
                get = _emit_body(e, backward_slice(body, [v]), shape, idx)
                e.emit(f"{out}{e.sub(idx)} = {get(v)}")
    with e.loops(loop) as idx:
        get = _emit_body(e, body, loop, idx)
        values = [get(region.results[k]) for k in full]     # every read before the first write: a result
        for k, x in zip(full, values):                      # may be written over an operand (buffers.py)
            at = idx[len(loop) - op.results[k].type.ndim:]  # a lower rank pads the loop with 1s
            e.emit(f"{outs[k]}{e.sub(at)} = {x}")
    return outs


def takes_destinations(op) -> bool:
    """Whether ``op``'s kernel reads its operands at an element before writing any result there, in one
    nest over the results' common shape: then the caller passes the result buffers in (destination
    passing), and may pass a dying operand of the result's type (``buffers.py``)."""
    if op.name != "fusion":
        return op.name in rules and hasattr(rules[op.name], "scalar") and not op.regions
    region = op.regions[0]
    loop = _loop(region) if _trailing_reduction(region) is None else None
    return loop is not None and all(_full(r.type, loop) for r in op.results)


def _full(t, loop) -> bool:
    """Whether a result of type ``t`` is stored from inside the loop over ``loop`` (every element of it is
    one loop position).  Rank 0 is not, under a loop: a parallel loop cannot index a 0-d array."""
    return _padded(t.shape, loop) == tuple(loop) and (t.ndim > 0 or not loop)


def _padded(shape, loop) -> tuple:
    return (1,) * (len(loop) - len(shape)) + tuple(shape)


def _bind_params(e, op, region, loop):
    for p, v in zip(region.params, op.operands):
        if e.scalar(v) is not None:
            e.bind_scalar(p, e.scalar(v))
        else:
            e.bind(p, e.arr(v))
            e.check_bcast(p, e.arr(v), loop)


def _hoist_constants(e, ops):
    """The ops computed per element; non-scalar constants are materialised before the loop instead."""
    body = [o for o in ops if not (o.name == "constant" and o.attrs["value"].ndim > 0)]
    for c in ops:
        if c not in body:
            e.lower_op(c)
    return body


def _emit_body(e, body, loop, idx):
    """Emit the scalar code of ``body`` at loop position ``idx``; returns the value -> scalar-name lookup."""
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
    return get


def _fused_reduction(e, op, region, red):
    """Loops over the kept axes, then the reduced (trailing) axes accumulating into a scalar."""
    (src,), kind = red.operands, _reduce_kind(red)
    loop = src.type.shape
    first = min(red.attrs["axes"])
    kept, reduced = loop[:first], loop[first:]
    _bind_params(e, op, region, loop)
    body = _hoist_constants(e, [o for o in region.ops if o is not red])
    outs = [e.alloc(r) for r in op.results]
    k = [i for i, v in enumerate(region.results) if v is red.result][0]
    out, res = outs[k], op.results[k].type
    side = [(o, v) for o, v in zip(outs, region.results) if v is not red.result]
    if side:
        # The other results get a plain nest of their own, which LLVM vectorizes (exp and all); a store
        # inside the accumulating loop kept W2's gradient scalar (17 ms against 1.8).  Their common
        # ops are computed twice: elementwise work, cheaper than the lost vectors.
        with e.loops(loop) as idx:
            get = _emit_body(e, backward_slice(body, [v for _, v in side]), loop, idx)
            for o, v in side:
                e.emit(f"{o}{e.sub(idx)} = {get(v)}")
        body = backward_slice(body, [src])
    with e.loops(kept, parallel=bool(kept) and e.want_parallel(loop)) as oidx:   # sized by the whole nest
        acc = _running(e, body, loop, red, list(oidx), reduced, kind)
        total = f"{acc} / ({e.count(reduced)})" if kind == "mean" else acc
        at = list(oidx) + ["0"] * (res.ndim - len(kept))
        e.emit(f"{out}{e.sub(at)} = {e.typed(total, res.dtype)}")
    return outs


def _running(e, body, loop, red, oidx, reduced, kind) -> str:
    """One accumulator: sums in float64 through ``add_any_order`` (the innermost loop vectorizes into
    lanes of partial sums; W2's [4096,1000] regions with four hand-unrolled lanes took 2.3 ms), max/min
    in index order with nan winning."""
    src = red.operands[0]
    acc = e.fresh("acc")
    if kind in ("sum", "mean"):
        e.emit(f"{acc} = 0.0")
    else:
        e.emit(f"{acc} = {storage(src.type.dtype)}({'-' if kind == 'max' else ''}np.inf)")
    with e.loops(reduced, parallel=False) as iidx:
        idx = oidx + list(iidx)
        get = _emit_body(e, body, loop, idx)
        x = get(src)
        if kind in ("sum", "mean"):
            e.emit(f"{acc} = {e.helper('add_any_order')}({acc}, {x})")
            return acc
        e.emit(f"if {x} {'>' if kind == 'max' else '<'} {acc} or {x} != {x}:")
        e.emit(f"    if {acc} == {acc}:")
        e.emit(f"        {acc} = {x}")
    return acc


def _inline(e, op, region):
    """Fallback: lower the region's ops one by one, as if they were not grouped."""
    for p, v in zip(region.params, op.operands):
        if e.scalar(v) is not None:
            e.bind_scalar(p, e.scalar(v))
        else:
            e.bind(p, e.arr(v))
    e.lower_ops(region.ops)
    return [e.arr(v) for v in region.results]


_FLAT = Sym("_flat")    # the flat size: symbolic even for static shapes, so no size reaches a kernel's text


def flat_form(op, contiguous):
    """A stand-in for ``op`` over 1-D operands, when its kernel can run over the elements in memory order.

    Applies to elementwise ops and fusion regions of them (no iota, no broadcasting: every operand,
    value and result has the result's shape, or is a scalar) whose array operands are
    C-contiguous (``contiguous(v)``).  The program then passes flat views, so one kernel serves every
    shape and rank of the same body (W4's SGD update of [784,1024], [1024,1024] and [1024,10] weights and
    [1024] biases: four kernels, two of them parallel, became one serial and one parallel), and the
    inner loop runs over all the elements instead of a short last axis.
    Returns ``(pseudo op, {id(original value): flat value})`` or None."""
    if op.name == "fusion":
        region = op.regions[0]
        params, inner, results = list(region.params), list(region.ops), list(region.results)
    elif pointwise(op):
        params, inner, results = list(op.operands), [op], list(op.results)
    else:
        return None
    shape = tuple(results[0].type.shape)
    if not shape or any(tuple(r.type.shape) != shape for r in op.results) or not all(map(pointwise, inner)):
        return None
    values = [*params, *(r for o in inner for r in o.results)]
    if any(v.type.ndim and tuple(v.type.shape) != shape for v in values):
        return None
    arrays = [v for v in op.operands if v.type.ndim]
    if not arrays or not all(contiguous(v) for v in arrays):
        return None
    flat: dict[int, object] = {}

    def m(v):
        if not v.type.ndim:
            return v
        if id(v) not in flat:
            flat[id(v)] = SimpleNamespace(type=TensorType(v.type.dtype, (_FLAT,)), producer=None)
        return flat[id(v)]

    ops = []
    for o in inner:             # scalar forms read no shape attribute (broadcast_to's is its operand)
        res = [m(r) for r in o.results]
        ops.append(SimpleNamespace(name=o.name, operands=[m(v) for v in o.operands], results=res, result=res[0],
                                   attrs=o.attrs, regions=(), loc=o.loc))
    outs = [m(r) for r in results]
    region = SimpleNamespace(params=[m(p) for p in params], ops=ops, results=outs, result_types=[v.type for v in outs])
    operands = [m(v) for v in op.operands]
    fused = SimpleNamespace(name="fusion", operands=operands, results=[m(r) for r in op.results], regions=[region],
                            attrs={}, loc=op.loc)
    return fused, flat
