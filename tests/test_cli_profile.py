"""``flowc profile`` and ``Compiled.profile``: a row per kernel, with the IR op it lowers."""
import numpy as np
import pytest

from flowc.api import Lowered
from flowc.cli import main
from flowc.ir import parse_function

STEP = """func @step(%x: f32[B,16], %w: f32[16,8], %b: f32[8]) -> (f32[B,8], f32[]) {
  %0 = matmul(%x, %w) : f32[B,8] loc("model.py":3)
  %1 = add(%0, %b) : f32[B,8] loc("model.py":3)
  %2 = tanh(%1) : f32[B,8] loc("model.py":4)
  %3 = softmax(%2) {axis = 1} : f32[B,8] loc("model.py":5)
  %4 = reduce_sum(%3) {axes = (0, 1), keepdims = false} : f32[] loc("model.py":6)
  return %3, %4
}
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))


def test_compiled_profile_rows_name_kernels_and_ops():
    f = parse_function(STEP)
    compiled = Lowered.from_function(f, 1, backend="numba").compile()     # unfused: one kernel per op
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s).astype(np.float32) for s in ((32, 16), (16, 8), (8,))]
    whole, rows = compiled.profile(*args, reps=2)
    assert whole > 0 and all(r.seconds >= 0 and r.calls == 1 for r in rows)
    by_kernel = {r.kernel: r.op for r in rows}
    assert by_kernel["matmul2d"] == "matmul" and by_kernel["softmax_block"] == "softmax"
    generated = [op for k, op in by_kernel.items() if k.startswith("k_")]
    assert any(op.startswith("%2 = tanh(%1)") for op in generated)
    assert set(by_kernel) - {"matmul2d", "softmax_block", "reduce_block"} <= set(compiled.program.kernels)
    assert [r.seconds for r in rows] == sorted((r.seconds for r in rows), reverse=True)


def test_cli_profile_prints_the_table(tmp_path, capsys):
    src = tmp_path / "step.fir"
    src.write_text(STEP)
    assert main(["profile", str(src), "--dim", "B=40", "--reps", "1", "--opt-level", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("@step on float32[40, 16], float32[16, 8], float32[8]\ncompiled program ")
    assert "ms/run  share  faults calls  kernel / op" in out
    assert "matmul2d" in out and "%2 = tanh(%1) : f32[B,8]" in out


def test_cli_profile_bad_arguments(tmp_path, capsys):
    src = tmp_path / "step.fir"
    src.write_text(STEP)
    assert main(["profile", str(src), "--reps", "0"]) == 1
    assert "--reps must be at least 1, got 0" in capsys.readouterr().err
    assert main(["profile", str(src), "--dim", "B"]) == 1
    assert "bad --dim 'B'" in capsys.readouterr().err
