"""flowc's typed SSA graph IR: types, op registry, IR objects, text form, verifier."""
from .types import (DType, DTYPES, Dim, FlowcError, Sym, TensorType, TypeError_, bool_, float16, float32,
                    float64, int8, int32, int64, uint32, dtype_of, tensor_type)
from .registry import OPS, Attr, OpDef, Rules, defop, get_op
from .core import Builder, Function, Loc, Module, Op, Region, Value
from .printer import print_function, print_module
from .parser import IRError, ParseError, parse_function, parse_module
from .verifier import VerifyError, verify, verify_module
from . import ops as _ops  # noqa: F401  (declares every op)

parse = parse_function

__all__ = [
    "DType", "DTYPES", "Dim", "FlowcError", "Sym", "TensorType", "TypeError_", "bool_", "float16", "float32",
    "float64", "int8", "int32", "int64", "uint32", "dtype_of", "tensor_type", "OPS", "Attr", "OpDef", "Rules",
    "defop", "get_op", "Builder", "Function", "Loc", "Module", "Op", "Region", "Value", "print_function",
    "print_module", "IRError", "ParseError", "parse", "parse_function", "parse_module", "VerifyError", "verify",
    "verify_module",
]
