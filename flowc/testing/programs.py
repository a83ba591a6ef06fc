"""Small IR surgery shared by check, bisect, shrink and fuzz: probes, op text, random inputs, pruning.

A *probe* of a function returns every top-level op result in program order, so one
run on a backend shows each intermediate value; comparing probes op by op finds the
first op that diverges without any per-backend debugging hook.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from flowc.ir import Function, Op, Region, Sym, Value


def probe(f: Function) -> tuple[Function, list[tuple[int, Op, int]]]:
    """``f`` returning every top-level op result; also (op index, op, result index) per probe output."""
    where = [(k, op, i) for k, op in enumerate(f.ops) for i in range(len(op.results))]
    return Function(f.name + "_probe", f.params, f.ops, [op.results[i] for _, op, i in where]), where


def region_function(op: Op, name: str = "region") -> Function:
    """The first region of ``op`` as a standalone function (regions are isolated from above)."""
    r: Region = op.regions[0]
    return Function(name, r.params, r.ops, r.results)


def single_op_function(op: Op) -> Function:
    """A function whose only op is a copy of ``op`` on fresh parameters (its operands)."""
    params = [Value(v.type, f"in{i}") for i, v in enumerate(op.operands)]
    copy = Op(op.name, params, op.attrs, [r.type for r in op.results], op.regions, op.loc)
    return Function(op.name, params, [copy], copy.results)


def op_lines(f: Function, locs: bool = True) -> dict[int, str]:
    """id(op) -> that op's printed line in ``f`` (top level and nested)."""
    from flowc.ir.printer import _Namer, print_function
    namer = _Namer()
    lines = print_function(f, locs=locs, _namer=namer).splitlines()
    return {k: lines[i].strip() for k, i in namer.lines.items()}


def symbol_sizes(f: Function, inputs: Sequence[np.ndarray]) -> dict[str, int]:
    """The size each symbolic dim of ``f``'s parameters takes in ``inputs``."""
    sizes = {}
    for p, a in zip(f.params, inputs):
        for d, n in zip(p.type.shape, np.shape(a)):
            if isinstance(d, Sym):
                sizes.setdefault(d.name, int(n))
    return sizes


def random_array(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    """Floats uniform in [-2, 2], signed ints in [-5, 5], u32 in [0, 1000], bools fair coins."""
    if dtype.is_bool:
        a = rng.random(shape) < 0.5
    elif dtype.is_float:
        a = rng.uniform(-2, 2, shape)
    elif dtype.np.kind == "u":
        a = rng.integers(0, 1000, shape, endpoint=True)
    else:
        a = rng.integers(-5, 5, shape, endpoint=True)
    return np.asarray(a).astype(dtype.np)


def concrete_shape(shape, sizes: dict[str, int], default: int = 3) -> tuple[int, ...]:
    return tuple(sizes.get(d.name, default) if isinstance(d, Sym) else d for d in shape)


def random_inputs(f: Function, seed: int = 0, sizes: dict[str, int] | None = None) -> list[np.ndarray]:
    """Deterministic random inputs of ``f``'s parameter types (unknown symbols take size 3)."""
    rng = np.random.default_rng(seed)
    return [random_array(rng, p.type.dtype, concrete_shape(p.type.shape, sizes or {})) for p in f.params]


def prune(f: Function, inputs: Sequence[np.ndarray] | None = None):
    """Drop ops whose results are unused and parameters nothing uses (with their inputs)."""
    live = {id(v) for v in f.results}
    kept: list[Op] = []
    for op in reversed(f.ops):
        if any(id(r) in live for r in op.results):
            kept.append(op)
            live.update(id(v) for v in op.operands)
    kept.reverse()
    keep = [i for i, p in enumerate(f.params) if id(p) in live]
    # A parameter is also needed when it alone binds a symbol the kept program mentions (iota{shape=(B,)}).
    mentioned = {d for op in kept for r in op.results for d in r.type.shape if isinstance(d, Sym)}
    mentioned |= {d for v in f.results for d in v.type.shape if isinstance(d, Sym)}
    for i, p in enumerate(f.params):
        bound = {d for j in keep for d in f.params[j].type.shape if isinstance(d, Sym)}
        if i not in keep and p.type.symbols & (mentioned - bound):
            keep.append(i)
    keep.sort()
    g = Function(f.name, [f.params[i] for i in keep], kept, f.results)
    return g, (None if inputs is None else [inputs[i] for i in keep])


def replace_uses(f: Function, old: Sequence[Value], new: Sequence[Value], drop: Op | None = None,
                 extra_params: Sequence[Value] = ()) -> Function:
    """``f`` with each value of ``old`` replaced by the matching one of ``new`` (ops rebuilt as needed)."""
    mapping = {id(o): n for o, n in zip(old, new)}
    ops = []
    for op in f.ops:
        if op is drop:
            continue
        operands = [mapping.get(id(v), v) for v in op.operands]
        if all(a is b for a, b in zip(operands, op.operands)):
            ops.append(op)
            continue
        copy = Op(op.name, operands, op.attrs, [r.type for r in op.results], op.regions, op.loc)
        for a, b in zip(op.results, copy.results):
            mapping[id(a)] = b
        ops.append(copy)
    results = [mapping.get(id(v), v) for v in f.results]
    return Function(f.name, list(f.params) + list(extra_params), ops, results)


__all__ = ["probe", "region_function", "single_op_function", "op_lines", "symbol_sizes", "random_array",
           "random_inputs", "prune", "replace_uses", "concrete_shape"]
