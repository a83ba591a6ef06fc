"""Load ``FILE.py:FUNC`` and trace it: shared by ``flowc dump`` and ``flowc graph``.

Argument types come from ``--args`` text (``"f32[B,784] f32[784,10]"``) or from
the function's annotations (``x: fc.f32["B", 784]``).  Every failure is a one-line
FlowcError, so the CLI reports it and exits 1.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys

from flowc.ir.core import Function
from flowc.ir.types import FlowcError

from .api import Jitted, annotation_types, trace_function
from .tracing import fresh_error


def load_function(spec: str):
    """The Python function named by ``FILE.py:FUNC`` (a jitted one is unwrapped)."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise FlowcError(f"expected FILE.py:FUNC, got {spec!r}")
    if not os.path.isfile(path):
        raise FlowcError(f"{path}: no such file")
    mod_name = "_flowc_user_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None:
        raise FlowcError(f"{path}: cannot import (is it a .py file?)")
    module = importlib.util.module_from_spec(loader_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except FlowcError:
        raise
    except Exception as e:
        raise FlowcError(f"{path}: importing it failed: {type(e).__name__}: {e}") from None
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if fn is None:
        raise FlowcError(f"{path}: no function {name!r}")
    if isinstance(fn, Jitted):
        fn = fn.fn
    if not callable(fn):
        raise FlowcError(f"{path}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def trace_file_function(spec: str, args: str | None = None) -> Function:
    """Trace ``FILE.py:FUNC`` with types from ``args`` or from its annotations."""
    from flowc.ir.parser import parse_types
    fn = load_function(spec)
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params]
    if args is not None:
        types = parse_types(args, "--args")
        if len(types) != len(params):
            raise FlowcError(f"--args gives {len(types)} type(s) but {fn.__name__} takes {len(params)} "
                             f"({', '.join(names)})")
    else:
        anns = annotation_types(fn)
        missing = [n for n in names if n not in anns]
        if missing:
            raise FlowcError(f"{fn.__name__}: parameter(s) {', '.join(missing)} have no fc type annotation "
                             '(e.g. x: fc.f32["B", 784]); pass --args "f32[B,784] ..."')
        types = [anns[n] for n in names]
    try:
        return trace_function(fn, types, names)
    except FlowcError as e:
        raise fresh_error(e) from None
