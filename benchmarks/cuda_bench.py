"""CUDA backend benchmarks (needs an NVIDIA GPU; the simulator is far too slow to time).

W1: tanh(x*1.5+0.25)*sigmoid(x)+0.5*x*x over 2**24 float32, reported in GB/s (8 B/element)
against the device's measured copy bandwidth (a device-to-device copy, bytes read + written);
a 4096^3 float32 matmul in TFLOP/s; W4 (MLP 784-1024-1024-10 SGD step) and W5 (MNIST CNN
SGD step) from ``bench.py``, parameters on the device and fed back each step.  PyTorch CUDA
runs alongside when it is installed, each result checked against flowc's first.  Tensors stay
on the device (``device_outputs=True``), so the figures time kernels and launches, not PCIe.

    python benchmarks/cuda_bench.py [--only W1,MM,W4,W5] [--matmul 4096] [--repeat 20] [--profile]

``--profile`` prints the GPU kernels of one W4/W5 step (torch.profiler) after the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _timeit(fn, sync, repeat):
    """Median seconds per call; a call is timed over a batch long enough (2 ms) to hide the timer."""
    fn()
    sync()
    t = time.perf_counter()
    fn()
    sync()
    inner = max(1, min(200, int(2e-3 / max(time.perf_counter() - t, 1e-9))))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t) / inner)
    return float(np.median(times))


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def copy_and_w1(a, sync, torch, rows):
    import flowc as fc
    from numba import cuda
    n = 1 << a.n_log2
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    from flowc.backends.cuda import device
    dx = cuda.to_device(x)
    copy = cuda.device_array_like(dx)
    t_copy = _timeit(lambda: device.copy_async(copy, dx), sync, a.repeat)
    copy_gbs = 8 * n / t_copy / 1e9
    rows.append(f"device copy     {t_copy * 1e3:8.3f} ms  {copy_gbs:7.1f} GB/s (cuMemcpyDtoDAsync, read + write)")
    exe = fc.jit(lambda v: fc.tanh(v * 1.5 + 0.25) * fc.nn.sigmoid(v) + 0.5 * v * v, backend="cuda",
                 opt_level=2).lower(x).compile()
    t = _timeit(lambda: exe(dx, device_outputs=True), sync, a.repeat)
    want = np.tanh(x * np.float32(1.5) + np.float32(0.25)) / (1 + np.exp(-x)) + np.float32(0.5) * x * x
    ok = np.allclose(exe(dx, device_outputs=True)[0].copy_to_host(), want, rtol=1e-5, atol=1e-5)
    cell = f"W1 flowc-cuda   {t * 1e3:8.3f} ms  {8 * n / t / 1e9:7.1f} GB/s = {t_copy / t:.0%} of copy"
    if torch is not None:
        tx = torch.from_numpy(x).cuda()
        tt = _timeit(lambda: torch.tanh(tx * 1.5 + 0.25) * torch.sigmoid(tx) + 0.5 * tx * tx, sync, a.repeat)
        cell += f"; torch eager {tt * 1e3:.3f} ms x{tt / t:.2f}"
    rows.append(cell + ("" if ok else " (WRONG RESULT)"))


def matmul(a, sync, torch, rows):
    import flowc as fc
    from numba import cuda
    m = a.matmul
    rng = np.random.default_rng(1)
    A, B = (rng.standard_normal((m, m)).astype(np.float32) for _ in range(2))
    exe = fc.jit(lambda p, q: fc.matmul(p, q), backend="cuda").lower(A, B).compile()
    dA, dB = cuda.to_device(A), cuda.to_device(B)
    t = _timeit(lambda: exe(dA, dB, device_outputs=True), sync, a.repeat)
    got = exe(dA, dB, device_outputs=True)[0].copy_to_host()
    rows_ok = np.allclose(got[:64], A[:64].astype(np.float64) @ B, rtol=1e-3, atol=1e-3)
    cell = f"matmul {m}^3    {t * 1e3:8.3f} ms  {2 * m ** 3 / t / 1e12:7.2f} TFLOP/s"
    if torch is not None:
        tA, tB = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
        tt = _timeit(lambda: tA @ tB, sync, a.repeat)
        cell += f"; torch {tt * 1e3:.3f} ms {2 * m ** 3 / tt / 1e12:.2f} TFLOP/s, flowc/torch {tt / t:.0%}"
    rows.append(cell + ("" if rows_ok else " (WRONG RESULT)"))


def training_step(name, a, sync, torch, rows, profiles):
    import bench
    from numba import cuda
    bench.TORCH_DEVICE = "cuda"
    step, (p, x, y), peers, info = bench.build(name, "cuda", device_outputs=True)
    dp = {k: cuda.to_device(v) for k, v in p.items()}
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    t0 = time.perf_counter()
    first = step(dp, dx, dy)
    sync()
    compile_s = time.perf_counter() - t0
    leaves = [first[0]] + [first[1][k] for k in sorted(first[1])]
    t = _timeit(lambda: step(dp, dx, dy), sync, a.repeat)
    cell = f"{name} flowc-cuda   {t * 1e3:8.3f} ms  {info['flops'] / t / 1e12:7.2f} TFLOP/s (compile {compile_s:.1f} s)"
    if torch is not None and "torch" in peers:
        ref = peers["torch"]()
        tt = _timeit(peers["torch"], sync, a.repeat)
        cell += f"; torch eager {tt * 1e3:.3f} ms x{tt / t:.2f}" + ("" if bench._same(ref, leaves) else
                                                                   " (RESULTS DIFFER)")
    failures = {exe.graph_failure for _, exe in step._cache.values() if getattr(exe, "graph_failure", None)}
    rows.append(cell + (f" [no CUDA graph: {failures}]" if failures else ""))
    if a.profile and torch is not None:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                step(dp, dx, dy)
            sync()
        profiles.append(f"--- {name}: 5 steps\n" + prof.key_averages().table(sort_by="cuda_time_total",
                                                                             row_limit=30, max_name_column_width=70))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="W1,MM,W4,W5")
    ap.add_argument("--n-log2", type=int, default=24)
    ap.add_argument("--matmul", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
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
    torch = _torch_cuda()

    def sync():
        cuda.synchronize()
        if torch is not None:
            torch.cuda.synchronize()

    rows, profiles = [], []
    print(f"device: {cuda.get_current_device().name}; torch: {torch.__version__ if torch else 'none'}; "
          f"cuBLAS via CuPy: {'on' if _cublas_on() else 'off'}; pool: {os.environ.get('FLOWC_CUDA_POOL', '1')}; "
          f"graphs: {os.environ.get('FLOWC_CUDA_GRAPHS', '1')}")
    for what in a.only.split(","):
        if what == "W1":
            copy_and_w1(a, sync, torch, rows)
        elif what == "MM":
            matmul(a, sync, torch, rows)
        else:
            training_step(what, a, sync, torch, rows, profiles)
        print(rows[-1], flush=True)
    print("\n".join(profiles))
    return 0


def _cublas_on() -> bool:
    from flowc.backends.cuda.lower.linalg import cublas
    return cublas() is not None


if __name__ == "__main__":
    sys.exit(main())
