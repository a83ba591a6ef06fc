"""The IR verifier.  Invariants checked, in order, for every op of a function:

1. each value is defined exactly once (function/region parameters, op results);
2. each operand is defined earlier in the same region (regions are isolated from above);
3. the op is registered and its attributes match its schema (defaults filled in);
4. the op's result types equal its type rule applied to its operand types;
5. it owns as many regions as declared, and its region hook (if any) accepts them;
6. every returned/yielded value is defined in its region.

Errors name the op, its operand types and its location (the user's source line
for traced code, the ``.fir`` position for parsed text) and show the op's IR line.
"""
from __future__ import annotations

from .core import Function, Op, Region
from .parser import IRError
from .registry import OPS, get_op
from .types import TypeError_


class VerifyError(IRError):
    pass


class _Verifier:
    def __init__(self, f: Function, positions=None, filename=None, source=None):
        self.f = f
        self.positions = positions if positions is not None else getattr(f, "positions", None) or {}
        self.filename = filename or getattr(f, "filename", None) or "<ir>"
        self.source = source if source is not None else getattr(f, "source", None)
        self.defined: set[int] = set()
        self._lines = None

    def op_line(self, op: Op) -> str:
        if self._lines is None:
            from .printer import _Namer, print_function
            self._namer = _Namer()
            self._lines = print_function(self.f, _namer=self._namer).splitlines()
        i = self._namer.lines.get(id(op))
        return self._lines[i].strip() if i is not None else op.name

    def fail(self, op: Op | None, msg: str):
        if op is not None:
            sig = ", ".join(str(v.type) for v in op.operands)
            msg = f"{op.name}({sig}): {msg}"
            pos = self.positions.get(id(op))
            src = ""
            try:
                src = self.op_line(op)
            except Exception:  # the function may be too broken to print; the message still stands
                pass
            if pos is not None:
                if self.source is not None:
                    src = self.source.splitlines()[pos[0] - 1]
                    raise VerifyError(msg, self.filename, pos[0], pos[1], src)
                raise VerifyError(msg + (f"\n  {src}" if src else ""), self.filename, pos[0], pos[1])
            if op.loc is not None:
                raise VerifyError(msg + (f"\n  {src}" if src else ""), op.loc.file, op.loc.line, op.loc.col or 0)
            raise VerifyError(msg + (f"\n  {src}" if src else ""), f"@{self.f.name}", 0, 0)
        raise VerifyError(msg, f"@{self.f.name}", 0, 0)

    def define(self, v, op=None):
        if id(v) in self.defined:
            what = f"%{v.name}" if v.name else (f"result #{v.index}" if v.producer is not None else "a parameter")
            self.fail(op, f"value {what} ({v.type}) is defined twice")
        self.defined.add(id(v))

    def region(self, r: Region, owner: Op | None):
        visible: set[int] = set()
        for p in r.params:
            self.define(p, owner)
            visible.add(id(p))
        for op in r.ops:
            self.op(op, visible)
            for v in op.results:
                self.define(v, op)
                visible.add(id(v))
        for v in r.results:
            if id(v) not in visible:
                what = "yielded" if owner is not None else "returned"
                self.fail(owner, f"a {what} value of type {v.type} is not defined in this region")

    def op(self, op: Op, visible: set[int]):
        for k, v in enumerate(op.operands):
            if id(v) not in visible:
                self.fail(op, f"operand #{k} ({v.type}) is used before it is defined or comes from outside "
                              "this region")
        try:
            opdef = get_op(op.name)
        except TypeError_ as e:
            self.fail(op, str(e))
        try:
            attrs = opdef.normalize_attrs(op.attrs)
        except TypeError_ as e:
            self.fail(op, str(e))
        if attrs.keys() != op.attrs.keys():
            self.fail(op, "attributes are not normalized (defaults missing)")
        try:
            expected = opdef.infer_types(tuple(v.type for v in op.operands), attrs, op.regions)
        except TypeError_ as e:
            self.fail(op, str(e))
        got = tuple(r.type for r in op.results)
        if got != expected:
            self.fail(op, f"result type(s) {', '.join(map(str, got)) or '()'} do not match the type rule's "
                          f"{', '.join(map(str, expected)) or '()'}")
        if len(op.regions) != opdef.regions:
            self.fail(op, f"has {len(op.regions)} region(s), expected {opdef.regions}")
        for r in op.regions:
            self.region(r, op)
        if opdef.verify_regions is not None:
            try:
                opdef.verify_regions(op)
            except TypeError_ as e:
                self.fail(op, str(e))


def verify(f: Function, positions=None, filename=None, source=None) -> Function:
    """Raise VerifyError on the first broken invariant; return ``f`` otherwise."""
    _Verifier(f, positions, filename, source).region(f, None)
    return f


def verify_module(m, filename=None):
    for f in m:
        verify(f, getattr(m, "positions", None), filename or getattr(m, "filename", None),
               getattr(m, "source", None))
    return m


__all__ = ["verify", "verify_module", "VerifyError", "OPS"]
