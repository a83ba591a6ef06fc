"""``flowc fuzz``: a seeded campaign of random programs through every opt level and backend.

Every failure is shrunk and written to ``--out`` as ``NAME.fir`` + ``NAME.npz`` (+ ``NAME.json``),
replayable with the ``flowc check`` command printed in the ``.fir`` header.  Exit status 1 when
anything failed.
"""
from __future__ import annotations

import argparse
import sys

from flowc.ir.types import FlowcError

HELP = "generate random programs, compare every backend and opt level with the reference, shrink failures"


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--count", type=int, default=100, help="number of programs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--backends", metavar="B1,B2", default="reference", help="backends (default: reference)")
    p.add_argument("--opt-levels", metavar="L1,L2", default="0,1,2,3", help="opt levels (default 0,1,2,3)")
    p.add_argument("--max-ops", type=int, default=12, help="generation steps per program (default 12)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--out", metavar="DIR", default=None, help="write reproducers here")
    p.add_argument("--no-grad", action="store_true", help="skip the gradient programs")
    p.add_argument("--no-shrink", action="store_true", help="keep failing programs as generated")
    p.add_argument("--cap", metavar="BACKEND=N", action="append", default=[],
                   help="at most N programs on a slow backend (default numba=25, cuda=5)")
    p.add_argument("-v", "--verbose", action="store_true", help="print each failure as it is found")


def run(args) -> int:
    from flowc.testing.fuzz import fuzz
    try:
        levels = [int(x) for x in args.opt_levels.split(",") if x.strip()]
        caps = {k.strip(): int(v) for k, _, v in (c.partition("=") for c in args.cap)}
    except ValueError:
        raise FlowcError("--opt-levels takes integers like 0,1,2,3 and --cap takes BACKEND=N") from None
    if args.count < 0 or args.max_ops < 1:
        raise FlowcError("--count must be >= 0 and --max-ops >= 1")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    log = (lambda s: print(s, file=sys.stderr)) if args.verbose else None
    rep = fuzz(args.count, args.seed, backends, levels, args.max_ops, args.time_limit, args.out,
               gradients=not args.no_grad, shrink_failures=not args.no_shrink, program_caps=caps, log=log)
    print(rep)
    return 1 if rep.failures else 0
