"""The fixed-point rewrite driver and the properties every rewriting pass relies on:
locations survive, regions are rewritten, the loop guard names the rule, replacements keep types."""
from __future__ import annotations

import numpy as np
import pytest

from flowc.backends.reference import run
from flowc.ir import DTYPES, Builder, Function, Loc, Value, float32 as f32, parse
from flowc.passes import Pattern, RewriteLoopError, apply_patterns, available
from flowc.passes.rewrite import Rewriter, as_type, is_splat
from flowc.passes.simplify import PATTERNS, exact_cast


def fn(*types, build) -> Function:
    params = [Value(t, f"a{i}") for i, t in enumerate(types)]
    b = Builder()
    outs = build(b, *params)
    return Function("f", params, b.ops, outs if isinstance(outs, list) else [outs]).verify()


def test_replacement_ops_get_the_rewritten_ops_loc():
    loc = Loc("model.py", 12, 3)
    f = fn(f32[2, 3, 4], build=lambda b, x: b.op("transpose", b("transpose", x, perm=(1, 2, 0)),
                                                  perm=(1, 2, 0), loc=loc).result)
    g = available()["simplify"].run(f)
    (op,) = [o for o in g.ops if o.name == "transpose" and o.results[0] is g.results[0]]
    assert op.attrs["perm"] == (2, 0, 1) and op.loc == loc
    assert 'loc("model.py":12:3)' in g.text()


def test_folded_constants_keep_the_loc():
    loc = Loc("m.py", 7)
    f = fn(build=lambda b: b.op("neg", b("constant", value=np.ones(3, np.float32)), loc=loc).result)
    g = available()["fold"].run(f)
    (c,) = [o for o in g.ops if o.results[0] is g.results[0]]
    assert c.name == "constant" and c.loc == loc and np.array_equal(c.attrs["value"], -np.ones(3))


def test_rules_apply_inside_regions():
    f = parse("""func @f(%x: f32[3]) -> (f32[3]) {
  %0 = fusion(%x) {kind = "loop"} : f32[3] {
  ^(%1: f32[3]):
    %2 = neg(%1) : f32[3]
    %3 = neg(%2) : f32[3]
    %4 = exp(%3) : f32[3]
    yield %4
  }
  return %0
}""")
    g = available()["dce"].run(available()["simplify"].run(f))
    (fusion,) = g.ops
    assert [o.name for o in fusion.regions[0].ops] == ["exp"]
    assert fusion.regions[0].ops[0].operands[0] is fusion.regions[0].params[0]
    x = np.array([1.0, -2.0, 0.5], np.float32)
    assert np.array_equal(run(f, x)[0], run(g, x)[0])


def test_loop_guard_names_the_rule_that_keeps_firing():
    f = fn(f32[3], build=lambda b, x: b("neg", x))
    forever = Pattern("renew-neg", "neg", lambda op, rw: rw("neg", op.operands[0]))
    with pytest.raises(RewriteLoopError, match=r"did not reach a fixed point after 5 sweeps.*'renew-neg'"):
        apply_patterns(f, [forever], max_sweeps=5)


def test_two_rules_undoing_each_other_are_both_named():
    f = fn(f32[3], build=lambda b, x: b("exp", x))
    to_sin = Pattern("exp-to-sin", "exp", lambda op, rw: rw("sin", op.operands[0]))
    to_exp = Pattern("sin-to-exp", "sin", lambda op, rw: rw("exp", op.operands[0]))
    with pytest.raises(RewriteLoopError, match="exp-to-sin|sin-to-exp"):
        apply_patterns(f, [to_sin, to_exp])


def test_a_replacement_of_the_wrong_type_is_reported_with_the_rule():
    f = fn(f32[3], build=lambda b, x: b("exp", x))
    wrong = Pattern("bad", "exp", lambda op, rw: rw("cast", op.operands[0], dtype="f64"))
    with pytest.raises(AssertionError, match="rule 'bad' replaced exp result of type f32\\[3\\] by .*f64\\[3\\]"):
        apply_patterns(f, [wrong])


def test_first_matching_rule_wins_and_predicates_match():
    f = fn(f32[3], build=lambda b, x: b("exp", x))
    seen = []

    def to(name):
        return lambda op, rw: seen.append(name) or rw(name, op.operands[0])
    first = Pattern("first", lambda op: op.name == "exp", to("sin"))
    second = Pattern("second", "exp", to("cos"))
    g = apply_patterns(f, [first, second])
    assert seen == ["sin"] and [o.name for o in g.ops] == ["sin"]


def test_patterns_on_missing_ops_are_inactive():
    p = Pattern("needs-ghost", "exp", lambda op, rw: None, requires=("no_such_op",))
    assert not p.active
    assert not Pattern("ghost", "no_such_op", lambda op, rw: None).active
    assert all(p.active for p in PATTERNS)   # every op the simplify table uses is declared now


def test_returning_the_op_itself_is_no_change():
    f = fn(f32[3], build=lambda b, x: b("exp", x))
    same = Pattern("same", "exp", lambda op, rw: op.results)
    assert apply_patterns(f, [same]).text() == f.text()


def test_verify_positions_survive_a_pass():
    f = parse("func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = neg(%x) : f32[3]\n  %1 = neg(%0) : f32[3]\n"
              "  %2 = exp(%1) : f32[3]\n  return %2\n}\n", "k.fir")
    g = available()["simplify"].run(f)
    exp = next(o for o in g.ops if o.name == "exp")
    assert g.positions[id(exp)] == f.positions[id(f.ops[2])] and g.filename == "k.fir"


def test_helpers():
    f = parse("""func @f(%x: f32[3]) -> (f32[3], f32[], f32[2], f32[]) {
  %0 = constant() {value = dense<[-0.0]> : f32[]} : f32[]
  %1 = constant() {value = dense<[1.0, 2.0]> : f32[2]} : f32[2]
  %2 = constant() {value = dense<[0.0]> : f32[]} : f32[]
  return %x, %0, %1, %2
}""")
    x, neg0, c12, pos0 = f.results
    assert is_splat(neg0, 0) and is_splat(neg0, 0, negative_zero=True) and not is_splat(neg0, 0, negative_zero=False)
    assert is_splat(pos0, 0, negative_zero=False) and not is_splat(pos0, 0, negative_zero=True)
    assert not is_splat(c12, 1) and not is_splat(x, 0)
    rw = Rewriter(None)
    assert as_type(rw, x, x.type) is x
    assert as_type(rw, x, f32[2, 3]).type == f32[2, 3] and rw.ops[-1].name == "broadcast_to"
    assert as_type(rw, x, f32[4]) is None                    # not broadcastable: the rule must not fire


def test_exact_cast_table_is_really_exact():
    """Every pair claimed exact round-trips every representable value we can enumerate."""
    samples = {
        "bool": np.array([False, True]),
        "i8": np.arange(-128, 128, dtype=np.int8),
        "i32": np.array([-2**31, -2**24 - 1, -1, 0, 1, 2**24 + 1, 2**31 - 1], np.int32),
        "u32": np.array([0, 1, 2**24 + 1, 2**32 - 1], np.uint32),
        "i64": np.array([-2**63, 2**53 + 1, 2**63 - 1], np.int64),
        "f16": np.array([-np.inf, -65504, -6e-8, -0.0, 0.0, 1e-4, 0.1, 65504, np.inf], np.float16),
        "f32": np.array([-3.4e38, -1e-45, 0.1, 1 / 3, 16777217, 3.4e38], np.float32),
    }
    for src, vals in samples.items():
        for dst in DTYPES.values():
            if exact_cast(DTYPES[src], dst) and src != dst.name:
                back = vals.astype(dst.np).astype(vals.dtype)
                assert np.array_equal(back, vals), f"{src} -> {dst} is not exact"
    assert not exact_cast(DTYPES["i32"], DTYPES["f32"]) and not exact_cast(DTYPES["i64"], DTYPES["f64"])


def test_log_softmax_rewrite_is_close_and_more_stable():
    f = fn(f32["B", 5], build=lambda b, x: b("log", b("softmax", x, axis=1)))
    g = available()["dce"].run(available()["simplify"].run(f))
    assert [o.name for o in g.ops] == ["log_softmax"]
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32) * 3
    np.testing.assert_allclose(run(g, x)[0], run(f, x)[0], rtol=1e-5, atol=1e-5)
    wide = np.array([[0.0, -200.0, 1.0, 2.0, 3.0]], np.float32)
    assert np.isneginf(run(f, wide)[0][0, 1]) and np.isfinite(run(g, wide)[0]).all()
