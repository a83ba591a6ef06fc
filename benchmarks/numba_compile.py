"""Cold and warm compile time, and per-step time, of training steps on the numba backend.

    python benchmarks/numba_compile.py [--only small,w4,cnn,w5,w6] [--steps 20] [--opt-level 2]

Workloads (float32, SGD unless noted):

* ``small``: MLP 784-128-10, ReLU, softmax cross-entropy, batch 64;
* ``w4``: MLP 784-1024-1024-10, ReLU, batch 128 (FACTS.md's W4); numpy's hand-written step is timed too;
* ``cnn``: the training step of ``examples/mnist_cnn.py`` (conv-pool-conv-pool-fc-fc, dropout, Adam), batch 64;
* ``w5``, ``w6``: ``bench.py``'s W5 (the CNN's SGD step, no dropout) and W6 (AlexNet forward, batch 8).

Each workload runs in two fresh processes: *cold* with an empty ``FLOWC_CACHE_DIR``, then *warm* with the
same directory.  "compile" is trace + passes + codegen + Numba (``step.lower`` then ``.compile()``); the
import of flowc/numba is reported separately.  Steps are timed in the warm process (median of ``--steps``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mlp_case(sizes, batch, opt_level):
    import numpy as np
    import flowc as fc

    def loss(p, x, y):
        h = x
        for i in range(len(sizes) - 2):
            h = fc.nn.relu(h @ p[f"w{i}"] + p[f"b{i}"])
        k = len(sizes) - 2
        return fc.nn.softmax_cross_entropy(h @ p[f"w{k}"] + p[f"b{k}"], y)

    @fc.jit(backend="numba", opt_level=opt_level)
    def step(p, x, y):
        value, g = fc.value_and_grad(loss)(p, x, y)
        return value, {k: p[k] - 0.1 * g[k] for k in p}

    rng = np.random.default_rng(0)
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"w{i}"] = (rng.normal(size=(a, b)) * np.sqrt(2 / a)).astype(np.float32)
        p[f"b{i}"] = np.zeros(b, np.float32)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    return step, (p, x, y), lambda out: (out[1], x, y)


def _cnn_case(batch, opt_level):
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import flowc as fc
    import mnist_cnn

    opt = fc.optim.adam(1e-3)

    @fc.jit(backend="numba", opt_level=opt_level)
    def step(p, state, x, y, key):
        value, grads = fc.value_and_grad(mnist_cnn.loss)(p, x, y, key)
        p, state = opt.update(grads, state, p)
        return value, p, state

    p = mnist_cnn.init_params(fc.random.key(0))
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    key = fc.random.key(1)
    return step, (p, opt.init(p), x, y, key), lambda out: (out[1], out[2], x, y, key)


def _bench_case(name):
    """A workload of ``bench.py`` as (jitted function, args, identity advance)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench
    f, args, _, _ = bench.WORKLOADS[name.upper()]("numba")
    return f, args, lambda out: args


def _numpy_w4_step(batch):
    """The W4 step written by hand in numpy (forward, backward, SGD), for a ratio."""
    import numpy as np
    rng = np.random.default_rng(0)
    sizes = (784, 1024, 1024, 10)
    ws = [(rng.normal(size=(a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def step():
        hs = [x]
        for w, b in zip(ws[:-1], bs[:-1]):
            hs.append(np.maximum(hs[-1] @ w + b, 0))
        z = hs[-1] @ ws[-1] + bs[-1]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(batch), y]))
        d = e / s
        d[np.arange(batch), y] -= 1
        d /= batch
        for i in range(len(ws) - 1, -1, -1):
            gw, gb = hs[i].T @ d, d.sum(axis=0)
            if i:
                d = (d @ ws[i].T) * (hs[i] > 0)
            ws[i] -= np.float32(0.1) * gw
            bs[i] -= np.float32(0.1) * gb
        return loss
    return step


def _median_time(fn, steps):
    import numpy as np
    fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def child(name: str, steps: int, opt_level: int):
    t0 = time.perf_counter()
    import flowc  # noqa: F401
    from flowc.backends import numba  # noqa: F401
    imported = time.perf_counter() - t0
    if name == "small":
        step, args, advance = _mlp_case((784, 128, 10), 64, opt_level)
    elif name == "w4":
        step, args, advance = _mlp_case((784, 1024, 1024, 10), 128, opt_level)
    elif name == "cnn":
        step, args, advance = _cnn_case(64, opt_level)
    else:
        step, args, advance = _bench_case(name)
    t = time.perf_counter()
    lowered = step.lower(*args)
    traced = time.perf_counter() - t
    exe = lowered.compile()
    compiled = time.perf_counter() - t
    out = {"import": imported, "trace": traced, "compile": compiled,
           "lines": exe.source.count("\n"), "ops": len(lowered.final.ops)}
    if steps:
        state = {"args": args}

        def run():
            state["args"] = advance(step(*state["args"]))
        out["step"] = _median_time(run, steps)
        if name == "w4":
            out["numpy_step"] = _median_time(_numpy_w4_step(128), steps)
    print(json.dumps(out))


def _spawn(name, cache, steps, opt_level):
    env = dict(os.environ, FLOWC_CACHE_DIR=cache)
    cmd = [sys.executable, __file__, "--child", name, "--steps", str(steps), "--opt-level", str(opt_level)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{name} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="small,w4,cnn,w5,w6")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--opt-level", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return child(a.child, a.steps, a.opt_level)
    print(f"{'workload':8} {'ops':>4} {'lines':>6} {'import':>7} {'cold':>8} {'warm':>8} {'step':>10}  notes")
    for name in a.only.split(","):
        with tempfile.TemporaryDirectory() as cache:
            cold = _spawn(name, cache, 0, a.opt_level)
            warm = _spawn(name, cache, a.steps, a.opt_level)
        note = f"trace+passes {warm['trace']:.2f} s"
        if "numpy_step" in warm:
            note += f"; numpy {warm['numpy_step'] * 1e3:.2f} ms (ratio {warm['step'] / warm['numpy_step']:.2f})"
        print(f"{name:8} {cold['ops']:4d} {cold['lines']:6d} {warm['import']:6.2f}s {cold['compile']:7.2f}s "
              f"{warm['compile']:7.2f}s {warm['step'] * 1e3:8.2f}ms  {note}", flush=True)


if __name__ == "__main__":
    main()
