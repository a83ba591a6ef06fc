"""Where a Numba-backend step spends its time: a per-kernel table (run on demand, never in CI).

    python benchmarks/numba_profile.py [--only cnn,w4,w2] [--reps 5]

The compiled program is one ``@njit`` glue function calling kernels, so it cannot be timed from
inside.  Instead, the glue's generated source is run as plain Python with each kernel wrapped
in a timer, and it is fed the same arguments the compiled program receives.  Python dispatch adds
a few microseconds per call: the table is for finding hot kernels, not for end-to-end figures.
Each row shows the kernel's total time per step, its minor page faults per step, its calls per
step, and the IR op it lowers.  Every row replays the same inputs, so outputs are freshly
allocated each time (a training loop reuses freed memory and faults less).
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import sys
import time
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


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


def profile(compiled, args, reps: int = 5) -> list[tuple[float, int, int, str, str]]:
    """Rows (seconds per step, page faults per step, calls per step, kernel, op), slowest first."""
    ns = _glue_namespace(compiled)
    spent, faults, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for name, fn in list(ns.items()):
        if type(fn).__name__ != "CPUDispatcher":
            continue

        def timed(*a, _fn=fn, _name=name):
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            out = _fn(*a)
            spent[_name] += time.perf_counter() - t0
            faults[_name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            calls[_name] += 1
            return out
        ns[name] = timed
    conv = [np.require(np.asarray(a), dt, "C") for a, dt in zip(args, compiled._in)]
    for _ in range(2):
        ns["program"](*conv, *compiled._consts)
    spent.clear(), faults.clear(), calls.clear()
    for _ in range(reps):
        ns["program"](*conv, *compiled._consts)
    ops = compiled.program.kernel_ops
    rows = [(t / reps, faults[k] // reps, calls[k] // reps, k, ops.get(k, "")) for k, t in spent.items()]
    return sorted(rows, reverse=True)


def _case(name: str):
    import flowc as fc
    import numba_compile
    if name == "cnn":
        return numba_compile._cnn_case(64, 2)[:2]
    if name == "w4":
        return numba_compile._mlp_case((784, 1024, 1024, 10), 128, 2)[:2]
    if name == "w2":
        rng = np.random.default_rng(0)
        f = fc.jit(lambda z, y: fc.value_and_grad(lambda z: fc.nn.softmax_cross_entropy(z, y))(z),
                   backend="numba")
        return f, (rng.standard_normal((4096, 1000)).astype(np.float32), rng.integers(0, 1000, 4096))
    raise SystemExit(f"unknown workload {name!r}; expected cnn, w4 or w2")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cnn")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args(argv)
    for name in a.only.split(","):
        step, args = _case(name)
        step(*args)
        _, (_, compiled), arrays = step._lookup(args, {})
        t0 = time.perf_counter()
        for _ in range(a.reps):
            compiled(*arrays)
        whole = (time.perf_counter() - t0) / a.reps
        rows = profile(compiled, arrays, a.reps)
        total = sum(r[0] for r in rows)
        print(f"{name}: compiled step {whole * 1e3:.2f} ms; kernels under the Python glue {total * 1e3:.2f} ms")
        print(f"{'ms/step':>9s} {'faults':>7s} {'calls':>5s}  kernel / op")
        for t, flt, n, kernel, op in rows:
            if t * 1e3 >= 0.01:
                print(f"{t * 1e3:9.2f} {flt:7d} {n:5d}  {kernel:20s} {op[:100]}")
        print()


if __name__ == "__main__":
    main()
