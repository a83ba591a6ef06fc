"""flowc: trace numpy-style Python into a typed SSA graph IR, optimise it, run it natively.

    import flowc as fc

    @fc.jit
    def predict(x: fc.f32["B", 784], W: fc.f32[784, 10], b: fc.f32[10]):
        return fc.nn.softmax(x @ W + b)
"""
__version__ = "0.1.0"

from flowc.ir.types import (DType, FlowcError, Sym, TensorType, bool_, float16, float32, float64, int8, int32,
                            int64, uint32)

from . import nn, random  # noqa: E402
from .api import JitError, Jitted, Lowered, default_backend, jit  # noqa: E402
from .numpy_api import (abs, absolute, add, amax, amin, arange, argmax, argmin, asarray, astype,  # noqa: E402
                        broadcast_to, cast, ceil, clip, concatenate, cos, divide, dot, equal, exp, expand_dims,
                        floor, full, full_like, greater, greater_equal, less, less_equal, log, log1p, logical_and,
                        logical_not, logical_or, matmul, max, maximum, mean, min, minimum, multiply, negative,
                        not_equal, one_hot, ones, ones_like, pad, power, prod, ravel, reshape, sign, sin, sqrt,
                        square, squeeze, stack, subtract, sum, take, tanh, transpose, true_divide, where, zeros,
                        zeros_like)
from .tracing import ConcretizationError, TraceError, Tracer  # noqa: E402
from .transforms import grad, value_and_grad, vjp  # noqa: E402
from . import datasets, optim  # noqa: E402
from . import testing  # noqa: E402

# Short dtype names; also annotation syntax: ``fc.f32["B", 784]``.
f16, f32, f64, i8, i32, i64, u32 = float16, float32, float64, int8, int32, int64, uint32
bool8 = bool_
