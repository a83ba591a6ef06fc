"""flowc against its peers, side by side in one run (run on demand, never in CI).

    python benchmarks/bench.py [--backend numba] [--only W1,W4] [--reps 10]

Workloads (float32): W0 bandwidth-bound chain (also as a share of a parallel STREAM triad, the ceiling),
W1 transcendental chain, W2 softmax cross-entropy forward and value+grad, W3 MNIST softmax-regression SGD step,
W4 MLP 784-1024-1024-10 SGD step, W5 MNIST CNN SGD step, W6 AlexNet forward (one tower, no LRN).  Peers: numpy
always; torch eager and torch.compile and jax.jit when installed.  Every peer's result is checked against
flowc's before its time is reported.  Prints medians (calls under 2 ms are timed in batches, see
``timeit``) and each peer's time divided by flowc's (> 1: flowc is faster).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import flowc as fc  # noqa: E402

RNG = np.random.default_rng(0)
TORCH_DEVICE = "cpu"     # benchmarks/cuda_bench.py runs the torch peers of W4/W5 on "cuda"


SAMPLE_MIN_S = 2e-3      # a sample of a fast call runs it repeatedly for at least this long


def timeit(fn, reps: int, warmup: int = 2) -> float:
    """Median seconds per call over ``reps`` samples.  A call faster than SAMPLE_MIN_S is repeated within each
    sample (the same count for every sample): single 40-us calls (W3) put the timer's and the VM's jitter
    into the median."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    inner = max(1, min(1000, int(SAMPLE_MIN_S / max(once, 1e-9))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def _torch():
    try:
        import torch
        torch.set_num_threads(int(os.environ.get("FLOWC_NUM_THREADS", os.cpu_count() or 1)))
        return torch
    except ImportError:
        return None


def _jax():
    try:
        import jax
        return jax
    except ImportError:
        return None


def _np(x) -> np.ndarray:
    """A host float64 copy of a numpy array, a torch tensor (any device) or a Numba device array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "copy_to_host"):
        x = x.copy_to_host()
    return np.asarray(x, np.float64)


def _same(a, b, rtol=2e-3, atol=2e-4) -> bool:
    a = [_np(x) for x in (a if isinstance(a, (list, tuple)) else [a])]
    b = [_np(x) for x in (b if isinstance(b, (list, tuple)) else [b])]
    return len(a) == len(b) and all(x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=atol)
                                    for x, y in zip(a, b))


# --------------------------------------------------------------------------- workloads
# Each returns (flowc_fn, flowc_args, {peer: fn returning comparable numpy output}, note)

def w0(backend):
    x = RNG.standard_normal(2 ** 24).astype(np.float32)
    f = fc.jit(lambda x: (x * 1.5 + 0.25) * x - 0.5, backend=backend, opt_level=2)
    peers = {"numpy": lambda: (x * np.float32(1.5) + np.float32(0.25)) * x - np.float32(0.5)}
    torch = _torch()
    if torch:
        tx = torch.from_numpy(x)
        peers["torch"] = lambda: ((tx * 1.5 + 0.25) * tx - 0.5).numpy()
    return f, (x,), peers, {"bytes": 8 * x.size, "ceiling": _triad_gbps}


def _triad_gbps(reps: int) -> float:
    """STREAM triad a = b + s*c over 2**24 float32 with every thread, into preallocated arrays: the ceiling."""
    import numba

    @numba.njit(parallel=True)
    def triad(a, b, c):
        for i in numba.prange(a.size):
            a[i] = b[i] + np.float32(3.0) * c[i]

    b, c = (RNG.standard_normal(2 ** 24).astype(np.float32) for _ in range(2))
    a = np.empty_like(b)
    return 12 * a.size / timeit(lambda: triad(a, b, c), reps) / 1e9


def w1(backend):
    x = RNG.standard_normal(2 ** 24).astype(np.float32)
    f = fc.jit(lambda x: fc.tanh(x * 1.5 + 0.25) * fc.nn.sigmoid(x) + 0.5 * x * x, backend=backend, opt_level=2)
    peers = {"numpy": lambda: np.tanh(x * np.float32(1.5) + np.float32(0.25)) / (1 + np.exp(-x)) + 0.5 * x * x}
    torch = _torch()
    if torch:
        tx = torch.from_numpy(x)
        peers["torch"] = lambda: (torch.tanh(tx * 1.5 + 0.25) * torch.sigmoid(tx) + 0.5 * tx * tx).numpy()
    jax = _jax()
    if jax:
        jf = jax.jit(lambda x: jax.numpy.tanh(x * 1.5 + 0.25) * jax.nn.sigmoid(x) + 0.5 * x * x)
        peers["jax"] = lambda: np.asarray(jf(x).block_until_ready())
    return f, (x,), peers, {}


def w2(backend):
    logits = RNG.standard_normal((4096, 1000)).astype(np.float32)
    labels = RNG.integers(0, 1000, 4096)
    f = fc.jit(lambda z, y: fc.value_and_grad(lambda z: fc.nn.softmax_cross_entropy(z, y))(z), backend=backend,
               opt_level=2)

    def np_vg():
        z = logits - logits.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = -(z[np.arange(4096), labels] - np.log(s[:, 0])).mean()
        g = e / s
        g[np.arange(4096), labels] -= 1
        return [np.float32(loss), g / 4096]
    peers = {"numpy": np_vg}
    torch = _torch()
    if torch:
        tz, ty = torch.from_numpy(logits), torch.from_numpy(labels)

        def t_vg():
            z = tz.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(z, ty)
            loss.backward()
            return [loss.detach().numpy(), z.grad.numpy()]
        peers["torch"] = t_vg
    return f, (logits, labels), peers, {}


def _mlp_params(sizes):
    return {f"w{i}": (RNG.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
            for i, (a, b) in enumerate(zip(sizes, sizes[1:]))} | \
           {f"b{i}": np.zeros(b, np.float32) for i, b in enumerate(sizes[1:])}


def _mlp_workload(backend, sizes, batch, lr, **jit):
    n = len(sizes) - 1
    p = _mlp_params(sizes)
    x = RNG.random((batch, sizes[0]), dtype=np.float32)
    y = RNG.integers(0, sizes[-1], batch)

    def loss(p, x, y):
        h = x
        for i in range(n):
            h = h @ p[f"w{i}"] + p[f"b{i}"]
            if i < n - 1:
                h = fc.nn.relu(h)
        return fc.nn.softmax_cross_entropy(h, y)

    @fc.jit(backend=backend, opt_level=2, **jit)
    def step(p, x, y):
        v, g = fc.value_and_grad(loss)(p, x, y)
        return v, {k: p[k] - lr * g[k] for k in p}

    def np_step():
        hs, h = [x], x
        for i in range(n):
            h = h @ p[f"w{i}"] + p[f"b{i}"]
            if i < n - 1:
                h = np.maximum(h, 0)
            hs.append(h)
        z = h - h.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        v = -(z[np.arange(batch), y] - np.log(s[:, 0])).mean()
        d = e / s
        d[np.arange(batch), y] -= 1
        d /= batch
        new = {}
        for i in reversed(range(n)):
            new[f"w{i}"] = p[f"w{i}"] - lr * (hs[i].T @ d)
            new[f"b{i}"] = p[f"b{i}"] - lr * d.sum(0)
            if i:
                d = (d @ p[f"w{i}"].T) * (hs[i] > 0)
        return [np.float32(v)] + [new[k] for k in sorted(new)]

    peers = {"numpy": np_step}
    torch = _torch()
    if torch:
        tp = {k: torch.from_numpy(v.copy()).to(TORCH_DEVICE) for k, v in p.items()}
        tx, ty = torch.from_numpy(x).to(TORCH_DEVICE), torch.from_numpy(y).to(TORCH_DEVICE)

        def t_loss(tp):
            h = tx
            for i in range(n):
                h = h @ tp[f"w{i}"] + tp[f"b{i}"]
                if i < n - 1:
                    h = torch.relu(h)
            return torch.nn.functional.cross_entropy(h, ty)

        def t_step():
            q = {k: v.clone().requires_grad_(True) for k, v in tp.items()}
            v = t_loss(q)
            grads = torch.autograd.grad(v, [q[k] for k in sorted(q)])
            with torch.no_grad():
                return [v.detach()] + [q[k] - lr * g for k, g in zip(sorted(q), grads)]
        peers["torch"] = t_step
    return step, (p, x, y), peers, {"flops": 6 * batch * sum(a * b for a, b in zip(sizes, sizes[1:]))}


def w3(backend, **jit):
    return _mlp_workload(backend, [784, 10], 100, 0.5, **jit)


def w4(backend, **jit):
    return _mlp_workload(backend, [784, 1024, 1024, 10], 128, 0.01, **jit)


def w5(backend, **jit):
    import mnist_cnn
    p = mnist_cnn.init_params(fc.random.key(0))
    x = RNG.random((64, 784), dtype=np.float32)
    y = RNG.integers(0, 10, 64)
    opt = fc.optim.sgd(0.01)

    @fc.jit(backend=backend, opt_level=2, **jit)
    def step(p, x, y):
        v, g = fc.value_and_grad(lambda p: fc.nn.softmax_cross_entropy(mnist_cnn.forward(p, x), y))(p)
        return v, opt.update(g, {}, p)[0]

    peers = {}
    torch = _torch()
    if torch:
        F = torch.nn.functional
        tp = {k: torch.from_numpy(v.copy()).to(TORCH_DEVICE) for k, v in p.items()}
        tx = torch.from_numpy(x).reshape(-1, 1, 28, 28).to(TORCH_DEVICE)
        ty = torch.from_numpy(y).to(TORCH_DEVICE)

        def t_step():
            q = {k: v.clone().requires_grad_(True) for k, v in tp.items()}
            h = F.max_pool2d(F.relu(F.conv2d(tx, q["c1"], q["b1"], padding=2)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, q["c2"], q["b2"], padding=2)), 2)
            h = F.relu(h.reshape(64, -1) @ q["f1"] + q["bf1"])
            v = F.cross_entropy(h @ q["f2"] + q["bf2"], ty)
            grads = torch.autograd.grad(v, [q[k] for k in sorted(q)])
            with torch.no_grad():
                return [v.detach()] + [q[k] - 0.01 * g for k, g in zip(sorted(q), grads)]
        peers["torch"] = t_step
    return step, (p, x, y), peers, {"flops": 5.25e9}


ALEX = [(96, 3, 11, 4, 2), (256, 96, 5, 1, 2), (384, 256, 3, 1, 1), (384, 384, 3, 1, 1), (256, 384, 3, 1, 1)]


def w6(backend):
    """AlexNet forward, the paper's sizes as one tower, no LRN: 5 convs, 3 overlapping max-pools, 3 fc."""
    p = {f"c{i}": (RNG.standard_normal((o, c, k, k)) * np.sqrt(2 / (c * k * k))).astype(np.float32)
         for i, (o, c, k, _, _) in enumerate(ALEX)}
    p.update({f"f{i}": (RNG.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
              for i, (a, b) in enumerate([(9216, 4096), (4096, 4096), (4096, 1000)])})
    x = RNG.random((8, 3, 224, 224), dtype=np.float32)

    def forward(p, x):
        h = x
        for i, (_, _, _, s, pad) in enumerate(ALEX):
            h = fc.nn.relu(fc.nn.conv2d(h, p[f"c{i}"], stride=s, padding=pad))
            if i in (0, 1, 4):
                h = fc.nn.max_pool2d(h, 3, stride=2)
        h = h.reshape(8, 9216)
        h = fc.nn.relu(h @ p["f0"])
        h = fc.nn.relu(h @ p["f1"])
        return h @ p["f2"]

    f = fc.jit(forward, backend=backend, opt_level=2)
    peers = {}
    torch = _torch()
    if torch:
        F = torch.nn.functional
        tp = {k: torch.from_numpy(v) for k, v in p.items()}
        tx = torch.from_numpy(x)

        def t_fwd():
            with torch.no_grad():
                h = tx
                for i, (_, _, _, s, pad) in enumerate(ALEX):
                    h = F.relu(F.conv2d(h, tp[f"c{i}"], stride=s, padding=pad))
                    if i in (0, 1, 4):
                        h = F.max_pool2d(h, 3, 2)
                h = F.relu(h.reshape(8, 9216) @ tp["f0"])
                h = F.relu(h @ tp["f1"])
                return (h @ tp["f2"]).numpy()
        peers["torch"] = t_fwd
    return f, (p, x), peers, {"flops": 18.2e9}


WORKLOADS = {"W0": w0, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def _flat(out):
    leaves, _ = fc.pytree.flatten(out)
    return [np.asarray(v) for v in leaves]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    print(f"flowc backend={args.backend}; threads={os.environ.get('FLOWC_NUM_THREADS', os.cpu_count())}")
    print(f"{'workload':8s} {'flowc':>10s} {'compile':>9s}  peers (time, peer/flowc; >1 means flowc is faster)")
    for name in args.only.split(","):
        f, fargs, peers, info = WORKLOADS[name](args.backend)
        t0 = time.perf_counter()
        out = _flat(f(*fargs))
        compile_s = time.perf_counter() - t0
        t = timeit(lambda: f(*fargs), args.reps)
        cells = []
        for peer, pf in peers.items():
            ref = pf()
            ok = _same(ref, out)
            tp = timeit(pf, args.reps)
            cells.append(f"{peer} {tp * 1e3:.2f} ms x{tp / t:.2f}" + ("" if ok else " (RESULTS DIFFER)"))
        extra = ""
        if "bytes" in info:
            extra = f" [{info['bytes'] / t / 1e9:.1f} GB/s"
            if "ceiling" in info:
                top = info["ceiling"](args.reps)
                extra += f" = {info['bytes'] / t / 1e9 / top:.0%} of triad {top:.1f} GB/s"
            extra += "]"
        if "flops" in info:
            extra = f" [{info['flops'] / t / 1e9:.1f} GFLOP/s]"
        print(f"{name:8s} {t * 1e3:8.2f}ms {compile_s:8.2f}s  " + "; ".join(cells) + extra, flush=True)


if __name__ == "__main__":
    main()
