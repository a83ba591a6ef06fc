"""Runs a verified Function on numpy arrays, one op at a time.

Symbolic dims are bound from the inputs; every op result is checked against its
declared type under those bindings, so an assumption a type rule made about two
symbols (``B`` against ``N``) that turns out false at run time is reported, not
silently computed.
"""
from __future__ import annotations

import numpy as np

from flowc.ir.core import Function, Op, Region
from flowc.ir.types import FlowcError, Sym, TensorType

from . import impls


class RuntimeInputError(FlowcError):
    """Inputs that do not fit the function's signature (dtype, rank, dims)."""


def _bind(t: TensorType, shape: tuple[int, ...], env: dict[Sym, int], what: str):
    if len(shape) != t.ndim:
        raise RuntimeInputError(f"{what}: expected rank {t.ndim} ({t}), got shape {shape}")
    for axis, (d, n) in enumerate(zip(t.shape, shape)):
        if isinstance(d, Sym):
            if env.setdefault(d, n) != n:
                raise RuntimeInputError(f"{what}: dim {d} (axis {axis}) is {n} here but {env[d]} elsewhere")
        elif d != n:
            raise RuntimeInputError(f"{what}: expected {t}, got shape {shape} (axis {axis}: {n} != {d})")


def bind_inputs(f: Function, args) -> dict[Sym, int]:
    """Check ``args`` against ``f``'s parameter types; return the symbol bindings."""
    if len(args) != len(f.params):
        raise RuntimeInputError(f"@{f.name} takes {len(f.params)} argument(s), got {len(args)}")
    env: dict[Sym, int] = {}
    for i, (p, a) in enumerate(zip(f.params, args)):
        what = f"argument {i} (%{p.name or i})"
        if not isinstance(a, np.ndarray):
            raise RuntimeInputError(f"{what}: expected a numpy array of type {p.type}, got {type(a).__name__}")
        if a.dtype != p.type.dtype.np:
            raise RuntimeInputError(f"{what}: expected dtype {p.type.dtype.np_name} ({p.type}), got {a.dtype}")
        _bind(p.type, a.shape, env, what)
    return env


def _resolve(v, env):
    """Replace symbols in a dims attribute by their bound sizes."""
    if isinstance(v, Sym):
        if v not in env:
            raise RuntimeInputError(f"symbolic dim {v} is not bound by any input")
        return env[v]
    if isinstance(v, tuple):
        return tuple(_resolve(x, env) for x in v)
    return v


class _Interp:
    def __init__(self, env: dict[Sym, int]):
        self.env = env

    def region(self, r: Region, args) -> list[np.ndarray]:
        vals = {id(p): a for p, a in zip(r.params, args)}
        for op in r.ops:
            outs = self.op(op, [vals[id(v)] for v in op.operands])
            for res, o in zip(op.results, outs):
                vals[id(res)] = o
        return [vals[id(v)] for v in r.results]

    def op(self, op: Op, args) -> list[np.ndarray]:
        fn = impls[op.name]
        attrs = {k: _resolve(v, self.env) for k, v in op.attrs.items()}
        if op.regions:
            attrs["regions"] = [lambda *a, _r=r: self.region(_r, a) for r in op.regions]
        try:
            with np.errstate(all="ignore"):
                out = fn(*args, **attrs)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(str(a.shape) for a in args)
            raise RuntimeInputError(f"{op.name}" + (f" at {op.loc}" if op.loc else "")
                                    + f" failed on input shapes {shapes}: {e}") from None
        outs = out if isinstance(out, (tuple, list)) else (out,)
        checked = []
        for k, (res, o) in enumerate(zip(op.results, outs)):
            o = np.asarray(o)
            if not o.flags.c_contiguous:
                # Every value is a C-contiguous array: numpy's reductions sum in an order that depends on
                # strides, and results must not change when a pass moves a transpose or reshape.
                o = o.copy(order="C")
            if o.dtype != res.type.dtype.np:
                raise AssertionError(f"reference {op.name} returned {o.dtype} for result {k} typed {res.type}")
            where = f"{op.name} result {k}" + (f" at {op.loc}" if op.loc else "")
            _bind(res.type, o.shape, self.env, where)
            checked.append(o)
        if len(checked) != len(op.results):
            raise AssertionError(f"reference {op.name} returned {len(checked)} results, expected {len(op.results)}")
        return checked


def run(f: Function, *args) -> list[np.ndarray]:
    """Evaluate ``f`` on numpy arrays; returns one fresh array per result."""
    args = tuple(np.asarray(a) if isinstance(a, np.generic) else a for a in args)
    env = bind_inputs(f, args)
    outs = _Interp(env).region(f, args)
    # Results may alias inputs (identity functions) or each other: hand back fresh arrays.
    fresh, seen = [], set()
    input_ids = {id(a) for a in args}
    for o in outs:
        if id(o) in input_ids or id(o) in seen or not o.flags.writeable or o.base is not None:
            o = o.copy()
        seen.add(id(o))
        fresh.append(o)
    return fresh


def compile(f: Function):
    """The backend interface: a callable running ``f``."""
    return lambda *args: run(f, *args)
