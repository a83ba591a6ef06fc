"""CUDA backend benchmarks (needs an NVIDIA GPU; the simulator is far too slow to time).

W1: tanh(x*1.5+0.25)*sigmoid(x)+0.5*x*x over 2**24 float32, reported in GB/s (8 B/element)
against the device's measured copy bandwidth; and a 4096^3 float32 matmul in TFLOP/s,
with PyTorch CUDA alongside when it is installed.  Tensors stay on the device
(``device_outputs=True``), so the figures time kernels, not PCIe.

    python benchmarks/cuda_bench.py [--n-log2 24] [--matmul 4096] [--repeat 10]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _timeit(fn, sync, repeat):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-log2", type=int, default=24)
    ap.add_argument("--matmul", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args(argv)

    import flowc as fc
    from flowc.backends.cuda import device
    try:
        device.check_available()
    except fc.FlowcError as e:
        print(f"cuda_bench: {e}", file=sys.stderr)
        return 1
    if device.simulator_requested():
        print("cuda_bench: NUMBA_ENABLE_CUDASIM is set; timings need a real GPU", file=sys.stderr)
        return 1
    from numba import cuda
    sync = cuda.synchronize

    n = 1 << a.n_log2
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    dx = cuda.to_device(x)
    copy = cuda.device_array_like(dx)
    t_copy = _timeit(lambda: copy.copy_to_device(dx), sync, a.repeat)
    w1 = fc.jit(lambda v: fc.tanh(v * 1.5 + 0.25) * fc.nn.sigmoid(v) + 0.5 * v * v, backend="cuda", opt_level=2)
    exe = w1.lower(x).compile()
    t_w1 = _timeit(lambda: exe(dx, device_outputs=True), sync, a.repeat)
    print(f"device copy: {8 * n / t_copy / 1e9:.1f} GB/s")
    print(f"W1 flowc-cuda: {t_w1 * 1e3:.3f} ms, {8 * n / t_w1 / 1e9:.1f} GB/s "
          f"({100 * t_copy / t_w1:.0f}% of copy)")

    m = a.matmul
    rng = np.random.default_rng(1)
    A = rng.standard_normal((m, m)).astype(np.float32)
    B = rng.standard_normal((m, m)).astype(np.float32)
    mm = fc.jit(lambda p, q: fc.matmul(p, q), backend="cuda").lower(A, B).compile()
    dA, dB = cuda.to_device(A), cuda.to_device(B)
    t_mm = _timeit(lambda: mm(dA, dB, device_outputs=True), sync, max(1, a.repeat // 2))
    print(f"matmul {m}^3 flowc-cuda: {t_mm * 1e3:.2f} ms, {2 * m ** 3 / t_mm / 1e12:.2f} TFLOP/s")

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        tx = torch.from_numpy(x).cuda()
        t = _timeit(lambda: torch.tanh(tx * 1.5 + 0.25) * torch.sigmoid(tx) + 0.5 * tx * tx,
                    torch.cuda.synchronize, a.repeat)
        print(f"W1 torch eager: {t * 1e3:.3f} ms, {8 * n / t / 1e9:.1f} GB/s")
        tA, tB = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
        t = _timeit(lambda: tA @ tB, torch.cuda.synchronize, a.repeat)
        print(f"matmul {m}^3 torch: {t * 1e3:.2f} ms, {2 * m ** 3 / t / 1e12:.2f} TFLOP/s")
    else:
        print("torch with CUDA not installed: no peer figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
