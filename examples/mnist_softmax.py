"""MNIST softmax regression, the TensorFlow tutorial's model: y = softmax(x @ W + b), cross-entropy,
minibatch gradient descent (batch 100, learning rate 0.5).  The whole step is one compiled program.

    python examples/mnist_softmax.py [--epochs 1] [--backend reference]
    flowc dump examples/mnist_softmax.py:predict          # the traced IR of the model
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowc as fc  # noqa: E402
from _common import accuracy, batches, compile_step, parser, progress  # noqa: E402


def predict(x: fc.f32["B", 784], W: fc.f32[784, 10], b: fc.f32[10]):
    """Class probabilities for a batch of flattened 28x28 images."""
    return fc.nn.softmax(x @ W + b)


def loss(params, x, y):
    return fc.nn.softmax_cross_entropy(x @ params["W"] + params["b"], y)


def make_step(lr: float, backend: str):
    opt = fc.optim.sgd(lr)

    @fc.jit(backend=backend)
    def step(params, x: fc.f32["B", 784], y: fc.i64["B"]):
        value, grads = fc.value_and_grad(loss)(params, x, y)
        params, _ = opt.update(grads, {}, params)
        return value, params
    return step


def main(argv=None):
    args = parser(__doc__.splitlines()[0], epochs=1, batch=100).parse_args(argv)
    (x_train, y_train), (x_test, y_test) = fc.datasets.mnist()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    params = {"W": np.zeros((784, 10), np.float32), "b": np.zeros(10, np.float32)}
    step = make_step(0.5, args.backend)
    compile_step(step, params, x_train[:args.batch], y_train[:args.batch], backend=args.backend)
    steps = int(args.epochs * (len(x_train) // args.batch))
    t0 = time.perf_counter()
    value = float("nan")
    for idx in progress(batches(len(x_train), args.batch, args.epochs, args.seed), steps, "train"):
        value, params = step(params, x_train[idx], y_train[idx])
    train_s = time.perf_counter() - t0
    print(f"{steps} steps in {train_s:.2f} s: {steps / max(train_s, 1e-9):.1f} steps/s, last loss {float(value):.4f}")
    classify = fc.jit(lambda p, x: fc.argmax(predict(x, p["W"], p["b"]), axis=1), backend=args.backend)
    acc = accuracy(classify, params, x_test, y_test)
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
