"""``flowc dump FILE.py:FUNC``: trace a Python function and print its IR at a stage."""
from __future__ import annotations

HELP = "trace FILE.py:FUNC and print its IR (types from --args or the function's annotations)"


def add_arguments(p):
    p.add_argument("spec", metavar="FILE.py:FUNC", help="the Python file and the function in it")
    p.add_argument("--args", default=None, help='argument types, e.g. "f32[B,784] f32[784,10] f32[10]"')
    p.add_argument("--stage", default="traced", help="the pipeline stage to print (default: traced)")
    p.add_argument("--opt-level", type=int, default=1, choices=range(4), help="optimisation level for later stages")
    p.add_argument("--locs", action="store_true", help="show each op's source location")


def run(args) -> int:
    from flowc.api import Lowered
    from flowc.loader import trace_file_function
    f = trace_file_function(args.spec, args.args)
    lowered = Lowered.from_function(f, args.opt_level) if args.stage != "traced" else Lowered({"traced": f})
    print(lowered.text(args.stage, locs=args.locs), end="")
    return 0
