"""Entry and exit: compile a Function's program once, then call it on numpy arrays.

The program is compiled eagerly for the one signature the wrapper ever passes
(C-contiguous, writeable arrays of each input's storage dtype and rank), so a
call never triggers a compile and a Numba failure surfaces here, at compile
time, as a :class:`NumbaBackendBug` naming the op — never as a Numba traceback.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading

import numba
import numba.core.codegen
import numpy as np
try:
    from numba.core.runtime._nrt_python import _MemInfo       # private: without it every result is checked
except ImportError:         # pragma: no cover
    _MemInfo = None

from flowc.backends.reference import RuntimeInputError, bind_inputs
from flowc.ir.core import Function
from flowc.ir.types import FlowcError

from . import cache, link, malloc, workers
from .blas import program_threads, restore
from .codegen import Program, generate, parallel_mode, storage_np

_MEMORY: dict[str, "Compiled"] = {}
_LOCK = threading.Lock()


class NumbaBackendBug(FlowcError):
    """Numba rejected code flowc generated: a bug in flowc's numba backend, not in the user's program."""
    exit_code = 2


def _numba_type(dtype: np.dtype, ndim: int):
    return numba.types.Array(numba.from_dtype(dtype), ndim, "C")


def _set_threads():
    n = os.environ.get("FLOWC_NUM_THREADS")
    if not n:
        return
    try:
        k = int(n)
    except ValueError:
        raise FlowcError(f"FLOWC_NUM_THREADS must be a positive integer, got {n!r}") from None
    if not 1 <= k <= numba.config.NUMBA_NUM_THREADS:
        raise FlowcError(f"FLOWC_NUM_THREADS={k} is outside 1..{numba.config.NUMBA_NUM_THREADS} (this machine)")
    numba.set_num_threads(k)


def _inspectable(d, sig):
    """Numba cannot inspect code it loaded from its disk cache: compile an uncached twin to show instead."""
    lib = getattr(d.overloads.get(sig), "library", None)
    if lib is None or getattr(lib, "_disable_inspection", False) or d.stats.cache_hits.get(sig):
        opts = {k: v for k, v in d.targetoptions.items() if k not in ("cache", "nopython")}
        d = numba.njit(**opts)(d.py_func)
        d.compile(sig)
    return d


class Compiled:
    """A compiled Function: call it with numpy arrays; ``source``/``llvm()``/``asm()`` show what runs."""

    def __init__(self, function: Function, program: Program, dispatcher, path, signature, links=()):
        self.function = function
        self.program = program
        self.dispatcher = dispatcher
        self.path = path
        self.signature = signature
        self.links = list(links)        # (kernel name, signature) the program calls by symbol (link.py)
        self._consts = program.consts
        self._parallel = parallel_mode() != "0"
        self._in = [storage_np(t.dtype) for t in program.param_types]
        self._f16_out = [t.dtype.name == "f16" for t in program.result_types]
        self._bound: set = set()

    @property
    def source(self) -> str:
        """The program, then each kernel it calls (the kernel files' text, in call order)."""
        return "\n\n".join([self.program.source, *self.program.kernels.values()])

    @property
    def signatures(self) -> list:
        """Numba signatures compiled so far (one: batch sizes never add any)."""
        return list(self.dispatcher.signatures)

    def llvm(self) -> str:
        """The program's LLVM IR, then that of each kernel it calls (by symbol: see :mod:`.link`)."""
        return self._inspect("inspect_llvm")

    def asm(self) -> str:
        return self._inspect("inspect_asm")

    def _inspect(self, method: str) -> str:
        parts = [getattr(_inspectable(self.dispatcher, self.signature), method)(self.signature)]
        for name, sig in self.links:
            d = _inspectable(link.dispatcher(name), sig)
            parts.append(f"; ---- {link.symbol(name, sig)}: {name}{sig}\n" + getattr(d, method)(sig))
        return "\n".join(parts)

    def text(self, kind: str = "source") -> str:
        fns = {"source": lambda: self.source, "llvm": self.llvm, "asm": self.asm}
        if kind not in fns:
            raise FlowcError(f"unknown text kind {kind!r}; expected one of {', '.join(fns)}")
        return fns[kind]()

    # Results never share memory with the inputs (copied below when they would).  A result Numba allocated
    # in this call has a MemInfo base without a parent object (views of an input or constant have the
    # array as parent): only those skip the may_share_memory checks, which cost W3's step 4 us.
    FRESH_OUTPUTS = True

    def prepare(self, args) -> list:
        """The arrays the program receives: inputs checked against the signature, converted to its
        storage dtypes, C-contiguous, aligned and writeable (a copy only where one of those differs: Numba
        would compile the program anew for an unaligned array)."""
        args = [np.asarray(a) if isinstance(a, np.generic) else a for a in args]
        shapes = tuple([(a.dtype, a.shape) if isinstance(a, np.ndarray) else None for a in args])
        if shapes not in self._bound:            # the check depends on dtypes and shapes only
            bind_inputs(self.function, args)
            self._bound.add(shapes)
        conv = []
        for a, dt in zip(args, self._in):
            if a.dtype != dt or not a.flags.carray:      # carray: C-contiguous, aligned and writeable
                a = np.array(a, dtype=dt, order="C")
            conv.append(a)
        return conv

    def profile(self, *args, reps: int = 5):
        """Time per kernel on these inputs: ``(seconds per run, [KernelTime, ...] slowest first)``; see
        :mod:`.profile` (``flowc profile`` prints it)."""
        from .profile import profile
        return profile(self, args, reps)

    def run(self, conv):
        """The program on prepared inputs, with BLAS and Numba threads arbitrated (``blas.program_threads``)."""
        if not self.program.blas:
            return self.dispatcher(*conv, *self._consts)
        token = program_threads(self._parallel)
        try:
            return self.dispatcher(*conv, *self._consts)
        finally:
            restore(token)

    def __call__(self, *args):
        return self._finish(self.prepare(args))

    def call_bound(self, arrays):
        """``__call__`` on numpy arrays whose dtypes and shapes already passed ``prepare``'s signature check
        (the jit wrapper's fast path, for a call structured and shaped like one that ran before)."""
        return self._finish([a if (a.dtype is dt or a.dtype == dt) and a.flags.carray   # `is`: builtin dtypes
                             else np.array(a, dtype=dt, order="C") for a, dt in zip(arrays, self._in)])

    def _finish(self, conv):
        try:
            outs = self.run(conv)
        except ValueError as e:      # a runtime dim check in the program (symbols assumed equal)
            raise RuntimeInputError(f"@{self.function.name}: {e}") from None
        results, allocations = [], set()
        for o, f16 in zip(outs, self._f16_out):
            if f16:
                o = o.astype(np.float16)
            else:
                base = o.base
                if type(base) is _MemInfo and base.parent is None and base.data not in allocations:
                    allocations.add(base.data)        # allocated by this call, and no other result's buffer
                elif any(np.may_share_memory(o, a) for a in (*conv, *self._consts, *results)):
                    o = o.copy()
            results.append(o)
        return results


def _describe(program: Program, path, err: Exception) -> str:
    msg = str(err)
    src_lines = program.source.split("\n")
    named = re.search(r"name '(\w+)' is not defined", msg)
    for kname, ksrc in program.kernels.items():       # most failures are inside a kernel
        if kname in msg or (named and re.search(rf"\b{named.group(1)}\b", ksrc)):
            hit = [int(m) for m in re.findall(rf'{kname}.py", line (\d+)', msg)]
            lines = ksrc.split("\n")
            code = lines[hit[-1] - 1].strip() if hit and hit[-1] <= len(lines) else ""
            at = f" at line {hit[-1]} ({code!r})" if code else ""
            first = "\n".join(msg.strip().split("\n")[:6])
            return (f"numba could not compile the kernel {kname}{at}, lowering `{program.kernel_ops[kname]}` "
                    f"(a flowc bug; please report it):\n{first}")
    if named:                         # Numba reports undefined globals without a useful location
        lines = [i + 1 for i, text in enumerate(src_lines) if re.search(rf"\b{named.group(1)}\b", text)][:1]
    else:
        lines = [int(m) for m in re.findall(rf'{re.escape(str(path.name))}", line (\d+)', msg)]
        loc = getattr(err, "loc", None)
        if not lines and getattr(loc, "line", None):
            lines = [loc.line]
    where = ""
    if lines:
        op = program.op_at(lines[-1])
        code = src_lines[lines[-1] - 1].strip() if lines[-1] <= len(src_lines) else ""
        where = f" at generated line {lines[-1]} ({code!r})" + (f", lowering `{op}`" if op else "")
    first = "\n".join(msg.strip().split("\n")[:6])
    return f"numba could not compile the program flowc generated{where} (a flowc bug; please report it):\n{first}"


_GLUE = {"on": False}


def _hook_program_finalisation() -> bool:
    """Patch Numba's final-module step for the ``program`` glue function: first compile the kernels its
    lowering deferred (:mod:`.workers`: they must be published before its code is linked), then skip
    LLVM's module passes (calls only, by symbol, into kernels and helpers optimised in their own
    libraries; measured: halves the program's lowering time, small MLP step 3.4 s -> 1.6 s, same step
    time).  Applies only while :func:`compile` compiles a program.  If Numba's internals change shape,
    nothing is patched (False): programs are then optimised, and no kernel is deferred."""
    lib = getattr(numba.core.codegen, "CPUCodeLibrary", None)
    original = getattr(lib, "_optimize_final_module", None)
    if original is None:
        return False
    if getattr(original, "_flowc", False):
        return True

    def optimise(self):
        if _GLUE["on"] and self.name == "program":
            workers.drain()
            return None
        return original(self)
    optimise._flowc = True
    lib._optimize_final_module = optimise
    return True


_HOOKED = _hook_program_finalisation()


def _compile_dispatcher(program: Program, path, module, sig):
    try:
        cache.load_without_refresh(module.program)
        _GLUE["on"] = True
        link.take_failure()
        with workers.session() if _HOOKED else contextlib.nullcontext():
            module.program.compile(sig)
        return module
    except numba.core.errors.NumbaError as e:
        raise NumbaBackendBug(_describe(program, path, link.take_failure() or e)) from None
    finally:
        _GLUE["on"] = False


def _compile_linked(program: Program, path, module, sig):
    """Compile or load the program, its kernels registered first (:mod:`.link`): object code loaded from the
    disk cache calls them by symbol.  Without an intact list of them the cached object is dropped, so it is
    never loaded with a symbol unresolved (LLVM would abort the process)."""
    links = cache.read_links(path)
    if links is None or not link.restore(links):
        cache.purge_compiled(path)
        links = None
    module = _compile_dispatcher(program, path, module, sig)
    if links is None or sum(module.program.stats.cache_misses.values()):
        links = link.used_by(module.program.overloads[sig].library)
        cache.write_links(path, links)
    return module, links


def _start_thread_pool():
    """Numba starts its thread pool when it compiles a parallel function, but older versions did not when
    they loaded one from the cache inside a cached caller (numba#8578: a segfault; the numba 0.68 installed
    here re-runs the start through reload hooks).  Starting it here keeps those versions safe; it is
    idempotent and took 7 ms once."""
    try:
        from numba.np.ufunc.parallel import _launch_threads
    except ImportError:          # a layout we do not know: rely on Numba's own reload hooks
        return
    _launch_threads()


def compile(function: Function) -> Compiled:
    """Compile ``function`` (memoised per function text and threading settings; machine code cached on disk)."""
    _set_threads()
    workers.jobs()                         # a bad $FLOWC_COMPILE_JOBS fails here, not inside Numba's typing
    malloc.tune()
    text = function.text(locs=True)
    key = cache.cache_key(text)            # the text and what else changes the code (threads, versions)
    with _LOCK:
        hit = _MEMORY.get(key)
        if hit is not None:
            return hit
        program = generate(function)
        if "parallel" in program.source or any("parallel=True" in k for k in program.kernels.values()):
            _start_thread_pool()          # "parallel" also names kernels.py's threaded helpers
        sig = tuple(_numba_type(storage_np(t.dtype), t.ndim) for t in program.param_types)
        sig += tuple(_numba_type(c.dtype, c.ndim) for c in program.consts)
        kernels = [cache.load_kernel(name, src) for name, src in program.kernels.items()]
        path, module = cache.load(key, program.source)
        try:
            module, links = _compile_linked(program, path, module, sig)
        except NumbaBackendBug:
            raise
        except Exception:   # Numba's own cache files are damaged (unpickling failed): drop them, compile fresh
            for p in (*kernels, path):
                cache.purge(p)
            for name, src in program.kernels.items():
                cache.load_kernel(name, src)
            path, module = cache.load(key, program.source)
            module, links = _compile_linked(program, path, module, sig)
        compiled = Compiled(function, program, module.program, path, sig, links)
        _MEMORY[key] = compiled
        return compiled
