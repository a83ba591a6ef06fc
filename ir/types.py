"""Element types, dimensions and tensor types.

A dimension is either an ``int`` or a :class:`Sym` (a named size such as ``B``).
Symbolic dims are first-class so one compiled program serves every batch size;
type rules *unify* dims and only report a mismatch when two dims can never be
equal (two different integers).  Whether two symbols really agree is checked
at run time, when the interpreter binds each symbol to a size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import numpy as np


class FlowcError(Exception):
    """Base of every error flowc reports to a user (CLI exit code 1)."""


class TypeError_(FlowcError):
    """A type rule failed; the verifier/tracer adds op name and location."""


@dataclass(frozen=True)
class DType:
    name: str      # text-form name, e.g. "f32"
    np_name: str   # numpy name, e.g. "float32"

    @property
    def np(self) -> np.dtype:
        return np.dtype(self.np_name)

    @property
    def dtype(self) -> np.dtype:
        """Lets numpy accept a DType wherever it takes a dtype (``a.astype(fc.float32)``)."""
        return self.np

    @property
    def is_float(self) -> bool:
        return self.np.kind == "f"

    @property
    def is_int(self) -> bool:
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.np.kind == "b"

    def __getitem__(self, dims) -> "TensorType":
        """``f32["B", 784]`` builds a TensorType: annotation syntax for traced arguments."""
        if not isinstance(dims, tuple):
            dims = (dims,)
        if dims == ((),):
            dims = ()
        return TensorType(self, tuple(dims))

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


bool_ = DType("bool", "bool")
int8 = DType("i8", "int8")
int32 = DType("i32", "int32")
int64 = DType("i64", "int64")
uint32 = DType("u32", "uint32")   # random-number keys and bits
float16 = DType("f16", "float16")
float32 = DType("f32", "float32")
float64 = DType("f64", "float64")

DTYPES = {d.name: d for d in (bool_, int8, int32, int64, uint32, float16, float32, float64)}
_BY_NUMPY = {d.np: d for d in DTYPES.values()}


def dtype_of(x) -> DType:
    """Map a numpy dtype / DType / string ('float32' or 'f32') to a DType."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in DTYPES:
        return DTYPES[x]
    try:
        npd = np.dtype(x)
    except TypeError as e:
        raise TypeError_(f"unknown dtype {x!r}") from e
    if npd not in _BY_NUMPY:
        raise TypeError_(f"unsupported dtype {npd}; flowc supports "
                         + ", ".join(d.np_name for d in DTYPES.values()))
    return _BY_NUMPY[npd]


@dataclass(frozen=True, order=True)
class Sym:
    """A named symbolic dimension."""
    name: str

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


Dim = Union[int, Sym]


def as_dim(d) -> Dim:
    if isinstance(d, Sym):
        return d
    if isinstance(d, str):
        if not d.isidentifier():
            raise TypeError_(f"symbolic dimension name {d!r} is not an identifier")
        return Sym(d)
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        if d < 0:
            raise TypeError_(f"negative dimension {d}")
        return int(d)
    raise TypeError_(f"bad dimension {d!r}: expected an int or a symbol name")


def dim_str(d: Dim) -> str:
    return str(d)


def shape_str(shape: Sequence[Dim]) -> str:
    return "[" + ",".join(dim_str(d) for d in shape) + "]"


def unify_dim(a: Dim, b: Dim, what: str = "dims") -> Dim:
    """The dim two equal-required dims stand for; error if they cannot be equal."""
    if a == b:
        return a
    if isinstance(a, int) and isinstance(b, int):
        raise TypeError_(f"{what} {a} and {b} differ")
    # A symbol against an int (or another symbol): assume equal, prefer the concrete one.
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return min(a, b)


def broadcast_dims(a: Dim, b: Dim) -> Dim:
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, int) and isinstance(b, int):
        raise TypeError_(f"dims {a} and {b} cannot be broadcast")
    return unify_dim(a, b)


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """numpy broadcasting over possibly symbolic shapes."""
    n = max((len(s) for s in shapes), default=0)
    out: list[Dim] = [1] * n
    for s in shapes:
        padded = (1,) * (n - len(s)) + tuple(s)
        for i, d in enumerate(padded):
            try:
                out[i] = broadcast_dims(out[i], d)
            except TypeError_:
                raise TypeError_("shapes " + ", ".join(shape_str(x) for x in shapes)
                                 + f" cannot be broadcast (axis {i - n}: {out[i]} vs {d})") from None
    return tuple(out)


def num_elements(shape: Iterable[Dim]) -> tuple[int, tuple[Sym, ...]]:
    """Element count as (static product, sorted symbols): comparable symbolically."""
    n, syms = 1, []
    for d in shape:
        if isinstance(d, Sym):
            syms.append(d)
        else:
            n *= d
    return n, tuple(sorted(syms))


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: tuple[Dim, ...]

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(as_dim(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def symbols(self) -> set[Sym]:
        return {d for d in self.shape if isinstance(d, Sym)}

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> "TensorType":
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.name}{shape_str(self.shape)}"

    __repr__ = __str__


def tensor_type(dtype, shape) -> TensorType:
    return TensorType(dtype_of(dtype), tuple(shape))


def normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise TypeError_(f"{what} {axis} is out of range for rank {ndim}")
    return int(axis) % ndim


def normalize_axes(axes, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    out = tuple(sorted(normalize_axis(a, ndim) for a in axes))
    if len(set(out)) != len(out):
        raise TypeError_(f"repeated axis in {tuple(axes)}")
    return out
