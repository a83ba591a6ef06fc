"""Fuzzing campaigns: random programs through every pipeline and backend, against the reference.

For each generated program (``generator.generate``) and each opt level, the program
is optimised with the default pipeline and run on each backend; the results must
match the reference interpreter on the *unoptimised* program.  Random float programs
also have their gradient program (``flowc.autodiff.vjp_function``, ordinary IR)
checked the same way.  A failure — a mismatch, or a crash in a pass or a backend —
is shrunk (``shrink.py``) while it keeps failing the same way, then written as a
reproducer: ``NAME.fir`` + ``NAME.npz`` (+ ``NAME.json`` with the setting) that
``flowc check NAME.fir --inputs NAME.npz --backends B --opt-level N`` replays.

Everything is seeded: program ``i`` of a campaign with seed ``s`` is
``generate(s * 1_000_003 + i)``, so any finding can be regenerated alone.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from flowc.ir import Function, Module, Sym, print_module

from .bisect import first_difference
from .check import optimize, resolve_backends, run_backend
from .generator import generate
from .programs import random_array, symbol_sizes
from .shrink import shrink, size


@dataclass
class FuzzFailure:
    program: int                # index in the campaign
    seed: int                   # generate(seed) rebuilds the original program
    backend: str
    opt_level: int
    kind: str                   # "mismatch" | "crash" | "reference-crash"
    message: str
    gradient: bool
    original_size: int
    function: Function          # the shrunk program
    inputs: list
    path: str | None = None     # the reproducer's .fir file, once written
    duplicate: bool = False     # same signature as an earlier failure: left unshrunk

    def describe(self) -> str:
        what = "gradient of " if self.gradient else ""
        s = (f"program {self.program} (seed {self.seed}): {self.kind} on backend '{self.backend}' at -O"
             f"{self.opt_level} in the {what}program: {self.message}\n"
             f"  shrunk from {self.original_size} to {size(self.function)} op(s)")
        if self.duplicate:
            s += " (same failure as an earlier program: not shrunk)"
        if self.path:
            s += f"; reproducer {self.path}"
        return s


@dataclass
class FuzzReport:
    programs: int = 0
    gradients: int = 0
    runs: int = 0               # (program, opt level, backend) executions compared
    elapsed: float = 0.0
    skipped: dict = field(default_factory=dict)
    failures: list[FuzzFailure] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"fuzz: {self.programs} program(s) (+{self.gradients} gradient programs), {self.runs} "
                 f"backend run(s) in {self.elapsed:.1f} s; {len(self.failures)} failure(s)"]
        lines += [f"skipped backend '{k}': {v}" for k, v in self.skipped.items()]
        lines += [f.describe() for f in self.failures]
        return "\n".join(lines)


def program_seed(seed: int, i: int) -> int:
    return seed * 1_000_003 + i


def _short(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]


def outcome(f: Function, inputs, mod, opt_level: int, passes=None) -> tuple[str, str]:
    """("ok" | "mismatch" | "crash" | "reference-crash", message) for one program on one backend."""
    from flowc.backends.reference import run
    try:
        want = run(f, *inputs)
    except Exception as e:  # noqa: BLE001 - the reference rejecting a verified program is a finding
        return "reference-crash", _short(e)
    try:
        opt, _ = optimize(f, passes, opt_level)
        got = run_backend(mod, opt, inputs)
    except Exception as e:  # noqa: BLE001
        return "crash", _short(e)
    i, d = first_difference(got, want, f, also=opt)
    if i < 0:
        return "ok", ""
    return "mismatch", f"output {i} ({f.results[i].type}): {d.describe()}"


def gradient_program(f: Function, inputs, rng) -> tuple[Function, list] | None:
    """``vjp_function`` of ``f`` w.r.t. its float parameters, with random cotangents; None if n/a."""
    from flowc.autodiff import vjp_function
    wrt = [i for i, p in enumerate(f.params) if p.type.dtype.is_float]
    if not wrt or not any(v.type.dtype.is_float for v in f.results):
        return None
    try:
        g = vjp_function(f, wrt).verify()
    except Exception:  # noqa: BLE001 - an op without a gradient rule: nothing to check
        return None
    sizes = symbol_sizes(f, inputs)
    cts = [random_array(rng, v.type.dtype, tuple(sizes.get(d.name, 1) if isinstance(d, Sym) else d
                                                for d in v.type.shape)) for v in f.results]
    return g, list(inputs) + cts


def write_reproducer(out_dir: str, name: str, f: Function, inputs, backend: str = "reference",
                     opt_level: int = 1, message: str = "", passes=None) -> str:
    """Write ``NAME.fir``, ``NAME.npz`` and ``NAME.json`` under ``out_dir``; returns the .fir path."""
    from flowc.ir import parse_module
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, name)
    cmd = (f"flowc check {name}.fir --inputs {name}.npz --backends {backend} "
           + (f"--passes {passes}" if passes else f"--opt-level {opt_level}"))
    header = f"// Reproducer found by flowc fuzz. Replay: {cmd}\n"
    header += "".join(f"// {line}\n" for line in message.splitlines()[:3])
    text = print_module(Module([f]))
    with open(base + ".fir", "w", encoding="utf-8") as fh:
        fh.write(header + text)
    parsed = next(iter(parse_module(text, base + ".fir")))
    keys = [p.name or f"arg{i}" for i, p in enumerate(parsed.params)]
    np.savez(base + ".npz", **dict(zip(keys, inputs)))
    meta = {"backend": backend, "opt_level": opt_level, "passes": passes, "message": message, "command": cmd}
    with open(base + ".json", "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")
    return base + ".fir"


def fuzz(count: int = 100, seed: int = 0, backends: Sequence[str] = ("reference",),
         opt_levels: Sequence[int] = (0, 1, 2, 3), max_ops: int = 12, time_limit: float | None = None,
         out: str | None = None, gradients: bool = True, shrink_failures: bool = True,
         program_caps: dict[str, int] | None = None, max_failures: int | None = None,
         special_rate: float | None = None, log: Callable[[str], None] | None = None) -> FuzzReport:
    """Run a campaign; ``program_caps`` limits how many programs a slow backend (numba) compiles.

    ``special_rate``: the fraction of programs seeded with nan/inf/-0.0 (default: the generator's 1/8).
    """
    start = time.monotonic()
    usable, skipped = resolve_backends(list(backends))
    caps = {"numba": 25, "cuda": 5, **(program_caps or {})}
    rep = FuzzReport(skipped=skipped)
    seen: set = set()
    for i in range(count):
        if time_limit is not None and time.monotonic() - start > time_limit:
            break
        if max_failures is not None and len(rep.failures) >= max_failures:
            break
        pseed = program_seed(seed, i)
        try:
            special = None if special_rate is None else bool(np.random.default_rng(pseed).random() < special_rate)
            f, inputs = generate(pseed, max_ops, special=special)
        except Exception as e:  # noqa: BLE001 - a generator bug must not stop the campaign
            if log:
                log(f"program {i}: generator failed: {_short(e)}")
            continue
        rep.programs += 1
        cases = [(f, inputs, False)]
        if gradients:
            g = gradient_program(f, inputs, np.random.default_rng(pseed))
            if g is not None:
                rep.gradients += 1
                cases.append((g[0], g[1], True))
        for name, mod in usable:
            if rep.programs > caps.get(name, 1 << 60):
                continue
            for prog, ins, is_grad in cases:
                for level in opt_levels:
                    rep.runs += 1
                    kind, msg = outcome(prog, ins, mod, level)
                    if kind == "ok":
                        continue
                    sig = (kind, name, level, msg.split(":")[0] if kind != "mismatch" else "")
                    failure = _record(rep, i, pseed, name, mod, level, kind, msg, is_grad, prog, ins,
                                      shrink_failures, out, sig in seen)
                    seen.add(sig)
                    if log:
                        log(failure.describe())
                    break   # one finding per program and backend: the other levels would repeat it
                else:
                    continue
                break
    rep.elapsed = time.monotonic() - start
    return rep


def _record(rep, i, pseed, name, mod, level, kind, msg, is_grad, prog, ins, do_shrink, out, duplicate):
    def still(g, gi):   # the same kind of failure (and, for a crash, the same exception type)
        k, m = outcome(g, gi, mod, level)
        return k == kind and (kind == "mismatch" or m.split(":")[0] == msg.split(":")[0])
    small, small_in = prog, ins
    if do_shrink and not duplicate:
        budget = 40 if name not in ("reference",) else 400
        small, small_in = shrink(prog, ins, still, max_tries=budget, time_limit=60)
    final_msg = outcome(small, small_in, mod, level)[1] or msg
    failure = FuzzFailure(i, pseed, name, level, kind, final_msg, is_grad, size(prog), small, list(small_in),
                          duplicate=duplicate)
    if out is not None and not duplicate:
        tag = "grad_" if is_grad else ""
        failure.path = write_reproducer(out, f"fuzz_{pseed}_{tag}{name}_O{level}", small, small_in, name, level,
                                        f"{kind}: {final_msg}")
    rep.failures.append(failure)
    return failure


__all__ = ["fuzz", "FuzzReport", "FuzzFailure", "outcome", "write_reproducer", "gradient_program",
           "program_seed", "generate"]
