"""Running pipelines of passes: spec strings, verification, IR dumps and timing.

A spec is a list of pass names or a string ``"fold,simplify{...},cse"``; a pass may
take options in braces: ``fold{max-elements=64}``.  After every pass the result is
verified, so a pass that breaks the IR is named at once instead of surfacing as a
confusing failure several passes (or a backend) later.
"""
from __future__ import annotations

import sys
import time
from typing import Sequence, TextIO

from flowc.ir import Function, verify as verify_ir
from flowc.ir.parser import IRError
from flowc.ir.types import FlowcError

from .base import Pass, get_pass

PIPELINES: dict[int, list[str]] = {
    0: [],
    1: ["fold", "simplify", "cse", "dce"],
    2: ["fold", "simplify", "cse", "dce", "layout", "fusion"],
    3: ["fold", "simplify", "cse", "dce", "layout", "fusion", "memory"],
}

# What ``fc.jit`` and the CLI use unless told otherwise.  Fusion (level 2) is on by default: on the Numba
# backend it cut the MNIST CNN step from 214 to about 105 ms and its cold compile from 28 to 8-10 s (4x fewer
# kernels to compile), and the W4 MLP step from 23 to 10 ms.  Layout joined level 2 once the Numba image
# kernels became NHWC: without it an NCHW model transposes around every image op.  Level 3 adds the memory
# plan (an analysis).
DEFAULT_OPT_LEVEL = 2


class PassVerifyError(FlowcError):
    """The IR does not verify after a pass: the message names the pass."""


def default_pipeline(opt_level: int) -> list[str]:
    if opt_level not in PIPELINES:
        raise FlowcError(f"unknown optimisation level {opt_level!r}; expected one of "
                         + ", ".join(map(str, PIPELINES)))
    return list(PIPELINES[opt_level])


def _split_top(spec: str) -> list[str]:
    """Split on commas outside braces."""
    parts, depth, cur = [], 0, ""
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise FlowcError(f"unbalanced '}}' in pass pipeline {spec!r}")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise FlowcError(f"unclosed '{{' in pass pipeline {spec!r}")
    return parts + [cur]


def parse_spec(spec: str | Sequence[str]) -> list[Pass]:
    """Turn ``"a,b{opt=1},c"`` (or a list of such items) into configured passes."""
    items = _split_top(spec) if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            if isinstance(spec, str) and not spec.strip():
                continue   # "" is the empty pipeline
            raise FlowcError(f"empty pass name in pipeline {spec!r}")
        name, _, rest = item.partition("{")
        p = get_pass(name.strip())
        if rest:
            if not rest.endswith("}"):
                raise FlowcError(f"bad options for pass '{name}': {item!r}")
            opts = {}
            for kv in filter(None, (s.strip() for s in rest[:-1].split(","))):
                k, eq, v = kv.partition("=")
                if not eq:
                    raise FlowcError(f"option {kv!r} of pass '{name}' must be written key=value")
                opts[k.strip()] = v.strip()
            p = p.configured(**opts)
        out.append(p)
    return out


def _header(name: str) -> str:
    return f"// -----// IR after {name} //----- //"


class PassManager:
    """Runs a pipeline on a function, verifying (and optionally printing/timing) after each pass."""

    def __init__(self, spec, verify: bool = True, print_after_all: bool = False, print_after=(),
                 time_passes: bool = False, out: TextIO | None = None):
        self.passes = parse_spec(spec)
        self.verify = verify
        self.print_after_all = print_after_all
        self.print_after = {print_after} if isinstance(print_after, str) else set(print_after)
        unknown = self.print_after - {p.name for p in self.passes}
        if unknown:
            raise FlowcError(f"--print-after names pass(es) not in the pipeline ({', '.join(sorted(unknown))})")
        self.time_passes = time_passes
        self.out = out
        self.timings: list[tuple[str, float]] = []

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.passes]

    def stages(self, function: Function):
        """Yield ``(pass name, function after it)`` for each pass."""
        self.timings = []
        if self.verify:
            _check(function, "the input")
        for p in self.passes:
            start = time.perf_counter()
            function = p.run(function)
            self.timings.append((p.name, time.perf_counter() - start))
            if self.verify:
                _check(function, f"pass '{p.name}'")
            if self.print_after_all or p.name in self.print_after:
                print(_header(p.name), file=self._out)
                print(function.text(), end="", file=self._out)
            yield p.name, function
        if self.time_passes:
            self._out.write(timing_table(self.timings))

    def run(self, function: Function) -> Function:
        for _, function in self.stages(function):
            pass
        return function

    @property
    def _out(self) -> TextIO:
        return self.out if self.out is not None else sys.stderr


def _check(f: Function, who: str):
    try:
        verify_ir(f)
    except IRError as e:
        if who == "the input":
            raise PassVerifyError(f"the input to the pass pipeline does not verify:\n{e}") from None
        raise PassVerifyError(f"IR after {who} does not verify (a bug in that pass):\n{e}") from None


def timing_table(timings: Sequence[tuple[str, float]]) -> str:
    total = sum(t for _, t in timings) or 1e-12
    lines = ["===" + "-" * 60 + "===", "  Pass execution timing report", "===" + "-" * 60 + "===",
             f"  {'Wall (ms)':>10}  {'%':>6}  Pass"]
    for name, t in timings:
        lines.append(f"  {t * 1e3:>10.3f}  {100 * t / total:>5.1f}%  {name}")
    lines.append(f"  {sum(t for _, t in timings) * 1e3:>10.3f}  {100.0:>5.1f}%  Total")
    return "\n".join(lines) + "\n"


def run_stages(function: Function, passes=None, opt_level: int = 1, verify: bool = True
               ) -> list[tuple[str, Function]]:
    """The function after each pass of ``passes`` (or of the default pipeline for ``opt_level``)."""
    spec = default_pipeline(opt_level) if passes is None else passes
    return list(PassManager(spec, verify=verify).stages(function))
