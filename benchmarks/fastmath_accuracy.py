"""Worst-case error of the numba backend's float32 math over EVERY float32 input (run on demand).

    python benchmarks/fastmath_accuracy.py [--stride 1] [--only exp,tanh]

For each function, evaluates all 2**32 bit patterns (or every ``stride``-th) in chunks, compares against
numpy in float64 rounded from the exact value, and prints the maximum error in ulps, where it occurs, any
nan/inf disagreement, and the bound the unit tests assert (``fastmath.ERROR_BOUNDS_ULP``).  Also times
the vectorized kernel against numpy's float32 ufunc on 2**24 elements.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_numba_fastmath import FUNCS, _ulp_errors  # noqa: E402

from flowc.backends.numba import fastmath as fm  # noqa: E402


@numba.njit
def _apply(f, xs, out):
    for i in range(xs.shape[0]):
        out[i] = f(xs[i])


def sweep(name: str, stride: int, chunk: int = 1 << 24):
    ref, f32, _ = FUNCS[name]
    worst, at, nan_mismatch = 0.0, None, 0
    out = np.empty(chunk // stride + 1, np.float32)
    for start in range(0, 1 << 32, chunk):
        xs = np.arange(start, start + chunk, stride, dtype=np.uint64).astype(np.uint32).view(np.float32)
        got = out[:xs.size]
        _apply(f32, xs, got)
        with np.errstate(all="ignore"):
            want = ref(xs.astype(np.float64))
        err = _ulp_errors(got, want, np.float32)
        nan_mismatch += int(np.count_nonzero(np.isnan(got) != np.isnan(want)))
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, at = float(err[i]), (float(xs[i]), float(got[i]), float(want[i]))
    return worst, at, nan_mismatch


def speed(name: str):
    ref, f32, _ = FUNCS[name]
    x = np.random.default_rng(0).uniform(-5, 5, 1 << 24).astype(np.float32)
    if name in ("log", "log1p"):
        x = np.abs(x)
    out = np.empty_like(x)
    _apply(f32, x, out)
    t0 = time.perf_counter()
    _apply(f32, x, out)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        ref(x)
    return ours, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--only", default=",".join(FUNCS))
    args = ap.parse_args()
    print(f"{'function':9} {'max ulp':>8} {'bound':>6} {'nan diff':>8}  worst input -> got / want"
          f"   {'ms ours':>8} {'ms numpy':>8}")
    for name in args.only.split(","):
        worst, at, nan_mismatch = sweep(name, args.stride)
        ours, numpy_s = speed(name)
        where = f"{at[0]:.9g} -> {at[1]:.9g} / {at[2]:.9g}" if at else "-"
        print(f"{name:9} {worst:8.3f} {fm.ERROR_BOUNDS_ULP[name][0]:6} {nan_mismatch:8d}  {where}"
              f"   {ours * 1e3:8.1f} {numpy_s * 1e3:8.1f}", flush=True)


if __name__ == "__main__":
    main()
