"""Errors in traced code: FlowcError subclasses naming the op, the types and the user's file:line,
with a traceback that stops at the jitted call instead of wandering through flowc."""
import inspect
import os
import traceback

import numpy as np
import pytest

import flowc as fc
from flowc.ir.types import FlowcError

HERE = os.path.basename(__file__)


def line_of(fn, text):
    src, start = inspect.getsourcelines(fn)
    return start + next(i for i, s in enumerate(src) if text in s)


def internal_frames(excinfo):
    import flowc.backends
    import flowc.ir
    dirs = tuple(os.path.dirname(m.__file__) + os.sep for m in (fc, flowc.ir, flowc.backends))
    return [f for f in traceback.extract_tb(excinfo.tb) if f.filename.startswith(dirs)]


def bad_model(x: fc.f32["B", 784], W: fc.f32[748, 10]):
    h = fc.nn.relu(x)
    return h @ W


def test_shape_error_names_op_types_and_user_line():
    f = fc.jit(bad_model)
    with pytest.raises(fc.TraceError) as ei:
        f(np.ones((2, 784), np.float32), np.ones((748, 10), np.float32))
    msg = str(ei.value)
    assert msg == (f"{os.path.relpath(__file__)}:{line_of(bad_model, 'h @ W')}: "
                   "matmul(f32[B,784], f32[748,10]): contracting dims 784 and 748 differ")
    frames = internal_frames(ei)
    assert [(os.path.basename(f.filename), f.name) for f in frames] == [("api.py", "__call__")]
    assert ei.value.__cause__ is None and ei.value.__suppress_context__


def test_lower_error_also_located():
    with pytest.raises(FlowcError, match=f"{HERE}:{line_of(bad_model, 'h @ W')}: matmul"):
        fc.jit(bad_model).lower(np.ones((2, 784), np.float32), np.ones((748, 10), np.float32))


def helper(a, b):
    return fc.concatenate([a, b], axis=1)


def test_innermost_user_frame_is_reported():
    with pytest.raises(FlowcError, match=f"{HERE}:{line_of(helper, 'concatenate')}: fc.concatenate|"
                                         f"{HERE}:{line_of(helper, 'concatenate')}: concatenate"):
        fc.jit(lambda a, b: helper(a, b))(np.ones((2, 3)), np.ones((3, 3)))


def test_frontend_errors_are_located():
    def f(x):
        return x.reshape(5, -1)
    with pytest.raises(FlowcError, match=f"{HERE}:{line_of(f, 'reshape')}: fc.reshape: cannot reshape f32\\[3,4\\]"):
        fc.jit(f)(np.ones((3, 4), np.float32))

    def g(x):
        return x[5]
    with pytest.raises(FlowcError, match=f"{HERE}:{line_of(g, 'x[5]')}: .*index 5 is out of bounds for axis 0"):
        fc.jit(g)(np.ones((3, 4), np.float32))


def _if(x):
    if x > 0:
        return x
    return -x


def test_iterating_needs_a_static_leading_dim():
    def rows(x: fc.f32["B", 2]):
        return [v for v in x]
    with pytest.raises(fc.ConcretizationError, match="iterating over .* leading dim is symbolic"):
        fc.jit(rows)(np.ones((3, 2), np.float32))
    a, b = fc.jit(lambda x: tuple(x))(np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(b, [2.0, 3.0])


@pytest.mark.parametrize("fn,what", [
    (_if, "bool"), (lambda x: int(x), "int()"), (lambda x: float(x), "float()"), (lambda x: len(x), "len()"),
    (lambda x: np.asarray(x), "np.asarray()"),
    (lambda x: range(x), "index"),
])
def test_python_control_flow_on_traced_values(fn, what):
    with pytest.raises(fc.ConcretizationError) as ei:
        fc.jit(fn)(np.ones(3, np.float32))
    msg = str(ei.value)
    assert what in msg and "fc.where" in msg and "static_argnums" in msg
    assert HERE in msg.split(":")[0]
    assert len(internal_frames(ei)) == 1


def test_unsupported_numpy_ufunc():
    with pytest.raises(FlowcError, match="np.arctan2 is not supported on traced values"):
        fc.jit(lambda x: np.arctan2(x, x))(np.ones(3))


def test_setitem_and_leaked_tracer():
    def f(x):
        x[0] = 1
        return x
    with pytest.raises(FlowcError, match="immutable"):
        fc.jit(f)(np.ones(3))
    leaked = []
    fc.jit(lambda x: leaked.append(x) or x)(np.ones(3))
    with pytest.raises(FlowcError, match="outside it"):
        fc.jit(lambda y: y + leaked[0])(np.ones(3))


def test_eager_errors_are_located_too():
    with pytest.raises(FlowcError) as ei:
        fc.matmul(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    assert str(ei.value).startswith(f"{os.path.relpath(__file__)}:")
    assert "contracting dims 3 and 4 differ" in str(ei.value)
    assert len(internal_frames(ei)) == 1


def test_type_rule_errors_from_every_layer():
    cases = [
        (lambda x: fc.nn.conv2d(x, np.ones((4, 2, 3, 3), np.float32)), "conv2d"),
        (lambda x: fc.sum(x, axis=4), "axis 4 is out of range"),
        (lambda x: fc.transpose(x, (0, 0)), "not a permutation"),
        (lambda x: fc.random.uniform(x, (2,)), "expected a key u32[2]"),
    ]
    for fn, text in cases:
        with pytest.raises(FlowcError) as ei:
            fc.jit(fn)(np.ones((1, 3, 5, 5), np.float32))
        assert text in str(ei.value) and f"{HERE}:" in str(ei.value)
