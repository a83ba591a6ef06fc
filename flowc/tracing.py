"""Tracing: run a Python function on Tracer objects and record the ops it performs.

A :class:`Trace` owns a Builder and the function's parameters; while it is
active (a stack, so a jitted function called inside another trace just inlines)
every fc.* function appends typed ops to it.  Each op records the user's source
line — the innermost stack frame outside the flowc package — so type errors
and the printed IR point at the model code, never at flowc internals.
"""
from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache

from flowc.ir.core import Builder, Function, Loc, Value
from flowc.ir.types import FlowcError, TensorType, TypeError_


class TraceError(FlowcError):
    """An error in traced user code, located at the user's ``file:line``."""

    def __init__(self, message: str, loc: Loc | None = None):
        super().__init__(message)
        self.message, self.loc = message, loc

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc is not None else self.message


class ConcretizationError(TraceError, TypeError):
    """Python needed the *value* of a traced array (``if x:``, ``int(x)``, ``len(x)``)."""


class LeakedTracerError(TraceError):
    """A Tracer escaped its trace (stored in a global and used later)."""


# --------------------------------------------------------------------------- source locations

def _internal_dirs() -> tuple[str, ...]:
    """flowc's own source folders (flowc/, and ir/, backends/, passes/ installed under it)."""
    import importlib
    dirs = set()
    for name in ("flowc", "flowc.ir", "flowc.backends", "flowc.passes"):
        try:
            f = getattr(importlib.import_module(name), "__file__", None)
        except ImportError:
            continue
        if f:
            d = os.path.dirname(f)
            dirs |= {d + os.sep, os.path.realpath(d) + os.sep}
    return tuple(sorted(dirs))


_INTERNAL: tuple[str, ...] | None = None


@lru_cache(maxsize=None)
def _is_internal(filename: str) -> bool:
    global _INTERNAL
    if _INTERNAL is None:
        _INTERNAL = _internal_dirs()
    return filename.startswith(_INTERNAL) or filename.startswith("<frozen")


@lru_cache(maxsize=None)
def _display_path(filename: str) -> str:
    """Paths under the working directory print relative (short, like compiler diagnostics)."""
    if filename.startswith("<"):
        return filename
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def user_loc() -> Loc | None:
    """The innermost frame outside flowc: where the user wrote the operation."""
    f = sys._getframe(1)
    while f is not None:
        if not _is_internal(f.f_code.co_filename):
            return Loc(_display_path(f.f_code.co_filename), f.f_lineno)
        f = f.f_back
    return None


# --------------------------------------------------------------------------- traces

_STATE = threading.local()


def _stack() -> list:
    if not hasattr(_STATE, "stack"):
        _STATE.stack = []
    return _STATE.stack


def current_trace() -> "Trace | None":
    s = _stack()
    return s[-1] if s else None


class Trace:
    """One function being traced: its parameters and the ops appended so far."""

    def __init__(self, name: str, closure: bool = False):
        """``closure=True`` (the traces of fc.grad & co.): values of enclosing traces that the function
        closes over are captured as extra parameters, appended after the explicit ones (see ``captures``)."""
        self.name = name
        self.builder = Builder()
        self.params: list[Value] = []
        self.done = False
        self.parent = current_trace() if closure else None
        self.captures: list[tuple[Value, "Tracer"]] = []   # (own parameter, the enclosing trace's value)
        self._captured: dict[int, "Tracer"] = {}

    def __enter__(self) -> "Trace":
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        self.done = True

    def param(self, type: TensorType, name: str | None = None, weak: bool = False) -> "Tracer":
        v = Value(type, name)
        self.params.append(v)
        return Tracer(v, self, weak)

    def lift(self, t: "Tracer") -> "Tracer | None":
        """``t`` as a value of this trace: itself, or a captured parameter if an enclosing trace owns it."""
        if t.trace is self:
            return t
        if self.parent is None:
            return None
        outer = self.parent.lift(t)
        if outer is None:
            return None
        hit = self._captured.get(id(outer.value))
        if hit is None:
            hit = self.param(outer.type, None, outer.weak)
            self.captures.append((hit.value, outer))
            self._captured[id(outer.value)] = hit
        return hit

    def finish(self, outputs: list) -> Function:
        """Build the Function returning ``outputs`` (Tracers of this trace, or constants)."""
        from .numpy_api import asarray
        with self:
            results = [asarray(o).value for o in outputs]
        return Function(self.name, self.params, self.builder.ops, results)


def emit(name: str, *operands: "Tracer", **attrs) -> "Tracer":
    """Append op ``name`` to the active trace; single result as a Tracer, several as a tuple."""
    trace = current_trace()
    loc = user_loc()
    operands = tuple(check_live(o, loc) for o in operands)
    try:
        op = trace.builder.op(name, *(o.value for o in operands), loc=loc, **attrs)
    except TypeError_ as e:
        raise TraceError(str(e), loc) from None
    res = tuple(Tracer(v, trace) for v in op.results)
    return res[0] if len(res) == 1 else res


def check_live(t: "Tracer", loc: Loc | None = None) -> "Tracer":
    """``t`` usable in the current trace (captured when an enclosing trace owns it), else a located error."""
    trace = current_trace()
    lifted = trace.lift(t) if trace is not None else None
    if lifted is None:
        raise LeakedTracerError(
            f"a traced value {t.type} from the trace of '{t.trace.name}' is used outside it (was it stored in a "
            "global or closed over from another jitted function?); return it from the function instead",
            loc or user_loc())
    return lifted


# --------------------------------------------------------------------------- the Tracer

_HOW = ("use fc.where(cond, x, y) to choose elementwise, or mark the argument static "
        "(fc.jit(static_argnums=...) / static_argnames=...) so Python sees its value while tracing")


class Tracer:
    """A stand-in for an array while tracing: it knows its type, not its values.

    Operators and methods (``+``, ``@``, ``x[1:]``, ``.sum()``, ...) are installed by
    ``flowc.numpy_api`` so that each one is the same code as the fc.* function.
    """
    __slots__ = ("value", "trace", "weak")
    __array_ufunc__ = None        # numpy defers to our reflected operators (np_array + tracer)
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, value: Value, trace: Trace, weak: bool = False):
        self.value, self.trace, self.weak = value, trace, weak

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def shape(self) -> tuple:
        return self.value.type.shape

    @property
    def dtype(self):
        return self.value.type.dtype

    @property
    def ndim(self) -> int:
        return self.value.type.ndim

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n = n * d if isinstance(d, int) else None
            if n is None:
                return None
        return n

    def __repr__(self) -> str:
        return f"Tracer<{self.type}{', weak' if self.weak else ''}>"

    def _concrete(self, what: str, hint: str = ""):
        raise ConcretizationError(f"{what} a traced value {self.type}: its value is unknown while tracing"
                                  f"{hint}; {_HOW}", user_loc())

    def __bool__(self):
        self._concrete("Python `if`/`while`/`and`/`or`/`not`/bool() needs the truth value of")

    def __int__(self):
        self._concrete("int() needs the value of")

    def __float__(self):
        self._concrete("float() needs the value of")

    def __complex__(self):
        self._concrete("complex() needs the value of")

    def __index__(self):
        self._concrete("using as a Python index needs the value of")

    def __len__(self):
        self._concrete("len() of", " (use x.shape[0]: shapes are known while tracing)")

    def __iter__(self):
        """Unpacking along a static leading dim works (``k1, k2 = fc.random.split(key)``), as in JAX."""
        if self.ndim and isinstance(self.shape[0], int):
            return (self[i] for i in range(self.shape[0]))
        self._concrete("iterating over", " (its leading dim is symbolic; index it, x[i], or use x.shape)")

    def __array__(self, *a, **k):
        self._concrete("np.asarray()/np.array() (or an np.* function that is not a ufunc) needs the values of",
                       " (use the fc.* function instead)")


__all__ = ["TraceError", "ConcretizationError", "LeakedTracerError", "Trace", "Tracer", "emit", "user_loc",
           "current_trace"]


def fresh_error(e: BaseException) -> BaseException:
    """A copy of ``e`` with no traceback: re-raised ``from None`` at an API entry point, the user's
    traceback ends there instead of wandering through flowc internals."""
    new = type(e).__new__(type(e))
    new.args = e.args
    new.__dict__.update(getattr(e, "__dict__", {}))
    return new
