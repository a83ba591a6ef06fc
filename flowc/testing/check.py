"""Differential checking: a function on every backend against the reference interpreter.

The reference runs the *unoptimised* program; each backend runs the program after
the pass pipeline (``opt_level`` or an explicit ``passes`` spec), so a disagreement
is either a wrong pass or a wrong lowering.  On a mismatch the report says which:

- if the optimised program already differs *on the reference*, a pass changed its
  meaning: the report says so, and with ``bisect=True`` names the pass and rewrite;
- otherwise the backend's lowering is wrong somewhere: the optimised program is
  probed (every intermediate returned), each op is re-run on the reference with the
  backend's own operand values, and the first op whose result differs is named —
  inside a fusion region, down to the op within the region.

Backends: ``backends=None`` means "numba if registered" (skipped with a note and a
warning when it is not); backends named explicitly must exist, or
:class:`BackendUnavailable` is raised.  The name ``reference`` is allowed: it then
checks only the pass pipeline.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from flowc.ir import Function, Op
from flowc.ir.types import FlowcError

from .bisect import BisectResult, bisect_passes, first_difference
from .programs import op_lines, probe, random_inputs, region_function, single_op_function
from .tolerances import Diff, compare_value, op_class

DEFAULT_BACKENDS = ("numba",)


class BackendUnavailable(FlowcError):
    """A backend asked for by name is not registered or cannot be imported."""


class CheckFailure(AssertionError):
    """``check`` found a backend that disagrees with the reference; the message is the report."""

    def __init__(self, report: "CheckReport"):
        super().__init__(str(report))
        self.report = report


@dataclass
class Divergence:
    """The first op whose backend result differs from the reference's on the same operands."""
    index: int          # position among the ops of ``where``
    op: Op
    line: str           # the op as printed in ``where``
    diff: Diff
    where: str          # "@f" or "fusion region of op #k"
    local: bool         # True: the op alone is wrong given identical operands
    inner: "Divergence | None" = None

    def describe(self, indent: str = "  ") -> str:
        how = ("given the backend's own operand values, the reference computes something else"
               if self.local else "first intermediate that differs (operands already drifted)")
        s = (f"{indent}first divergent op in {self.where}: op #{self.index}: {self.line}\n"
             f"{indent}  {how}: {self.diff.describe()}")
        if self.inner is not None:
            s += "\n" + self.inner.describe(indent + "  ")
        return s


@dataclass
class Mismatch:
    backend: str
    output: int                     # -1: the backend raised
    diff: Diff | None
    error: str = ""
    pass_bug: bool = False          # the optimised program already differs on the reference
    divergence: Divergence | None = None
    bisect: BisectResult | None = None

    def describe(self, f: Function) -> str:
        if self.output < 0:
            s = f"backend '{self.backend}' failed to run @{f.name}: {self.error}"
        else:
            t = f.results[self.output].type
            s = f"backend '{self.backend}': output {self.output} ({t}) differs: {self.diff.describe()}"
        if self.pass_bug:
            s += ("\n  the optimised program already differs on the reference interpreter: a pass changed "
                  "its meaning")
            s += ("\n  " + self.bisect.describe().replace("\n", "\n  ") if self.bisect is not None
                  else " (rerun with --bisect / bisect=True to name the pass)")
        if self.divergence is not None:
            s += "\n" + self.divergence.describe()
        return s


@dataclass
class CheckReport:
    function: Function
    optimized: Function
    inputs: list
    passes: list[str]
    checked: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        pipe = ",".join(self.passes) or "(no passes)"
        lines = [f"check @{self.function.name}: passes {pipe}; backends checked: "
                 f"{', '.join(self.checked) or 'none'}"]
        for name, why in self.skipped.items():
            lines.append(f"skipped backend '{name}': {why}")
        lines += [m.describe(self.function) for m in self.mismatches]
        lines.append("OK: every checked backend agrees with the reference" if self.ok
                     else f"FAILED: {len(self.mismatches)} mismatch(es)")
        return "\n".join(lines)


# ------------------------------------------------------------------ backends

def backend_status(name: str):
    """(module, "") when the backend can be used, else (None, why not)."""
    from flowc.backends import BACKENDS, get_backend
    if name not in BACKENDS:
        return None, f"not registered (registered backends: {', '.join(sorted(BACKENDS))})"
    try:
        return get_backend(name), ""
    except ImportError as e:
        return None, f"cannot be imported: {e}"


def resolve_backends(backends: Sequence[str] | None):
    """[(name, module)] to run and {name: why} skipped; unavailable explicit backends raise."""
    explicit = backends is not None
    names = list(DEFAULT_BACKENDS if backends is None else backends)
    usable, skipped = [], {}
    for name in names:
        mod, why = backend_status(name)
        if mod is not None:
            usable.append((name, mod))
        elif explicit:
            raise BackendUnavailable(f"backend '{name}' is {why}")
        else:
            skipped[name] = why
    return usable, skipped


def run_backend(mod, f: Function, inputs) -> list[np.ndarray]:
    return [np.asarray(o) for o in mod.compile(f)(*inputs)]


# ------------------------------------------------------------------ localisation

def _ref(f: Function, inputs):
    from flowc.backends.reference import run
    return run(f, *inputs)


def localize(mod, f: Function, inputs, where: str = "", rtol=None, atol=None, depth: int = 0) -> Divergence | None:
    """The first op of ``f`` the backend ``mod`` computes differently from the reference."""
    where = where or f"@{f.name}"
    g, slots = probe(f)
    if not slots:
        return None
    got = run_backend(mod, g, inputs)
    ref_stream = _ref(g, inputs)
    vals = {id(p): a for p, a in zip(f.params, inputs)}
    for (k, op, i), v in zip(slots, got):
        vals[id(op.results[i])] = v
    lines = op_lines(f)
    stream_first = None
    for (k, op, i), v, r in zip(slots, got, ref_stream):
        cls = op_class(op.name)
        dtype = op.results[i].type.dtype
        try:   # the op alone, on the backend's operands
            local = _ref(single_op_function(op), [vals[id(x)] for x in op.operands])[i]
            d = compare_value(v, local, dtype, cls, rtol, atol)
            if not d.ok:
                div = Divergence(k, op, lines.get(id(op), op.name), d, where, True)
                if op.regions and depth < 4:
                    operands = [vals[id(x)] for x in op.operands]
                    div.inner = localize(mod, region_function(op), operands, f"the region of op #{k}",
                                         rtol, atol, depth + 1)
                return div
        except Exception:  # noqa: BLE001 - e.g. a symbol bound only by another input: use the stream
            pass
        if stream_first is None:
            d = compare_value(v, r, dtype, cls, rtol, atol)
            if not d.ok:
                stream_first = Divergence(k, op, lines.get(id(op), op.name), d, where, False)
    return stream_first


# ------------------------------------------------------------------ entry points

def _as_function(fn, args):
    """(traced Function, input arrays or None) for a Function, a jitted or a plain Python function."""
    from flowc.api import Jitted, jit, trace_function, annotation_types
    if isinstance(fn, Function):
        return fn, (list(args) if args else None)
    j = fn if isinstance(fn, Jitted) else jit(fn)
    if args:
        _, (lowered, _), arrays = j._lookup(args, {})
        return lowered.function("traced"), list(arrays)
    import inspect
    names = [p.name for p in inspect.signature(j.fn).parameters.values()]
    anns = annotation_types(j.fn)
    missing = [n for n in names if n not in anns]
    if missing:
        raise FlowcError(f"check: pass example arguments, or annotate {', '.join(missing)} with fc types")
    return trace_function(j.fn, [anns[n] for n in names], names), None


def optimize(f: Function, passes=None, opt_level: int | None = None) -> tuple[Function, list[str]]:
    """``opt_level`` None: the level ``fc.jit`` uses by default (so checks test what users run)."""
    from flowc.passes import DEFAULT_OPT_LEVEL, PassManager, default_pipeline
    level = DEFAULT_OPT_LEVEL if opt_level is None else opt_level
    pm = PassManager(default_pipeline(level) if passes is None else passes)
    return pm.run(f), pm.names


def check_function(f: Function, inputs, backends: Sequence[str] | None = None, rtol=None, atol=None,
                   opt_level: int | None = None, passes=None, bisect: bool = False, localize_ops: bool = True
                   ) -> CheckReport:
    """Compare ``f`` (unoptimised, reference) with each backend (optimised); never raises on a mismatch."""
    usable, skipped = resolve_backends(backends)
    if skipped:
        warnings.warn("fc.testing.check skipped " + "; ".join(f"'{k}': {v}" for k, v in skipped.items()),
                      stacklevel=3)
    opt, names = optimize(f, passes, opt_level)
    rep = CheckReport(f, opt, list(inputs), names, skipped=skipped)
    from flowc.backends.reference import bind_inputs
    bind_inputs(f, tuple(inputs))   # inputs that do not fit the signature: the user's error, raised
    try:
        want = _ref(f, inputs)
    except Exception as e:  # noqa: BLE001 - the reference crashing on a verified program is a bug to report
        rep.checked.append("reference")
        rep.mismatches.append(Mismatch("reference", -1, None, f"{type(e).__name__}: {e} (on the unoptimised "
                                       "program: a bug in the reference interpreter)"))
        return rep
    ref_opt = None
    for name, mod in usable:
        rep.checked.append(name)
        try:
            got = run_backend(mod, opt, inputs)
        except Exception as e:  # noqa: BLE001 - a crashing backend is a finding, reported
            rep.mismatches.append(Mismatch(name, -1, None, f"{type(e).__name__}: {e}"))
            continue
        out, diff = first_difference(got, want, f, rtol, atol, also=opt)
        if out < 0:
            continue
        m = Mismatch(name, out, diff)
        if ref_opt is None:
            try:
                ref_opt = _ref(opt, inputs)
            except Exception:  # noqa: BLE001
                ref_opt = []
        if first_difference(ref_opt, want, f, rtol, atol, also=opt)[0] >= 0:
            m.pass_bug = True
            if bisect:
                m.bisect = bisect_passes(f, inputs, names, rtol=rtol, atol=atol)
        elif localize_ops:
            m.divergence = localize(mod, opt, inputs, rtol=rtol, atol=atol)
        rep.mismatches.append(m)
    return rep


def check(fn, *args, backends: Sequence[str] | None = None, rtol: float | None = None,
          atol: float | None = None, opt_level: int | None = None, passes=None, seed: int = 0,
          sizes: dict[str, int] | None = None, bisect: bool = False, raise_on_mismatch: bool = True
          ) -> CheckReport:
    """Run ``fn`` on the reference and on each backend and compare every output.

    ``fn`` is a Python function (traced with ``args``, or with random inputs of its
    annotated types when no ``args`` are given), a jitted function, or an IR Function.
    Raises :class:`CheckFailure` (an AssertionError whose message is the report) on a
    mismatch unless ``raise_on_mismatch=False``; returns the :class:`CheckReport`.
    """
    f, inputs = _as_function(fn, args)
    if inputs is None:
        inputs = random_inputs(f, seed, sizes)
    rep = check_function(f, inputs, backends, rtol, atol, opt_level, passes, bisect)
    if raise_on_mismatch and not rep.ok:
        raise CheckFailure(rep)
    return rep


__all__ = ["check", "check_function", "CheckReport", "CheckFailure", "Mismatch", "Divergence",
           "BackendUnavailable", "localize", "resolve_backends", "backend_status", "optimize",
           "DEFAULT_BACKENDS"]
