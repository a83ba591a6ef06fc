"""The pass registry, PassManager (spec strings, options, verify/print/time between passes),
run_stages/default_pipeline, and the ``flowc passes`` command."""
from __future__ import annotations

import io

import pytest

from flowc.cli import main
from flowc.ir import Function, FlowcError, Op, float64, parse
from flowc.passes import (PIPELINES, Pass, PassManager, PassVerifyError, available, default_pipeline, parse_spec,
                          run_stages)
from flowc.passes import base

SRC = """func @f(%x: f32[B,3]) -> (f32[B,3]) {
  %0 = constant() {value = dense<[1.0]> : f32[]} : f32[]
  %1 = constant() {value = dense<[2.0]> : f32[]} : f32[]
  %2 = mul(%0, %1) : f32[]
  %3 = mul(%x, %0) : f32[B,3]
  %4 = exp(%3) : f32[B,3]
  %5 = exp(%3) : f32[B,3]
  %6 = add(%4, %5) : f32[B,3]
  return %6
}
"""


@pytest.fixture
def f() -> Function:
    return parse(SRC, "t.fir")


def test_available_passes_have_name_and_one_line_description():
    table = available()
    assert {"fold", "simplify", "cse", "dce"} <= set(table)
    for name, p in table.items():
        assert isinstance(p, Pass) and p.name == name
        assert p.description and "\n" not in p.description


def test_each_pass_returns_a_new_function_and_leaves_its_input_alone(f):
    before = f.text()
    for p in available().values():
        g = p.run(f)
        assert g is not f and isinstance(g, Function)
        assert f.text() == before


def test_spec_string_and_list_are_the_same(f):
    a = PassManager("fold, simplify,cse,dce").run(f)
    b = PassManager(["fold", "simplify", "cse", "dce"]).run(f)
    assert a.text() == b.text()
    assert "mul" not in a.text() and a.text().count("exp(") == 1


def test_empty_pipeline_returns_the_input(f):
    assert PassManager("").run(f) is f
    assert PassManager([]).names == []


def test_unknown_pass_lists_the_available_ones():
    from flowc.passes import available
    listing = ", ".join(sorted(available()))
    with pytest.raises(FlowcError, match=rf"unknown pass 'nope'; the available passes are {listing}$"):
        PassManager("cse,nope")


def test_pass_options_in_braces(f):
    (p,) = parse_spec("fold{max-elements=0}")
    assert p.options == {"max_elements": 0}
    assert "mul(%0, %1)" in p.run(f).text()          # the scalar product is over the limit: not folded
    assert "mul(%0, %1)" not in available()["fold"].run(f).text()
    assert available()["fold"].options == {"max_elements": 1 << 20}   # the registered pass is untouched


@pytest.mark.parametrize("spec, msg", [
    ("fold{bogus=1}", "pass 'fold' has no option 'bogus'"),
    ("fold{max-elements=many}", "option 'max_elements' of pass 'fold' expects an integer, got 'many'"),
    ("fold{max-elements}", "must be written key=value"),
    ("fold{max-elements=1", "unclosed"),
    ("cse,,dce", "empty pass name"),
])
def test_bad_specs(spec, msg):
    with pytest.raises(FlowcError, match=msg):
        parse_spec(spec)


def _break_ir(function: Function) -> Function:
    """A buggy pass: changes an op's result type without changing the op."""
    op = function.ops[-1]
    bad = Op(op.name, op.operands, op.attrs, [op.results[0].type.with_dtype(float64)], (), op.loc)
    return Function(function.name, function.params, list(function.ops[:-1]) + [bad], bad.results)


def test_verify_failure_names_the_pass(f, monkeypatch):
    monkeypatch.setitem(base.PASSES, "breaker", Pass("breaker", "breaks the IR", _break_ir))
    with pytest.raises(PassVerifyError, match=r"IR after pass 'breaker' does not verify") as e:
        PassManager("cse,breaker,dce").run(f)
    assert "add(f32[B,3], f32[B,3])" in str(e.value)
    PassManager("breaker", verify=False).run(f)   # verification can be switched off


def test_input_is_verified_first(f):
    bad = _break_ir(f)
    with pytest.raises(PassVerifyError, match="the input to the pass pipeline does not verify"):
        PassManager("dce").run(bad)


def test_print_after_all_prints_a_header_and_the_ir_after_each_pass(f):
    out = io.StringIO()
    g = PassManager("fold,dce", print_after_all=True, out=out).run(f)
    text = out.getvalue()
    assert text.startswith("// -----// IR after fold //----- //\nfunc @f(")
    assert "// -----// IR after dce //----- //\n" + g.text() in text
    assert text.count("// -----// IR after") == 2


def test_print_after_selected_passes(f):
    out = io.StringIO()
    PassManager("fold,cse,dce", print_after=["cse"], out=out).run(f)
    assert out.getvalue().count("// -----//") == 1 and "IR after cse" in out.getvalue()
    with pytest.raises(FlowcError, match=r"not in the pipeline \(simplify\)"):
        PassManager("fold", print_after=["simplify"])


def test_print_goes_to_stderr_by_default(f, capsys):
    PassManager("dce", print_after_all=True).run(f)
    assert "IR after dce" in capsys.readouterr().err


def test_time_passes_prints_a_table(f):
    out = io.StringIO()
    pm = PassManager("fold,simplify,cse,dce", time_passes=True, out=out)
    pm.run(f)
    lines = out.getvalue().splitlines()
    assert "Pass execution timing report" in lines[1]
    rows = [ln.split() for ln in lines[4:]]
    assert [r[-1] for r in rows] == ["fold", "simplify", "cse", "dce", "Total"]
    assert all(float(r[0]) >= 0 and r[1].endswith("%") for r in rows)
    assert [n for n, _ in pm.timings] == ["fold", "simplify", "cse", "dce"]


def test_default_pipelines():
    assert default_pipeline(0) == []
    assert default_pipeline(1) == ["fold", "simplify", "cse", "dce"]
    assert default_pipeline(2) == default_pipeline(1) + ["layout", "fusion"]
    assert default_pipeline(3) == default_pipeline(2) + ["memory"]
    assert set(PIPELINES) == {0, 1, 2, 3}
    default_pipeline(1).append("x")
    assert default_pipeline(1) == ["fold", "simplify", "cse", "dce"]   # a copy, not the table
    with pytest.raises(FlowcError, match="unknown optimisation level 4"):
        default_pipeline(4)


def test_run_stages(f):
    stages = run_stages(f)
    assert [n for n, _ in stages] == ["fold", "simplify", "cse", "dce"]
    assert stages[-1][1].text() == PassManager("fold,simplify,cse,dce").run(f).text()
    assert run_stages(f, opt_level=0) == []
    (only,) = run_stages(f, passes=["dce"], opt_level=0)
    assert only[0] == "dce" and "mul(%0, %1)" not in only[1].text()
    assert [n for n, _ in run_stages(f, passes="cse,cse")] == ["cse", "cse"]


def test_flowc_passes_command_lists_names_and_descriptions(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    for name, p in available().items():
        assert any(ln.startswith(name) and p.description in ln for ln in out.splitlines())
    assert "option max-elements = 1048576" in out
    assert "-O1: fold,simplify,cse,dce" in out and "-O0: (no passes)" in out
    assert main(["passes", "-O", "1"]) == 0
    assert capsys.readouterr().out == "fold,simplify,cse,dce\n"
    assert main(["passes", "-O", "9"]) == 1
