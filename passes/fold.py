"""Constant folding: evaluate ops whose operands are all constants, at compile time.

Folding reuses the reference interpreter (the definition of flowc's semantics),
so a folded program computes bit for bit what the unfolded one would.  Not folded:
- results with symbolic dims (their size is unknown until run time);
- results over ``max_elements`` elements: a broadcast or iota can turn a scalar
  into a huge tensor, and materialising it in the IR costs memory and compile time;
- ``random`` ops (deterministic given the key, so folding would be correct, but
  random tensors are usually large and better generated on the device);
- ops owning regions (their bodies are folded on their own) and ``constant`` itself;
- ops the interpreter rejects (e.g. an out-of-bounds run-time check): the error is
  left for run time, where it is reported against the user's inputs.

A folded result whose elements are all equal (a splat, such as the ``-1/N`` a mean's gradient
broadcasts) and that has more than ``SPLAT_DENSE_MAX`` elements becomes ``broadcast_to`` of a scalar
constant, not a dense constant: the IR stays readable, and backends fuse the broadcast instead
of reading an array.  Folding sees through such a broadcast, so chains of them keep folding.
"""
from __future__ import annotations

import numpy as np

from flowc.ir import Function, Op, Value
from flowc.ir.types import FlowcError

from .base import register
from .rewrite import SPLAT_DENSE_MAX, Pattern, Rewriter, apply_patterns, const_value

MAX_ELEMENTS = 1 << 20


def _splat_source(v: Value) -> np.ndarray | None:
    """The one-element constant ``v`` broadcasts, when ``v = broadcast_to(constant)`` has a static shape."""
    p = v.producer
    if p is None or p.name != "broadcast_to" or not v.type.is_static:
        return None
    c = const_value(p.operands[0])
    return c if c is not None and c.size == 1 else None


def _size(v: Value) -> int:
    return int(np.prod(v.type.shape, dtype=np.int64))


def operand_value(v: Value) -> np.ndarray | None:
    """A constant operand's value: a ``constant``, or a splat ``broadcast_to`` of one (materialised)."""
    c = const_value(v)
    if c is not None:
        return c
    s = _splat_source(v)
    return None if s is None else np.full(v.type.shape, s.reshape(()), dtype=s.dtype)


def _foldable(op: Op, max_elements: int) -> bool:
    if op.name == "constant" or op.regions or "random" in op.opdef.traits:
        return False
    if op.name == "broadcast_to" and _splat_source(op.results[0]) is not None and \
            _size(op.results[0]) > SPLAT_DENSE_MAX:
        return False     # already the canonical form of a large splat
    if any(const_value(v) is None and _splat_source(v) is None for v in op.operands):
        return False
    for r in op.results:
        if not r.type.is_static or int(np.prod(r.type.shape, dtype=np.int64)) > max_elements:
            return False
    return True


def evaluate(op: Op) -> list[np.ndarray]:
    """Run one op on its constant operands with the reference interpreter."""
    from flowc.backends.reference import run
    from flowc.ir import Function as Fn

    params = [Value(v.type, f"c{i}") for i, v in enumerate(op.operands)]
    alone = Op(op.name, params, op.attrs, [r.type for r in op.results], (), op.loc)
    return run(Fn("fold", params, [alone], alone.results), *[operand_value(v) for v in op.operands])


def _is_splat(a: np.ndarray) -> bool:
    """Every element has the same bits (so -0.0 and 0.0, or two nans, are told apart as numpy can't)."""
    rows = np.ascontiguousarray(a).reshape(a.size, -1).view(np.uint8).reshape(a.size, -1)
    return bool((rows == rows[0]).all())


def _fold(op: Op, rw: Rewriter):
    try:
        values = evaluate(op)
    except (FlowcError, NotImplementedError):
        return None   # no reference impl yet, or a run-time error: leave it for run time
    out = []
    for v in values:
        if v.size > SPLAT_DENSE_MAX and _is_splat(v):
            out.append(rw("broadcast_to", rw.constant(v.reshape(-1)[:1].reshape(())), shape=v.shape))
        else:
            out.append(rw.constant(v))
    return out


def patterns(max_elements: int = MAX_ELEMENTS) -> list[Pattern]:
    return [Pattern("fold", lambda op: _foldable(op, max_elements), _fold,
                    doc="replace an op on constants by the constant it computes")]


@register("fold", "constant folding: evaluate ops on constants with the reference interpreter "
          "(results up to max-elements)", max_elements=MAX_ELEMENTS)
def fold(f: Function, max_elements: int = MAX_ELEMENTS) -> Function:
    return apply_patterns(f, patterns(max_elements))
