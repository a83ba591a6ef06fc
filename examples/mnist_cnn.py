"""The MNIST "experts" convolutional net, trained with Adam, compiled as one flowc program per step.

conv5x5x32-relu-maxpool2 -> conv5x5x64-relu-maxpool2 -> fc1024-relu -> dropout -> fc10.

    python examples/mnist_cnn.py [--epochs 3] [--backend numba|reference]
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowc as fc  # noqa: E402
from _common import accuracy, batches, compile_step, parser, progress  # noqa: E402


def init_params(key):
    k = fc.random.split(key, 4)
    init = fc.nn.init
    return {
        "c1": init.he_normal(k[0], (32, 1, 5, 5)), "b1": np.full(32, 0.1, np.float32),
        "c2": init.he_normal(k[1], (64, 32, 5, 5)), "b2": np.full(64, 0.1, np.float32),
        "f1": init.he_normal(k[2], (7 * 7 * 64, 1024)), "bf1": np.full(1024, 0.1, np.float32),
        "f2": init.glorot_uniform(k[3], (1024, 10)), "bf2": np.zeros(10, np.float32),
    }


def forward(p, x, key=None, rate=0.5):
    x = x.reshape(-1, 1, 28, 28)
    h = fc.nn.relu(fc.nn.conv2d(x, p["c1"], padding="SAME") + p["b1"].reshape(1, 32, 1, 1))
    h = fc.nn.max_pool2d(h, 2)
    h = fc.nn.relu(fc.nn.conv2d(h, p["c2"], padding="SAME") + p["b2"].reshape(1, 64, 1, 1))
    h = fc.nn.max_pool2d(h, 2)
    h = fc.nn.relu(h.reshape(-1, 7 * 7 * 64) @ p["f1"] + p["bf1"])
    if key is not None:
        h = fc.nn.dropout(key, h, rate)
    return h @ p["f2"] + p["bf2"]


def loss(p, x, y, key):
    return fc.nn.softmax_cross_entropy(forward(p, x, key), y)


def make_step(opt, backend):
    @fc.jit(backend=backend)
    def step(p, state, x, y, key):
        value, grads = fc.value_and_grad(loss)(p, x, y, key)
        p, state = opt.update(grads, state, p)
        return value, p, state
    return step


def make_predict(backend):
    @fc.jit(backend=backend)
    def predict(p, x):
        return fc.argmax(forward(p, x), axis=1)
    return lambda p, x: predict(p, x)


def main(argv=None):
    args = parser(__doc__.splitlines()[0], epochs=3, batch=64).parse_args(argv)
    (x_train, y_train), (x_test, y_test) = fc.datasets.mnist()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    key = fc.random.key(args.seed)
    params = init_params(key)
    opt = fc.optim.adam(1e-3)
    state = opt.init(params)
    step = make_step(opt, args.backend)
    idx0 = np.arange(args.batch)
    compile_step(step, params, state, x_train[idx0], y_train[idx0], key, backend=args.backend)
    steps = int(args.epochs * (len(x_train) // args.batch))
    t0 = time.perf_counter()
    for i, idx in enumerate(progress(batches(len(x_train), args.batch, args.epochs, args.seed), steps, "train")):
        step_key = fc.random.key(args.seed * 1_000_003 + i + 1)
        value, params, state = step(params, state, x_train[idx], y_train[idx], step_key)
    train_s = time.perf_counter() - t0
    print(f"{steps} steps in {train_s:.1f} s: {steps / max(train_s, 1e-9):.2f} steps/s, last loss {float(value):.4f}")
    acc = accuracy(make_predict(args.backend), params, x_test, y_test)
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
