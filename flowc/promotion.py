"""Dtype promotion: numpy 2 rules (NEP 50), with Python scalars as *weak* operands.

A weak operand (a Python ``bool``/``int``/``float`` literal, or a traced argument
that came from one) only contributes its *kind*: ``f32_array + 1.0`` stays f32,
``i32_array + 1.5`` becomes f64 — exactly what numpy 2 does.  Array-array
promotion is ``np.result_type``.  Rather than keep our own table, we ask numpy:
promotion and per-op result dtypes (``i32 / i32 -> f64``, ``sum(i32) -> i64``)
come from running numpy on tiny stand-ins, so flowc and numpy cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowc.ir.types import DType, TypeError_, dtype_of


@dataclass(frozen=True)
class Kind:
    """An operand's dtype and whether it is weak (from a Python scalar)."""
    dtype: DType
    weak: bool = False

    def standin(self, array: bool = False):
        """A numpy operand with this dtype/weakness, for asking numpy.

        Strong operands are dtypes (or 1-d arrays), never 0-d arrays, and weak ones the
        value 1: so numpy 1.x's value-based casting gives the same answers as NEP 50.
        """
        if self.weak:
            return {"b": True, "i": 1, "u": 1, "f": 1.0}[self.dtype.np.kind]
        return np.ones((1,), self.dtype.np) if array else self.dtype.np


_PY_KINDS = {bool: "bool", int: "i64", float: "f64"}


def kind_of_scalar(x) -> Kind:
    """A Python scalar is weak with numpy's default dtype for it."""
    for t, name in _PY_KINDS.items():
        if type(x) is t:
            return Kind(dtype_of(name), True)
    raise TypeError_(f"not a Python scalar: {x!r}")


def _to_dtype(npd, what: str) -> DType:
    try:
        return dtype_of(npd)
    except TypeError_:
        raise TypeError_(f"{what} promote to {np.dtype(npd)}, which flowc does not support; "
                         "cast an operand explicitly with .astype") from None


def promote(*kinds: Kind) -> Kind:
    """numpy 2's ``result_type`` over the operands (weak ones as Python scalars)."""
    npd = np.result_type(*(k.standin() for k in kinds))
    what = "dtypes " + ", ".join(("weak " if k.weak else "") + str(k.dtype) for k in kinds)
    return Kind(_to_dtype(npd, what), all(k.weak for k in kinds))


def op_result(np_fn, *kinds: Kind) -> Kind:
    """The dtype numpy gives ``np_fn`` on these operands (e.g. true division of ints -> f64)."""
    try:
        with np.errstate(all="ignore"):
            npd = np.asarray(np_fn(*(k.standin(array=True) for k in kinds))).dtype
    except TypeError as e:
        raise TypeError_(f"numpy does not define this for {', '.join(str(k.dtype) for k in kinds)}: {e}") from None
    return Kind(_to_dtype(npd, "operands " + ", ".join(str(k.dtype) for k in kinds)), all(k.weak for k in kinds))


def scalar_array(x, dtype: DType) -> np.ndarray:
    """A Python scalar as a 0-d array of ``dtype``; an out-of-range integer is an error, as in numpy 2."""
    if dtype.is_int and type(x) is int:
        info = np.iinfo(dtype.np)
        if not info.min <= x <= info.max:
            raise TypeError_(f"Python integer {x} is out of bounds for {dtype}")
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(dtype.np)


__all__ = ["Kind", "kind_of_scalar", "promote", "op_result", "scalar_array"]
