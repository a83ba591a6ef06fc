"""Liveness of a function's top-level values, and byte sizes over symbolic dims.

A value is live from the op defining it to its last use (ops numbered in program
order; ops inside regions count as uses by the owning op).  ``Size`` is a byte count
that may depend on unbound symbols: a polynomial ``sum(coeff * product(symbols))``
with non-negative coefficients, so ``a.covers(b)`` (a >= b for every positive binding)
and the term-wise maximum stay exact enough for slot sizing.
"""
from __future__ import annotations

from dataclasses import dataclass

from flowc.ir import Function, Sym, TensorType, Value

ASSUMED_SIZE = 64   # how large an unbound symbol is taken to be when ranking program points


@dataclass(frozen=True)
class Size:
    terms: tuple[tuple[tuple[str, ...], int], ...]   # sorted ((symbols), coefficient), coefficients > 0

    @staticmethod
    def of(d: dict) -> "Size":
        return Size(tuple(sorted((k, v) for k, v in d.items() if v)))

    @property
    def dict(self) -> dict:
        return dict(self.terms)

    def __add__(self, other: "Size") -> "Size":
        d = self.dict
        for k, v in other.terms:
            d[k] = d.get(k, 0) + v
        return Size.of(d)

    def __sub__(self, other: "Size") -> "Size":
        d = self.dict
        for k, v in other.terms:
            d[k] = d.get(k, 0) - v
        return Size.of(d)

    def covers(self, other: "Size") -> bool:
        d = self.dict
        return all(d.get(k, 0) >= v for k, v in other.terms)

    def tmax(self, other: "Size") -> "Size":
        d = self.dict
        for k, v in other.terms:
            d[k] = max(d.get(k, 0), v)
        return Size.of(d)

    def estimate(self) -> int:
        return sum(v * ASSUMED_SIZE ** len(k) for k, v in self.terms)

    @property
    def is_static(self) -> bool:
        return all(not k for k, _ in self.terms)

    def value(self):
        """An int when no symbol is left, else the Size itself."""
        return sum(v for _, v in self.terms) if self.is_static else self

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        return " + ".join("*".join(([str(v)] if v != 1 or not k else []) + list(k)) for k, v in self.terms)


ZERO = Size(())


def nbytes(t: TensorType, sizes: dict[str, int]) -> Size:
    n, syms = t.dtype.np.itemsize, []
    for d in t.shape:
        if isinstance(d, Sym) and d.name in sizes:
            n *= sizes[d.name]
        elif isinstance(d, Sym):
            syms.append(d.name)
        else:
            n *= d
    return Size.of({tuple(sorted(syms)): n})


def last_uses(f: Function) -> dict[int, int]:
    """id(value) -> index of the last top-level op reading it (len(ops) for returned values)."""
    last: dict[int, int] = {}
    for i, op in enumerate(f.ops):
        for v in op.operands:
            last[id(v)] = i
    for v in f.results:
        last[id(v)] = len(f.ops)
    return last


def intermediates(f: Function) -> list[Value]:
    """Op results that are neither constants nor returned: the buffers a plan must place."""
    returned = {id(v) for v in f.results}
    return [r for op in f.ops if op.name != "constant" for r in op.results if id(r) not in returned]
