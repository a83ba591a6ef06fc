"""Source generation for fusion kernels: a run of elementwise ops -> one grid-stride ``@cuda.jit`` kernel.

Each thread decomposes a flat index over the loop shape into per-axis indices,
reads each operand once at its broadcast position, evaluates the ops' *scalar
forms* (``scalars`` table, keyed by op name) into typed temporaries and writes the
outputs.  Intermediates never touch memory.  The source is readable (one line per
op, commented with the op's IR) and kernels are memoised by source text, so the
same region in two programs compiles once.
"""
from __future__ import annotations

import linecache
import math

import numpy as np

from flowc.ir.registry import Rules
from flowc.ir.types import DType, FlowcError, Sym

rules = Rules("cuda")             # op name -> lowering rule(ctx, op) -> run(args, env)
scalars = Rules("cuda scalar")    # op name -> scalar form(op, operand exprs) -> expr

_KERNELS: dict[str, object] = {}

HEADER = ("import math\n"
          "from numba import cuda, float32, float64, int8, int32, int64, uint32\n"
          "from numba.core.types import float16\n"
          "from flowc.backends.cuda.kernels import (INF, NAN, f_ceil, f_exp, f_floor, f_log, f_log1p, f_pow,\n"
          "                                         f_sigmoid, f_sqrt, f32_ceil, f32_exp, f32_floor, f32_log,\n"
          "                                         f32_log1p, f32_sigmoid, f32_sqrt, i_pow)\n")


class CudaLoweringError(FlowcError):
    """The cuda backend cannot lower an op (an unsupported case, named with the op)."""


def np_type(dtype: DType) -> str:
    return "bool" if dtype.is_bool else dtype.np_name


def literal(x, dtype: DType) -> str:
    if dtype.is_bool:
        return "True" if bool(x) else "False"
    if dtype.is_float:
        v = float(x)
        text = "NAN" if math.isnan(v) else ("INF" if v == math.inf else "-INF" if v == -math.inf else repr(v))
        return f"{dtype.np_name}({text})"
    return f"{dtype.np_name}({int(x)})"


def typed(expr: str, dtype: DType) -> str:
    """``expr`` converted to ``dtype`` (wraps ints, rounds floats): every temporary has its IR type."""
    return f"bool({expr})" if dtype.is_bool else f"{dtype.np_name}({expr})"


def fits(shape, loop) -> bool:
    lead = len(loop) - len(shape)
    return lead >= 0 and all(d == 1 or d == loop[lead + j] for j, d in enumerate(shape))


def bcast_index(shape, loop, idx) -> str:
    if not shape:
        return "0"      # rank-0 arrays are passed as shape (1,)
    lead = len(loop) - len(shape)
    return ", ".join("0" if d == 1 and loop[lead + j] != 1 else idx[lead + j] for j, d in enumerate(shape))


def scalar_constant(op) -> bool:
    return op.name == "constant" and op.attrs["value"].size == 1


def scalar_ok(op) -> bool:
    """Can ``op`` be evaluated per element inside a generated kernel?"""
    return not op.regions and (op.name in scalars or op.name == "iota" or scalar_constant(op))


UNROLL = 4     # elements per thread per trip: their loads are all issued before any is used


def _element(ops, inputs, outputs, loop, comment, sfx=""):
    """The lines computing one element at flat index ``flat{sfx}``: (index, load, compute, store)."""
    rank = len(loop)
    idx = [f"i{k}{sfx}" for k in range(rank)]
    pnames = {id(v): f"p{k}" for k, v in enumerate(inputs)}
    index, loads, compute, stores = [f"rem{sfx} = flat{sfx}"], [], [], []
    for k in range(rank - 1, 0, -1):
        index += [f"{idx[k]} = rem{sfx} % dims[{k}]", f"rem{sfx} //= dims[{k}]"]
    index.append(f"{idx[0]} = rem{sfx}")
    env: dict[int, str] = {}

    def get(v) -> str:
        if id(v) not in env:
            t = f"x{len(loads)}{sfx}"
            loads.append(f"{t} = {pnames[id(v)]}[{bcast_index(v.type.shape, loop, idx)}]")
            env[id(v)] = t
        return env[id(v)]

    used = {id(v) for op in ops for v in op.operands} | {id(v) for v in outputs}
    for v in inputs:        # every operand read up front, so the loads can all be in flight together
        if id(v) in used:
            get(v)
    for n, op in enumerate(ops):
        t = op.results[0].type
        if scalar_constant(op):
            env[id(op.results[0])] = literal(op.attrs["value"].reshape(-1)[0], t.dtype)
            continue
        if op.name == "iota":
            expr = bcast_index(t.shape, loop, idx).split(", ")[op.attrs["axis"]]
        else:
            expr = scalars[op.name](op, [get(v) for v in op.operands])
        note = f"  # {comment(op)}" if not sfx else ""
        compute.append(f"t{n}{sfx} = {typed(expr, t.dtype)}{note}")
        env[id(op.results[0])] = f"t{n}{sfx}"
    for k, v in enumerate(outputs):
        stores.append(f"o{k}[{bcast_index(v.type.shape, loop, idx)}] = {get(v)}")
    return index, loads, compute, stores


def generate(name: str, ops, inputs, outputs, loop, comment=lambda op: op.name) -> str:
    """Kernel ``name(o0.., p0.., dims, n)`` computing ``outputs`` from ``inputs`` over ``loop``.

    Each thread takes UNROLL elements a grid apart per trip, reading all of them before computing
    any (outputs may alias nothing, but the compiler cannot know that, so it would not move a load
    above an earlier store): a thread with one load in flight at a time leaves most of the memory
    bandwidth unused.  A plain grid-stride loop finishes the tail."""
    loop = tuple(loop) or (1,)
    parts = [_element(ops, inputs, outputs, loop, comment, f"_{u}") for u in range(UNROLL)]
    args = ", ".join([f"o{k}" for k in range(len(outputs))] + [f"p{k}" for k in range(len(inputs))] + ["dims", "n"])
    lines = ["@cuda.jit", f"def {name}({args}):",
             "    g = cuda.gridsize(1)",
             "    flat = cuda.grid(1)",
             f"    while flat + {UNROLL - 1} * g < n:"]
    lines += [f"        flat_{u} = flat + {u} * g" for u in range(UNROLL)]
    for kind in range(4):
        lines += ["        " + line for part in parts for line in part[kind]]
    lines += [f"        flat += {UNROLL} * g",
              "    while flat < n:"]
    lines += ["        " + line for kind in _element(ops, inputs, outputs, loop, comment) for line in kind]
    lines += ["        flat += g"]
    return "\n".join(lines) + "\n"


def build(name: str, source: str):
    """Compile (memoised by source) the kernel ``name`` defined in ``source``."""
    text = HEADER + "\n\n" + source
    hit = _KERNELS.get(text)
    if hit is None:
        filename = f"<flowc-cuda {name} #{len(_KERNELS)}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        ns: dict = {}
        exec(compile(text, filename, "exec"), ns)
        hit = _KERNELS[text] = ns[name]
    return hit


def resolve(dims, env) -> tuple[int, ...]:
    out = []
    for d in dims:
        if isinstance(d, Sym):
            if d not in env:
                raise CudaLoweringError(f"symbolic dim {d} is not bound by any input")
            d = env[d]
        out.append(int(d))
    return tuple(out)


def np_dtype(dtype: DType) -> np.dtype:
    return dtype.np
