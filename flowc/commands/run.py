"""``flowc run``: execute a function of a ``.fir`` file on inputs from an ``.npz`` (or random ones).

Inputs are matched to parameters by name (``%x`` <- key ``x``), or by position (key
``arg0``, ``arg1``, ...).  A missing, extra or mistyped input is a one-line error,
never a numpy traceback: the file is user data and may be wrong.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from flowc.ir import Function, Sym
from flowc.ir.types import FlowcError

from .opt import load_fir, pick_function

HELP = "run a function of a .fir file on inputs from an .npz file (or random inputs)"


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("file", metavar="FILE.fir", help="IR text file ('-' for stdin)")
    p.add_argument("--func", metavar="NAME", help="function to run (default: the only one, or @main)")
    p.add_argument("--inputs", metavar="DATA.npz", help="inputs by parameter name (or arg0, arg1, ...)")
    p.add_argument("--dim", metavar="SYM=N", action="append", default=[],
                   help="size of a symbolic dim for random inputs, e.g. --dim B=4 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--backend", default="reference", help="backend to run on (default: reference)")
    p.add_argument("-o", "--output", metavar="OUT.npz", help="write the results as result0, result1, ...")


def parse_dims(items) -> dict[str, int]:
    dims = {}
    for item in items:
        name, eq, size = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or not size.strip().isdigit():
            raise FlowcError(f"bad --dim {item!r}: expected SYM=N with N a non-negative integer, e.g. B=4")
        dims[name] = int(size)
    return dims


def _param_keys(f: Function) -> list[str]:
    return [p.name or f"arg{i}" for i, p in enumerate(f.params)]


def inputs_from_npz(f: Function, path: str) -> list[np.ndarray]:
    """Match the arrays of ``path`` to ``f``'s parameters by name or position."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise FlowcError(f"{path}: not a readable .npz file ({e})") from None
    keys = _param_keys(f)
    out, used = [], set()
    for i, (key, p) in enumerate(zip(keys, f.params)):
        for k in (key, f"arg{i}"):
            if k in arrays:
                out.append(arrays[k])
                used.add(k)
                break
        else:
            raise FlowcError(f"{path}: missing input '{key}' for parameter #{i} %{key}: {p.type}")
    extra = sorted(set(arrays) - used)
    if extra:
        raise FlowcError(f"{path}: unexpected input(s) {', '.join(map(repr, extra))}; @{f.name} takes "
                         + (", ".join(keys) or "no parameters"))
    for i, (key, p, a) in enumerate(zip(keys, f.params, out)):
        if a.dtype != p.type.dtype.np:
            raise FlowcError(f"{path}: input '{key}' has dtype {a.dtype}, but %{key} is {p.type} "
                             f"(dtype {p.type.dtype.np_name})")
    return out


def random_inputs(f: Function, dims: dict[str, int], seed: int) -> list[np.ndarray]:
    """Random inputs of the declared types (``flowc.testing``'s ranges); every symbol needs a ``--dim``."""
    from flowc.testing.programs import random_array
    rng = np.random.default_rng(seed)
    out = []
    for key, p in zip(_param_keys(f), f.params):
        for d in p.type.shape:
            if isinstance(d, Sym) and d.name not in dims:
                raise FlowcError(f"parameter %{key}: {p.type} has symbolic dim {d}; give its size "
                                 f"with --dim {d}=N (or pass --inputs)")
        shape = tuple(dims[d.name] if isinstance(d, Sym) else d for d in p.type.shape)
        out.append(random_array(rng, p.type.dtype, shape))
    return out


def run(args) -> int:
    dims = parse_dims(args.dim)
    f = pick_function(load_fir(args.file), args.func)
    if args.inputs is not None:
        inputs = inputs_from_npz(f, args.inputs)
    else:
        inputs = random_inputs(f, dims, args.seed)
    from flowc.backends import get_backend
    outs = get_backend(args.backend).compile(f)(*inputs)
    for i, (v, o) in enumerate(zip(f.results, outs)):
        print(f"result{i}: {v.type} = {o.dtype}{list(o.shape)}")
        print(np.array2string(o, threshold=200, max_line_width=100))
    if args.output is not None:
        np.savez(args.output, **{f"result{i}": o for i, o in enumerate(outs)})
        print(f"wrote {len(outs)} result(s) to {args.output}", file=sys.stderr)
    return 0
