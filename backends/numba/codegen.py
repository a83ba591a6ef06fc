"""Whole-program codegen: a verified Function -> ONE ``@numba.njit`` ``program`` calling small kernels.

The generated ``program(p0, p1, ..., c0, ...)`` takes the inputs (then the large
constants) as C-contiguous arrays and returns a tuple of outputs.  Symbolic dims
are plain variables read from input shapes (``B = p_x.shape[0]``), so a new batch
size runs the same machine code: Numba specialises on dtype/rank/layout only.

Why kernels: Numba's type inference and lowering grow faster than linearly with
a function's size (a 230-line inline program for a small MLP step took ~20 s;
``NUMBA_OPT=0`` still 15 s).  So the program body is a short list of calls, one
per op (views and reshapes stay inline), and each op or fusion region becomes
its own small ``@njit(cache=True)`` *kernel* (:class:`KernelEmitter`).  A kernel's
text is canonical — parameters ``a0..``, every dim other than 1 a runtime
variable ``n0..`` read from an operand shape or passed in — so the same op on
other sizes, in other programs and processes, is the same text, hashed to the
same file in the flowc cache and compiled once (Numba caches it on disk).

Each op is lowered by a rule registered in :data:`rules` (one module per op
family under ``lower/``).  A rule receives an :class:`Emitter` and the op, emits
lines and returns the variable name(s) holding its results.  Elementwise rules
also carry a ``scalar`` form so ``fusion`` regions become one loop nest.

Ops that are one call into a hand-written kernel (BLAS matmul, float reductions
and softmax over a block of axes, conv/pool/LRN, Threefry) are emitted in the
program itself (a rule's ``in_program(op)``): those kernels live in ``kernels.py``,
compiled once per dtype/layout and cached beside the package, so a new program
pays only for calling them.  Measured (benchmarks/numba_compile.py, small MLP
step at -O2, fresh cache dir, busy 2-core machine): cold compile 39.7 s -> 8.7 s,
step 276 ms -> 5.5 ms.  Programs call every kernel by symbol (:mod:`.link`), so
what remains is 0.2-0.5 s per distinct generated kernel (parallel ones the most),
Numba's first typing in a process and the program's own lowering.

Buffers: kernels that compute each result element from their operands at that element (elementwise
ops, loop-nest fusion regions, flat kernels) take their results as trailing arguments, so the program
decides where results go: a fresh array, or the buffer of an operand that dies there and has the
result's type (the memory plan's in-place rule, applied by :mod:`.buffers` to the arrays this
backend materialises).  W4's weight updates are written over the weight gradients' GEMM results.

Threads: ``FLOWC_NUMBA_PARALLEL`` = ``auto`` (the default, same as ``1``) runs large loop
nests under ``prange``, ``0`` never.  Numba's threads and OpenBLAS's must not both be
busy (measured on the 2-core machine: the small MLP step ~10x slower, the MNIST CNN step
~2x), so while a program that calls BLAS runs, BLAS is single-threaded and its GEMMs are
split over Numba's threads instead (``blas.program_threads``).  A parallel kernel costs
~1 s more to compile, once: it is disk-cached like every other kernel.

Storage: f16 tensors live as float32 arrays inside a program (Numba has no CPU
float16) and every op producing f16 rounds its result with
``kernels.round_f16``; the entry wrapper converts at the boundary.
"""
from __future__ import annotations

import hashlib
import keyword
import os
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from flowc.ir.core import Function, Op, Value
from flowc.ir.printer import _Namer, print_function
from flowc.ir.registry import Rules
from flowc.ir.types import DType, FlowcError, Sym, TensorType, num_elements

from . import cache
from .buffers import Lifetimes

rules = Rules("numba")

INLINE_MAX = 8            # constants with at most this many elements are written into the source
PARALLEL_MIN = 1 << 18    # loop nests with at least this many elements (a symbol counts 64) use prange;
                          # FLOWC_NUMBA_PARALLEL_MIN overrides it (1: every loop, to fuzz the parallel code).
                          # A prange kernel costs ~1 s more to compile cold; under 2**18 float32 elements
                          # (~1 MB, ~0.1 ms on one thread) a second thread cannot win that back soon
                          # (W4's eight [128,1024] kernels: cold compile 6.1 s with them in parallel)
_SYM_GUESS = 64
_RESERVED = {"np", "numba", "prange", "range", "program", "kernels", "kernel", "linked", "math", "abs", "min", "max", "True", "False", "None"}


def _uses_blas(ops) -> bool:
    """Whether a lowering rule of these ops (or of ops in their regions) declares ``uses_blas``."""
    return any((op.name in rules and getattr(rules[op.name], "uses_blas", False)) or any(_uses_blas(r.ops) for r in op.regions)
               for op in ops)


def _threads() -> int:
    import numba
    n = os.environ.get("FLOWC_NUM_THREADS")
    return int(n) if n and n.isdigit() else numba.config.NUMBA_NUM_THREADS


def _parallel_min() -> int:
    text = os.environ.get("FLOWC_NUMBA_PARALLEL_MIN", "")
    if not text:
        return PARALLEL_MIN
    if not text.isdigit():
        raise FlowcError(f"FLOWC_NUMBA_PARALLEL_MIN must be a non-negative integer, got {text!r}")
    return int(text)


def parallel_mode() -> str:
    """``FLOWC_NUMBA_PARALLEL``: ``auto`` (the default) or ``1``: prange for large loop nests; ``0``: never;
    always ``0`` with one thread.  Part of the cache key, since it changes the generated code."""
    mode = os.environ.get("FLOWC_NUMBA_PARALLEL", "auto")
    if mode not in ("0", "1", "auto"):
        raise FlowcError(f"FLOWC_NUMBA_PARALLEL must be auto, 1 or 0, got {mode!r}")
    return "0" if _threads() < 2 else mode


class NumbaLoweringError(FlowcError):
    """The numba backend cannot lower an op (an unsupported case, named with the op)."""


def storage(dtype: DType) -> str:
    """The numpy dtype expression a tensor of ``dtype`` is stored as inside a program."""
    return "np.float32" if dtype.name == "f16" else f"np.{dtype.np_name if dtype.name != 'bool' else 'bool_'}"


def storage_np(dtype: DType) -> np.dtype:
    return np.dtype(np.float32) if dtype.name == "f16" else dtype.np


def literal(x, dtype: DType) -> str:
    """A scalar of ``dtype`` as typed source text (f16 values are exact in float32)."""
    if dtype.is_bool:
        return "True" if bool(x) else "False"
    if dtype.is_float:
        v = float(x)
        text = "np.nan" if v != v else ("np.inf" if v == np.inf else "-np.inf" if v == -np.inf else repr(v))
        return f"{storage(dtype)}({text})"
    return f"np.{dtype.np_name}({int(x)})"


@dataclass
class Program:
    """The result of codegen: source text plus what the entry wrapper needs."""
    source: str
    consts: list[np.ndarray]          # extra trailing arguments, in order
    param_types: list[TensorType]
    result_types: list[TensorType]
    line_ops: list[tuple[int, str]] = field(default_factory=list)   # (1-based source line, IR text of the op)
    parallel: bool = False
    blas: bool = False                # calls BLAS: the entry wrapper arbitrates threads (blas.program_threads)
    kernels: dict[str, str] = field(default_factory=dict)           # kernel name -> its module source
    kernel_ops: dict[str, str] = field(default_factory=dict)        # kernel name -> IR text of an op using it

    def op_at(self, lineno: int) -> str | None:
        """The IR line of the op whose lowering contains source line ``lineno``."""
        best = None
        for start, text in self.line_ops:
            if start <= lineno:
                best = text
        return best


class Emitter:
    """Emission state: source lines, value -> variable names, symbols, constants, helper imports."""

    def __init__(self, function: Function):
        self.f = function
        self.lines: list[str] = []
        self.depth = 1
        self.used: set[str] = set(_RESERVED)
        self.vars: dict[int, str] = {}       # id(Value) -> array variable
        self.scalars: dict[int, str] = {}    # id(Value) -> scalar expression (rank-0 constants, hoisted reads)
        self.syms: dict[Sym, str] = {}
        self.helpers: set[str] = set()
        self.strided: set[str] = set()           # variables that may be non-contiguous views (transpose, slice)
        self.permuted: dict[str, tuple[str, tuple]] = {}  # a 4-d transposed view -> (its source, perm)
        self.consts: list[tuple[str, np.ndarray]] = []
        self.parallel = False
        self.line_ops: list[tuple[int, str]] = []
        self.kernels: dict[str, str] = {}       # generated kernel name -> module source
        self.kernel_returns: dict[str, tuple] = {}  # kernel -> what it returns, where known (see link.linked)
        self.kernel_ops: dict[str, str] = {}    # generated kernel name -> IR text of an op calling it
        self.namer = _Namer()
        self.ir_lines = print_function(function, locs=True, _namer=self.namer).split("\n")
        self.owned: set[str] = set()            # variables holding an array this program allocated (donatable)
        self.life = Lifetimes(function.ops, function.results, _is_view)
        self.step = 0                           # the position of the op being lowered, in ``life``'s ops

    # -- names and lines ----------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        base = hint if hint.isidentifier() and not keyword.iskeyword(hint) else "v"
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}{k}" if not base[-1].isdigit() else f"{base}_{k}"
        self.used.add(name)
        return name

    def emit(self, line: str):
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def block(self, header: str):
        self.emit(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def helper(self, name: str) -> str:
        """Import kernel ``name`` from ``flowc.backends.numba.kernels`` into the generated module."""
        self.helpers.add(name)
        return name

    def contiguous(self, x: str) -> str:
        """An expression for array variable ``x`` as a C-contiguous array: a 4-d transposed view is copied
        tile by tile (``kernels.transposed``: Numba's and numpy's copies of such a view read the source a
        stride apart, 9.5 ms of AlexNet's forward for its filters), anything else by ``np.ascontiguousarray``
        (a no-op on the C arrays most ops produce)."""
        if x in self.permuted:
            src, perm = self.permuted[x]
            return f"{self.helper('transposed')}({src}, {self.shape(perm)})"
        return f"np.ascontiguousarray({x})"

    # -- dims, shapes, dtypes -----------------------------------------------------------------
    def dim(self, d) -> str:
        if isinstance(d, Sym):
            if d not in self.syms:
                raise NumbaLoweringError(f"symbolic dim {d} is not bound by any input of @{self.f.name}")
            return self.syms[d]
        return str(int(d))

    def shape(self, dims) -> str:
        parts = [self.dim(d) for d in dims]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def count(self, dims) -> str:
        parts = [self.dim(d) for d in dims]
        return " * ".join(parts) if parts else "1"

    parallel_override: bool | None = None    # set for flat kernels: decided on the unflattened shape

    def want_parallel(self, dims) -> bool:
        """prange for large loop nests (see :func:`parallel_mode`)."""
        if self.parallel_override is not None:
            return self.parallel_override
        if parallel_mode() == "0":
            return False
        n = 1
        for d in dims:
            n *= _SYM_GUESS if isinstance(d, Sym) else int(d)
        return n >= _parallel_min() and len(dims) > 0

    def typed(self, expr: str, dtype: DType) -> str:
        """``expr`` converted to ``dtype``'s storage type (wraps ints, rounds f16)."""
        if dtype.is_bool:
            return f"bool({expr})"
        if dtype.name == "f16":
            return f"{self.helper('round_f16')}({expr})"
        return f"{storage(dtype)}({expr})"

    # -- values -------------------------------------------------------------------------------
    def ir_name(self, v: Value) -> str:
        return self.namer.names.get(id(v), "v")

    def bind(self, v: Value, var: str):
        self.vars[id(v)] = var

    def bind_scalar(self, v: Value, lit: str):
        self.scalars[id(v)] = lit

    def scalar(self, v: Value) -> str | None:
        """A scalar expression for rank-0 values (a literal constant, or a kernel's hoisted read), else None."""
        return self.scalars.get(id(v))

    def arr(self, v: Value) -> str:
        """The array variable holding ``v`` (materialising an inline scalar constant on first use)."""
        if id(v) not in self.vars:
            lit = self.scalars[id(v)]
            name = self.fresh("k")
            self.emit(f"{name} = np.full((), {lit}, {storage(v.type.dtype)})")
            self.vars[id(v)] = name
        return self.vars[id(v)]

    def result_var(self, v: Value) -> str:
        n = self.ir_name(v)
        return self.fresh(f"v{n}" if n.isdigit() else f"v_{n}")

    def alloc(self, v: Value, init: str = "empty") -> str:
        name = self.result_var(v)
        self.emit(f"{name} = {self.new_array(v.type, init)}")
        return name

    def new_array(self, t: TensorType, init: str = "empty", flat: bool = False) -> str:
        """An allocation expression (1-D when ``flat``); arrays that may reach ``runtime.HUGE_MIN`` bytes
        get huge pages."""
        from .runtime import HUGE_MIN
        n, syms = num_elements(t.shape)
        shape = f"({n if not syms else self.count(t.shape)},)" if flat else self.shape(t.shape)
        expr = f"np.{init}({shape}, {storage(t.dtype)})"
        if not syms and n * storage_np(t.dtype).itemsize < HUGE_MIN:
            return expr
        return f"{self.helper('advise')}({expr})"

    def const_arg(self, array: np.ndarray) -> str:
        name = f"c{len(self.consts)}"
        self.used.add(name)
        self.consts.append((name, np.ascontiguousarray(array.astype(storage_np(_dtype_of(array))))))
        return name

    def finish(self, var: str, t: TensorType):
        """Round a freshly computed f16 result (held as float32) to f16 precision, in place."""
        if t.dtype.name == "f16":
            self.emit(f"{self.helper('round_f16_array')}({var})")

    # -- loops and broadcasting ---------------------------------------------------------------
    @contextmanager
    def loops(self, dims, parallel: bool | None = None):
        """A loop nest over ``dims``; yields the index variable names (outermost first)."""
        if parallel is None:
            parallel = self.want_parallel(dims)
        idx = [self.fresh(f"i{k}") for k in range(len(dims))]
        depth = self.depth
        for k, (i, d) in enumerate(zip(idx, dims)):
            kind = "prange" if parallel and k == 0 else "range"
            self.parallel |= kind == "prange"
            self.emit(f"for {i} in {kind}({self.dim(d)}):")
            self.depth += 1
        try:
            yield idx
        finally:
            self.depth = depth

    @staticmethod
    def sub(idx) -> str:
        return "[" + (", ".join(idx) if idx else "()") + "]"

    def bcast_index(self, t: TensorType, out_shape, idx) -> list[str]:
        """Index of an operand of type ``t`` broadcast against a loop over ``out_shape``."""
        lead = len(out_shape) - t.ndim
        return ["0" if d == 1 and out_shape[lead + j] != 1 else idx[lead + j] for j, d in enumerate(t.shape)]

    def check_bcast(self, v: Value, var: str, out_shape):
        """Symbolic operand dims assumed equal to the result's dims are checked before a loop reads them."""
        lead = len(out_shape) - v.type.ndim
        for j, d in enumerate(v.type.shape):
            want = out_shape[lead + j]
            if isinstance(d, Sym) and want != d and want != 1:
                self.emit(f"if {var}.shape[{j}] != {self.dim(want)}:")
                self.emit(f"    raise ValueError('dim {d} of an operand does not match {want}')")

    def at(self, v: Value, idx) -> str:
        """``v``'s element at index ``idx`` (rules that compute their own indices read through this): a rank-0
        value is its scalar, so no loop indexes a 0-d array (Numba's prange cannot)."""
        lit = self.scalar(v)
        return lit if lit is not None else f"{self.arr(v)}{self.sub(idx)}"

    def load(self, v: Value, out_shape, idx) -> str:
        """A scalar temp holding ``v`` at the loop position (a literal for inline scalars)."""
        lit = self.scalar(v)
        if lit is not None:
            return lit
        t = self.fresh("x")
        self.emit(f"{t} = {self.arr(v)}{self.sub(self.bcast_index(v.type, out_shape, idx))}")
        return t

    # -- driving ------------------------------------------------------------------------------
    def comment_op(self, op: Op):
        if hasattr(op, "fused"):            # a stand-in for an anchor with its epilogue: every op, then a
            for o in op.fused:              # line that names the call for profiles (the last comment wins)
                self.comment_op(o)
            steps = ", ".join(o.name for o in op.fused[1:])
            self.line_ops.append((len(self.lines) + 1, f"{op.fused[0].name} + epilogue ({steps})"))
            self.emit(f"# {op.fused[0].name} with its epilogue ({steps}) in one kernel")
            return
        k = self.namer.lines.get(id(op))
        text = self.ir_lines[k].strip() if k is not None else op.name
        if len(text) > 160:          # big constants print as long hex blobs
            text = text[:140] + " ... " + text[-15:]
        self.line_ops.append((len(self.lines) + 1, text))   # 1-based within the body; offset later
        self.emit("# " + text)

    def lower_ops(self, ops):
        for op in ops:
            self.lower_op(op)

    def lower_program(self):
        for k, op in enumerate(self.f.ops):
            self.step = k
            self.lower_op(op)

    def lower_op(self, op: Op):
        if op.name not in rules:
            raise NumbaLoweringError(f"op '{op.name}' has no numba lowering" + (f" (at {op.loc})" if op.loc else ""))
        self.comment_op(op)
        rule = rules[op.name]
        if op.name in INLINE_OPS or getattr(rule, "in_program", lambda op: False)(op):
            out = rule(self, op)
        elif op.name == "fusion":
            out = self.lower_fusion(op)
        else:
            out = self.call_kernel(op)
        self.bind_results(op, out)
        if op.name not in INLINE_OPS and getattr(rule, "fresh", lambda op: False)(op):
            self.owned.update([out] if isinstance(out, str) else out)

    def bind_results(self, op: Op, out):
        outs = [out] if isinstance(out, str) or out is None else list(out)
        if len(outs) != len(op.results):
            raise AssertionError(f"numba rule for {op.name} returned {len(outs)} results")
        for r, name in zip(op.results, outs):
            if name is not None:
                self.bind(r, name)

    # -- kernels ---------------------------------------------------------------------------------
    def _destinations(self, op: Op, results) -> list[str | None]:
        """Per result of ``op``: the variable of a dying operand it is computed over (the memory plan's
        in-place rule, :mod:`.buffers`), or None for a fresh buffer."""
        dest: list[str | None] = []
        for r in results:
            donor = next((self.arr(v) for v in op.operands if v.type == r.type and self.scalar(v) is None
                          and self.arr(v) in self.owned and self.arr(v) not in dest
                          and self.life.dead_after(v, self.step)), None)
            dest.append(donor)
        return dest

    def call_kernel(self, op: Op):
        """Lower ``op`` into its own kernel function and emit the call; returns the result variables.
        Kernels that write each result element after reading their operands there take their results as
        arguments (``region.takes_destinations``): the program allocates them, or passes a dying operand."""
        from .lower.region import flat_form, takes_destinations
        flat = flat_form(op, lambda v: self.arr(v) not in self.strided)
        if flat is not None:
            return self._call_flat(op, *flat)
        k = KernelEmitter(self, op)
        dps = takes_destinations(op)
        if not dps:       # what it returns may be an operand or a view of one: never written over
            name, source = k.build(op)
            self._add_kernel(name, source, op, k.returns)
            outs = [self.result_var(r) for r in op.results]
            self.emit(f"{', '.join(outs)} = {name}({', '.join(k.call_args)})")
            return outs
        donors = self._destinations(op, op.results)
        k.dest = {id(r): f"o{j}" for j, r in enumerate(op.results)}
        k.alias = {id(r): d for r, d in zip(op.results, donors) if d is not None}
        name, source = k.build(op)
        self._add_kernel(name, source, op, ())
        outs = [donor or self.alloc(r) for r, donor in zip(op.results, donors)]
        passed = [o for r, o in zip(op.results, outs) if id(r) not in k.aliased]
        self.emit(f"{name}({', '.join(k.call_args + passed)})")
        self.owned.update(outs)
        return outs

    def _add_kernel(self, name: str, source: str, op, returns: tuple | None):
        """``returns``: () for a kernel writing into its arguments, ((dtype, ndim), ...) for one returning
        arrays it allocated, None when unknown; known ones compile beside the program (workers.py)."""
        self.kernels[name] = source
        if returns is not None:
            self.kernel_returns[name] = returns
        self.kernel_ops.setdefault(name, self.line_ops[-1][1] if self.line_ops else op.name)

    def _call_flat(self, op: Op, pseudo, flat: dict):
        """The kernel of ``op`` over flat views of its operands (``region.flat_form``), writing into flat
        views of its results (fresh, or dying operands)."""
        rank1 = op.results[0].type.ndim == 1
        for v in op.operands:
            if id(v) in flat:
                x = self.arr(v)
                self.vars[id(flat[id(v)])] = x if rank1 else f"np.ascontiguousarray({x}).reshape({x}.size)"
        k = KernelEmitter(self, pseudo)
        k.parallel_override = self.want_parallel(op.results[0].type.shape)
        k.dest = {id(r): f"o{j}" for j, r in enumerate(pseudo.results)}
        donors = self._destinations(op, op.results)
        k.alias = {id(r): d if rank1 else f"np.ascontiguousarray({d}).reshape({d}.size)"
                   for r, d in zip(pseudo.results, donors) if d is not None}
        name, source = k.build(pseudo)
        for v in op.operands:                # the stand-ins die here: no stale id may stay bound
            if id(v) in flat:
                self.vars.pop(id(flat[id(v)]), None)
        self._add_kernel(name, source, op, ())
        outs, dests = [], []
        for r, p, donor in zip(op.results, pseudo.results, donors):
            if donor is not None:
                outs.append(donor)
                dests.append(None if id(p) in k.aliased else donor if rank1 else f"{donor}.reshape({donor}.size)")
            elif rank1:
                outs.append(self.alloc(r))
                dests.append(outs[-1])
            else:
                f = self.fresh("f")
                self.emit(f"{f} = {self.new_array(r.type, flat=True)}")
                outs.append(None)
                dests.append(f)
        self.emit(f"{name}({', '.join(k.call_args + [d for d in dests if d is not None])})")
        for j, r in enumerate(op.results):
            if outs[j] is None:
                outs[j] = self.result_var(r)
                self.emit(f"{outs[j]} = {dests[j]}.reshape({self.shape(r.type.shape)})")
        self.owned.update(outs)
        return outs

    def lower_fusion(self, op: Op):
        """A region of elementwise ops is one kernel; any other region is split into runs of
        elementwise ops (one kernel each) and single ops (a matmul stays a BLAS call)."""
        from .lower.region import fusable_run
        region = op.regions[0]
        if fusable_run(op):
            return self.call_kernel(op)
        for p, v in zip(region.params, op.operands):
            if self.scalar(v) is not None:
                self.bind_scalar(p, self.scalar(v))
            else:
                self.bind(p, self.arr(v))
        ops = _sink_operand_free(list(region.ops))
        anchor = next((o for o in ops if o.name in rules and hasattr(rules[o.name], "fuse_epilogue")), None)
        fused = rules[anchor.name].fuse_epilogue(region) if anchor is not None else None
        if fused is not None:           # the anchor's kernel applies the steps after it (a stand-in op)
            stand_in, gone = fused
            ops = [stand_in] + [o for o in ops if all(o is not g for g in gone)]
        later_uses = [set() for _ in ops]        # ids of values used by ops after position k, or yielded
        seen = {id(v) for v in region.results}
        for k in range(len(ops) - 1, -1, -1):
            later_uses[k] = set(seen)
            seen |= {id(v) for v in ops[k].operands}
        outer, at = self.life, self.step
        self.life = outer.region(op, at, ops)
        try:
            self._lower_runs(ops, later_uses)
        finally:
            self.life, self.step = outer, at
        return [self.arr(v) for v in region.results]

    def _lower_runs(self, ops, later_uses):
        from .lower.region import fusable_run
        k = 0
        while k < len(ops):
            run = [ops[k]]
            while k + len(run) < len(ops) and scalar_form(ops[k]) and scalar_form(ops[k + len(run)]):
                run.append(ops[k + len(run)])
            inside = {id(r) for o in run for r in o.results}
            inputs = []
            for o in run:
                for v in o.operands:
                    if id(v) not in inside and all(v is not w for w in inputs):
                        inputs.append(v)
            outputs = [r for o in run for r in o.results if id(r) in later_uses[k + len(run) - 1]]
            pseudo = _pseudo_fusion(run, inputs, outputs)
            if len(run) > 1 and outputs and fusable_run(pseudo):
                for o in run:
                    self.comment_op(o)
                self.step = k + len(run) - 1
                for r, name in zip(outputs, self.call_kernel(pseudo)):
                    self.bind(r, name)
            else:
                for j, o in enumerate(run):
                    self.step = k + j
                    self.lower_op(o)
            k += len(run)


# Ops whose lowering is a view, a reshape or a binding: one line, kept in the program itself.
INLINE_OPS = {"constant", "transpose", "reshape", "expand_dims", "squeeze", "slice"}
_KERNEL_FLAGS = 'cache=True, nogil=True, error_model="numpy"'


def _is_view(op) -> bool:
    return op.name in rules and getattr(rules[op.name], "view", False)


def scalar_form(op: Op) -> bool:
    return not op.regions and (op.name == "iota" or hasattr(rules[op.name], "scalar") or
                               (op.name == "constant" and op.attrs["value"].ndim == 0))


def pointwise(op: Op) -> bool:
    """A scalar form that reads no loop index (an iota's value is its index): free to move or flatten."""
    return op.name in rules and scalar_form(op) and op.name != "iota"


def _sink_operand_free(ops):
    """Move scalar-form ops that read no array (a constant broadcast to a shape) to just before their
    first user, so they join that user's elementwise run instead of becoming a kernel that materialises
    the broadcast (W4's ReLU mask compared the matmul with a [128,1024] array of zeros)."""
    out = list(ops)
    for op in reversed(ops):
        if not (pointwise(op) and all(v.type.ndim == 0 for v in op.operands)):
            continue
        out.remove(op)
        users = [k for k, o in enumerate(out) if any(r in o.operands for r in op.results)]
        out.insert(users[0] if users else len(out), op)
    return out


def _pseudo_fusion(run, inputs, outputs):
    """A stand-in for a ``fusion`` op over ``run`` (the shape the region rule reads), without building IR."""
    from types import SimpleNamespace
    region = SimpleNamespace(params=list(inputs), ops=list(run), results=list(outputs),
                             result_types=[v.type for v in outputs])
    return SimpleNamespace(name="fusion", operands=list(inputs), results=list(outputs), regions=[region],
                           attrs={}, loc=None)


class KernelEmitter(Emitter):
    """Emits one op (or fusion region) as a canonical, shape-generic function of its operands.

    Names are positional (``a0..`` arrays, ``c0..`` large constants, ``n0..`` dims,
    ``r``/``t``/``i`` temps) and no IR name or size other than 1 appears in the text,
    so equal ops share one kernel whatever their sizes or place in a program.
    """

    def __init__(self, parent: Emitter, op: Op):     # noqa: D107 (no Function printing here)
        self.parent = parent
        self.f = parent.f
        self.lines = []
        self.depth = 1
        self.used = set(_RESERVED)
        self.vars, self.scalars, self.syms = {}, {}, {}
        self.helpers: set[str] = set()
        self.strided: set[str] = set()
        self.permuted = {}
        self.consts = []
        self.parallel = False
        self.line_ops = []
        self.params: list[str] = []
        self.call_args: list[str] = []
        self.dim_params: list[tuple[str, object]] = []
        self.dest: dict[int, str] = {}      # id(result) -> parameter the caller passes its buffer in
        # id(result) -> the caller's expression of the dying operand it overwrites (buffers.py).  Where that
        # operand is a parameter, the destination becomes the same array inside the kernel (``aliased``):
        # LLVM then sees the store hit the address just loaded and vectorizes; two parameters over one buffer
        # fail its runtime overlap check and ran the scalar loop (3.8 ns an element for W3's softmax grad).
        self.alias: dict[int, str] = {}
        self.aliased: set[int] = set()
        self.owned = set()
        self.allocated: set[str] = set()    # arrays this kernel allocates (np.empty/zeros: C-contiguous)
        self.returns: tuple | None = None   # after build: ((dtype, ndim), ...) when it returns only those

    def fresh(self, hint: str) -> str:
        return super().fresh(hint.strip("_").split("_")[0] or "v")

    def dim(self, d) -> str:
        if not isinstance(d, Sym) and int(d) == 1:
            return "1"
        if d not in self.syms:
            name = self.fresh(f"n{len(self.syms)}")
            self.syms[d] = name
            self.dim_params.append((name, d))
        return self.syms[d]

    def ir_name(self, v: Value) -> str:
        return ""

    def result_var(self, v: Value) -> str:
        return self.fresh("r")

    def alloc(self, v: Value, init: str = "empty") -> str:
        if id(v) in self.dest and init == "empty":
            return self.dest[id(v)]
        name = super().alloc(v, init)
        self.allocated.add(name)
        return name

    def comment_op(self, op: Op):
        pass

    def const_arg(self, array: np.ndarray) -> str:
        name = self.fresh(f"c{len(self.consts)}")
        self.consts.append((name, self.parent.const_arg(array)))
        return name

    def lower_op(self, op: Op):           # ops nested in a region are lowered inline, in this kernel
        if op.name not in rules:
            raise NumbaLoweringError(f"op '{op.name}' has no numba lowering" + (f" (at {op.loc})" if op.loc else ""))
        self.bind_results(op, rules[op.name](self, op))

    def build(self, op: Op) -> tuple[str, str]:
        """(kernel name, module source) for ``op``; fills ``call_args`` for the program's call."""
        prologue = []
        for v in op.operands:
            if id(v) in self.vars or id(v) in self.scalars:
                continue
            lit = self.parent.scalar(v)
            if lit is not None:
                self.bind_scalar(v, lit)
                continue
            name = self.fresh(f"a{len(self.params)}")
            self.params.append(name)
            self.call_args.append(self.parent.arr(v))
            self.bind(v, name)
            if v.type.ndim == 0:      # read once, before any loop: Numba's prange cannot index a 0-d array
                s = self.fresh("s")
                prologue.append(f"    {s} = {name}[()]")
                self.bind_scalar(v, s)
            for axis, d in enumerate(v.type.shape):
                if (isinstance(d, Sym) or int(d) != 1) and d not in self.syms:
                    s = self.fresh(f"n{len(self.syms)}")
                    self.syms[d] = s
                    prologue.append(f"    {s} = {name}.shape[{axis}]")
        self.used.update(self.dest.values())
        out = rules[op.name](self, op)
        outs = [out] if isinstance(out, str) or out is None else list(out)
        rets = [self.arr(r) if name is None else name for r, name in zip(op.results, outs)]
        if self.dest:
            if rets != [self.dest.get(id(r)) for r in op.results]:
                raise AssertionError(f"kernel for {op.name} did not write its results into their arguments")
        else:
            self.emit("return " + ", ".join(rets) + ("," if len(rets) > 1 else ""))
            if len(rets) > 1:
                self.lines[-1] = self.lines[-1].rstrip(",")
            if len(set(rets)) == len(rets) and all(r in self.allocated for r in rets):
                self.returns = tuple((storage_np(r.type.dtype).name, r.type.ndim) for r in op.results)
        args = self.params + [n for n, _ in self.consts] + [n for n, _ in self.dim_params]
        for r in op.results:
            if id(r) not in self.dest:
                continue
            param = next((p for p, a in zip(self.params, self.call_args) if a == self.alias.get(id(r))), None)
            if param is None:
                args.append(self.dest[id(r)])
            else:
                prologue.append(f"    {self.dest[id(r)]} = {param}")
                self.aliased.add(id(r))
        self.call_args += [p for _, p in self.consts] + [self.parent.dim(d) for _, d in self.dim_params]
        flags = _KERNEL_FLAGS + (", parallel=True" if self.parallel else "")
        body = [f"@numba.njit({flags})", "def {name}(" + ", ".join(args) + "):"] + prologue + self.lines
        salt = cache.kernels_digest() if self.helpers else ""   # helpers are linked in: their changes must miss
        digest = hashlib.sha256(("\n".join(body) + salt).encode()).hexdigest()[:16]
        name = f"k_{digest}"
        head = [f'"""flowc kernel for `{op.name}` (shared by every program whose op lowers to this text)."""',
                "import numpy as np", "import numba", "from numba import prange"]
        if self.helpers:
            head.append("from flowc.backends.numba.kernels import " + ", ".join(sorted(self.helpers)))
        src = "\n".join(head + ["", ""] + body).replace("def {name}(", f"def {name}(") + "\n"
        return name, src


def _dtype_of(a: np.ndarray) -> DType:
    from flowc.ir.types import dtype_of
    return dtype_of(a.dtype)


def generate(f: Function, module_doc: str = "") -> Program:
    """Lower ``f`` to the source of a module defining ``program``."""
    e = Emitter(f)
    params = []
    for i, p in enumerate(f.params):
        n = e.ir_name(p)
        name = e.fresh(f"p_{n}" if n.isidentifier() else f"p{i}")
        params.append(name)
        e.bind(p, name)
    # Bind every symbol from the first input that has it.
    for p, name in zip(f.params, params):
        for axis, d in enumerate(p.type.shape):
            if isinstance(d, Sym) and d not in e.syms:
                s = e.fresh(d.name)
                e.syms[d] = s
                e.emit(f"{s} = {name}.shape[{axis}]")
    e.lower_program()
    outs = [e.arr(v) for v in f.results]
    e.emit("return (" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")")

    args = params + [name for name, _ in e.consts]
    flags = 'cache=True, error_model="numpy"' + (", parallel=True" if e.parallel else "")
    head = [f'"""{module_doc or "Generated by flowc for @" + f.name}"""', "import numpy as np", "import numba",
            "from numba import prange"]
    if e.helpers or e.kernels:     # called by symbol, not linked into the program (see link.py)
        head.append("from flowc.backends.numba.link import linked")
    if e.helpers:
        head.append("from flowc.backends.numba import kernels")
    if e.kernels:
        head.append("from flowc.backends.numba.cache import kernel")
    if e.helpers or e.kernels:
        head += [""] + [f"{h} = linked(kernels.{h})" for h in sorted(e.helpers)]
        head += [f'{k} = linked(kernel("{k}")'
                 + (f", returns={e.kernel_returns[k]!r})" if k in e.kernel_returns else ")") for k in e.kernels]
    head += ["", "", f"@numba.njit({flags})", f"def program({', '.join(args)}):"]
    offset = len(head)
    src = "\n".join(head + e.lines) + "\n"
    line_ops = [(start + offset, text) for start, text in e.line_ops]
    return Program(src, [a for _, a in e.consts], [p.type for p in f.params], [v.type for v in f.results],
                   line_ops, e.parallel, _uses_blas(f.ops), e.kernels, e.kernel_ops)
