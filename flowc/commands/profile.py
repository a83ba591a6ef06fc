"""``flowc profile``: compile a function with the Numba backend and print the time each kernel takes.

The table names every kernel with the IR op (or fusion region) it lowers, so a slow step points at
the op to look at (``flowc dump --stage source`` shows the kernel's code).  Inputs come from an
``.npz`` or are random; symbolic dims take ``--dim`` sizes (default 64, a training batch).
"""
from __future__ import annotations

import argparse

from flowc.ir.types import FlowcError, Sym
from flowc.passes import DEFAULT_OPT_LEVEL

HELP = "compile with the numba backend and print each kernel's time per run, with its IR op"
DEFAULT_DIM = 64


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("source", metavar="FILE.py:FUNC|FILE.fir", help="a Python function to trace, or an IR file")
    p.add_argument("--args", metavar="TYPES", help="argument types for FILE.py:FUNC, e.g. 'f32[B,784] f32[784,10]'")
    p.add_argument("--func", metavar="NAME", help="function of the .fir file (default: the only one, or @main)")
    p.add_argument("--inputs", metavar="DATA.npz", help="inputs by parameter name (or arg0, arg1, ...)")
    p.add_argument("--dim", metavar="SYM=N", action="append", default=[],
                   help=f"size of a symbolic dim for random inputs (default {DEFAULT_DIM})")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--opt-level", type=int, default=DEFAULT_OPT_LEVEL, choices=range(4),
                   help=f"pass pipeline (default {DEFAULT_OPT_LEVEL}, as fc.jit)")
    p.add_argument("--passes", metavar="SPEC", help="explicit pass pipeline instead of --opt-level")
    p.add_argument("--reps", type=int, default=5, help="timed runs (default 5, after 2 warm-up runs)")


def run(args) -> int:
    from flowc.api import Lowered
    from flowc.testing.programs import random_inputs

    from .check import _source_function
    from .run import inputs_from_npz, parse_dims
    if args.reps < 1:
        raise FlowcError(f"--reps must be at least 1, got {args.reps}")
    f = _source_function(args)
    if args.inputs:
        inputs = inputs_from_npz(f, args.inputs)
    else:
        sizes = {d.name: DEFAULT_DIM for p in f.params for d in p.type.shape if isinstance(d, Sym)}
        inputs = random_inputs(f, args.seed, {**sizes, **parse_dims(args.dim)})
    compiled = Lowered.from_function(f, args.opt_level, backend="numba", passes=args.passes).compile()
    from flowc.backends.numba.profile import table
    print(f"@{f.name} on " + ", ".join(f"{a.dtype}{list(a.shape)}" for a in inputs))
    print(table(*compiled.profile(*inputs, reps=args.reps)), end="")
    return 0
