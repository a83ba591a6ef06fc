"""Elementwise ops: unary math, broadcasting binary ops, comparisons, select, cast, constant, iota."""
from __future__ import annotations

from ..registry import Attr, defop
from ..types import DTYPES, TensorType, TypeError_, bool_, broadcast_shapes, normalize_axis


def _need(t: TensorType, ok: str, what: str):
    kinds = {"float": t.dtype.is_float, "numeric": not t.dtype.is_bool, "bool": t.dtype.is_bool,
             "int": t.dtype.is_int, "any": True}
    if not kinds[ok]:
        raise TypeError_(f"operand of type {t} must be {what}")


def _unary(name: str, ok: str, what: str, doc: str):
    @defop(name, traits=("elementwise", "pure"), doc=doc)
    def infer(x: TensorType) -> TensorType:
        _need(x, ok, what)
        return x


for _name, _ok, _doc in [
    ("neg", "numeric", "-x"), ("abs", "numeric", "|x|"), ("sign", "numeric", "-1, 0 or 1 (nan stays nan)"),
    ("relu", "numeric", "max(x, 0)"),
    ("exp", "float", "e**x"), ("log", "float", "natural log"), ("log1p", "float", "log(1 + x), exact near 0"),
    ("sqrt", "float", "square root"), ("rsqrt", "float", "1 / sqrt(x)"), ("tanh", "float", "hyperbolic tangent"),
    ("sigmoid", "float", "1 / (1 + exp(-x))"), ("sin", "float", "sine"), ("cos", "float", "cosine"),
    ("floor", "float", "round down"), ("ceil", "float", "round up"),
    ("logical_not", "bool", "boolean not"),
]:
    _unary(_name, _ok, {"numeric": "numeric (not bool)", "float": "floating point", "bool": "bool"}[_ok], _doc)


def _binary(name: str, ok: str, what: str, result_bool: bool, commutative: bool, doc: str):
    traits = ("elementwise", "pure", "broadcasting") + (("commutative",) if commutative else ())

    @defop(name, arity=2, traits=traits, doc=doc)
    def infer(x: TensorType, y: TensorType) -> TensorType:
        if x.dtype != y.dtype:
            raise TypeError_(f"operand dtypes {x.dtype} and {y.dtype} differ (insert a cast)")
        _need(x, ok, what)
        shape = broadcast_shapes(x.shape, y.shape)
        return TensorType(bool_ if result_bool else x.dtype, shape)


for _name, _ok, _res_bool, _comm, _doc in [
    ("add", "numeric", False, True, "x + y"), ("sub", "numeric", False, False, "x - y"),
    ("mul", "numeric", False, True, "x * y"), ("div", "float", False, False, "x / y (true division)"),
    ("pow", "numeric", False, False, "x ** y"), ("maximum", "numeric", False, True, "elementwise max (nan wins)"),
    ("minimum", "numeric", False, True, "elementwise min (nan wins)"),
    ("eq", "any", True, True, "x == y"), ("ne", "any", True, True, "x != y"), ("lt", "numeric", True, False, "x < y"),
    ("le", "numeric", True, False, "x <= y"), ("gt", "numeric", True, False, "x > y"),
    ("ge", "numeric", True, False, "x >= y"),
    ("logical_and", "bool", True, True, "x and y"), ("logical_or", "bool", True, True, "x or y"),
]:
    _binary(_name, _ok, {"numeric": "numeric (not bool)", "float": "floating point", "bool": "bool",
                         "any": "any"}[_ok], _res_bool, _comm, _doc)


@defop("select", arity=3, traits=("elementwise", "pure", "broadcasting"), doc="where(cond, x, y)")
def _select(c: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if not c.dtype.is_bool:
        raise TypeError_(f"condition must be bool, got {c}")
    if x.dtype != y.dtype:
        raise TypeError_(f"branch dtypes {x.dtype} and {y.dtype} differ (insert a cast)")
    return TensorType(x.dtype, broadcast_shapes(c.shape, x.shape, y.shape))


@defop("cast", attrs={"dtype": Attr("dtype")}, traits=("elementwise", "pure"),
       doc="numpy astype: float->int truncates toward zero, nonzero->true")
def _cast(x: TensorType, dtype) -> TensorType:
    return TensorType(dtype, x.shape)


@defop("constant", arity=0, attrs={"value": Attr("tensor")}, traits=("pure",), doc="a literal tensor")
def _constant(value) -> TensorType:
    from ..types import dtype_of
    return TensorType(dtype_of(value.dtype), value.shape)


@defop("iota", arity=0, attrs={"shape": Attr("dims"), "dtype": Attr("dtype"), "axis": Attr("int", 0)},
       traits=("pure",), doc="0, 1, 2, ... counting along `axis`, broadcast over the rest")
def _iota(shape, dtype, axis) -> TensorType:
    if dtype.is_bool:
        raise TypeError_("iota cannot produce bool")
    normalize_axis(axis, len(shape))
    return TensorType(dtype, shape)


__all__ = ["DTYPES"]
