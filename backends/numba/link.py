"""Programs call their kernels by symbol instead of linking a copy of each kernel into their machine code.

Numba links every callee's LLVM module into its caller and generates machine code for the whole again, so
a program re-compiled the code of every kernel and hand-written helper it called: 1.05 s of W4's 5.5 s
cold compile went to the program's own codegen, 0.11 s once it calls by symbol.

:func:`linked` wraps a kernel's dispatcher in an intrinsic.  Typing a call compiles (or loads from the
disk cache) the kernel for the argument types and publishes its entry point in LLVM's symbol table under
a name of ours, ``flowc.<kernel>.<digest of the signature>`` (Numba's mangled names carry a per-process
counter, so they differ between the process that cached a program and the one loading it); the call
itself is a plain call of that symbol in Numba's calling convention.  A program loaded from the disk
cache resolves those symbols when its object code is added, so every kernel it names must be registered
first: :func:`used_by` lists them after a compile and :func:`restore` registers them before a load
(:mod:`.compiler` keeps the list beside the program).

Registered kernels stay alive for the life of the process: compiled programs hold their addresses.
"""
from __future__ import annotations

import hashlib
import re

import llvmlite.binding as llvm
import numba
import numpy as np
from numba.core import cgutils, types
from numba.core.dispatcher import Dispatcher
from numba.extending import intrinsic

from . import workers
from .cache import load_without_refresh
from .runtime import RETURNS

_LIVE: dict[str, tuple] = {}      # symbol -> (kernel name, signature, compile result kept alive)
_BY_NAME: dict[str, object] = {}  # module.qualname of a kernel -> its dispatcher
_PREFIX = "flowc."
_FAILED: list[Exception] = []     # the error of a kernel that failed to compile while a caller was typed


def symbol(name: str, sig: tuple) -> str:
    return f"{_PREFIX}{name}.{hashlib.sha256(str(sig).encode()).hexdigest()[:16]}"


def register(name: str, sig: tuple):
    """Compile (or load) kernel ``name`` for ``sig`` and publish its entry point; (symbol, compile result)."""
    sig = tuple(sig)
    sym = symbol(name, sig)
    live = _LIVE.get(sym)
    if live is None:
        dispatcher = _BY_NAME[name]
        load_without_refresh(dispatcher)
        try:
            dispatcher.compile(sig)
        except Exception as e:       # Numba's typing of the caller would bury it under "no implementation"
            _FAILED.append(e)
            raise
        cres = dispatcher.overloads[sig]
        llvm.add_symbol(sym, cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name))
        live = _LIVE[sym] = (name, sig, cres)
    return sym, live[2]


def is_live(sym: str) -> bool:
    return sym in _LIVE


def compiled(name: str, sig: tuple):
    """The compile result of kernel ``name`` for ``sig`` if it is registered, else None."""
    live = _LIVE.get(symbol(name, tuple(sig)))
    return live[2] if live is not None else None


def take_failure() -> Exception | None:
    """The first kernel compile error since the last call (see :func:`register`), if any."""
    err = _FAILED[0] if _FAILED else None
    _FAILED.clear()
    return err


def used_by(library) -> list[tuple[str, tuple]]:
    """(kernel name, signature) of every kernel symbol a freshly compiled library calls.  An omission here
    would let a later process load the program with a symbol unresolved, so the module's declarations are
    read through llvmlite where it exposes them, and its text is searched too."""
    syms = re.findall(r'^declare [^@]*@"?(' + re.escape(_PREFIX) + r'[\w.]+)"?\(', library.get_llvm_str(), re.M)
    module = getattr(library, "_final_module", None)
    for fn in getattr(module, "functions", ()):
        if fn.is_declaration and fn.name.startswith(_PREFIX):
            syms.append(fn.name)
    return [_LIVE[s][:2] for s in dict.fromkeys(syms)]


def restore(entries) -> bool:
    """Register every (kernel name, signature) of ``entries``; False if one names a kernel not loaded."""
    if not all(isinstance(e, tuple) and len(e) == 2 and e[0] in _BY_NAME for e in entries):
        return False
    for name, sig in entries:
        register(name, sig)
    return True


def dispatcher(name: str):
    return _BY_NAME[name]


def _return_type(returns: tuple):
    """The Numba type of what a kernel returns, from ``linked``'s ``returns``."""
    arrays = [types.Array(numba.from_dtype(np.dtype(dt)), ndim, "C") for dt, ndim in returns]
    if not arrays:
        return types.none
    return arrays[0] if len(arrays) == 1 else types.BaseTuple.from_types(arrays)


def _call(context, builder, sym, restype, argtypes, llargs):
    fnty = context.call_conv.get_function_type(restype, argtypes)
    fn = cgutils.get_or_insert_function(builder.module, fnty, sym)
    values = cgutils.unpack_tuple(builder, llargs[0])
    status, res = context.call_conv.call_function(builder, fn, restype, argtypes, values)
    with cgutils.if_unlikely(builder, status.is_error):
        context.call_conv.return_status_propagate(builder, status)
    return res


def linked(dispatcher, returns: tuple | None = None):
    """``dispatcher`` as programs call it: through its published symbol, never linked into the caller.

    ``returns`` says what the kernel returns, where codegen knows it: ``()`` nothing (it writes into its
    arguments), else ``((dtype, ndim), ...)``, C-contiguous arrays it allocated (one: the array, more: a
    tuple).  A program can then be typed and lowered against the kernel uncompiled: inside a
    :class:`workers.session` its compile is deferred (:mod:`.workers`), and checked against this type.
    Hand-written kernels declare theirs with ``runtime.returns``."""
    if not isinstance(dispatcher, Dispatcher):      # an intrinsic or overload: nothing to link
        return dispatcher
    fn = dispatcher.py_func
    name = f"{fn.__module__}.{fn.__qualname__}"
    _BY_NAME[name] = dispatcher
    declared = None if returns is None else _return_type(returns)
    rule = RETURNS.get(name)                       # a hand-written kernel's declaration (runtime.returns)

    def typer(typingctx, *args):
        if len(args) == 1 and isinstance(args[0], types.StarArgTuple):
            args = args[0].types
        args = tuple(types.unliteral(a) for a in args)
        star = types.StarArgTuple.from_types(args)
        restype = declared
        if restype is None and rule is not None and isinstance(args[rule[0]], types.Array):
            restype = types.Array(args[rule[0]].dtype, rule[1], "C")
        if restype is not None and workers.deferring():
            sym = symbol(name, args)
            workers.defer(name, args, restype)         # workers may start on it while the program is typed

            def deferred(context, builder, signature, llargs):
                workers.defer(name, args, restype)     # compiled and published before this code is linked
                return _call(context, builder, sym, restype, args, llargs)
            return restype(star), deferred
        sym, cres = register(name, args)
        fndesc = cres.fndesc

        def codegen(context, builder, signature, llargs):
            return _call(context, builder, sym, fndesc.restype, fndesc.argtypes, llargs)
        return cres.signature.return_type(star), codegen
    typer.__name__ = fn.__name__
    call = intrinsic(typer)
    call.dispatcher = dispatcher          # profile.py times the kernel itself from Python
    return call
