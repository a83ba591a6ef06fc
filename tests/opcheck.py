"""One-op programs for op tests: build, infer a result type, run on the reference interpreter."""
from __future__ import annotations

from flowc.backends.reference import run
from flowc.ir import Builder, Function, Value, dtype_of, tensor_type


def build(name, *types, **attrs) -> Function:
    """A verified one-op Function over parameters of the given (dtype, shape) types."""
    params = [Value(tensor_type(*t), f"a{i}") for i, t in enumerate(types)]
    b = Builder()
    out = b(name, *params, **attrs)
    return Function("f", params, b.ops, [out]).verify()


def infer(name, *types, **attrs):
    """The result type the op's rule gives for operands of the given (dtype, shape) types."""
    return build(name, *types, **attrs).results[0].type


def result_type(name, *types, **attrs) -> str:
    return str(infer(name, *types, **attrs))


def apply(name, *arrays, **attrs):
    """Run the op on numpy arrays (typed by their own dtype and static shape); checks the declared type."""
    f = build(name, *((dtype_of(a.dtype).name, a.shape) for a in arrays), **attrs)
    (got,) = run(f, *arrays)
    t = f.results[0].type
    assert got.dtype == t.dtype.np and got.shape == t.shape
    return got
