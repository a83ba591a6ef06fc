"""``flowc dump FILE.py:FUNC``: in-process through flowc.cli.main, exit code and output."""
import os

import pytest

from flowc.cli import main
from flowc.ir.parser import parse_function
from flowc.loader import trace_file_function

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "data", "trace", "models.py")
EXAMPLE = os.path.join(ROOT, "examples", "mnist_softmax.py")


def dump(capsys, *argv):
    code = main(["dump", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_example_dumps_with_no_flags(capsys):
    code, out, err = dump(capsys, f"{EXAMPLE}:predict")
    assert code == 0, err
    assert out.splitlines()[0] == "func @predict(%x: f32[B,784], %W: f32[784,10], %b: f32[10]) -> (f32[B,10]) {"
    assert "matmul(%x, %W) : f32[B,10]" in out and "softmax(" in out and "loc(" not in out
    parse_function(out).verify()          # the printed IR is valid IR text


def test_locs_and_args(capsys):
    code, out, _ = dump(capsys, f"{MODELS}:unannotated", "--args", "f32[N,4] f32[4,2]", "--locs")
    assert code == 0
    assert "%x: f32[N,4], %W: f32[4,2]" in out
    assert 'models.py":11)' in out           # the user's line of `x @ W`


def test_annotations_and_jitted_function(capsys):
    code, out, _ = dump(capsys, f"{MODELS}:mlp")
    assert code == 0 and "tanh" in out and "reduce_sum" in out
    code, out, _ = dump(capsys, f"{MODELS}:jitted")
    assert code == 0 and "%x: f32[N]" in out and "mul" in out


def test_stage_option(capsys):
    code, out, err = dump(capsys, f"{MODELS}:mlp", "--stage", "optimized")
    if "no stage" in err:                    # without flowc.passes only "traced" exists
        assert code == 1
    else:
        assert code == 0 and out.startswith("func @mlp")
    code, _, err = dump(capsys, f"{MODELS}:mlp", "--stage", "bogus")
    assert code == 1 and "no stage 'bogus'" in err


@pytest.mark.parametrize("argv,text", [
    (["nowhere.py:f"], "nowhere.py: no such file"),
    ([f"{MODELS}:missing"], "no function 'missing'"),
    ([f"{MODELS}"], "expected FILE.py:FUNC"),
    ([f"{MODELS}:unannotated"], "parameter(s) x, W have no fc type annotation"),
    ([f"{MODELS}:unannotated", "--args", "f32[B,"], "--args:1:7: expected a dimension"),
    ([f"{MODELS}:unannotated", "--args", "f32[2]"], "--args gives 1 type(s) but unannotated takes 2"),
    ([f"{MODELS}:broken"], "models.py:20: matmul(f32[B,4], f32[5,3]): contracting dims 4 and 5 differ"),
    ([f"{MODELS}:branchy"], "fc.where"),
    ([os.path.join(ROOT, "tests", "data", "trace", "import_error.py") + ":f"], "RuntimeError: boom"),
])
def test_errors_are_one_line(capsys, argv, text):
    code, out, err = dump(capsys, *argv)
    assert code == 1 and out == ""
    assert text in err
    assert "Traceback" not in err
    if "--args:1:7" not in text:
        assert len(err.strip().splitlines()) == 1


def test_trace_file_function_api():
    f = trace_file_function(f"{MODELS}:mlp")
    assert [op.name for op in f.ops] == ["matmul", "tanh", "reduce_sum"]
    assert str(f.results[0].type) == "f32[B]"


def test_optimized_stage_with_memory_report(capsys):
    code, out, err = dump(capsys, f"{EXAMPLE}:predict", "--stage", "optimized", "--opt-level", "3", "--memory",
                          "--sizes", "B=100")
    assert code == 0 and 'kind = "matmul_epilogue"' in out
    assert "memory plan for @predict (B=100)" in out and "4,000 bytes" in out
    code, out, err = dump(capsys, f"{EXAMPLE}:predict", "--passes", "fusion", "--stage", "fusion")
    assert code == 0 and "fusion(" in out
    code, out, err = dump(capsys, f"{EXAMPLE}:predict", "--memory", "--sizes", "B=x")
    assert code == 1 and "--sizes must look like" in err
