"""The numpy-like fc.* functions.  Each one builds IR ops on Tracers.

Arguments follow numpy's names and conventions (negative axes, ``axis=None``,
``-1`` in reshape, ``pad_width`` forms); they are normalised here into the IR's
canonical attributes.  Dtypes follow numpy 2 (see ``flowc.promotion``), except
that creation functions with no dtype (zeros, ones, full/arange of floats)
give float32 — the deep-learning convention.

Outside a trace the same functions run *eagerly*: the call is traced into a
small Function over its array arguments and run on the reference backend, so
``fc.exp(np.ones(3))`` returns a numpy array.
"""
from __future__ import annotations

import builtins as _b
import functools
import math

import numpy as np

from flowc.ir.types import (DType, FlowcError, Sym, TensorType, TypeError_, as_dim, dtype_of, float32, int64,
                            normalize_axes, normalize_axis, num_elements)

from . import promotion as P
from .pytree import flatten, unflatten
from .tracing import Trace, TraceError, Tracer, check_live, current_trace, emit, fresh_error, user_loc

_PY_SCALARS = (bool, int, float)


# --------------------------------------------------------------------------- the api decorator / eager mode

def api(fn):
    """Make ``fn`` an fc.* function: locate its type errors, and run it eagerly outside a trace."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if current_trace() is None:
            try:
                return _eager(fn, args, kwargs)
            except FlowcError as e:
                raise fresh_error(e) from None
        try:
            return fn(*args, **kwargs)
        except TypeError_ as e:
            raise TraceError(f"fc.{fn.__name__}: {e}", user_loc()) from None
    return wrapper


def _eager(fn, args, kwargs):
    from flowc.backends.reference import run
    leaves, tree = flatten((args, kwargs))
    for x in leaves:
        if isinstance(x, Tracer):
            check_live(x)
    trace = Trace(fn.__name__)
    arrays = []
    with trace:
        new = []
        for i, x in enumerate(leaves):
            if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "biuf":
                a = np.asarray(x)
                try:
                    t = TensorType(dtype_of(a.dtype), a.shape)
                except TypeError_ as e:
                    raise TraceError(f"fc.{fn.__name__}: {e}", user_loc()) from None
                arrays.append(a)
                new.append(trace.param(t, f"a{i}"))
            else:
                new.append(x)
        a2, k2 = unflatten(tree, new)
        try:
            out = fn(*a2, **k2)
        except TypeError_ as e:
            raise TraceError(f"fc.{fn.__name__}: {e}", user_loc()) from None
    out_leaves, out_tree = flatten(out)
    f = trace.finish(out_leaves)
    return unflatten(out_tree, run(f, *arrays))


# --------------------------------------------------------------------------- operands and constants

def _is_scalar(x) -> bool:
    return type(x) in _PY_SCALARS


def kind(x) -> P.Kind:
    if isinstance(x, Tracer):
        return P.Kind(x.dtype, x.weak)
    if _is_scalar(x):
        return P.kind_of_scalar(x)
    a = np.asarray(x)
    return P.Kind(dtype_of(a.dtype))


def constant(value: np.ndarray, weak: bool = False) -> Tracer:
    t = emit("constant", value=np.array(value))
    t.weak = weak
    return t


def asarray(x, dtype=None) -> Tracer:
    """A Tracer for ``x``: Tracers pass through; numbers and numpy arrays become constants."""
    if isinstance(x, Tracer):
        t = check_live(x)
    elif _is_scalar(x):
        k = P.kind_of_scalar(x)
        t = constant(P.scalar_array(x, k.dtype), weak=True)
    elif isinstance(x, (np.ndarray, np.generic, list, tuple)):
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise TypeError_(f"cannot use {type(x).__name__} of dtype {a.dtype} as an array")
        if any(isinstance(v, Tracer) for v in flatten(x)[0]):
            return stack(list(x)) if dtype is None else stack(list(x)).astype(dtype)
        t = constant(a.astype(dtype_of(a.dtype).np, copy=True))
    else:
        raise TypeError_(f"expected an array, a traced value or a number, got {type(x).__name__}")
    return cast(t, dtype) if dtype is not None else t


def _to(x, dtype: DType) -> Tracer:
    """``x`` as a Tracer of ``dtype``: scalars and numpy constants are converted at trace time."""
    if _is_scalar(x):
        return constant(P.scalar_array(x, dtype), weak=True)
    if isinstance(x, (np.ndarray, np.generic, list)):
        return constant(np.asarray(x).astype(dtype.np))
    x = asarray(x)
    if x.dtype == dtype:
        return x
    return _weak(emit("cast", x, dtype=dtype), x.weak)


def _weak(t: Tracer, weak: bool) -> Tracer:
    t.weak = weak
    return t


# --------------------------------------------------------------------------- elementwise

_LOGICAL_FOR_BOOL = {"add": "logical_or", "mul": "logical_and", "maximum": "logical_or", "minimum": "logical_and"}


def _arith(name: str, np_fn, x, y) -> Tracer:
    kx, ky = kind(x), kind(y)
    k = P.op_result(np_fn, kx, ky)
    op = name
    if k.dtype.is_bool:
        op = _LOGICAL_FOR_BOOL.get(name, name)
    return _weak(emit(op, _to(x, k.dtype), _to(y, k.dtype)), k.weak)


def _compare(name: str, x, y) -> Tracer:
    k = P.promote(kind(x), kind(y))
    return emit(name, _to(x, k.dtype), _to(y, k.dtype))


def _unary(name: str, np_fn, x) -> Tracer:
    k = P.op_result(np_fn, kind(x))
    return _weak(emit(name, _to(x, k.dtype)), k.weak)


def _def_binary(pyname, op, np_fn, doc):
    def f(x1, x2):
        return _arith(op, np_fn, x1, x2)
    f.__name__ = f.__qualname__ = pyname
    f.__doc__ = doc
    return api(f)


def _def_compare(pyname, op, doc):
    def f(x1, x2):
        return _compare(op, x1, x2)
    f.__name__ = f.__qualname__ = pyname
    f.__doc__ = doc
    return api(f)


def _def_unary(pyname, op, np_fn, doc):
    def f(x):
        return _unary(op, np_fn, x)
    f.__name__ = f.__qualname__ = pyname
    f.__doc__ = doc
    return api(f)


add = _def_binary("add", "add", np.add, "x1 + x2")
subtract = _def_binary("subtract", "sub", np.subtract, "x1 - x2")
multiply = _def_binary("multiply", "mul", np.multiply, "x1 * x2")
divide = _def_binary("divide", "div", np.true_divide, "x1 / x2; integers divide as floats, like numpy")
true_divide = divide
power = _def_binary("power", "pow", np.power, "x1 ** x2")
maximum = _def_binary("maximum", "maximum", np.maximum, "elementwise max (nan wins)")
minimum = _def_binary("minimum", "minimum", np.minimum, "elementwise min (nan wins)")
equal = _def_compare("equal", "eq", "x1 == x2")
not_equal = _def_compare("not_equal", "ne", "x1 != x2")
less = _def_compare("less", "lt", "x1 < x2")
less_equal = _def_compare("less_equal", "le", "x1 <= x2")
greater = _def_compare("greater", "gt", "x1 > x2")
greater_equal = _def_compare("greater_equal", "ge", "x1 >= x2")

exp = _def_unary("exp", "exp", np.exp, "e**x")
log = _def_unary("log", "log", np.log, "natural logarithm")
log1p = _def_unary("log1p", "log1p", np.log1p, "log(1 + x), accurate near 0")
sqrt = _def_unary("sqrt", "sqrt", np.sqrt, "square root")
tanh = _def_unary("tanh", "tanh", np.tanh, "hyperbolic tangent")
sin = _def_unary("sin", "sin", np.sin, "sine")
cos = _def_unary("cos", "cos", np.cos, "cosine")
abs = _def_unary("abs", "abs", np.abs, "|x|")
absolute = abs
sign = _def_unary("sign", "sign", np.sign, "-1, 0 or 1")
floor = _def_unary("floor", "floor", np.floor, "round down")
ceil = _def_unary("ceil", "ceil", np.ceil, "round up")
negative = _def_unary("negative", "neg", np.negative, "-x")


@api
def logical_and(x1, x2):
    return emit("logical_and", _to(x1, _bool()), _to(x2, _bool()))


@api
def logical_or(x1, x2):
    return emit("logical_or", _to(x1, _bool()), _to(x2, _bool()))


@api
def logical_not(x):
    return emit("logical_not", _to(x, _bool()))


def _bool() -> DType:
    return dtype_of("bool")


@api
def square(x):
    return multiply(x, x)


@api
def clip(a, a_min=None, a_max=None):
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return asarray(a)


@api
def where(condition, x, y):
    """Elementwise ``x if condition else y`` (the traced replacement for Python ``if``)."""
    c = asarray(condition)
    if not c.dtype.is_bool:
        c = not_equal(c, 0)
    k = P.promote(kind(x), kind(y))
    return _weak(emit("select", c, _to(x, k.dtype), _to(y, k.dtype)), k.weak)


@api
def astype(x, dtype):
    """Convert to ``dtype`` (numpy astype: float -> int truncates toward zero)."""
    return cast(x, dtype)


def cast(x, dtype) -> Tracer:
    d = dtype_of(dtype)
    if _is_scalar(x) or isinstance(x, (np.ndarray, np.generic, list)):
        return _to(x, d)
    x = asarray(x)
    return x if x.dtype == d else emit("cast", x, dtype=d)


cast = api(cast)


# --------------------------------------------------------------------------- reductions

def _reduce_dtype(np_fn, x: Tracer, dtype) -> DType:
    return dtype_of(dtype) if dtype is not None else P.op_result(np_fn, P.Kind(x.dtype)).dtype


def _reduce(op: str, np_fn, a, axis, keepdims, dtype=None) -> Tracer:
    x = asarray(a)
    axes = normalize_axes(axis, x.ndim)
    target = _reduce_dtype(np_fn, x, dtype)
    if target.is_bool:   # max/min of bools: any/all through an integer reduction
        y = emit(op, _to(x, dtype_of("i8")), axes=axes, keepdims=bool(keepdims))
        return _to(y, target)
    return emit(op, _to(x, target), axes=axes, keepdims=bool(keepdims))


@api
def sum(a, axis=None, dtype=None, keepdims=False):
    """Sum over ``axis`` (all by default); small ints and bools accumulate in int64, like numpy."""
    return _reduce("reduce_sum", np.sum, a, axis, keepdims, dtype)


@api
def mean(a, axis=None, dtype=None, keepdims=False):
    """Arithmetic mean; integer inputs give float64, like numpy."""
    return _reduce("reduce_mean", np.mean, a, axis, keepdims, dtype)


@api
def prod(a, axis=None, dtype=None, keepdims=False):
    return _reduce("reduce_prod", np.prod, a, axis, keepdims, dtype)


@api
def max(a, axis=None, keepdims=False):
    return _reduce("reduce_max", np.max, a, axis, keepdims)


@api
def min(a, axis=None, keepdims=False):
    return _reduce("reduce_min", np.min, a, axis, keepdims)


amax, amin = max, min


def _arg(op: str, a, axis, keepdims) -> Tracer:
    x = asarray(a)
    if x.dtype.is_bool:
        x = _to(x, dtype_of("i8"))
    if axis is None:
        r = emit(op, reshape(x, (-1,)), axis=0, keepdims=False)
        return reshape(r, (1,) * x.ndim) if keepdims else r
    return emit(op, x, axis=normalize_axis(axis, x.ndim), keepdims=bool(keepdims))


@api
def argmax(a, axis=None, keepdims=False):
    """Index of the first maximum (int64); ``axis=None`` searches the flattened array."""
    return _arg("argmax", a, axis, keepdims)


@api
def argmin(a, axis=None, keepdims=False):
    return _arg("argmin", a, axis, keepdims)


# --------------------------------------------------------------------------- linear algebra

@api
def matmul(x1, x2):
    """numpy matmul: 1-D operands are promoted to matrices and back, batch dims broadcast."""
    k = P.promote(kind(x1), kind(x2))
    return emit("matmul", _to(x1, k.dtype), _to(x2, k.dtype))


@api
def dot(a, b):
    """numpy dot for rank <= 2 (a scalar operand multiplies); use matmul for batches."""
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise TypeError_(f"dot of {a.type} and {b.type}: N-d dot is not supported; use fc.matmul")
    return matmul(a, b)


# --------------------------------------------------------------------------- shapes

def _shape_arg(shape) -> tuple:
    if isinstance(shape, (int, np.integer, Sym, str)):
        shape = (shape,)
    if isinstance(shape, Tracer) or _b.any(isinstance(d, Tracer) for d in shape):
        raise TypeError_("a shape must be known while tracing, but it contains a traced value; use x.shape "
                         "entries or Python ints (pass the size as a static argument: static_argnums)")
    return tuple(shape)


def _resolve_reshape(x: Tracer, shape) -> tuple:
    """Replace one ``-1`` by the dim that keeps the element count (symbolically when needed)."""
    shape = _shape_arg(shape)
    holes = [i for i, d in enumerate(shape) if isinstance(d, (int, np.integer)) and d == -1]
    if len(holes) > 1:
        raise TypeError_(f"cannot reshape {x.type} to {shape}: only one -1 is allowed")
    if not holes:
        return tuple(as_dim(d) for d in shape)
    rest = [as_dim(d) for i, d in enumerate(shape) if i != holes[0]]
    n_in, s_in = num_elements(x.shape)
    n_out, s_out = num_elements(rest)
    left = list(s_in)
    for s in s_out:
        if s not in left:
            left = None
            break
        left.remove(s)
    bad = TypeError_(f"cannot reshape {x.type} to {tuple(map(str, shape))}: the -1 cannot be resolved "
                     f"to one dim")
    if left is None or n_out == 0 or n_in % n_out:
        raise bad
    q = n_in // n_out
    if left and (len(left) > 1 or q != 1):
        raise bad
    d = left[0] if left else q
    return tuple(rest[:holes[0]]) + (d,) + tuple(rest[holes[0]:])


@api
def reshape(a, newshape):
    """numpy reshape (row-major); one dim may be -1."""
    x = asarray(a)
    shape = _resolve_reshape(x, newshape)
    return x if shape == x.shape else emit("reshape", x, shape=shape)


@api
def ravel(a):
    return reshape(a, (-1,))


@api
def transpose(a, axes=None):
    """Permute axes (reverse them by default)."""
    x = asarray(a)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(normalize_axis(p, x.ndim) for p in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise TypeError_(f"axes {tuple(axes)} are not a permutation of the {x.ndim} axes of {x.type}")
    return x if perm == tuple(range(x.ndim)) else emit("transpose", x, perm=perm)


@api
def broadcast_to(array, shape):
    x = asarray(array)
    shape = tuple(as_dim(d) for d in _shape_arg(shape))
    return x if shape == x.shape else emit("broadcast_to", x, shape=shape)


@api
def expand_dims(a, axis):
    """Insert size-1 axes; ``axis`` are positions in the result, like numpy."""
    x = asarray(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = normalize_axes(axes, x.ndim + len(axes))
    return emit("expand_dims", x, axes=out)


@api
def squeeze(a, axis=None):
    """Remove size-1 axes (all statically-1 axes by default)."""
    x = asarray(a)
    axes = tuple(i for i, d in enumerate(x.shape) if d == 1) if axis is None else normalize_axes(axis, x.ndim)
    return x if not axes else emit("squeeze", x, axes=axes)


def _common(arrays) -> list[Tracer]:
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError_("expected a non-empty list of arrays")
    k = P.promote(*(kind(a) for a in arrays))
    return [_to(a, k.dtype) for a in arrays]


@api
def concatenate(arrays, axis=0):
    """Join arrays along an existing axis (dtypes promote like numpy); ``axis=None`` flattens first."""
    xs = _common(arrays)
    if axis is None:
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    for x in xs:
        if x.ndim == 0:
            raise TypeError_("zero-dimensional arrays cannot be concatenated")
    return emit("concatenate", *xs, axis=normalize_axis(axis, xs[0].ndim))


@api
def stack(arrays, axis=0):
    """Join arrays along a new axis."""
    xs = _common(arrays)
    ax = normalize_axis(axis, xs[0].ndim + 1)
    return concatenate([expand_dims(x, ax) for x in xs], axis=ax)


@api
def pad(array, pad_width, mode="constant", constant_values=0):
    """Constant padding with numpy's ``pad_width`` forms (int, (lo, hi), or one pair per axis)."""
    x = asarray(array)
    if mode != "constant":
        raise TypeError_(f"mode {mode!r} is not supported (only 'constant')")
    try:
        pw = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise TypeError_(f"pad_width {pad_width!r} does not fit rank {x.ndim}") from None
    if not _is_scalar(constant_values):
        raise TypeError_("constant_values must be a Python number")
    pads = tuple((int(lo), int(hi)) for lo, hi in pw)
    return emit("pad", x, pads=pads, value=float(constant_values))


def _indices(indices) -> Tracer:
    if isinstance(indices, Tracer):
        if indices.dtype.name in ("i32", "i64"):
            return indices
        if indices.dtype.is_int:
            return _to(indices, int64)
        raise TypeError_(f"indices must be integers, got {indices.type}")
    a = np.asarray(indices)
    if a.dtype.kind not in "iu":
        raise TypeError_(f"indices must be integers, got dtype {a.dtype}")
    return constant(a.astype(np.int64))


@api
def take(a, indices, axis=None):
    """numpy.take; negative indices wrap once, out-of-range indices clamp (no backend can raise)."""
    x = asarray(a)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return emit("take", x, _indices(indices), axis=normalize_axis(axis, x.ndim))


@api
def one_hot(indices, depth: int, dtype=float32):
    """``result[..., j] = (indices[...] == j)``; out-of-range indices give an all-zero row."""
    return emit("one_hot", _indices(indices), depth=int(depth), dtype=dtype_of(dtype))


# --------------------------------------------------------------------------- creation

def _default_dtype(value) -> DType:
    if isinstance(value, Tracer):
        return value.dtype
    if type(value) is float:
        return float32          # the deep-learning convention (numpy would say float64)
    if _is_scalar(value):
        return P.kind_of_scalar(value).dtype
    return dtype_of(np.asarray(value).dtype)


@api
def full(shape, fill_value, dtype=None):
    """An array of ``fill_value``; a float fill with no dtype gives float32."""
    d = dtype_of(dtype) if dtype is not None else _default_dtype(fill_value)
    return broadcast_to(_to(fill_value, d), shape)


@api
def zeros(shape, dtype=None):
    return full(shape, 0, float32 if dtype is None else dtype)


@api
def ones(shape, dtype=None):
    return full(shape, 1, float32 if dtype is None else dtype)


@api
def zeros_like(a, dtype=None):
    x = asarray(a)
    return full(x.shape, 0, x.dtype if dtype is None else dtype)


@api
def ones_like(a, dtype=None):
    x = asarray(a)
    return full(x.shape, 1, x.dtype if dtype is None else dtype)


@api
def full_like(a, fill_value, dtype=None):
    x = asarray(a)
    return full(x.shape, fill_value, x.dtype if dtype is None else dtype)


@api
def arange(start, stop=None, step=None, dtype=None):
    """numpy arange with static bounds; integer bounds give int64, float bounds float32."""
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    for v in (start, stop, step):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError_(f"arange bounds must be Python numbers known while tracing, got {v!r}")
    if step == 0:
        raise TypeError_("arange step must not be zero")
    if dtype is None:
        dtype = float32 if _b.any(isinstance(v, (float, np.floating)) for v in (start, stop, step)) else int64
    d = dtype_of(dtype)
    n = _b.max(int(math.ceil((stop - start) / step)), 0)
    r = emit("iota", shape=(n,), dtype=d, axis=0)
    if step != 1:
        r = multiply(r, _to(step, d))
    if start != 0:
        r = add(r, _to(start, d))
    return r


# --------------------------------------------------------------------------- indexing

def _index_error(x: Tracer, key, msg: str):
    raise TypeError_(f"index {key!r} into {x.type}: {msg}")


def getitem(x, key):
    """Basic indexing: ints, slices (any step), None, Ellipsis; one integer array index -> take."""
    x = asarray(x)
    if not isinstance(key, tuple):
        key = (key,)
    if _b.any(isinstance(k, (Tracer, np.ndarray, list)) for k in key):
        if len(key) == 1:
            k = key[0]
            if (k.dtype if isinstance(k, Tracer) else dtype_of(np.asarray(k).dtype)).is_bool:
                _index_error(x, key, "boolean masks give data-dependent shapes; use fc.where")
            return take(x, k, axis=0)
        _index_error(x, key, "only a single integer-array index is supported; use fc.take")
    if _b.sum(k is Ellipsis for k in key) > 1:
        _index_error(x, key, "at most one Ellipsis")
    n_real = _b.sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > x.ndim:
        _index_error(x, key, f"too many indices ({n_real}) for rank {x.ndim}")
    full = (slice(None),) * (x.ndim - n_real)
    has_ellipsis = _b.any(k is Ellipsis for k in key)
    key = tuple(p for k in key for p in (full if k is Ellipsis else (k,)))
    if not has_ellipsis:
        key = key + full
    starts, limits, strides = list(map(lambda d: 0, x.shape)), list(x.shape), [1] * x.ndim
    squeeze_axes, new_axes, reversed_axes = [], [], []
    axis = out_pos = 0
    for k in key:
        if k is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        d = x.shape[axis]
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if isinstance(d, Sym):
                _index_error(x, key, f"axis {axis} has symbolic size {d}; only full slices are allowed there")
            i = int(k) + d if k < 0 else int(k)
            if not 0 <= i < d:
                _index_error(x, key, f"index {k} is out of bounds for axis {axis} with size {d}")
            starts[axis], limits[axis] = i, i + 1
            squeeze_axes.append(axis)
        elif isinstance(k, slice):
            if isinstance(d, Sym):
                if not (k.start in (None, 0) and k.stop is None and k.step in (None, 1)):
                    _index_error(x, key, f"axis {axis} has symbolic size {d}; only the full slice ':' is allowed")
            else:
                start, stop, step = k.indices(d)
                if step > 0:
                    starts[axis], limits[axis], strides[axis] = start, _b.max(start, stop), step
                else:
                    reversed_axes.append((axis, np.arange(start, stop, step, dtype=np.int64)))
            out_pos += 1
        else:
            _index_error(x, key, f"unsupported index {k!r}")
        axis += 1
    if tuple(starts) != (0,) * x.ndim or tuple(limits) != x.shape or _b.any(s != 1 for s in strides):
        x = emit("slice", x, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))
    for ax, idx in reversed_axes:
        x = emit("take", x, constant(idx), axis=ax)
    if squeeze_axes:
        x = emit("squeeze", x, axes=tuple(squeeze_axes))
    if new_axes:
        x = emit("expand_dims", x, axes=tuple(new_axes))
    return x


getitem = api(getitem)


# --------------------------------------------------------------------------- Tracer operators and methods

def _swap(f):
    return lambda self, other: f(other, self)


def _setitem(self, key, value):
    raise TraceError(f"cannot assign into a traced value {self.type}: traced arrays are immutable; "
                     "build the result with fc.where, fc.concatenate or fc.pad", user_loc())


def _method_reshape(self, *shape):
    return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape)


def _method_transpose(self, *axes):
    if not axes:
        return transpose(self)
    return transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else axes)


_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide, np.power: power,
    np.matmul: matmul, np.maximum: maximum, np.minimum: minimum, np.equal: equal, np.not_equal: not_equal,
    np.less: less, np.less_equal: less_equal, np.greater: greater, np.greater_equal: greater_equal,
    np.logical_and: logical_and, np.logical_or: logical_or, np.logical_not: logical_not, np.exp: exp, np.log: log,
    np.log1p: log1p, np.sqrt: sqrt, np.tanh: tanh, np.sin: sin, np.cos: cos, np.absolute: abs, np.sign: sign,
    np.floor: floor, np.ceil: ceil, np.negative: negative, np.square: square,
}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """numpy ufuncs on Tracers (``np.exp(x)``, ``np_array + x``) dispatch to the fc.* function."""
    fn = _UFUNCS.get(ufunc)
    if fn is None or method != "__call__" or kwargs:
        raise TraceError(f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
                         + (f" with {', '.join(kwargs)}" if kwargs else "")
                         + " is not supported on traced values; use the fc.* function", user_loc())
    return fn(*inputs)


_METHODS = {
    "__array_ufunc__": _array_ufunc,
    "__add__": add, "__radd__": _swap(add), "__sub__": subtract, "__rsub__": _swap(subtract),
    "__mul__": multiply, "__rmul__": _swap(multiply), "__truediv__": divide, "__rtruediv__": _swap(divide),
    "__pow__": power, "__rpow__": _swap(power), "__matmul__": matmul, "__rmatmul__": _swap(matmul),
    "__neg__": negative, "__pos__": lambda self: self, "__abs__": abs,
    "__eq__": equal, "__ne__": not_equal, "__lt__": less, "__le__": less_equal, "__gt__": greater,
    "__ge__": greater_equal, "__and__": logical_and, "__rand__": _swap(logical_and), "__or__": logical_or,
    "__ror__": _swap(logical_or), "__invert__": logical_not, "__getitem__": getitem, "__setitem__": _setitem,
    "reshape": _method_reshape, "transpose": _method_transpose, "sum": sum, "mean": mean, "max": max, "min": min,
    "prod": prod, "argmax": argmax, "argmin": argmin, "astype": astype, "squeeze": squeeze, "ravel": ravel,
    "flatten": ravel, "T": property(transpose),
}
for _name, _fn in _METHODS.items():
    setattr(Tracer, _name, _fn)

