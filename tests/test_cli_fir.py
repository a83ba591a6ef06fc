"""``flowc opt|run|graph`` on .fir files: exit codes, messages, outputs (in-process, and once as a subprocess)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowc.cli import main
from flowc.ir import parse_module

FIR = Path(__file__).parent / "fir"
CANONICAL = sorted((FIR / "roundtrip").glob("*.fir"))

PROGRAM = """func @main(%x: f32[B,3], %w: f32[3], %k: i32[]) -> (f32[B,3], i32[]) {
  %0 = mul(%x, %w) : f32[B,3] loc("m.py":2)
  %1 = add(%k, %k) : i32[]
  return %0, %1
}

func @other(%arg0: f64[2]) -> (f64[2]) {
  %0 = neg(%arg0) : f64[2]
  return %0
}
"""


@pytest.fixture
def prog(tmp_path):
    p = tmp_path / "prog.fir"
    p.write_text(PROGRAM)
    return p


def flowc(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- opt ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", CANONICAL, ids=lambda p: p.name)
def test_opt_prints_canonical_files_unchanged(capsys, path):
    code, out, err = flowc(capsys, "opt", path)
    assert (code, err) == (0, "") and out == path.read_text()


def test_opt_writes_output_file_and_strips_locs(capsys, prog, tmp_path):
    out_path = tmp_path / "out.fir"
    assert flowc(capsys, "opt", prog, "-o", out_path) == (0, "", "")
    assert out_path.read_text() == PROGRAM
    code, out, _ = flowc(capsys, "opt", prog, "--no-locs")
    assert code == 0 and "loc(" not in out and out == PROGRAM.replace(' loc("m.py":2)', "")


def test_opt_runs_passes_with_timing_and_dumps(capsys, tmp_path):
    p = tmp_path / "dead.fir"
    p.write_text("func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = neg(%x) : f32[3]\n  %1 = abs(%x) : f32[3]\n"
                 "  return %1\n}\n")
    code, out, err = flowc(capsys, "opt", p, "--passes", "dce", "--print-after", "dce", "--time-passes")
    assert code == 0
    assert out == "func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = abs(%x) : f32[3]\n  return %0\n}\n"
    assert "IR after dce" in err and out in err and "Pass execution timing report" in err
    code, out2, err = flowc(capsys, "opt", p, "--passes", "dce", "--print-after-all", "--no-verify-each")
    assert code == 0 and out2 == out and "IR after dce" in err


def test_opt_unknown_pass_is_a_user_error(capsys, prog):
    code, out, err = flowc(capsys, "opt", prog, "--passes", "no-such-pass")
    assert code == 1 and out == "" and "unknown pass 'no-such-pass'" in err and "Traceback" not in err


def test_opt_pipeline_flags_need_passes(capsys, prog):
    code, _, err = flowc(capsys, "opt", prog, "--time-passes")
    assert code == 1 and err == "error: --print-after-all, --print-after and --time-passes need --passes\n"


def test_opt_parse_error_is_located_with_caret(capsys, tmp_path):
    p = tmp_path / "bad.fir"
    p.write_text("func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = neg(%x) : f32[3\n  return %0\n}\n")
    code, out, err = flowc(capsys, "opt", p)
    assert code == 1 and out == ""
    assert err == f"{p}:3:3: expected ']', found 'return'\n    return %0\n    ^\n"


def test_opt_verify_error_is_located(capsys, tmp_path):
    p = tmp_path / "ill.fir"
    p.write_text("func @f(%x: f32[3]) -> (f32[4]) {\n  %0 = neg(%x) : f32[4]\n  return %0\n}\n")
    code, _, err = flowc(capsys, "opt", p)
    assert code == 1
    assert err.splitlines()[0] == f"{p}:2:8: neg(f32[3]): result type(s) f32[4] do not match the type rule's f32[3]"


def test_missing_file_is_one_line(capsys, tmp_path):
    for cmd in ("opt", "run", "graph"):
        code, out, err = flowc(capsys, cmd, tmp_path / "nope.fir")
        assert code == 1 and out == "" and err == f"error: {tmp_path / 'nope.fir'}: No such file or directory\n"


def test_help_for_each_command(capsys):
    for cmd, words in [("opt", "--passes"), ("run", "--inputs"), ("graph", "FILE.py:FUNC")]:
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0 and words in capsys.readouterr().out


# -- run ---------------------------------------------------------------------------------------

def test_run_with_npz_by_name_and_position(capsys, prog, tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    w = np.array([1, 2, 3], np.float32)
    k = np.array(5, np.int32)
    inputs, out_npz = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, x=x, arg1=w, k=k)          # x and k by name, w by position
    code, out, err = flowc(capsys, "run", prog, "--inputs", inputs, "-o", out_npz)
    assert code == 0, err
    assert out.startswith("result0: f32[B,3] = float32[2, 3]\n") and "result1: i32[] = int32[]\n10\n" in out
    with np.load(out_npz) as r:
        assert sorted(r.files) == ["result0", "result1"]
        np.testing.assert_array_equal(r["result0"], x * w)
        assert r["result1"] == 10


@pytest.mark.parametrize("arrays,message", [
    ({"x": np.zeros((2, 3), np.float32), "w": np.zeros(3, np.float32)},
     "missing input 'k' for parameter #2 %k: i32[]"),
    ({"x": np.zeros((2, 3), np.float32), "w": np.zeros(3, np.float32), "k": np.zeros((), np.int32),
      "bias": np.zeros(1)}, "unexpected input(s) 'bias'; @main takes x, w, k"),
    ({"x": np.zeros((2, 3), np.float64), "w": np.zeros(3, np.float32), "k": np.zeros((), np.int32)},
     "input 'x' has dtype float64, but %x is f32[B,3] (dtype float32)"),
    ({"x": np.zeros((2, 4), np.float32), "w": np.zeros(3, np.float32), "k": np.zeros((), np.int32)},
     "argument 0 (%x): expected f32[B,3], got shape (2, 4) (axis 1: 4 != 3)"),
])
def test_run_rejects_bad_inputs_in_one_line(capsys, prog, tmp_path, arrays, message):
    inputs = tmp_path / "in.npz"
    np.savez(inputs, **arrays)
    code, out, err = flowc(capsys, "run", prog, "--inputs", inputs)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_run_random_inputs_need_symbol_sizes(capsys, prog):
    code, _, err = flowc(capsys, "run", prog)
    assert code == 1 and "%x: f32[B,3] has symbolic dim B; give its size with --dim B=N" in err
    code, out, _ = flowc(capsys, "run", prog, "--dim", "B=4", "--seed", "3")
    assert code == 0 and "result0: f32[B,3] = float32[4, 3]" in out
    assert flowc(capsys, "run", prog, "--dim", "B=4", "--seed", "3")[1] == out       # seeded: reproducible
    code, _, err = flowc(capsys, "run", prog, "--dim", "B=x")
    assert code == 1 and "bad --dim 'B=x'" in err


def test_run_picks_function(capsys, prog, tmp_path):
    code, out, _ = flowc(capsys, "run", prog, "--func", "other")
    assert code == 0 and out.startswith("result0: f64[2] = float64[2]")
    code, _, err = flowc(capsys, "run", prog, "--func", "@missing")
    assert code == 1 and "no function @missing in the module (functions: @main, @other)" in err
    two = tmp_path / "two.fir"
    two.write_text(PROGRAM.replace("@main", "@first"))
    code, _, err = flowc(capsys, "run", two)
    assert code == 1 and "choose one with --func" in err


def test_run_bad_npz_is_a_user_error(capsys, prog, tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    code, _, err = flowc(capsys, "run", prog, "--inputs", p)
    assert code == 1 and "not a readable .npz file" in err


# -- graph -------------------------------------------------------------------------------------

def test_graph_writes_dot(capsys, prog, tmp_path):
    dot = tmp_path / "g.dot"
    assert flowc(capsys, "graph", prog, "--func", "main", "-o", dot) == (0, "", "")
    text = dot.read_text()
    assert text.startswith('digraph "main" {') and text.rstrip().endswith("}")
    assert '[label="mul\\nm.py:2", shape=box]' in text and text.count("->") == 6


def test_graph_argument_errors(capsys, prog):
    code, _, err = flowc(capsys, "graph", prog, "--args", "f32[3]")
    assert code == 1 and "--args applies to FILE.py:FUNC sources" in err


def test_graph_traces_a_python_function(capsys, tmp_path):
    src = tmp_path / "model.py"
    src.write_text("def predict(x, w):\n    return x @ w\n")
    code, out, err = flowc(capsys, "graph", f"{src}:predict", "--args", "f32[B,4] f32[4,2]")
    assert (code, err) == (0, "")
    assert out.startswith('digraph "predict" {') and f'[label="matmul\\n{src}:2", shape=box]' in out
    assert '[label="return #0: f32[B,2]", shape=house]' in out
    code, _, err = flowc(capsys, "graph", f"{src}:predict", "--func", "x")
    assert code == 1 and "--func applies to .fir files" in err


# -- the installed console script --------------------------------------------------------------

def test_console_script_end_to_end(tmp_path, prog):
    exe = Path(sys.executable).parent / "flowc"
    r = subprocess.run([str(exe), "opt", str(prog)], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, PROGRAM, "")
    bad = tmp_path / "bad.fir"
    bad.write_text("func @f() -> () {\n  %0 = nope() : f32[]\n  return\n}\n")
    r = subprocess.run([str(exe), "opt", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"{bad}:2:8: unknown op 'nope'\n    %0 = nope() : f32[]\n         ^\n"
    parse_module(PROGRAM)   # the fixture itself is valid IR
