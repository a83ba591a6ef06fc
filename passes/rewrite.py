"""Pattern tables and the fixed-point rewrite driver.

A pattern is data: which op it looks at (an op name or a predicate) and a rewrite
function ``rewrite(op, rw) -> replacement values | None``.  The rewrite builds any
new ops through ``rw`` (a :class:`Rewriter`), which stamps them with the rewritten
op's ``loc`` — so source locations survive every rewrite without each rule copying
them by hand.  The driver sweeps the function, applying the first matching rule
to each op, and repeats until a sweep changes nothing; if that never happens it
raises :class:`RewriteLoopError` naming the rules still firing.

The IR is never edited: a sweep builds new ops for what changed and reuses the
(immutable) ops that did not, so the input function stays valid.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from flowc.ir import OPS, Builder, Function, Loc, Op, Region, TensorType, Value
from flowc.ir.types import FlowcError, TypeError_

MAX_SWEEPS = 64

# Opt-bisect hook (flowc.testing.bisect): while set, at most ``_budget["left"]`` rewrites fire, and each
# one that does is logged as (rule name, op name, loc).  None: unlimited (the normal case).
_budget: dict | None = None


@contextmanager
def rewrite_budget(n: int):
    """Allow only the first ``n`` rewrites (over every pattern table) inside the block; yields their log."""
    global _budget
    saved, _budget = _budget, {"left": n, "log": []}
    try:
        yield _budget["log"]
    finally:
        _budget = saved


class RewriteLoopError(FlowcError):
    """A pattern table did not reach a fixed point."""


@dataclass(frozen=True)
class Pattern:
    name: str                                   # shown by the loop guard and in tests
    match: str | Callable[[Op], bool]           # an op name, or a predicate on the op
    rewrite: Callable[[Op, "Rewriter"], Sequence[Value] | Value | None]
    requires: tuple[str, ...] = ()              # ops the rule builds or matches; skipped while missing
    doc: str = ""

    @property
    def active(self) -> bool:
        return all(n in OPS for n in self.requires) and (not isinstance(self.match, str) or self.match in OPS)

    def matches(self, op: Op) -> bool:
        return op.name == self.match if isinstance(self.match, str) else bool(self.match(op))


class Rewriter:
    """Builds replacement ops for one rewritten op; each new op gets that op's loc."""

    def __init__(self, loc: Loc | None):
        self.builder = Builder(loc)

    @property
    def ops(self) -> list[Op]:
        return self.builder.ops

    def __call__(self, name: str, *operands: Value, **attrs) -> Value:
        return self.builder(name, *operands, **attrs)

    def op(self, name: str, *operands: Value, **attrs) -> Op:
        return self.builder.op(name, *operands, **attrs)

    def constant(self, value) -> Value:
        return self("constant", value=np.array(value, order="C"))


def rebuild(op: Op, operands: Sequence[Value], regions: Sequence[Region] | None = None) -> Op:
    """A copy of ``op`` on new operands/regions: same name, attrs, result types and loc."""
    return Op(op.name, operands, op.attrs, [r.type for r in op.results],
              op.regions if regions is None else regions, op.loc)


def inherit_position(positions: dict, old: Op, new: Op):
    """``new`` (a fresh op standing for ``old``) takes ``old``'s .fir position, if it has one.

    Always overwrites: ``id()`` of a dropped op can be recycled by a new one.
    """
    if id(old) in positions:
        positions[id(new)] = positions[id(old)]
    else:
        positions.pop(id(new), None)


def remap(op: Op, operands: Sequence[Value], mapping: dict[int, Value], positions: dict, region_pass) -> Op:
    """``op`` over new ``operands`` with ``region_pass`` applied to its regions; rebuilt only if something
    changed (then ``mapping`` learns the new results).  ``region_pass(region, positions)`` returns
    ``(ops, results, changed)`` — the shared step of the region-recursive passes (CSE, DCE)."""
    regions, sub_changed = [], False
    for sub in op.regions:
        ops, results, c = region_pass(sub, positions)
        regions.append(Region(sub.params, ops, results) if c else sub)
        sub_changed |= c
    if not sub_changed and all(a is b for a, b in zip(operands, op.operands)):
        return op
    new = rebuild(op, operands, regions)
    inherit_position(positions, op, new)
    mapping.update((id(a), b) for a, b in zip(op.results, new.results))
    return new


def derive(old: Function, ops, results, positions: dict[int, tuple[int, int]]) -> Function:
    """A new function with ``old``'s name and parameters.

    ``positions`` (id(op) -> .fir line/col, see the parser) is filtered to the new
    function's own ops, so verifier errors after a pass still point into the file.
    """
    f = Function(old.name, old.params, ops, results)
    f.positions = {id(op): positions[id(op)] for op in f.walk() if id(op) in positions}
    if getattr(old, "filename", None) is not None:
        f.filename = old.filename
    return f


def _normalize(op: Op, rule: Pattern, out) -> tuple[Value, ...] | None:
    if out is None:
        return None
    vals = (out,) if isinstance(out, Value) else tuple(out)
    if len(vals) != len(op.results):
        raise AssertionError(f"rewrite rule '{rule.name}' returned {len(vals)} value(s) for {op.name} "
                             f"with {len(op.results)} result(s)")
    for got, res in zip(vals, op.results):
        if got.type != res.type:
            raise AssertionError(f"rewrite rule '{rule.name}' replaced {op.name} result of type {res.type} "
                                 f"by a value of type {got.type}")
    if all(a is b for a, b in zip(vals, op.results)):
        return None   # "replace by itself": nothing changed
    return vals


class _Sweep:
    def __init__(self, patterns: Sequence[Pattern], positions: dict, by_name: dict[str, list[Pattern]]):
        self.patterns = patterns
        self.positions = positions
        self.by_name = by_name      # op name -> rules that may match it, in table order (shared cache)
        self.fired: Counter[str] = Counter()

    def region(self, r: Region) -> tuple[list[Op], tuple[Value, ...], bool]:
        mapping: dict[int, Value] = {}
        out: list[Op] = []
        changed = False
        for op in r.ops:
            operands = [mapping.get(id(v), v) for v in op.operands]
            regions, regions_changed = [], False
            for sub in op.regions:
                ops, results, c = self.region(sub)
                regions.append(Region(sub.params, ops, results) if c else sub)
                regions_changed |= c
            cur = op
            if regions_changed or any(a is not b for a, b in zip(operands, op.operands)):
                cur = rebuild(op, operands, regions)
                self._inherit(op, cur)
                for old, new in zip(op.results, cur.results):
                    mapping[id(old)] = new
                changed = True
            replacement, new_ops = self.apply(cur)
            if replacement is None:
                out.append(cur)
                continue
            for o in new_ops:
                self._inherit(op, o)
            out.extend(new_ops)
            for old, new in zip(op.results, replacement):
                mapping[id(old)] = new
            changed = True
        results = tuple(mapping.get(id(v), v) for v in r.results)
        return out, results, changed

    def _inherit(self, old: Op, new: Op):
        inherit_position(self.positions, old, new)

    def apply(self, op: Op):
        rules = self.by_name.get(op.name)
        if rules is None:
            rules = self.by_name[op.name] = [p for p in self.patterns
                                             if not isinstance(p.match, str) or p.match == op.name]
        for rule in rules:
            if _budget is not None and _budget["left"] <= 0:
                break
            if not rule.matches(op):
                continue
            rw = Rewriter(op.loc)
            vals = _normalize(op, rule, rule.rewrite(op, rw))
            if vals is not None:
                self.fired[rule.name] += 1
                if _budget is not None:
                    _budget["left"] -= 1
                    _budget["log"].append((rule.name, op.name, op.loc))
                return vals, rw.ops
        return None, ()


def apply_patterns(f: Function, patterns: Sequence[Pattern], max_sweeps: int = MAX_SWEEPS) -> Function:
    """Rewrite ``f`` with ``patterns`` (first matching rule wins) until nothing changes."""
    patterns = [p for p in patterns if p.active]
    positions = dict(getattr(f, "positions", None) or {})
    cur, last, by_name = f, Counter(), {}
    for _ in range(max_sweeps):
        sweep = _Sweep(patterns, positions, by_name)
        ops, results, changed = sweep.region(cur)
        if not changed:
            return derive(f, cur.ops, cur.results, positions)
        cur, last = Function(f.name, f.params, ops, results), sweep.fired
    still = ", ".join(f"'{n}' ({k}x)" for n, k in last.most_common())
    raise RewriteLoopError(f"pattern rewriting of @{f.name} did not reach a fixed point after {max_sweeps} "
                           f"sweeps; rule(s) still firing in the last sweep: {still}")


# -- helpers shared by pattern tables ------------------------------------------------------------

# The largest splat (all elements equal) a pass writes as a dense constant; a larger one stays
# ``broadcast_to(scalar constant)``, which backends fuse instead of reading an array.
SPLAT_DENSE_MAX = 64

def const_value(v: Value) -> np.ndarray | None:
    """The tensor behind ``v`` when it is produced by a ``constant`` op."""
    p = v.producer
    return p.attrs["value"] if p is not None and p.name == "constant" else None


def is_splat(v: Value, x, *, negative_zero: bool | None = None) -> bool:
    """``v`` is a constant whose every element equals ``x`` (and, for zeros, has the asked sign)."""
    a = const_value(v)
    if a is None or a.size == 0:
        return False
    if not np.all(a == np.asarray(x).astype(a.dtype)):
        return False
    if negative_zero is not None and a.dtype.kind == "f":
        return bool(np.all(np.signbit(a) == negative_zero))
    return True


def splat(rw: Rewriter, x, t: TensorType, max_elements: int) -> Value | None:
    """A value of type ``t`` filled with ``x``: a constant when static and small, else broadcast_to."""
    scalar = np.asarray(x).astype(t.dtype.np)
    if t.is_static and int(np.prod(t.shape, dtype=np.int64)) <= max_elements:
        return rw.constant(np.full(t.shape, scalar, dtype=t.dtype.np))
    if "broadcast_to" not in OPS:
        return None
    return rw("broadcast_to", rw.constant(scalar), shape=t.shape)


def as_type(rw: Rewriter, v: Value, t: TensorType) -> Value | None:
    """``v`` itself when it already has type ``t``; a broadcast_to when it only needs broadcasting."""
    if v.type == t:
        return v
    if v.type.dtype != t.dtype or v.type.ndim > t.ndim or "broadcast_to" not in OPS:
        return None
    try:
        return rw("broadcast_to", v, shape=t.shape)
    except TypeError_:
        return None
