"""flowc against its peers, side by side in one run (run on demand, never in CI).

    python benchmarks/bench.py [--backend numba] [--only W1,W4] [--reps 10] [--rounds 3]

Workloads (float32): W0 bandwidth-bound chain (also as a share of a parallel STREAM triad, the ceiling),
W1 transcendental chain, W2f / W2 softmax cross-entropy forward / value+grad, W3 MNIST softmax-regression SGD
step, W4 MLP 784-1024-1024-10 SGD step, W5 MNIST CNN SGD step, W6 AlexNet forward (one tower, no LRN).  Peers: numpy
always; torch eager, torch.compile (inductor) and jax.jit when installed (``pip install -e '.[bench]'``;
``--peers`` picks some), each in a process of its own.  Every peer's result is checked against flowc's before
its time is reported.  Prints medians (calls under 2 ms are timed in batches, see ``timeit``), each peer's time
divided by flowc's (> 1: flowc is faster), and the first call of flowc and of each compiling peer (trace +
compile + run; a peer's in a fresh process).  ``--rounds N`` times flowc and the peers N times in turn and
reports each party's median round.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

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


# False in the main process when peers run in processes of their own: torch and jax are then never imported
# beside flowc (flowc compiles without its forked workers where JAX is loaded: backends/numba/workers.py).
_FOREIGN = True


def _torch():
    if not _FOREIGN:
        return None
    try:
        import torch
        torch.set_num_threads(int(os.environ.get("FLOWC_NUM_THREADS", os.cpu_count() or 1)))
        return torch
    except ImportError:
        return None


def _jax():
    if not _FOREIGN:
        return None
    try:
        import jax
        return jax
    except ImportError:
        return None


def _torch_peers(peers: dict, torch, make) -> None:
    """torch eager and torch.compile peers of one step: ``make(wrap)`` builds the step with its model function
    passed through ``wrap``, so both run the same code (compiled: forward and, by AOTAutograd, backward)."""
    peers["torch"] = make(lambda f: f)
    compiled = []

    def run_compiled():     # torch.compile is called at the first run: it starts inductor's compile workers
        if not compiled:
            compiled.append(make(torch.compile))
        return compiled[0]()
    peers["torch.compile"] = run_compiled


def _torch_fn_peers(peers: dict, torch, fn, *args) -> None:
    """torch eager and torch.compile peers of a pure function of tensors (numpy arrays in ``args``)."""
    targs = [torch.from_numpy(a).to(TORCH_DEVICE) for a in args]

    def make(wrap):
        g = wrap(fn)
        return lambda: g(*targs)
    _torch_peers(peers, torch, make)


def _jax_peer(peers: dict, jax, fn, *args) -> None:
    """A ``jax.jit(fn)`` peer; its inputs are put on the device once (at its first call), as flowc's are numpy
    already."""
    jf = jax.jit(fn)
    dargs = []

    def run():
        if not dargs:
            dargs.extend(jax.device_put(args))
        leaves = jax.tree_util.tree_leaves(jf(*dargs))
        jax.block_until_ready(leaves)
        return leaves
    peers["jax"] = run


def _torch_sgd_peers(peers: dict, torch, loss, params: dict, lr: float) -> None:
    """torch eager and torch.compile peers of one SGD step on ``loss(params)`` (the loss is what is compiled)."""
    def make(wrap):
        loss_fn = wrap(loss)

        def t_step():
            q = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            v = loss_fn(q)
            grads = torch.autograd.grad(v, [q[k] for k in sorted(q)])
            with torch.no_grad():
                return [v.detach()] + [q[k] - lr * g for k, g in zip(sorted(q), grads)]
        return t_step
    _torch_peers(peers, torch, make)


def _jax_sgd_peer(peers: dict, jax, loss, lr: float, params: dict, *args) -> None:
    """A jax.jit peer of one SGD step on ``loss(params, *args)``."""
    def j_step(p, *args):
        v, g = jax.value_and_grad(loss)(p, *args)
        return [v] + [p[k] - lr * g[k] for k in sorted(p)]
    _jax_peer(peers, jax, j_step, params, *args)


def _jax_xent(jax, z, y):
    """Mean softmax cross-entropy of logits z [N, C] at integer labels y [N], in jax."""
    jnp = jax.numpy
    return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])


def _mlp_logits(h, p: dict, n: int, relu):
    """The MLP's logits in any array library with ``@`` and ``+`` (flowc, torch, jax): n dense layers."""
    for i in range(n):
        h = h @ p[f"w{i}"] + p[f"b{i}"]
        if i < n - 1:
            h = relu(h)
    return h


def _np(x) -> np.ndarray:
    """A host float64 copy of a numpy array, a torch tensor (any device), a jax array or a Numba device array."""
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
# Each returns (flowc_fn, flowc_args, {peer: fn returning comparable output}, info)

def _chain0(x):
    return (x * 1.5 + 0.25) * x - 0.5


def w0(backend):
    x = RNG.standard_normal(2 ** 24).astype(np.float32)
    f = fc.jit(_chain0, backend=backend, opt_level=2)
    peers = {"numpy": lambda: (x * np.float32(1.5) + np.float32(0.25)) * x - np.float32(0.5)}
    if torch := _torch():
        _torch_fn_peers(peers, torch, _chain0, x)
    if jax := _jax():
        _jax_peer(peers, jax, _chain0, x)
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
    if torch := _torch():
        _torch_fn_peers(peers, torch, lambda x: torch.tanh(x * 1.5 + 0.25) * torch.sigmoid(x) + 0.5 * x * x, x)
    if jax := _jax():
        _jax_peer(peers, jax, lambda x: jax.numpy.tanh(x * 1.5 + 0.25) * jax.nn.sigmoid(x) + 0.5 * x * x, x)
    return f, (x,), peers, {}


def w2f(backend):
    """W2's forward alone: the mean softmax cross-entropy of [4096,1000] logits."""
    logits = RNG.standard_normal((4096, 1000)).astype(np.float32)
    labels = RNG.integers(0, 1000, 4096)
    f = fc.jit(lambda z, y: fc.nn.softmax_cross_entropy(z, y), backend=backend, opt_level=2)

    def np_loss():
        z = logits - logits.max(1, keepdims=True)
        return np.float32(-(z[np.arange(4096), labels] - np.log(np.exp(z).sum(1))).mean())
    peers = {"numpy": np_loss}
    if torch := _torch():
        _torch_fn_peers(peers, torch, torch.nn.functional.cross_entropy, logits, labels)
    if jax := _jax():
        _jax_peer(peers, jax, lambda z, y: _jax_xent(jax, z, y), logits, labels)
    return f, (logits, labels), peers, {}


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
    if torch := _torch():
        tz, ty = torch.from_numpy(logits), torch.from_numpy(labels)

        def make(wrap):
            xent = wrap(torch.nn.functional.cross_entropy)

            def t_vg():
                z = tz.clone().requires_grad_(True)
                loss = xent(z, ty)
                loss.backward()
                return [loss.detach(), z.grad]
            return t_vg
        _torch_peers(peers, torch, make)
    if jax := _jax():
        _jax_peer(peers, jax, jax.value_and_grad(lambda z, y: _jax_xent(jax, z, y)), logits, labels)
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
        return fc.nn.softmax_cross_entropy(_mlp_logits(x, p, n, fc.nn.relu), y)

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
    if torch := _torch():
        tp = {k: torch.from_numpy(v.copy()).to(TORCH_DEVICE) for k, v in p.items()}
        tx, ty = torch.from_numpy(x).to(TORCH_DEVICE), torch.from_numpy(y).to(TORCH_DEVICE)

        def t_loss(tp):
            return torch.nn.functional.cross_entropy(_mlp_logits(tx, tp, n, torch.relu), ty)

        _torch_sgd_peers(peers, torch, t_loss, tp, lr)
    if jax := _jax():
        def j_loss(p, x, y):
            return _jax_xent(jax, _mlp_logits(x, p, n, jax.nn.relu), y)
        _jax_sgd_peer(peers, jax, j_loss, lr, p, x, y)
    return step, (p, x, y), peers, {"flops": 6 * batch * sum(a * b for a, b in zip(sizes, sizes[1:]))}


def w3(backend, **jit):
    return _mlp_workload(backend, [784, 10], 100, 0.5, **jit)


def w4(backend, **jit):
    return _mlp_workload(backend, [784, 1024, 1024, 10], 128, 0.01, **jit)


def _jax_conv(jax, x, w, stride, pad):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)])


def _jax_max_pool(jax, x, k, stride):
    return jax.lax.reduce_window(x, -jax.numpy.inf, jax.lax.max, (1, 1, k, k), (1, 1, stride, stride), "VALID")


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
    if torch := _torch():
        F = torch.nn.functional
        tp = {k: torch.from_numpy(v.copy()).to(TORCH_DEVICE) for k, v in p.items()}
        tx = torch.from_numpy(x).reshape(-1, 1, 28, 28).to(TORCH_DEVICE)
        ty = torch.from_numpy(y).to(TORCH_DEVICE)

        def t_loss(q):
            h = F.max_pool2d(F.relu(F.conv2d(tx, q["c1"], q["b1"], padding=2)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, q["c2"], q["b2"], padding=2)), 2)
            h = F.relu(h.reshape(64, -1) @ q["f1"] + q["bf1"])
            return F.cross_entropy(h @ q["f2"] + q["bf2"], ty)

        _torch_sgd_peers(peers, torch, t_loss, tp, 0.01)
    if jax := _jax():
        def j_loss(q, x, y):
            h = x.reshape(-1, 1, 28, 28)
            for c, b in (("c1", "b1"), ("c2", "b2")):
                h = jax.nn.relu(_jax_conv(jax, h, q[c], 1, 2) + q[b][None, :, None, None])
                h = _jax_max_pool(jax, h, 2, 2)
            h = jax.nn.relu(h.reshape(64, -1) @ q["f1"] + q["bf1"])
            return _jax_xent(jax, h @ q["f2"] + q["bf2"], y)
        _jax_sgd_peer(peers, jax, j_loss, 0.01, p, x, y)
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
    if torch := _torch():
        F = torch.nn.functional
        tp = {k: torch.from_numpy(v) for k, v in p.items()}
        tx = torch.from_numpy(x)

        def t_fwd(tp, h):
            for i, (_, _, _, s, pad) in enumerate(ALEX):
                h = F.relu(F.conv2d(h, tp[f"c{i}"], stride=s, padding=pad))
                if i in (0, 1, 4):
                    h = F.max_pool2d(h, 3, 2)
            h = F.relu(h.reshape(8, 9216) @ tp["f0"])
            h = F.relu(h @ tp["f1"])
            return h @ tp["f2"]

        def make(wrap):
            fwd = wrap(t_fwd)

            def run():
                with torch.no_grad():
                    return fwd(tp, tx)
            return run
        _torch_peers(peers, torch, make)
    if jax := _jax():
        def j_fwd(q, h):
            for i, (_, _, _, s, pad) in enumerate(ALEX):
                h = jax.nn.relu(_jax_conv(jax, h, q[f"c{i}"], s, pad))
                if i in (0, 1, 4):
                    h = _jax_max_pool(jax, h, 3, 2)
            h = jax.nn.relu(h.reshape(8, 9216) @ q["f0"])
            h = jax.nn.relu(h @ q["f1"])
            return h @ q["f2"]
        _jax_peer(peers, jax, j_fwd, p, x)
    return f, (p, x), peers, {"flops": 18.2e9}


WORKLOADS = {"W0": w0, "W1": w1, "W2f": w2f, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}
COMPILING = ("torch.compile", "jax")     # peers whose first call compiles: it is reported


def build(name: str, backend: str, **kw):
    """The workload ``name`` with inputs drawn from a generator seeded by its name alone, so that a peer's own
    process (``--worker``) builds the same numbers."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(name.encode()))
    return WORKLOADS[name](backend, **kw)


def _time_peer(pf, reps: int):
    """(result, first call s, median s)."""
    t0 = time.perf_counter()
    ref = pf()
    first = time.perf_counter() - t0
    return ref, first, timeit(pf, reps)


def _worker(spec: str, reps: int, out_dir: str) -> None:
    """Runs one peer of one workload in this process and leaves its result and times in ``out_dir``."""
    name, peer = spec.split(":")
    _, _, peers, _ = build(name, "reference")
    ref, first, t = _time_peer(peers[peer], reps)
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    np.savez(os.path.join(out_dir, "result.npz"), *[_np(v) for v in ref])
    with open(os.path.join(out_dir, "times.json"), "w") as fh:
        json.dump({"first": first, "median": t}, fh)


def _peer_names(name: str) -> list[str]:
    """The peers workload ``name`` has where torch and jax are installed, listed by a process of its own."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--list-peers", name], capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"listing {name}'s peers failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peer_elsewhere(name: str, peer: str, reps: int):
    """(result, first call s, median s) of a peer measured in a process of its own: torch.compile's compile
    workers, started in the background, slowed the next workload's flowc run 2x in one process."""
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", f"{name}:{peer}",
                               "--reps", str(reps), "--out", d], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{name} {peer} failed:\n{proc.stderr[-2000:]}")
        with np.load(os.path.join(d, "result.npz")) as z:
            ref = [z[f"arr_{i}"] for i in range(len(z.files))]
        with open(os.path.join(d, "times.json")) as fh:
            times = json.load(fh)
    return ref, times["first"], times["median"]


def _flat(out):
    leaves, _ = fc.pytree.flatten(out)
    return [np.asarray(v) for v in leaves]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--peers", default="numpy,torch,torch.compile,jax",
                    help="the peers to run, of those installed (torch.compile takes 20-90 s per workload)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="time flowc and every peer this many times, alternately; report the median of each party's "
                         "medians (the load of a shared machine drifts over a run: one round compares flowc "
                         "now with a peer a minute later)")
    ap.add_argument("--same-process", action="store_true",
                    help="run the peers in this process (faster; their threads may slow what runs after them)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--list-peers", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.reps, args.out)
    if args.list_peers:
        return print(json.dumps(list(build(args.list_peers, "reference")[2])))
    global _FOREIGN
    _FOREIGN = args.same_process
    chosen = set(args.peers.split(","))
    print(f"flowc backend={args.backend}; threads={os.environ.get('FLOWC_NUM_THREADS', os.cpu_count())}")
    print(f"{'workload':8s} {'flowc':>10s} {'compile':>9s}  peers (time, peer/flowc; >1 means flowc is faster)")
    for name in args.only.split(","):
        f, fargs, peers, info = build(name, args.backend)
        t0 = time.perf_counter()
        out = _flat(f(*fargs))
        compile_s = time.perf_counter() - t0
        names = [p for p in (peers if args.same_process else _peer_names(name)) if p in chosen]
        ours, theirs = [], {p: [] for p in names}
        for _ in range(max(1, args.rounds)):
            ours.append(timeit(lambda: f(*fargs), args.reps))
            for peer in names:
                ref, first, tp = _time_peer(peers[peer], args.reps) if args.same_process else \
                    _peer_elsewhere(name, peer, args.reps)
                theirs[peer].append((ref, first, tp))
        t = statistics.median(ours)
        cells = []
        for peer, runs in theirs.items():
            ref, first, tp = runs[0][0], runs[0][1], statistics.median(r[2] for r in runs)
            cells.append(f"{peer} {tp * 1e3:.2f} ms x{tp / t:.2f}" + ("" if _same(ref, out) else " (RESULTS DIFFER)")
                         + (f" (first call {first:.2f} s)" if peer in COMPILING else ""))
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
