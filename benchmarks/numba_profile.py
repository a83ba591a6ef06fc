"""Where a Numba-backend training step spends its time: a per-kernel table (run on demand, never in CI).

    python benchmarks/numba_profile.py [--only cnn,w2f,w2,w3,w4,w5,w6] [--reps 5] [--opt-level 2]

The steps of the benchmarks, profiled with ``Compiled.profile`` (what ``flowc profile`` prints for a
function in a file; see ``flowc/backends/numba/profile.py`` for how the table is measured).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def _case(name: str, opt_level: int):
    import flowc as fc
    import numba_compile
    if name == "cnn":
        return numba_compile._cnn_case(64, opt_level)[:2]
    if name == "w3":
        return numba_compile._mlp_case((784, 10), 100, opt_level)[:2]
    if name == "w4":
        return numba_compile._mlp_case((784, 1024, 1024, 10), 128, opt_level)[:2]
    if name == "w2":
        rng = np.random.default_rng(0)
        f = fc.jit(lambda z, y: fc.value_and_grad(lambda z: fc.nn.softmax_cross_entropy(z, y))(z),
                   backend="numba")
        return f, (rng.standard_normal((4096, 1000)).astype(np.float32), rng.integers(0, 1000, 4096))
    import bench
    names = {k.lower(): k for k in bench.WORKLOADS}
    if name in names:                         # w0, w1, w2f, w5, w6: the benchmark's own function and inputs
        return bench.build(names[name], "numba")[:2]
    raise SystemExit(f"unknown workload {name!r}; expected cnn or one of {', '.join(bench.WORKLOADS).lower()}")


def main(argv=None):
    import flowc as fc
    from flowc.backends.numba.profile import table
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cnn")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--opt-level", type=int, default=2)
    a = ap.parse_args(argv)
    for name in a.only.split(","):
        step, args = _case(name, a.opt_level)
        compiled = step.lower(*args).compile()
        print(f"{name}:")
        print(table(*compiled.profile(*fc.pytree.flatten(args)[0], reps=a.reps)))


if __name__ == "__main__":
    main()
