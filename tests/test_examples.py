"""The MNIST examples end to end on small synthetic IDX data (CI never downloads MNIST)."""
import os
import sys

import numpy as np
import pytest

from test_datasets import write_idx

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
sys.path.insert(0, EXAMPLES)


@pytest.fixture
def synthetic_mnist(tmp_path, monkeypatch):
    """Class c lights up row band c of the image (plus noise): learnable by both models."""
    from flowc import datasets
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 + 2 * c:4 + 2 * c, 4:24] = 255
        return x.astype(np.uint8), y.astype(np.uint8)

    (xtr, ytr), (xte, yte) = make(600), make(200)
    names = datasets.IDX_FILES
    write_idx(tmp_path / names["train_images"][0], xtr)
    write_idx(tmp_path / names["train_labels"][0], ytr)
    write_idx(tmp_path / names["test_images"][0], xte)
    write_idx(tmp_path / names["test_labels"][0], yte)
    monkeypatch.setenv("FLOWC_DATA", str(tmp_path))


def test_mnist_softmax_trains(synthetic_mnist, capsys):
    import mnist_softmax
    acc = mnist_softmax.main(["--epochs", "3"])
    out = capsys.readouterr().out
    assert acc > 0.9
    assert out.strip().splitlines()[-1] == f"test accuracy: {acc:.4f}"
    assert "steps/s" in out and "compiled the training step in" in out


def test_mnist_cnn_runs_a_few_steps(synthetic_mnist, capsys):
    import mnist_cnn
    acc = mnist_cnn.main(["--limit", "96", "--batch", "32", "--epochs", "1"])
    out = capsys.readouterr().out
    assert 0.0 <= acc <= 1.0 and "3 steps" in out
    assert out.strip().splitlines()[-1].startswith("test accuracy: ")
