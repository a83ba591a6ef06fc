"""``flowc check`` and ``flowc fuzz`` end to end (in-process, through flowc.cli.main)."""
import json
import os

import numpy as np

from flowc.cli import main
from flowc.testing.plants import MUL_ZERO_PASS, install_buggy_backend, install_mul_zero_pass

MODEL = '''
import flowc as fc

def model(x: fc.f32["B", 3], w: fc.f32[3, 2]):
    return fc.tanh(x @ w) * 2.0 + x[:, :2] * 0.0
'''

FIR = """
func @f(%x: f32[6]) -> (f32[6]) {
  %0 = constant() {value = dense<[0.0]> : f32[]} : f32[]
  %1 = log(%x) : f32[6]
  %2 = mul(%1, %0) : f32[6]
  %3 = add(%2, %x) : f32[6]
  return %3
}
"""


def test_check_python_function_agrees(tmp_path, capsys):
    src = tmp_path / "m.py"
    src.write_text(MODEL)
    assert main(["check", f"{src}:model", "--backends", "reference", "--opt-level", "2", "--dim", "B=4"]) == 0
    out = capsys.readouterr().out
    assert "backends checked: reference" in out and "OK" in out


def test_check_names_the_op_of_a_planted_lowering_bug(tmp_path, capsys, monkeypatch):
    name = install_buggy_backend(monkeypatch)
    src = tmp_path / "m.py"
    src.write_text(MODEL)
    np.savez(tmp_path / "in.npz", x=np.full((2, 3), 1.5, np.float32), w=np.eye(3, 2, dtype=np.float32))
    assert main(["check", f"{src}:model", "--inputs", str(tmp_path / "in.npz"), "--backends", name]) == 1
    out = capsys.readouterr().out
    assert f"backend '{name}': output 0" in out and "first divergent op" in out and "= mul(" in out


def test_check_bisect_names_the_pass(tmp_path, capsys, monkeypatch):
    install_mul_zero_pass(monkeypatch)
    fir = tmp_path / "f.fir"
    fir.write_text(FIR)
    np.savez(tmp_path / "in.npz", x=np.array([-1, 2, 3, -4, 5, 6], np.float32))
    args = ["check", str(fir), "--inputs", str(tmp_path / "in.npz"), "--backends", "reference"]
    assert main(args + ["--bisect"]) == 1
    out = capsys.readouterr().out
    assert f"first bad pass: '{MUL_ZERO_PASS}'" in out and "rule 'mul-by-zero' on mul" in out
    assert main(args + ["--passes", "fold,simplify,cse,dce"]) == 0


def test_check_errors(tmp_path, capsys):
    fir = tmp_path / "f.fir"
    fir.write_text(FIR)
    assert main(["check", str(fir), "--backends", "no-such-backend"]) == 1
    assert "backend 'no-such-backend' is not registered" in capsys.readouterr().err
    assert main(["check", str(fir), "--args", "f32[3]"]) == 1
    assert "--args applies to FILE.py:FUNC" in capsys.readouterr().err


def test_fuzz_cli_clean_and_with_a_planted_bug(tmp_path, capsys, monkeypatch):
    assert main(["fuzz", "--count", "6", "--seed", "3", "--opt-levels", "0,1", "--max-ops", "6"]) == 0
    assert "fuzz: 6 program(s)" in capsys.readouterr().out
    name = install_buggy_backend(monkeypatch)
    out_dir = tmp_path / "repro"
    rc = main(["fuzz", "--count", "40", "--seed", "0", "--backends", name, "--opt-levels", "0", "--no-grad",
               "--out", str(out_dir)])
    assert rc == 1
    firs = sorted(p for p in os.listdir(out_dir) if p.endswith(".fir"))
    assert firs and all(os.path.exists(out_dir / (p[:-4] + ".npz")) for p in firs)
    mism = [p for p in firs if json.loads((out_dir / (p[:-4] + ".json")).read_text())["message"].startswith("mismatch")]
    assert mism
    text = (out_dir / mism[0]).read_text()
    assert text.startswith("// Reproducer found by flowc fuzz. Replay: flowc check")
    capsys.readouterr()
    base = str(out_dir / mism[0])[:-4]
    assert main(["check", base + ".fir", "--inputs", base + ".npz", "--backends", name, "--opt-level", "0"]) == 1
    assert "= mul(" in capsys.readouterr().out
