"""``flowc check``: run a function on the reference and on backends, compare, localise a mismatch.

The source is ``FILE.py:FUNC`` (traced with ``--args`` types or its annotations) or a
``.fir`` file (``--func`` picks the function).  Inputs come from ``--inputs DATA.npz``
(by parameter name, or arg0, arg1, ...) or are random (``--seed``, ``--dim B=4``).
Backends named with ``--backends`` must be available (else exit 1); without it every
registered backend is checked, and when only the reference is registered the check
compares the optimised program against the unoptimised one on the reference.
Exit status: 0 all agree, 1 a mismatch (or a user error).
"""
from __future__ import annotations

import argparse

from flowc.ir.types import FlowcError
from flowc.passes import DEFAULT_OPT_LEVEL

HELP = "compare a function on the reference interpreter and on backends; --bisect names a bad pass"


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("source", metavar="FILE.py:FUNC|FILE.fir", help="a Python function to trace, or an IR file")
    p.add_argument("--args", metavar="TYPES", help="argument types for FILE.py:FUNC, e.g. 'f32[B,784] f32[784,10]'")
    p.add_argument("--func", metavar="NAME", help="function of the .fir file (default: the only one, or @main)")
    p.add_argument("--inputs", metavar="DATA.npz", help="inputs by parameter name (or arg0, arg1, ...)")
    p.add_argument("--dim", metavar="SYM=N", action="append", default=[], help="size of a symbolic dim for "
                   "random inputs (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--backends", metavar="B1,B2", help="backends to check (default: every registered one)")
    p.add_argument("--opt-level", type=int, default=DEFAULT_OPT_LEVEL, choices=range(4),
                   help=f"pipeline for the backends (default {DEFAULT_OPT_LEVEL}, as fc.jit)")
    p.add_argument("--passes", metavar="SPEC", help="explicit pass pipeline instead of --opt-level")
    p.add_argument("--bisect", action="store_true", help="on a pass-induced mismatch, find the first bad pass "
                   "and rewrite")
    p.add_argument("--rtol", type=float, default=None, help="override the relative tolerance")
    p.add_argument("--atol", type=float, default=None, help="override the absolute tolerance")


def _source_function(args):
    from .graph import _is_python_spec
    from .opt import load_fir, pick_function
    if _is_python_spec(args.source):
        if args.func is not None:
            raise FlowcError("--func applies to .fir files; name the Python function as FILE.py:FUNC")
        from flowc.loader import trace_file_function
        return trace_file_function(args.source, args.args)
    if args.args is not None:
        raise FlowcError("--args applies to FILE.py:FUNC sources, not .fir files")
    return pick_function(load_fir(args.source), args.func)


def _backends(spec: str | None) -> list[str]:
    from flowc.backends import BACKENDS
    if spec is not None:
        names = [s.strip() for s in spec.split(",") if s.strip()]
        if not names:
            raise FlowcError("--backends names no backend")
        return names
    others = sorted(n for n in BACKENDS if n != "reference")
    return others or ["reference"]


def run(args) -> int:
    from flowc.testing.check import check_function
    from flowc.testing.programs import random_inputs

    from .run import inputs_from_npz, parse_dims
    f = _source_function(args)
    inputs = inputs_from_npz(f, args.inputs) if args.inputs else random_inputs(f, args.seed, parse_dims(args.dim))
    backends = _backends(args.backends)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = check_function(f, inputs, backends, args.rtol, args.atol, args.opt_level, args.passes, args.bisect)
    print(rep)
    return 0 if rep.ok else 1
