"""Reference matmul (numpy.matmul; f16 accumulates in f32, ints wrap in their own dtype)."""
import numpy as np

from . import impls


@impls.register("matmul")
def _matmul(x, y):
    if x.dtype == np.float16:
        return np.matmul(x.astype(np.float32), y.astype(np.float32)).astype(np.float16)
    return np.asarray(np.matmul(x, y), dtype=x.dtype)
