"""Delta debugging of a failing program: fewer results, fewer ops, smaller symbolic sizes.

``shrink(f, inputs, fails)`` greedily applies the first reduction that keeps
``fails(g, inputs)`` true, until none does (or the try/time budget runs out):

1. keep a single result;
2. *cut* an op: its result becomes a new parameter whose input is the value the
   reference computed there, so everything upstream of it disappears while the
   values flowing into the failing op stay exactly as they were;
3. *bypass* an op: its uses take one of its operands of the same type;
4. shrink each symbolic dim's size (slicing every input along that symbol's axes).

Unused ops and parameters are pruned after every step.  Each candidate is verified
first; the predicate is expected to catch and classify errors itself.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np

from flowc.ir import Function, Sym, Value

from .programs import prune, replace_uses, symbol_sizes


def _results(f, inputs) -> Iterator:
    if len(f.results) > 1:
        for r in f.results:
            yield Function(f.name, f.params, f.ops, [r]), inputs


def _values(f, inputs) -> dict[int, list]:
    """Reference values of each top-level op's results, up to the first op that fails."""
    from flowc.backends.reference.interpreter import _Interp, bind_inputs
    out: dict[int, list] = {}
    try:
        interp = _Interp(bind_inputs(f, inputs))
        vals = {id(p): a for p, a in zip(f.params, inputs)}
        for k, op in enumerate(f.ops):
            res = interp.op(op, [vals[id(v)] for v in op.operands])
            for r, v in zip(op.results, res):
                vals[id(r)] = v
            out[k] = list(res)
    except Exception:  # noqa: BLE001 - a crashing program: cut only before the crash
        pass
    return out


def _cuts(f, inputs) -> Iterator:
    values = _values(f, inputs)
    for k in reversed(range(len(f.ops))):
        op = f.ops[k]
        if k not in values or op.name == "constant" or not op.operands and not op.regions and op.name != "iota":
            continue
        params = [Value(r.type, f"v{k}_{i}" if len(op.results) > 1 else f"v{k}") for i, r in enumerate(op.results)]
        yield replace_uses(f, op.results, params, drop=op, extra_params=params), list(inputs) + values[k]


def _bypasses(f, inputs) -> Iterator:
    for op in reversed(f.ops):
        if len(op.results) != 1:
            continue
        for x in op.operands:
            if x.type == op.result.type:
                yield replace_uses(f, [op.result], [x], drop=op), inputs
                break


def _sizes(f, inputs) -> Iterator:
    for name, n in symbol_sizes(f, inputs).items():
        for m in sorted({1, n // 2} - {n}):
            if m < 1:
                continue
            new = []
            for p, a in zip(f.params, inputs):
                idx = tuple(slice(0, m) if isinstance(d, Sym) and d.name == name else slice(None)
                            for d in p.type.shape)
                new.append(np.ascontiguousarray(a[idx]) if idx else a)
            yield f, new


STRATEGIES = (_results, _cuts, _bypasses, _sizes)


def size(f: Function) -> int:
    return sum(1 for _ in f.walk())


def shrink(f: Function, inputs: Sequence[np.ndarray], fails: Callable[[Function, list], bool],
           max_tries: int = 400, time_limit: float | None = None) -> tuple[Function, list]:
    """The smallest (f, inputs) reachable by the reductions above for which ``fails`` stays true."""
    start = time.monotonic()
    tries = 0
    g, ins = prune(f, list(inputs))
    if fails(g, ins):
        f, inputs = g, ins
    else:   # the failure lives in dead code (a crash): make every op result an output, then shrink
        dead = [r for op in f.ops for r in op.results if r not in f.results]
        g = Function(f.name, f.params, f.ops, list(f.results) + dead)
        if fails(g, list(inputs)):
            f, inputs = g, list(inputs)
    progress = True
    while progress:
        progress = False
        for strategy in STRATEGIES:
            for g, ins in strategy(f, inputs):
                if tries >= max_tries or (time_limit is not None and time.monotonic() - start > time_limit):
                    return f, inputs
                g, ins = prune(g, ins)
                if g is f and ins is inputs:
                    continue
                try:
                    g.verify()
                except Exception:  # noqa: BLE001 - an invalid candidate is simply not taken
                    continue
                tries += 1
                if fails(g, ins):
                    f, inputs, progress = g, ins, True
                    break
            if progress:
                break
    return f, inputs


__all__ = ["shrink", "size", "STRATEGIES"]
