"""``flowc passes``: list the available passes and the default pipelines."""
from __future__ import annotations

HELP = "list the available passes (name, description, options) and the default pipelines"


def add_arguments(parser):
    parser.add_argument("-O", dest="opt_level", type=int, default=None, metavar="N",
                        help="print only the default pipeline for optimisation level N (comma-separated)")


def run(args) -> int:
    from flowc.passes import DEFAULT_OPT_LEVEL, PIPELINES, available, default_pipeline

    if args.opt_level is not None:
        print(",".join(default_pipeline(args.opt_level)))
        return 0
    table = available()
    width = max(len(n) for n in table)
    for name, p in table.items():
        print(f"{name:<{width}}  {p.description}")
        for opt, default in p.options.items():
            print(f"{'':<{width}}    option {opt.replace('_', '-')} = {default}")
    print()
    print("default pipelines:")
    for level in PIPELINES:
        mark = "  (fc.jit's default)" if level == DEFAULT_OPT_LEVEL else ""
        print(f"  -O{level}: {','.join(default_pipeline(level)) or '(no passes)'}{mark}")
    return 0
