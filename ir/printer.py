"""Text form of the IR.  ``parse(print(f))`` rebuilds ``f`` and prints identically.

    func @predict(%x: f32[B,784], %W: f32[784,10], %b: f32[10]) -> (f32[B,10]) {
      %0 = matmul(%x, %W) : f32[B,10] loc("model.py":14)
      %1 = add(%0, %b) : f32[B,10]
      %2 = softmax(%1) {axis = 1} : f32[B,10]
      return %2
    }

Attributes print in sorted order with every default filled in, values are
renamed canonically (parameters keep valid unique names, results count up),
and floats print as their shortest round-tripping decimal.
"""
from __future__ import annotations

import json
import math

import numpy as np

from .core import Function, Loc, Module, Op, Region, Value
from .types import DType, Sym, TensorType

DENSE_LIST_MAX = 16   # larger constants print as a hex blob of their bytes


def format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _scalar(x, dtype: DType) -> str:
    if dtype.is_bool:
        return "true" if bool(x) else "false"
    if dtype.is_float:
        return format_float(float(x))
    return str(int(x))


def format_dense(a: np.ndarray) -> str:
    from .types import dtype_of
    dt = dtype_of(a.dtype)
    t = TensorType(dt, a.shape)
    if a.size > DENSE_LIST_MAX:
        body = "0x" + np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes().hex()
    else:
        body = "[" + ", ".join(_scalar(x, dt) for x in a.reshape(-1)) + "]"
    return f"dense<{body}> : {t}"


def format_attr(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format_float(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (DType, Sym)):
        return str(v)
    if isinstance(v, tuple):
        if len(v) == 1:
            return "(" + format_attr(v[0]) + ",)"
        return "(" + ", ".join(format_attr(x) for x in v) + ")"
    if isinstance(v, np.ndarray):
        return format_dense(v)
    raise TypeError(f"cannot print attribute value {v!r}")


def format_loc(loc: Loc) -> str:
    s = f"loc({json.dumps(loc.file)}:{loc.line}"
    if loc.col is not None:
        s += f":{loc.col}"
    return s + ")"


class _Namer:
    def __init__(self):
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0
        self.lines: dict[int, int] = {}   # id(op) -> index of its line in the output

    def param(self, v: Value, i: int) -> str:
        hint = v.name
        if not (hint and hint.isidentifier() and hint not in self.used):
            hint = f"arg{i}"
            while hint in self.used:
                hint = "_" + hint
        return self._set(v, hint)

    def result(self, v: Value) -> str:
        name = str(self.counter)
        self.counter += 1
        return self._set(v, name)

    def _set(self, v: Value, name: str) -> str:
        self.used.add(name)
        self.names[id(v)] = name
        return "%" + name

    def __getitem__(self, v: Value) -> str:
        try:
            return "%" + self.names[id(v)]
        except KeyError:
            return "%<undefined:" + (v.name or hex(id(v))) + ">"


def _print_ops(ops, namer: _Namer, indent: str, locs: bool, out: list[str]):
    for op in ops:
        _print_op(op, namer, indent, locs, out)


def _print_op(op: Op, namer: _Namer, indent: str, locs: bool, out: list[str]):
    operands = ", ".join(namer[v] for v in op.operands)
    line = indent
    results = [namer.result(r) for r in op.results]
    if results:
        line += ", ".join(results) + " = "
    line += f"{op.name}({operands})"
    if op.attrs:
        line += " {" + ", ".join(f"{k} = {format_attr(op.attrs[k])}" for k in sorted(op.attrs)) + "}"
    line += " : " + (", ".join(str(r.type) for r in op.results) if op.results else "()")
    if locs and op.loc is not None:
        line += " " + format_loc(op.loc)
    namer.lines[id(op)] = len(out)
    if not op.regions:
        out.append(line)
        return
    for k, region in enumerate(op.regions):
        out.append(line + " {" if k == 0 else indent + "} {")
        params = ", ".join(f"{namer.result(p)}: {p.type}" for p in region.params)
        out.append(f"{indent}^({params}):")
        _print_ops(region.ops, namer, indent + "  ", locs, out)
        out.append(f"{indent}  yield " + ", ".join(namer[v] for v in region.results))
    out.append(indent + "}")


def print_function(f: Function, locs: bool = True, _namer: "_Namer | None" = None) -> str:
    namer = _namer or _Namer()
    params = ", ".join(f"{namer.param(p, i)}: {p.type}" for i, p in enumerate(f.params))
    rtypes = ", ".join(str(v.type) for v in f.results)
    out = [f"func @{f.name}({params}) -> ({rtypes}) {{"]
    _print_ops(f.ops, namer, "  ", locs, out)
    out.append("  return " + ", ".join(namer[v] for v in f.results))
    out.append("}")
    return "\n".join(out) + "\n"


def print_module(m: Module, locs: bool = True) -> str:
    return "\n".join(print_function(f, locs) for f in m)


def print_op(op: Op, locs: bool = True) -> str:
    """One op on its own (operands named by hint); used in error messages."""
    namer = _Namer()
    for v in op.operands:
        namer.names.setdefault(id(v), v.name or "?")
    out: list[str] = []
    _print_op(op, namer, "", locs, out)
    return out[0]


__all__ = ["print_function", "print_module", "print_op", "format_attr", "format_float", "Region"]
