"""Memory planning: a plan is checked by *executing* it — every intermediate is written into
its slot and every read must find the value it expects there (no clobbering) — plus the
size, in-place and reporting rules."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from flowc.backends.reference import impls, run
from flowc.backends.reference.interpreter import _Interp, bind_inputs
from flowc.ir import Function, parse
from flowc.passes import PassManager, get_pass
from flowc.passes.liveness import nbytes
from flowc.passes.memory import plan_memory
from irgen import functions, inputs_for
from test_pass_differential import same

SIZES = {"B": 3}


def execute_with_slots(f: Function, plan, args):
    """Run ``f`` keeping intermediates only in their slots; fail on reading an overwritten value."""
    env = bind_inputs(f, args)
    interp = _Interp(env)
    vals = {id(p): a for p, a in zip(f.params, args)}
    slots: dict[int, tuple[int, np.ndarray]] = {}
    def read(v):
        if v in plan.slot_of:
            owner, a = slots[plan.slot_of[v]]
            assert owner == id(v), "a slot was overwritten while its value was still live"
            return a
        return vals[id(v)]
    for op in f.ops:
        outs = interp.op(op, [read(v) for v in op.operands])
        for r, o in zip(op.results, outs):
            if r in plan.slot_of:
                assert nbytes(r.type, SIZES).value() <= plan.slot_sizes[plan.slot_of[r]].value()
                slots[plan.slot_of[r]] = (id(r), o)
            else:
                vals[id(r)] = o
    return [read(v) for v in f.results]


@settings(max_examples=60, deadline=None)
@given(f=functions(max_ops=12), seed=st.integers(0, 2**16), fused=st.booleans())
def test_plans_execute_correctly(f, seed, fused):
    if fused:
        f = get_pass("fusion").run(f)
    plan = plan_memory(f, SIZES)
    args = inputs_for(f, seed, SIZES)
    want = run(f, *args)
    got = execute_with_slots(f, plan, args)
    assert all(same(a, b) for a, b in zip(want, got))
    assert plan.peak_bytes_after <= plan.peak_bytes_before
    assert plan.live_peak_bytes <= plan.peak_bytes_after
    for r, d in plan.in_place.items():
        assert r.type == d.type and plan.slot_of[r] == plan.slot_of[d]
        assert d in r.producer.operands


CHAIN = """func @f(%x: f32[B,256]) -> (f32[B,256]) {
  %0 = exp(%x) : f32[B,256]
  %1 = neg(%0) : f32[B,256]
  %2 = tanh(%1) : f32[B,256]
  %3 = reduce_sum(%2) {axes = (1,), keepdims = true} : f32[B,1]
  %4 = sub(%2, %3) : f32[B,256]
  %5 = abs(%4) : f32[B,256]
  return %5
}
"""


def test_chain_reuses_one_buffer_in_place_and_reports_symbolically():
    f = parse(CHAIN)
    plan = plan_memory(f, {"B": 64})
    assert plan.peak_bytes_before == 64 * 4 * (256 * 4 + 1)
    assert plan.peak_bytes_after == 64 * 4 * (256 + 1)     # one row buffer, one column buffer
    assert len(plan.in_place) == 3          # neg over exp, tanh over neg, sub over tanh (its last use)
    symbolic = plan_memory(f)
    assert str(symbolic.peak_bytes_before) == "4100*B" and str(symbolic.peak_bytes_after) == "1028*B"
    text = symbolic.report()
    assert "memory plan for @f" in text and "1028*B bytes" in text and "in-place" in text


def test_memory_pass_attaches_plan_and_keeps_ir():
    f = parse(CHAIN)
    g = PassManager("memory{sizes=B=8}").run(f)
    assert g.text() == f.text() and g is not f
    assert g.memory_plan.sizes == {"B": 8} and g.memory_plan.peak_bytes_after == 8 * 4 * 257
