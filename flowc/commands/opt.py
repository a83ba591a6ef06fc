"""``flowc opt``: parse a ``.fir`` file, verify it, run a pass pipeline, print the result.

Without ``--passes`` it is a round trip: a canonical file prints back unchanged, which
makes ``flowc opt`` the checker for hand-written IR.  ``load_fir`` and ``pick_function``
are shared with ``flowc run`` and ``flowc graph``.
"""
from __future__ import annotations

import argparse
import sys

from flowc.ir import Module, parse_module, print_module, verify_module
from flowc.ir.types import FlowcError

HELP = "parse, verify and optimise a .fir IR file, printing the resulting IR"


def load_fir(path: str) -> Module:
    """Parse and verify ``path`` (``-`` reads stdin); errors are located ``file:line:col``."""
    if path == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        with open(path, encoding="utf-8") as fh:
            text, name = fh.read(), path
    return verify_module(parse_module(text, name))


def pick_function(module: Module, name: str | None):
    """The function called ``name``; by default the only one, or ``@main``."""
    names = ", ".join("@" + f.name for f in module) or "none"
    if name is not None:
        name = name.lstrip("@")
        if name not in module.functions:
            raise FlowcError(f"no function @{name} in the module (functions: {names})")
        return module[name]
    if len(module) == 1:
        return next(iter(module))
    if "main" in module.functions:
        return module["main"]
    raise FlowcError(f"the module has {len(module)} functions ({names}); choose one with --func")


def write_text(text: str, out: str | None):
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("file", metavar="FILE.fir", help="IR text file ('-' for stdin)")
    p.add_argument("--passes", metavar="SPEC", help="pass pipeline, e.g. 'fold,simplify,cse,dce' "
                   "or 'fold{max-elements=64},dce'")
    p.add_argument("--print-after-all", action="store_true", help="print the IR (to stderr) after every pass")
    p.add_argument("--print-after", metavar="NAME", action="append", default=[],
                   help="print the IR (to stderr) after pass NAME (repeatable)")
    p.add_argument("--time-passes", action="store_true", help="print a timing report (to stderr)")
    p.add_argument("--verify-each", action=argparse.BooleanOptionalAction, default=True,
                   help="verify the IR after every pass (default: on)")
    p.add_argument("--no-locs", action="store_true", help="print without source locations")
    p.add_argument("-o", "--output", metavar="OUT", help="write the IR here instead of stdout")


def run(args) -> int:
    module = load_fir(args.file)
    pipeline_flags = args.print_after_all or args.print_after or args.time_passes
    if args.passes is None and pipeline_flags:
        raise FlowcError("--print-after-all, --print-after and --time-passes need --passes")
    if args.passes is not None:
        try:
            from flowc.passes import PassManager
        except ImportError as e:
            raise FlowcError(f"--passes is unavailable: the pass library could not be loaded ({e})") from None
        pm = PassManager(args.passes, verify=args.verify_each, print_after_all=args.print_after_all,
                         print_after=tuple(args.print_after), time_passes=args.time_passes, out=sys.stderr)
        module = verify_module(Module([pm.run(f) for f in module]))
    write_text(print_module(module, locs=not args.no_locs), args.output)
    return 0
