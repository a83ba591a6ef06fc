"""``flowc dump FILE.py:FUNC``: trace a Python function and print its IR at a stage."""
from __future__ import annotations

from flowc.passes import DEFAULT_OPT_LEVEL

HELP = "trace FILE.py:FUNC and print its IR (types from --args or the function's annotations)"


def add_arguments(p):
    p.add_argument("spec", metavar="FILE.py:FUNC", help="the Python file and the function in it")
    p.add_argument("--args", default=None, help='argument types, e.g. "f32[B,784] f32[784,10] f32[10]"')
    p.add_argument("--stage", default="traced",
                   help="traced, optimized, a pass name, or the backend's code: source, llvm, asm (default: traced)")
    p.add_argument("--backend", default="numba", help="backend whose code --stage source|llvm|asm shows")
    p.add_argument("--opt-level", type=int, default=DEFAULT_OPT_LEVEL, choices=range(4),
                   help=f"optimisation level for later stages (default {DEFAULT_OPT_LEVEL}, as fc.jit)")
    p.add_argument("--locs", action="store_true", help="show each op's source location")
    p.add_argument("--passes", default=None, help="a pass pipeline (a,b,c) instead of --opt-level's default")
    p.add_argument("--memory", action="store_true",
                   help="after the IR, print the memory plan of that stage (buffer slots, peak bytes)")
    p.add_argument("--sizes", default="", metavar="B=64,...", help="sizes of symbolic dims for --memory")


def run(args) -> int:
    from flowc.api import Lowered
    from flowc.loader import trace_file_function
    from flowc.ir.types import FlowcError
    f = trace_file_function(args.spec, args.args)
    staged = args.stage != "traced" or args.passes
    lowered = (Lowered.from_function(f, args.opt_level, backend=args.backend, passes=args.passes) if staged
               else Lowered({"traced": f}))
    print(lowered.text(args.stage, locs=args.locs), end="")
    if args.memory:
        from flowc.passes.memory import plan_memory
        try:
            sizes = {k.strip(): int(v) for k, v in (kv.split("=") for kv in args.sizes.split(",") if kv.strip())}
        except ValueError:
            raise FlowcError(f"--sizes must look like B=64,N=8, got {args.sizes!r}") from None
        print(plan_memory(lowered.function(args.stage), sizes).report(), end="")
    return 0
