"""Reference shape ops.  Symbolic dims in attributes arrive already resolved to ints."""
import numpy as np

from . import impls


def fix_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """take/scatter_add's index rule: negative indices wrap once, then clamp to [0, n-1]."""
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + n, idx)
    return np.clip(idx, 0, n - 1)


@impls.register("reshape")
def _reshape(x, shape):
    return x.reshape(shape)


@impls.register("transpose")
def _transpose(x, perm):
    return np.transpose(x, perm)


@impls.register("broadcast_to")
def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


@impls.register("expand_dims")
def _expand_dims(x, axes):
    return np.expand_dims(x, axes)


@impls.register("squeeze")
def _squeeze(x, axes):
    return np.squeeze(x, axis=axes)


@impls.register("concatenate")
def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


@impls.register("pad")
def _pad(x, pads, value):
    if x.ndim == 0:   # nothing to pad (and np.pad rejects 0-d arrays)
        return x.copy()
    return np.pad(x, pads, mode="constant", constant_values=np.asarray(value).astype(x.dtype))


@impls.register("slice")
def _slice(x, starts, limits, strides):
    return x[tuple(slice(s, lim, st) for s, lim, st in zip(starts, limits, strides))]


@impls.register("take")
def _take(x, indices, axis):
    n = x.shape[axis]
    if n == 0 and indices.size:
        raise IndexError(f"take from axis {axis}, which is empty")
    return np.take(x, fix_indices(indices, n), axis=axis)


@impls.register("pick")
def _pick(x, indices):
    n = x.shape[-1]
    idx = indices.astype(np.int64)
    inside = (idx >= 0) & (idx < n)
    got = np.take_along_axis(x, np.where(inside, idx, 0)[..., None], axis=-1)[..., 0] if n else np.zeros(idx.shape, x.dtype)
    return np.where(inside, got, np.zeros((), x.dtype))


@impls.register("one_hot")
def _one_hot(indices, depth, dtype):
    return (indices[..., None] == np.arange(depth)).astype(dtype.np)


@impls.register("scatter_add")
def _scatter_add(indices, updates, axis, size):
    acc = np.float32 if updates.dtype == np.float16 else updates.dtype
    shape = updates.shape[:axis] + (size,) + updates.shape[axis + indices.ndim:]
    out = np.zeros(shape, acc)
    if indices.size and size == 0:
        raise IndexError(f"scatter_add into axis {axis}, which is empty")
    np.add.at(out, (slice(None),) * axis + (fix_indices(indices, size),), updates.astype(acc))
    return out.astype(updates.dtype)
