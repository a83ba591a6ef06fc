"""MNIST softmax regression: ``predict`` is the model (training arrives with autodiff).

    flowc dump examples/mnist_softmax.py:predict       # the traced IR
    python examples/mnist_softmax.py                   # predictions from random weights
"""
import numpy as np

import flowc as fc


def predict(x: fc.f32["B", 784], W: fc.f32[784, 10], b: fc.f32[10]):
    """Class probabilities for a batch of flattened 28x28 images."""
    return fc.nn.softmax(x @ W + b)


def main(batch: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((784, 10)) * 0.01).astype(np.float32)
    b = np.zeros(10, np.float32)
    x = rng.random((batch, 784), dtype=np.float32)
    probs = fc.jit(predict)(x, W, b)
    classes = probs.argmax(axis=1)
    print("predicted classes:", " ".join(map(str, classes)))
    return classes


if __name__ == "__main__":
    main()
