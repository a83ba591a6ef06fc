"""Shared plumbing of the examples: arguments, batches, progress, timing."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import flowc as fc


def parser(description: str, epochs: int, batch: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", default=fc.default_backend(),
                   help="flowc backend: numba (native), reference or cuda (default: $FLOWC_BACKEND or numba)")
    p.add_argument("--epochs", type=float, default=epochs, help=f"passes over the training set (default {epochs})")
    p.add_argument("--batch", type=int, default=batch, help=f"minibatch size (default {batch})")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    return p


def batches(n: int, batch: int, epochs: float, seed: int):
    """Shuffled minibatch index arrays, ``epochs`` passes (fractional allowed), full batches only."""
    rng = np.random.default_rng(seed)
    steps = int(epochs * (n // batch))
    done = 0
    while done < steps:
        order = rng.permutation(n)
        for i in range(n // batch):
            if done == steps:
                return
            yield order[i * batch:(i + 1) * batch]
            done += 1


def progress(iterable, total: int, desc: str):
    """tqdm's bar when installed (the examples extra), else a plain line every ~10%."""
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, mininterval=1.0)
    except ImportError:
        return _plain_progress(iterable, total, desc)


def _plain_progress(iterable, total, desc):
    t0, every = time.perf_counter(), max(1, total // 10)
    for i, x in enumerate(iterable, 1):
        yield x
        if i % every == 0 or i == total:
            rate = i / max(time.perf_counter() - t0, 1e-9)
            print(f"{desc}: {i}/{total} ({rate:.2f} it/s)", file=sys.stderr, flush=True)


def accuracy(predict, params, x, y, batch: int = 1000) -> float:
    correct = 0
    for i in range(0, len(x), batch):
        correct += int(np.sum(predict(params, x[i:i + batch]) == y[i:i + batch]))
    return correct / len(x)


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def compile_step(step, *args, backend: str) -> None:
    """Trace, optimise and compile ``step`` for these arguments ahead of the loop, and say how long it took."""
    with Timer() as trace_t:
        lowered = step.lower(*args)
    with Timer() as compile_t:
        lowered.compile()
    print(f"compiled the training step in {trace_t.seconds + compile_t.seconds:.2f} s "
          f"(trace + passes {trace_t.seconds:.2f} s, {backend} codegen {compile_t.seconds:.2f} s)")
