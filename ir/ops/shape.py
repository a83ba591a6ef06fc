"""Shape ops: reshape, transpose, broadcast_to, expand/squeeze, concatenate, pad, slice, take, pick, one_hot, scatter_add.

Attributes are canonical (axes non-negative and sorted): the type rules reject any
other spelling instead of fixing it, so one op has exactly one text form and passes
can compare attributes directly.  The tracer is where user-friendly forms
(negative axes, ``-1`` in a reshape) are normalised.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..registry import Attr, defop
from ..types import Dim, Sym, TensorType, TypeError_, dtype_of, num_elements, shape_str, unify_dim


_CANON = "attributes are canonical; the tracer normalises them"


def canonical_axis(axis: int, bound: int, what: str = "axis") -> int:
    """Check ``0 <= axis < bound`` (``bound`` is the rank the axis indexes)."""
    if axis < 0:
        raise TypeError_(f"{what} {axis} is negative ({_CANON})")
    if axis >= bound:
        raise TypeError_(f"{what} {axis} is out of range for rank {bound}")
    return axis


def canonical_axes(axes: Sequence[int], bound: int, what: str = "axes") -> tuple[int, ...]:
    """Check axes are non-negative, in range, sorted and unique."""
    for a in axes:
        canonical_axis(a, bound, "axis")
    if any(a >= b for a, b in zip(axes, axes[1:])):
        raise TypeError_(f"{what} {tuple(axes)} are not sorted and unique ({_CANON})")
    return tuple(axes)


def need_index_dtype(t: TensorType, what: str = "indices"):
    if t.dtype.name not in ("i32", "i64"):
        raise TypeError_(f"{what} must be i32 or i64, got {t}")


def count_str(shape: Sequence[Dim]) -> str:
    """An element count for messages: ``12``, ``B`` or ``3*B``."""
    n, syms = num_elements(shape)
    parts = ([str(n)] if n != 1 or not syms else []) + [str(s) for s in syms]
    return "*".join(parts)


@defop("reshape", attrs={"shape": Attr("dims")}, traits=("pure",),
       doc="same elements in row-major order, new shape (no -1: the tracer resolves it)")
def _reshape(x: TensorType, shape) -> TensorType:
    n_in, s_in = num_elements(x.shape)
    n_out, s_out = num_elements(shape)
    # Decidable when the symbols cancel: then the static counts must agree.
    if s_in == s_out and n_in != n_out:
        c_in, c_out = count_str(x.shape), count_str(shape)
        raise TypeError_(f"cannot reshape {x} ({c_in} elements) to {shape_str(shape)} ({c_out} elements)")
    return TensorType(x.dtype, shape)


@defop("transpose", attrs={"perm": Attr("ints")}, traits=("pure",), doc="permute axes: out.shape[i] = x.shape[perm[i]]")
def _transpose(x: TensorType, perm) -> TensorType:
    if sorted(perm) != list(range(x.ndim)):
        raise TypeError_(f"perm {perm} is not a permutation of {x.ndim} axes")
    return TensorType(x.dtype, tuple(x.shape[p] for p in perm))


@defop("broadcast_to", attrs={"shape": Attr("dims")}, traits=("pure", "broadcasting"),
       doc="numpy.broadcast_to: prepend axes, stretch size-1 axes")
def _broadcast_to(x: TensorType, shape) -> TensorType:
    if len(shape) < x.ndim:
        raise TypeError_(f"cannot broadcast {x} to {shape_str(shape)}: the target has fewer axes")
    lead = len(shape) - x.ndim
    for i, d in enumerate(x.shape):
        t = shape[lead + i]
        # Only two different ints (the source not 1) are decidably wrong; symbols are checked at run time.
        if isinstance(d, int) and isinstance(t, int) and d != t and d != 1:
            raise TypeError_(f"cannot broadcast {x} to {shape_str(shape)} (axis {lead + i}: {d} vs {t})")
    return TensorType(x.dtype, shape)


@defop("expand_dims", attrs={"axes": Attr("ints")}, traits=("pure",),
       doc="insert size-1 axes at the given positions of the OUTPUT")
def _expand_dims(x: TensorType, axes) -> TensorType:
    out_rank = x.ndim + len(axes)
    canonical_axes(axes, out_rank)
    rest = iter(x.shape)
    return TensorType(x.dtype, tuple(1 if i in axes else next(rest) for i in range(out_rank)))


@defop("squeeze", attrs={"axes": Attr("ints")}, traits=("pure",), doc="remove the given size-1 axes")
def _squeeze(x: TensorType, axes) -> TensorType:
    canonical_axes(axes, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise TypeError_(f"cannot squeeze axis {a} of {x}: its size is {x.shape[a]}, not 1")
    return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))


@defop("concatenate", arity=None, attrs={"axis": Attr("int")}, traits=("pure",),
       doc="join operands of one dtype along an existing axis")
def _concatenate(*xs: TensorType, axis) -> TensorType:
    first = xs[0]
    canonical_axis(axis, first.ndim)
    for k, t in enumerate(xs[1:], 1):
        if t.dtype != first.dtype:
            raise TypeError_(f"operand {k} has dtype {t.dtype} but operand 0 has {first.dtype} (insert a cast)")
        if t.ndim != first.ndim:
            raise TypeError_(f"operand {k} has rank {t.ndim} but operand 0 has rank {first.ndim}")
    shape = list(first.shape)
    for i in range(first.ndim):
        if i == axis:
            continue
        for k, t in enumerate(xs[1:], 1):
            try:
                shape[i] = unify_dim(shape[i], t.shape[i], "dims")
            except TypeError_ as e:
                raise TypeError_(f"operand {k}: axis {i}: {e} (only axis {axis} may differ)") from None
    along = [t.shape[axis] for t in xs]
    if len(xs) > 1 and any(isinstance(d, Sym) for d in along):
        raise TypeError_(f"concatenating along axis {axis} with symbolic size(s) "
                         f"{' + '.join(map(str, along))}: the result dim cannot be expressed")
    shape[axis] = along[0] if len(xs) == 1 else sum(along)
    return TensorType(first.dtype, tuple(shape))


def _representable(value: float, dtype) -> bool:
    if dtype.is_float:
        return True
    if not value.is_integer():   # also rejects nan and inf
        return False
    if dtype.is_bool:
        return value in (0.0, 1.0)
    info = np.iinfo(dtype.np)
    return info.min <= value <= info.max


@defop("pad", attrs={"pads": Attr("pairs"), "value": Attr("float", 0.0)}, traits=("pure",),
       doc="constant padding: (lo, hi) cells of `value` before/after each axis")
def _pad(x: TensorType, pads, value) -> TensorType:
    if len(pads) != x.ndim:
        raise TypeError_(f"pads has {len(pads)} pair(s) but {x} has rank {x.ndim}")
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise TypeError_(f"pads {pads} must be non-negative")
    if not _representable(value, x.dtype):
        raise TypeError_(f"pad value {value!r} is not representable in {x.dtype}")
    shape = []
    for i, (d, (lo, hi)) in enumerate(zip(x.shape, pads)):
        if isinstance(d, Sym) and lo + hi:
            raise TypeError_(f"padding symbolic axis {i} ({d}) by ({lo}, {hi}): the result dim cannot be expressed")
        shape.append(d if isinstance(d, Sym) else d + lo + hi)
    return TensorType(x.dtype, tuple(shape))


@defop("slice", attrs={"starts": Attr("ints"), "limits": Attr("dims"), "strides": Attr("ints")}, traits=("pure",),
       doc="static strided slice x[start:limit:stride] per axis")
def _slice(x: TensorType, starts, limits, strides) -> TensorType:
    for name, v in (("starts", starts), ("limits", limits), ("strides", strides)):
        if len(v) != x.ndim:
            raise TypeError_(f"{name} has {len(v)} entries but {x} has rank {x.ndim}")
    shape = []
    for i, (d, s, lim, st) in enumerate(zip(x.shape, starts, limits, strides)):
        if isinstance(d, Sym) or isinstance(lim, Sym):
            if not (s == 0 and lim == d and st == 1):
                raise TypeError_(f"axis {i} of {x}: a symbolic axis (or limit) allows only the full slice "
                                 f"0:{d}:1, got {s}:{lim}:{st}")
            shape.append(d)
            continue
        if st < 1:
            raise TypeError_(f"axis {i}: stride {st} must be >= 1")
        if not 0 <= s <= lim <= d:
            raise TypeError_(f"axis {i}: slice {s}:{lim} is out of bounds (need 0 <= start <= limit <= {d})")
        shape.append(-(-(lim - s) // st))
    return TensorType(x.dtype, tuple(shape))


@defop("take", arity=2, attrs={"axis": Attr("int")}, traits=("pure",),
       doc="numpy.take along axis; negative indices wrap once, then out-of-range indices clamp to [0, n-1]")
def _take(x: TensorType, indices: TensorType, axis) -> TensorType:
    need_index_dtype(indices)
    canonical_axis(axis, x.ndim)
    if x.shape[axis] == 0:
        raise TypeError_(f"cannot take from axis {axis} of {x}: it is empty")
    return TensorType(x.dtype, x.shape[:axis] + indices.shape + x.shape[axis + 1:])


@defop("one_hot", attrs={"depth": Attr("int"), "dtype": Attr("dtype", dtype_of("f32"))}, traits=("pure",),
       doc="result[..., j] = (indices[...] == j); out-of-range (incl. negative) indices give all zeros")
def _one_hot(indices: TensorType, depth, dtype) -> TensorType:
    need_index_dtype(indices)
    if depth < 0:
        raise TypeError_(f"depth {depth} must be non-negative")
    return TensorType(dtype, indices.shape + (depth,))


@defop("pick", arity=2, traits=("pure",),
       doc="result[...] = x[..., indices[...]] along the last axis; out-of-range (incl. negative) indices give 0, "
           "as sum(one_hot(indices) * x, -1) does: the label's logit of a cross-entropy, read without a pass "
           "over the row")
def _pick(x: TensorType, indices: TensorType) -> TensorType:
    need_index_dtype(indices)
    if x.ndim == 0 or x.dtype.is_bool:
        raise TypeError_(f"pick needs a numeric x of rank >= 1, got {x}")
    if indices.ndim != x.ndim - 1:
        raise TypeError_(f"indices {indices} must have the shape of {x} without its last axis")
    shape = tuple(unify_dim(a, b, "indices and x dims") for a, b in zip(indices.shape, x.shape[:-1]))
    return TensorType(x.dtype, shape)


@defop("scatter_add", arity=2, attrs={"axis": Attr("int"), "size": Attr("dim")}, traits=("pure",),
       doc="adjoint of take: zeros with `updates` added at the (wrapped, clamped) indices along axis")
def _scatter_add(indices: TensorType, updates: TensorType, axis, size) -> TensorType:
    need_index_dtype(indices)
    if updates.dtype.is_bool:
        raise TypeError_(f"updates must be numeric (not bool), got {updates}")
    if axis < 0:
        canonical_axis(axis, updates.ndim)
    if axis + indices.ndim > updates.ndim:
        raise TypeError_(f"updates {updates} has no room for the {indices.ndim} axes of indices {indices} "
                         f"from axis {axis} (needs rank >= {axis + indices.ndim})")
    if size == 0:
        raise TypeError_("size 0 leaves no position to add the updates at (it must be >= 1)")
    window = updates.shape[axis:axis + indices.ndim]
    for i, (u, d) in enumerate(zip(window, indices.shape)):
        try:
            unify_dim(u, d, "dims")
        except TypeError_ as e:
            raise TypeError_(f"updates axis {axis + i} must match indices axis {i}: {e}") from None
    return TensorType(updates.dtype, updates.shape[:axis] + (size,) + updates.shape[axis + indices.ndim:])


__all__ = ["canonical_axis", "canonical_axes", "need_index_dtype", "count_str"]
