"""The SSA graph IR: values, ops, regions, functions and modules.

Ops are treated as immutable once built: passes build new functions rather
than editing old ones, so a Function handed to a user never changes under them.
A Region is a single block: typed parameters, a list of ops and yielded values.
Regions are isolated from above (ops inside see only the region's parameters),
which makes fusion groups self-contained kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from .registry import get_op
from .types import TensorType, TypeError_


@dataclass(frozen=True)
class Loc:
    """A source location: the user's file and line (and column when known)."""
    file: str
    line: int
    col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.col}" if self.col is not None else "")


class Value:
    """An SSA value: defined once, by a function/region parameter or an op result."""
    __slots__ = ("type", "name", "producer", "index")

    def __init__(self, type: TensorType, name: str | None = None, producer: "Op | None" = None, index: int = 0):
        self.type = type
        self.name = name          # a hint for printing (parameters keep their names)
        self.producer = producer  # the defining op, None for parameters
        self.index = index        # which result of the producer

    def __repr__(self) -> str:
        return f"<Value {self.name or hex(id(self))}: {self.type}>"


class Op:
    __slots__ = ("name", "operands", "attrs", "results", "regions", "loc")

    def __init__(self, name: str, operands: Sequence[Value], attrs: dict, result_types: Sequence[TensorType],
                 regions: Sequence["Region"] = (), loc: Loc | None = None):
        self.name = name
        self.operands = tuple(operands)
        self.attrs = dict(attrs)
        self.results = tuple(Value(t, None, self, i) for i, t in enumerate(result_types))
        self.regions = tuple(regions)
        self.loc = loc

    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise ValueError(f"op {self.name} has {len(self.results)} results")
        return self.results[0]

    @property
    def opdef(self):
        return get_op(self.name)

    def walk(self) -> Iterator["Op"]:
        """This op, then every op nested in its regions (pre-order)."""
        yield self
        for r in self.regions:
            yield from r.walk()

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


class Region:
    """A single-block region: params -> ops -> yielded results."""

    def __init__(self, params: Sequence[Value], ops: Sequence[Op], results: Sequence[Value]):
        self.params = tuple(params)
        self.ops = list(ops)
        self.results = tuple(results)

    @property
    def param_types(self) -> tuple[TensorType, ...]:
        return tuple(p.type for p in self.params)

    @property
    def result_types(self) -> tuple[TensorType, ...]:
        return tuple(v.type for v in self.results)

    def walk(self) -> Iterator[Op]:
        for op in self.ops:
            yield from op.walk()


class Function(Region):
    """A named, typed region: the unit that is compiled and called."""

    def __init__(self, name: str, params: Sequence[Value], ops: Sequence[Op], results: Sequence[Value]):
        super().__init__(params, ops, results)
        self.name = name

    def __str__(self) -> str:
        from .printer import print_function
        return print_function(self)

    def text(self, locs: bool = True) -> str:
        from .printer import print_function
        return print_function(self, locs=locs)

    def to_networkx(self):
        from .graph import to_networkx
        return to_networkx(self)

    def to_dot(self) -> str:
        from .graph import to_dot
        return to_dot(self)

    def verify(self) -> "Function":
        from .verifier import verify
        verify(self)
        return self


class Module:
    """An ordered collection of functions, addressed by name."""

    def __init__(self, functions: Iterable[Function] = ()):
        self.functions: dict[str, Function] = {}
        for f in functions:
            if f.name in self.functions:
                raise ValueError(f"function @{f.name} defined twice")
            self.functions[f.name] = f

    def __getitem__(self, name: str) -> Function:
        return self.functions[name]

    def __iter__(self):
        return iter(self.functions.values())

    def __len__(self):
        return len(self.functions)

    def __str__(self) -> str:
        from .printer import print_module
        return print_module(self)

    def verify(self) -> "Module":
        for f in self:
            f.verify()
        return self


class Builder:
    """Appends type-inferred ops to a list; the tracer and passes build IR with it."""

    def __init__(self, loc: Loc | None = None):
        self.ops: list[Op] = []
        self.loc = loc

    def op(self, name: str, *operands: Value, regions: Sequence[Region] = (), loc: Loc | None = None,
           **attrs) -> Op:
        try:
            opdef = get_op(name)
            attrs = opdef.normalize_attrs(attrs)
            types = opdef.infer_types(tuple(v.type for v in operands), attrs, regions)
        except TypeError_ as e:
            sig = ", ".join(str(v.type) for v in operands)
            raise TypeError_(f"{name}({sig}): {e}") from None
        op = Op(name, operands, attrs, types, regions, loc if loc is not None else self.loc)
        self.ops.append(op)
        return op

    def __call__(self, name: str, *operands: Value, **attrs) -> Value:
        """Build a single-result op and return its result."""
        return self.op(name, *operands, **attrs).result
