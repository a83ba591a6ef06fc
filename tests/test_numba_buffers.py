"""The Numba backend writes elementwise results over dying operands (the memory plan's in-place rule on
the arrays it materialises, backends/numba/buffers.py): never over an input, a constant or a buffer a
live view still reads."""
from __future__ import annotations

import re

import numpy as np

import flowc as fc
from flowc.backends import numba as nb
from flowc.backends.numba.buffers import Lifetimes
from flowc.backends.reference import run
from flowc.ir import parse
from test_numba_ops import assert_agrees

VIEWED = """
func @viewed(%x: f32[6,6], %w: f32[6,6]) -> (f32[6,6], f32[6,6]) {
  %0 = matmul(%x, %w) : f32[6,6]
  %1 = transpose(%0) {perm = (1, 0)} : f32[6,6]
  %2 = tanh(%0) : f32[6,6]
  %3 = matmul(%1, %2) : f32[6,6]
  %4 = neg(%2) : f32[6,6]
  return %3, %4
}
"""


def _calls(program) -> list[list[str]]:
    """The variables passed to each kernel call returning nothing (destination passing); a flat view
    ``np.ascontiguousarray(v).reshape(v.size)`` counts as ``v``.  A destination the kernel takes as one of
    its parameters (a line ``o0 = a1``: the call passes that buffer once) is listed again, so a call in
    place always names a buffer twice."""
    calls = []
    for name, text in re.findall(r"^\s+(k_\w+)\((.*)\)$", program.source, re.M):
        args = re.findall(r"(?:np\.ascontiguousarray\()?(\w+)(?:\)?\.reshape\(\w+\.size\))?(?:, |$)", text)
        kernel = program.kernels[name]
        params = re.search(rf"def {name}\((.*)\):", kernel).group(1).split(", ")
        args += [args[params.index(a)] for a in re.findall(r"^    o\d+ = (a\d+)$", kernel, re.M)]
        calls.append(args)
    return calls


def _in_place(call: list[str]) -> bool:
    return len(set(call)) < len(call)


def test_a_view_keeps_its_buffer_alive():
    f = parse(VIEWED)
    life = Lifetimes(f.ops, f.results, lambda op: op.name == "transpose")
    m, _, t, _, n = f.ops
    assert not life.dead_after(m.result, 2)          # the transpose of %0 is read by op 3
    assert life.dead_after(m.result, 3)
    assert not life.dead_after(t.result, 3) and life.dead_after(t.result, 4)
    program = nb.generate(f)
    tanh_call, neg_call = _calls(program)
    assert not _in_place(tanh_call)                  # tanh gets a fresh buffer: %1 still views %0
    assert _in_place(neg_call)                       # neg writes over tanh's result, dead after it
    args = [np.random.default_rng(k).normal(size=(6, 6)).astype(np.float32) for k in range(2)]
    assert_agrees(nb.compile(f)(*args), run(f, *args), f.name)


def test_inputs_are_never_overwritten():
    f = parse("""
func @scale(%x: f32[64,64]) -> (f32[64,64]) {
  %0 = constant() {value = dense<[2.0]> : f32[]} : f32[]
  %1 = broadcast_to(%0) {shape = (64, 64)} : f32[64,64]
  %2 = mul(%x, %1) : f32[64,64]
  return %2
}
""")
    x = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    keep = x.copy()
    got = nb.compile(f)(x)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_allclose(got[0], 2 * keep)
    calls = _calls(nb.generate(f))
    assert all(c.count("p_x") <= 1 and c[-1] != "p_x" for c in calls)
    assert _in_place(calls[-1])                      # the product is written over the broadcast instead


def test_a_kernel_in_place_loads_and_stores_through_one_parameter():
    """A destination that is also an operand is one parameter inside the kernel (``o0 = a0``), so LLVM
    vectorizes the loop with no runtime overlap check; two parameters over one buffer always failed that
    check (``diff.check``) and ran the scalar loop: 3.8 ns an element for W3's softmax gradient."""
    @fc.jit(backend="numba")
    def f(x, w):
        return fc.exp(x @ w - 1.0) * 0.5

    x, w = np.full((64, 32), 0.01, np.float32), np.full((32, 48), 0.02, np.float32)
    lowered = f.lower(x, w)
    program = lowered.compile().program
    (name, args), = re.findall(r"^\s+(k_\w+)\((.*)\)$", program.source, re.M)
    assert args.count("v3") == 2 and args.count(",") == 0          # np.ascontiguousarray(v3).reshape(v3.size)
    assert re.search(r"^    o0 = a0$", program.kernels[name], re.M)
    module = next(m for m in lowered.text("llvm").split("; ModuleID = '")[1:] if m.startswith(name))
    assert re.search(r"fmul[^\n]*<(4|8|16) x float>", module)
    assert "diff.check" not in module and "found.conflict" not in module
    np.testing.assert_allclose(f(x, w), np.exp(x @ w - 1) * 0.5, rtol=1e-6)
