"""Where a compiled program spends its time: one row per kernel, with the IR op it lowers.

The program is one ``@njit`` glue function calling kernels, so it cannot be timed from inside.
Instead its generated source is run as plain Python with each kernel wrapped in a timer, on the
arguments the compiled program receives.  Python dispatch adds a few microseconds per call: the
table finds hot kernels; end-to-end figures come from timing the compiled program itself.  Every
repetition replays the same inputs, so outputs are allocated afresh each time (a training loop
reuses freed memory and takes fewer page faults than the table shows).
"""
from __future__ import annotations

import collections
import re
import resource
import time
import types
from dataclasses import dataclass

import numpy as np

from .blas import program_threads, restore


@dataclass(frozen=True)
class KernelTime:
    seconds: float          # per run of the program
    faults: int             # minor page faults per run
    calls: int              # calls per run
    kernel: str             # generated kernel (k_<hash>) or hand-written helper name
    op: str                 # the IR op a generated kernel lowers ("" for helpers)


def _glue_namespace(compiled):
    """Exec the program's source without its ``@numba.njit`` decorator; numpy as the glue sees it in Numba
    (``np.ascontiguousarray`` keeps 0-d arrays 0-d there)."""
    src = re.sub(r"@numba\.njit\([^)]*\)\n", "\n", compiled.program.source)
    ns: dict = {}
    exec(compile(src, "<flowc program>", "exec"), ns)
    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.ascontiguousarray = lambda a, dtype=None: np.require(a, dtype, "C")
    ns["np"] = shim
    return ns


def profile(compiled, args, reps: int = 5) -> tuple[float, list[KernelTime]]:
    """(seconds per run of the compiled program, rows slowest first) on ``args``."""
    conv = compiled.prepare(args)
    for _ in range(2):
        compiled.run(conv)
    t0 = time.perf_counter()
    for _ in range(reps):
        compiled.run(conv)
    whole = (time.perf_counter() - t0) / reps
    ns = _glue_namespace(compiled)
    spent, faults, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for name, fn in list(ns.items()):
        fn = getattr(fn, "dispatcher", fn)         # link.linked wraps each kernel the program calls
        if type(fn).__name__ != "CPUDispatcher":
            continue

        def timed(*a, _fn=fn, _name=name):
            f0, t1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            out = _fn(*a)
            spent[_name] += time.perf_counter() - t1
            faults[_name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            calls[_name] += 1
            return out
        ns[name] = timed
    token = program_threads(compiled._parallel) if compiled.program.blas else None
    try:
        for _ in range(2):
            ns["program"](*conv, *compiled._consts)
        spent.clear(), faults.clear(), calls.clear()
        for _ in range(reps):
            ns["program"](*conv, *compiled._consts)
    finally:
        if token is not None:
            restore(token)
    ops = {**_helper_ops(compiled.program), **compiled.program.kernel_ops}
    rows = [KernelTime(t / reps, faults[k] // reps, calls[k] // reps, k, ops.get(k, "")) for k, t in spent.items()]
    return whole, sorted(rows, key=lambda r: -r.seconds)


def _helper_ops(program) -> dict[str, str]:
    """For each hand-written helper the program calls: the IR ops calling it (``conv2d x2, matmul``)."""
    names: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for lineno, line in enumerate(program.source.split("\n"), 1):
        for helper in set(re.findall(r"(?<![\w.])(\w+)\(", line)):     # bare calls, nested ones too
            op = program.op_at(lineno)
            m = re.search(r"= (\w+)\(", op or "")
            if m and not helper.startswith("k_"):
                names[helper][m.group(1)] += 1
    return {h: ", ".join(f"{n} x{c}" if c > 1 else n for n, c in ops.most_common()) for h, ops in names.items()}


def table(whole: float, rows: list[KernelTime], width: int = 110) -> str:
    total = sum(r.seconds for r in rows)
    lines = [f"compiled program {whole * 1e3:.3f} ms per run; kernels under the Python glue {total * 1e3:.3f} ms",
             f"{'ms/run':>9} {'share':>6} {'faults':>7} {'calls':>5}  kernel / op"]
    for r in rows:
        share = r.seconds / total if total else 0.0
        text = f"{r.seconds * 1e3:9.3f} {share:6.1%} {r.faults:7d} {r.calls:5d}  {r.kernel:20s} {r.op}"
        lines.append(text if len(text) <= width else text[:width - 3] + "...")
    return "\n".join(lines) + "\n"
