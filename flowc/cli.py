"""The ``flowc`` command line.  Each subcommand is a module in ``flowc/commands`` exposing
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.

Exit codes: 0 ok; 1 a user error, reported as one line (or a located IR error); 2 an internal error.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from flowc.ir.types import FlowcError


def _commands():
    from flowc import commands
    mods = {}
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not m.name.startswith("_"):
            mods[m.name.replace("_", "-")] = importlib.import_module(f"flowc.commands.{m.name}")
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="flowc", description="flowc: a deep-learning compiler for Python.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _commands()
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
    return parser, mods


def main(argv=None) -> int:
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 1
    try:
        return int(mods[args.command].run(args) or 0)
    except FlowcError as e:
        from flowc.ir.parser import IRError
        located = isinstance(e, IRError) or getattr(e, "loc", None) is not None
        print(str(e) if located else f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)   # flowc bugs reported as FlowcErrors carry 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except Exception:  # an internal error: the one place a traceback is right
        traceback.print_exc()
        print("flowc: internal error (please report it with the traceback above)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
