"""fc.testing.check: agreement, planted lowering bug localised to its op (also inside a fusion region),
unavailable backends, tolerances."""
import sys

import numpy as np
import pytest

import flowc as fc
from flowc.ir import parse
from flowc.testing import BackendUnavailable, CheckFailure, check, compare, tolerance
from flowc.testing.check import check_function
from flowc.testing.plants import install_buggy_backend
from flowc.testing.tolerances import compare_value

PROGRAM = """
func @f(%x: f32[B,4], %y: f32[4]) -> (f32[B,4], f32[]) {
  %0 = tanh(%x) : f32[B,4]
  %1 = add(%x, %y) : f32[B,4]
  %2 = mul(%1, %y) : f32[B,4]
  %3 = exp(%2) : f32[B,4]
  %4 = reduce_sum(%0) {axes = (0, 1), keepdims = false} : f32[]
  return %3, %4
}
"""


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, (3, 4)).astype(np.float32), rng.uniform(-2, 2, 4).astype(np.float32)]


def test_reference_agrees_with_itself_through_the_pipeline():
    rep = check(parse(PROGRAM), *inputs(), backends=("reference",), opt_level=3)
    assert rep.ok and rep.checked == ["reference"] and "OK" in str(rep)


def test_planted_mul_bug_is_named(monkeypatch):
    name = install_buggy_backend(monkeypatch)
    rep = check_function(parse(PROGRAM), inputs(), backends=(name,), opt_level=1)   # unfused: the op itself
    assert not rep.ok
    (m,) = rep.mismatches
    assert m.output == 0 and m.diff.max_abs > 0 and not m.pass_bug
    assert m.divergence.op.name == "mul" and m.divergence.local
    text = str(rep)
    assert "output 0 (f32[B,4]) differs" in text and "mul(" in text and "max abs error" in text
    with pytest.raises(CheckFailure, match="first divergent op"):
        check(parse(PROGRAM), *inputs(), backends=(name,), opt_level=1)


def test_planted_bug_inside_a_fusion_region(monkeypatch):
    name = install_buggy_backend(monkeypatch)
    f = parse("""
func @g(%x: f32[5]) -> (f32[5]) {
  %0 = neg(%x) : f32[5]
  %1 = fusion(%0, %x) {kind = "loop"} : f32[5] {
  ^(%2: f32[5], %3: f32[5]):
    %4 = add(%2, %3) : f32[5]
    %5 = sin(%3) : f32[5]
    %6 = mul(%3, %5) : f32[5]
    %7 = add(%4, %6) : f32[5]
    yield %7
  }
  return %1
}
""")
    x = np.array([-3, -1.5, 0.5, 2, 4], np.float32)
    rep = check_function(f, [x], backends=(name,), opt_level=0)
    div = rep.mismatches[0].divergence
    assert div.op.name == "fusion" and div.inner is not None
    assert div.inner.op.name == "mul" and div.inner.index == 2
    assert "the region of op #1" in str(rep)


def test_python_function_and_random_inputs(monkeypatch):
    name = install_buggy_backend(monkeypatch)

    def model(x: fc.f32["B", 3], w: fc.f32[3, 2]):
        return fc.tanh(x @ w * 3.0)

    assert check(model, backends=("reference",)).ok            # random inputs from the annotations
    rep = check(model, np.full((2, 3), 1.5, np.float32), np.eye(3, 2, dtype=np.float32),
                backends=(name,), raise_on_mismatch=False, opt_level=1)
    assert rep.mismatches and rep.mismatches[0].divergence.op.name == "mul"


def test_unavailable_backends(monkeypatch):
    with pytest.raises(BackendUnavailable, match="'nope' is not registered"):
        check(parse(PROGRAM), *inputs(), backends=("nope",))
    monkeypatch.setattr(sys.modules["flowc.testing.check"], "DEFAULT_BACKENDS", ("nope",))
    with pytest.warns(UserWarning, match="skipped 'nope'"):
        rep = check(parse(PROGRAM), *inputs())
    assert rep.ok and "nope" in rep.skipped and "skipped backend 'nope'" in str(rep)


def test_crashing_backend_is_reported(monkeypatch):
    import sys
    import types
    from flowc.backends import BACKENDS
    mod = types.ModuleType("flowc_test_crashing")
    mod.compile = lambda f: (lambda *a: (_ for _ in ()).throw(RuntimeError("lowering missing for exp")))
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(BACKENDS, "crashing", mod.__name__)
    rep = check_function(parse(PROGRAM), inputs(), backends=("crashing",))
    assert rep.mismatches[0].output == -1 and "lowering missing for exp" in str(rep)


def test_compare_semantics():
    nan, inf = np.nan, np.inf
    assert compare(np.array([nan, inf, -0.0]), np.array([nan, inf, 0.0]), 0, 0).ok
    d = compare(np.array([1.0, inf]), np.array([1.0, -inf]), 1e-3, 1e-3)
    assert not d.ok and d.index == (1,)
    d = compare(np.array([1, 2, 3], np.int32), np.array([1, 2, 4], np.int32), 1, 1)
    assert not d.ok and d.bad == 1 and d.max_abs == 1       # integers are exact whatever the tolerance
    assert compare(np.zeros(2), np.zeros(3), 0, 0).reason == "shape"
    assert compare(np.zeros(2, np.float32), np.zeros(2), 0, 0).reason == "dtype"
    assert tolerance("f16") > tolerance("f32") > tolerance("f64")
    assert tolerance("f32", "accumulate")[0] > tolerance("f32", "transcendental")[0] > tolerance("f32")[0]
    assert tolerance("i32", "accumulate") == (0.0, 0.0)
    # accumulating ops: atol scales with the result's magnitude (cancellation)
    big = np.array([1e4, 1e-3], np.float32)
    assert compare_value(big + np.float32(1e-4), big, fc.f32, "accumulate").ok
    assert not compare_value(big + np.float32(1e-4), big, fc.f32, "elementwise").ok
