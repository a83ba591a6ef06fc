"""Opt-bisect: a planted wrong pass (x*0 -> 0 for floats) is named, with the rewrite that breaks the program;
the rewrite budget hook limits rewrites."""
import numpy as np

from flowc.ir import parse
from flowc.passes import get_pass
from flowc.passes.rewrite import rewrite_budget
from flowc.testing import bisect_passes, check
from flowc.testing.plants import MUL_ZERO_PASS, install_mul_zero_pass

# %2 = x*1 (simplify removes it: 1 harmless rewrite), then two x*0 that mul-zero folds: the first on a
# finite value (harmless), the second on log(x), which is nan for x < 0 — that rewrite is the bad one.
PROGRAM = """
func @f(%x: f32[6]) -> (f32[6]) {
  %0 = constant() {value = dense<[0.0]> : f32[]} : f32[]
  %1 = constant() {value = dense<[1.0]> : f32[]} : f32[]
  %2 = mul(%x, %1) : f32[6]
  %3 = tanh(%2) : f32[6]
  %4 = mul(%3, %0) : f32[6]
  %5 = log(%x) : f32[6]
  %6 = mul(%5, %0) : f32[6]
  %7 = add(%4, %6) : f32[6]
  %8 = add(%7, %2) : f32[6]
  return %8
}
"""
X = np.array([-1.0, 2.0, 0.5, -3.0, 1.0, 4.0], np.float32)


def test_bisect_names_pass_and_rewrite(monkeypatch):
    install_mul_zero_pass(monkeypatch)
    res = bisect_passes(parse(PROGRAM), [X], opt_level=1)
    assert res.pass_name == MUL_ZERO_PASS and res.pipeline[res.pass_index] == MUL_ZERO_PASS
    assert res.rewrites == 2 and res.rewrite == 2 and res.rule == "mul-by-zero" and res.op_name == "mul"
    assert res.diff.max_abs != res.diff.max_abs or res.diff.bad == 2          # nan vs a number
    assert res.before.text().count("mul(") == res.after.text().count("mul(") + 1   # the bad rewrite's IR
    text = res.describe()
    assert "first bad pass: 'mul-zero'" in text and "first bad rewrite: #2 of 2: rule 'mul-by-zero'" in text


def test_check_with_bisect_reports_the_pass(monkeypatch):
    install_mul_zero_pass(monkeypatch)
    rep = check(parse(PROGRAM), X, backends=("reference",), bisect=True, raise_on_mismatch=False)
    (m,) = rep.mismatches
    assert m.pass_bug and m.bisect.pass_name == MUL_ZERO_PASS
    assert "a pass changed its meaning" in str(rep) and "first bad rewrite" in str(rep)
    rep = check(parse(PROGRAM), X, backends=("reference",), raise_on_mismatch=False)
    assert "rerun with --bisect" in str(rep)


def test_correct_pipeline_bisects_to_nothing():
    assert bisect_passes(parse(PROGRAM), [X], opt_level=3) is None


def test_non_rewrite_pass_is_named_without_a_rewrite(monkeypatch):
    from flowc.passes import Pass
    from flowc.passes.base import PASSES, available
    from flowc.ir import Function
    available()

    def drop_first_result(f):     # wrong, and not pattern-driven
        return Function(f.name, f.params, f.ops, [f.params[0]] + list(f.results[1:]))
    monkeypatch.setitem(PASSES, "identity-bug", Pass("identity-bug", "planted", drop_first_result))
    res = bisect_passes(parse(PROGRAM), [X], passes="fold,identity-bug,dce")
    assert res.pass_name == "identity-bug" and res.pass_index == 1 and res.rewrite is None
    assert "no single rewrite" in res.describe()


def test_rewrite_budget_limits_and_logs_rewrites():
    simplify = get_pass("simplify")
    f = parse(PROGRAM)
    with rewrite_budget(0) as log:
        assert simplify.run(f).text() == f.text() and log == []
    with rewrite_budget(1) as log:
        once = simplify.run(f)
    assert len(log) == 1 and log[0][1] == "mul"
    assert once.text() != f.text()
    with rewrite_budget(1 << 30) as log:
        simplify.run(f)
    assert len(log) >= 1
