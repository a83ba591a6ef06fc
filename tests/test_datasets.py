"""MNIST loading from IDX files and the arrays-only unpickler, on small generated data."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from flowc import datasets


def write_idx(path, array, code=0x08, gz=False):
    head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    names = datasets.IDX_FILES
    write_idx(tmp_path / names["train_images"][0], rng.integers(0, 256, (5, 28, 28)).astype(np.uint8))
    write_idx(tmp_path / names["train_labels"][0], np.array([1, 2, 3, 4, 5], np.uint8))
    write_idx(tmp_path / (names["test_images"][0] + ".gz"), np.full((2, 28, 28), 255, np.uint8), gz=True)
    write_idx(tmp_path / names["test_labels"][0], np.array([7, 0], np.uint8))
    return tmp_path


def test_mnist_from_idx_dir(idx_dir):
    (x, y), (xt, yt) = datasets.mnist(idx_dir)
    assert x.shape == (5, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int64 and list(y) == [1, 2, 3, 4, 5]
    assert xt.shape == (2, 784) and np.all(xt == 1.0) and list(yt) == [7, 0]


def test_flowc_data_env(idx_dir, monkeypatch):
    monkeypatch.setenv("FLOWC_DATA", str(idx_dir))
    (x, _), _ = datasets.mnist()
    assert x.shape == (5, 784)


def test_truncated_idx_is_a_clear_error(idx_dir):
    p = idx_dir / datasets.IDX_FILES["train_labels"][0]
    p.write_bytes(p.read_bytes()[:-2])
    with pytest.raises(datasets.DataError, match="header says"):
        datasets.mnist(idx_dir)


def test_bad_magic(tmp_path):
    (tmp_path / "f").write_bytes(b"\x01\x02\x03")
    with pytest.raises(datasets.DataError, match="not an IDX file"):
        datasets.read_idx(tmp_path / "f")


def test_missing_dir_message(tmp_path):
    with pytest.raises(datasets.DataError, match="no MNIST IDX files"):
        datasets.mnist(tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_admits_arrays_only():
    arrays = ((np.zeros((2, 3), np.float32), np.arange(2)), (np.ones(1), np.arange(1)))
    got = datasets.load_arrays_pickle(pickle.dumps(arrays, protocol=4))
    np.testing.assert_array_equal(got[0][0], arrays[0][0])
    with pytest.raises(datasets.DataError, match="refusing to unpickle"):
        datasets.load_arrays_pickle(pickle.dumps(_Evil()))
    with pytest.raises(datasets.DataError, match="refusing to unpickle builtins.eval"):
        datasets.load_arrays_pickle(b"cbuiltins\neval\n(S'1+1'\ntR.")
