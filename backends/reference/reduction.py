"""Reference reductions.  Results keep the operand's dtype (argmax/argmin: i64); f16 accumulates in f32."""
import numpy as np

from . import impls


def _acc(x):
    """The accumulator dtype: f32 for f16 (to not lose the sum), else the operand's own (ints wrap)."""
    return np.float32 if x.dtype == np.float16 else x.dtype


def _sum(x, axes, keepdims):
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=_acc(x)).astype(x.dtype)


def _prod(x, axes, keepdims):
    return np.prod(x, axis=axes, keepdims=keepdims, dtype=_acc(x)).astype(x.dtype)


def _mean(x, axes, keepdims):
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    total = np.sum(x, axis=axes, keepdims=keepdims, dtype=_acc(x))
    return (total / np.asarray(count, total.dtype)).astype(x.dtype)   # 0/0 -> nan for an empty axis


def _max(x, axes, keepdims):
    return np.max(x, axis=axes, keepdims=keepdims)


def _min(x, axes, keepdims):
    return np.min(x, axis=axes, keepdims=keepdims)


for _name, _fn in [("reduce_sum", _sum), ("reduce_prod", _prod), ("reduce_mean", _mean),
                   ("reduce_max", _max), ("reduce_min", _min)]:
    impls.register(_name)(_fn)


@impls.register("argmax")
def _argmax(x, axis, keepdims):
    return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)


@impls.register("argmin")
def _argmin(x, axis, keepdims):
    return np.argmin(x, axis=axis, keepdims=keepdims).astype(np.int64)
