"""What a pass is, and the table of every pass by name.

A pass is a named function ``Function -> Function`` that returns a NEW function and
never edits its input.  Options are plain keyword arguments with defaults, so a
spec string such as ``fold{max-elements=64}`` can configure them without any glue.
Every module in ``flowc.passes`` registers its pass here when imported; adding a
pass never edits a central list (``available()`` imports them all).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from flowc.ir import Function
from flowc.ir.types import FlowcError


@dataclass(frozen=True)
class Pass:
    name: str
    description: str                      # one line, shown by ``flowc passes``
    fn: Callable[..., Function]           # fn(function, **options) -> new Function
    options: dict[str, Any] = field(default_factory=dict)   # option name -> current value

    def run(self, function: Function) -> Function:
        return self.fn(function, **self.options)

    def configured(self, **opts) -> "Pass":
        """A copy with some options changed; values are coerced to the default's type."""
        new = dict(self.options)
        for key, value in opts.items():
            key = key.replace("-", "_")
            if key not in self.options:
                have = ", ".join(self.options) or "none"
                raise FlowcError(f"pass '{self.name}' has no option '{key}' (its options are {have})")
            new[key] = _coerce(self.name, key, value, self.options[key])
        return replace(self, options=new)


def _coerce(pass_name: str, key: str, value, default):
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return type(default)(value)
    except ValueError:
        kind = _KIND.get(type(default), type(default).__name__)
        raise FlowcError(f"option '{key}' of pass '{pass_name}' expects {kind}, got {value!r}") from None


_KIND = {bool: "true or false", int: "an integer", float: "a number"}

PASSES: dict[str, Pass] = {}


def register(name: str, description: str, **options):
    """Decorator registering ``fn(function, **options)`` as the pass ``name``."""
    def wrap(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = Pass(name, description, fn, dict(options))
        return fn
    return wrap


def available() -> dict[str, Pass]:
    """Every registered pass by name (imports every module of flowc.passes once)."""
    from flowc import passes
    for m in pkgutil.iter_modules(passes.__path__):
        importlib.import_module(f"flowc.passes.{m.name}")
    return dict(sorted(PASSES.items()))


def get_pass(name: str) -> Pass:
    table = available()
    if name not in table:
        # (no colon in the message: the CLI reads "text: ..." as an already-located error)
        raise FlowcError(f"unknown pass '{name}'; the available passes are {', '.join(table)}")
    return table[name]
