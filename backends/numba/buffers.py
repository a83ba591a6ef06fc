"""Which arrays a Numba program may overwrite: the memory plan's in-place rule on this backend's buffers.

``passes/memory.py`` plans one buffer per top-level intermediate and lets an
elementwise result take the buffer of an operand that dies at that op and has
exactly the result's type.  This backend applies that rule to the arrays it
really materialises, which differ from the plan's in two ways:

* views: results of rules marked ``view`` (transpose, reshape, slice, ...) may share their
  operand's memory, so a buffer lives until the last use of any view of it;
* regions: a fusion region that is not one loop nest is lowered as runs of ops
  (``Emitter.lower_fusion``), and values inside it (a matmul's product before its
  epilogue) are real arrays that die inside the region.

A result computed in place saves an allocation and the write-allocate traffic of a
fresh buffer (the SGD update writes the new weights over the weight gradient).
Inputs and constants are never overwritten: only arrays the program allocated
itself (``Emitter.owned``) can be donated.
"""
from __future__ import annotations


class Lifetimes:
    """Last uses of buffers over a sequence of ops: ``dead_after(v, k)`` when nothing after op ``k``
    (nor the sequence's results, nor anything outside it: ``outer``) reads ``v`` or a view of it."""

    def __init__(self, ops, results, is_view, bases: dict | None = None, outer=None):
        self.is_view = is_view                            # op -> whether its result may alias its operand
        self.base: dict[int, int] = dict(bases or {})     # id(value) -> id of the value owning its memory
        self.outer = outer                                # (enclosing Lifetimes, index of the region's op)
        for op in ops:
            if is_view(op):
                self.base[id(op.results[0])] = self.of(op.operands[0])
            elif op.name == "fusion" and op.regions:        # a region may yield a param or a view of one
                region = op.regions[0]
                inner = Lifetimes(region.ops, (), is_view,
                                  {id(p): self.of(v) for p, v in zip(region.params, op.operands)})
                outside = {self.of(v) for v in op.operands}
                for r, y in zip(op.results, region.results):
                    if inner.of(y) in outside:
                        self.base[id(r)] = inner.of(y)
        self.last: dict[int, int] = {}
        for k, op in enumerate(ops):
            for v in op.operands:
                self.last[self.of(v)] = k
        for v in results:
            self.last[self.of(v)] = len(ops)
        self._outside: set[int] = set()                  # bases owned outside (a region's params)

    def of(self, v) -> int:
        return self.base.get(id(v), id(v))

    def region(self, op, index: int, ops) -> "Lifetimes":
        """Lifetimes inside fusion ``op`` (op number ``index`` here), lowered op by op in the order ``ops``."""
        region = op.regions[0]
        bases = {id(p): self.of(v) for p, v in zip(region.params, op.operands)}
        inner = Lifetimes(ops, region.results, self.is_view, bases, outer=(self, index))
        inner._outside = set(bases.values())
        return inner

    def dead_after(self, v, k: int) -> bool:
        return self._dead(self.of(v), k)

    def _dead(self, b: int, k: int) -> bool:
        if self.last.get(b, -1) > k:
            return False
        if b in self._outside:
            parent, index = self.outer
            return parent._dead(b, index)
        return True
