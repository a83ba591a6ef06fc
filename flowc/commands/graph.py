"""``flowc graph``: write a function's dataflow graph as Graphviz DOT.

The source is a ``.fir`` file, or a Python function ``FILE.py:FUNC`` traced with the
argument types given by ``--args`` (e.g. ``--args "f32[B,784] f32[784,10]"``).
"""
from __future__ import annotations

import argparse
import os

from flowc.ir.graph import to_dot
from flowc.ir.types import FlowcError

from .opt import load_fir, pick_function, write_text

HELP = "write the dataflow graph of a .fir function or a traced Python function as DOT"


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("source", metavar="FILE.fir|FILE.py:FUNC", help="IR text file, or a Python function to trace")
    p.add_argument("--func", metavar="NAME", help="function of the .fir file (default: the only one, or @main)")
    p.add_argument("--args", metavar="TYPES", help="argument types for tracing FILE.py:FUNC, "
                   "e.g. 'f32[B,784] f32[784,10]'")
    p.add_argument("-o", "--output", metavar="OUT.dot", help="write the DOT here instead of stdout")


def _is_python_spec(source: str) -> bool:
    path, colon, func = source.rpartition(":")
    return bool(colon) and path.endswith(".py") and func.isidentifier() and not os.path.exists(source)


def run(args) -> int:
    if _is_python_spec(args.source):
        if args.func is not None:
            raise FlowcError("--func applies to .fir files; name the Python function as FILE.py:FUNC")
        try:
            from flowc.loader import trace_file_function
        except ImportError as e:
            raise FlowcError(f"tracing Python files is unavailable: the frontend could not be loaded ({e})") from None
        f = trace_file_function(args.source, args.args)   # args: a type string, or None for annotations
    else:
        if args.args is not None:
            raise FlowcError("--args applies to FILE.py:FUNC sources, not .fir files")
        f = pick_function(load_fir(args.source), args.func)
    write_text(to_dot(f), args.output)
    return 0
