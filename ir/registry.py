"""The op registry: each op is declared once; every other concern hangs off its name.

``defop`` declares an op's name, attribute schema, arity, traits and type rule.
Other layers (reference interpreter, autodiff, backends) keep their own
:class:`Rules` table keyed by op name and fill it with a decorator in the module
that owns that concern — no central switch is ever edited to add an op.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .types import DType, Sym, TensorType, TypeError_, as_dim, dtype_of

REQUIRED = object()


def _int(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError_(f"expected an int, got {v!r}")
    return int(v)


def _float(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError_(f"expected a float, got {v!r}")
    return float(v)


def _bool(v):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError_(f"expected a bool, got {v!r}")
    return bool(v)


def _str(v):
    if not isinstance(v, str):
        raise TypeError_(f"expected a string, got {v!r}")
    return v


def _ints(v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (v,)
    if not isinstance(v, (tuple, list)):
        raise TypeError_(f"expected a tuple of ints, got {v!r}")
    return tuple(_int(x) for x in v)


def _dims(v):
    if not isinstance(v, (tuple, list)):
        raise TypeError_(f"expected a shape (tuple of ints/symbols), got {v!r}")
    return tuple(as_dim(x) for x in v)


def _dim(v):
    if isinstance(v, (tuple, list)):
        raise TypeError_(f"expected a dim (an int or a symbol), got {v!r}")
    return as_dim(v)


def _pairs(v):
    if not isinstance(v, (tuple, list)):
        raise TypeError_(f"expected a tuple of (int, int) pairs, got {v!r}")
    out = []
    for p in v:
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise TypeError_(f"expected an (int, int) pair, got {p!r}")
        out.append((_int(p[0]), _int(p[1])))
    return tuple(out)


def _tensor(v):
    if not isinstance(v, np.ndarray):
        raise TypeError_(f"expected a tensor constant, got {type(v).__name__}")
    dtype_of(v.dtype)
    return v


def _dtype(v):
    return dtype_of(v)


ATTR_KINDS: dict[str, Callable[[Any], Any]] = {
    "int": _int, "float": _float, "bool": _bool, "str": _str, "dtype": _dtype,
    "ints": _ints, "dims": _dims, "dim": _dim, "pairs": _pairs, "tensor": _tensor,
}


@dataclass(frozen=True)
class Attr:
    """Schema of one attribute: its kind, default (or REQUIRED), allowed values."""
    kind: str
    default: Any = REQUIRED
    choices: tuple = ()
    optional: bool = False  # None allowed

    def check(self, name: str, v):
        if v is None and self.optional:
            return None
        try:
            v = ATTR_KINDS[self.kind](v)
        except TypeError_ as e:
            raise TypeError_(f"attribute '{name}': {e}") from None
        if self.choices and v not in self.choices:
            raise TypeError_(f"attribute '{name}' must be one of {', '.join(map(repr, self.choices))}, got {v!r}")
        return v


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable[..., Any]             # infer(*operand_types, **attrs) -> TensorType | tuple
    attrs: dict[str, Attr] = field(default_factory=dict)
    arity: int | None = 1                 # None: variadic (at least one operand)
    traits: frozenset = frozenset()       # e.g. {"elementwise", "commutative", "random"}
    regions: int = 0
    verify_regions: Callable | None = None
    doc: str = ""

    def normalize_attrs(self, attrs: dict) -> dict:
        """Validate ``attrs`` against the schema, filling defaults; returns a new dict."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise TypeError_(f"unknown attribute(s) {', '.join(sorted(unknown))}"
                             + (f"; expected {', '.join(self.attrs)}" if self.attrs else "; it takes none"))
        out = {}
        for name, spec in self.attrs.items():
            if name in attrs:
                out[name] = spec.check(name, attrs[name])
            elif spec.default is REQUIRED:
                raise TypeError_(f"missing attribute '{name}'")
            else:
                out[name] = spec.default
        return out

    def infer_types(self, operand_types, attrs, regions=()) -> tuple[TensorType, ...]:
        """Result types; a region op declared with ``infer=None`` yields its first region's result types."""
        if self.arity is not None and len(operand_types) != self.arity:
            raise TypeError_(f"expects {self.arity} operand(s), got {len(operand_types)}")
        if self.arity is None and not operand_types and not self.regions:
            raise TypeError_("expects at least one operand")
        if self.infer is None:
            if not regions:
                raise TypeError_("takes its result types from its region, but has none")
            return tuple(regions[0].result_types)
        r = self.infer(*operand_types, **attrs)
        return r if isinstance(r, tuple) else (r,)


OPS: dict[str, OpDef] = {}


def defop(name: str, *, attrs: dict | None = None, arity: int | None = 1, traits=(), regions: int = 0,
          verify_regions=None, doc: str = ""):
    """Decorator declaring an op from its type rule (``defop(...)(None)`` for region-typed ops)."""
    def wrap(infer):
        if name in OPS:
            raise ValueError(f"op {name!r} is declared twice")
        OPS[name] = OpDef(name, infer, dict(attrs or {}), arity, frozenset(traits), regions, verify_regions,
                          doc or (infer.__doc__ or "").strip())
        return infer
    return wrap


def get_op(name: str) -> OpDef:
    _load_ops()
    try:
        return OPS[name]
    except KeyError:
        raise TypeError_(f"unknown op '{name}'") from None


def _load_ops():
    from . import ops  # noqa: F401  (declares every op family)


class Rules:
    """A per-concern table keyed by op name (reference impls, gradients, lowerings)."""

    def __init__(self, concern: str):
        self.concern = concern
        self.table: dict[str, Callable] = {}

    def register(self, *names: str):
        def wrap(fn):
            for n in names:
                if n in self.table:
                    raise ValueError(f"{self.concern} rule for {n!r} registered twice")
                self.table[n] = fn
            return fn
        return wrap

    def __contains__(self, name):
        return name in self.table

    def __getitem__(self, name):
        try:
            return self.table[name]
        except KeyError:
            raise NotImplementedError(f"op '{name}' has no {self.concern} rule") from None

    def missing(self) -> list[str]:
        _load_ops()
        return sorted(set(OPS) - set(self.table))


__all__ = ["Attr", "OpDef", "OPS", "defop", "get_op", "Rules", "REQUIRED", "Sym", "DType"]
