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
"""
from __future__ import annotations

import numpy as np

from flowc.ir import Function, Op, Value
from flowc.ir.types import FlowcError

from .base import register
from .rewrite import Pattern, Rewriter, apply_patterns, const_value

MAX_ELEMENTS = 1 << 20


def _foldable(op: Op, max_elements: int) -> bool:
    if op.name == "constant" or op.regions or "random" in op.opdef.traits:
        return False
    if any(const_value(v) is None for v in op.operands):
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
    return run(Fn("fold", params, [alone], alone.results), *[const_value(v) for v in op.operands])


def _fold(op: Op, rw: Rewriter):
    try:
        values = evaluate(op)
    except (FlowcError, NotImplementedError):
        return None   # no reference impl yet, or a run-time error: leave it for run time
    return [rw.constant(v) for v in values]


def patterns(max_elements: int = MAX_ELEMENTS) -> list[Pattern]:
    return [Pattern("fold", lambda op: _foldable(op, max_elements), _fold,
                    doc="replace an op on constants by the constant it computes")]


@register("fold", "constant folding: evaluate ops on constants with the reference interpreter "
          "(results up to max-elements)", max_elements=MAX_ELEMENTS)
def fold(f: Function, max_elements: int = MAX_ELEMENTS) -> Function:
    return apply_patterns(f, patterns(max_elements))
