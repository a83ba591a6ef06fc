"""The layout pass: conv/pool/LRN chains switch layout with transposes only at the boundaries,
constant filters are pre-transposed, and the reference results do not change."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from flowc.ir import Builder, Function, TensorType, Value, float32
from flowc.passes import get_pass
from test_pass_differential import check_same_results

PERM = {"NHWC": (0, 2, 3, 1), "NCHW": (0, 3, 1, 2)}


@st.composite
def conv_chains(draw):
    """x -> conv (+bias, relu) -> [max|avg pool] -> [LRN] -> [conv] -> mul by a scalar, in one layout."""
    src = draw(st.sampled_from(["NCHW", "NHWC"]))
    c, h = draw(st.integers(1, 3)), draw(st.integers(5, 8))
    img = lambda n, ch, hw: (n, ch, hw, hw) if src == "NCHW" else (n, hw, hw, ch)
    x = Value(TensorType(float32, img("B", c, h)), "x")
    params, b = [x], Builder()
    rng = np.random.default_rng(draw(st.integers(0, 1000)))

    def conv(v, cin, cout, k):
        shape = (cout, cin, k, k) if src == "NCHW" else (k, k, cin, cout)
        if draw(st.booleans()):
            w = b("constant", value=rng.standard_normal(shape).astype(np.float32))
        else:
            w = Value(TensorType(float32, shape), f"w{len(params)}")
            params.append(w)
        p = draw(st.integers(0, k // 2))
        return b("conv2d", v, w, strides=(1, 1), padding=((p, p), (p, p)), dilation=(1, 1), layout=src)

    o, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    y = conv(x, c, o, k)
    bias = Value(TensorType(float32, (o,)), "bias")
    params.append(bias)
    y = b("relu", b("add", y, b("reshape", bias, shape=(1, o, 1, 1) if src == "NCHW" else (1, 1, 1, o))))
    if draw(st.booleans()):
        pool = draw(st.sampled_from(["max_pool2d", "avg_pool2d"]))
        y = b(pool, y, window=(2, 2), strides=(1, 1), padding=((0, 0), (0, 0)), layout=src)
    if draw(st.booleans()):
        y = b("local_response_norm", y, size=3, alpha=1e-3, beta=0.75, k=2.0, layout=src)
    if draw(st.booleans()):
        y = conv(y, o, draw(st.integers(1, 3)), 1)
    y = b("mul", y, b("constant", value=np.array(0.5, np.float32)))
    return Function("f", params, b.ops, [y]), src


@settings(max_examples=40, deadline=None)
@given(chain=conv_chains(), seed=st.integers(0, 2**16))
def test_layout_switch_is_exact_and_transposes_only_at_boundaries(chain, seed):
    f, src = chain
    dst = "NHWC" if src == "NCHW" else "NCHW"
    g = get_pass("layout").configured(prefer=dst).run(f)
    check_same_results(f, g, seed)
    layout_ops = [op for op in g.ops if "layout" in op.attrs]
    assert layout_ops and all(op.attrs["layout"] == dst for op in layout_ops)
    image_transposes = [op for op in g.ops if op.name == "transpose" and op.operands[0].name != "w"
                        and not (op.operands[0].name or "").startswith("w")]
    assert len(image_transposes) == 2      # one into the chain, one out of it
    assert all(op.operands[0].name in ("x", None) for op in image_transposes)
    weight_params = [p for p in f.params if (p.name or "").startswith("w")]
    assert sum(op.name == "transpose" for op in g.ops) == 2 + len(weight_params)
    back = get_pass("layout").configured(prefer=src).run(g)
    check_same_results(f, back, seed)
    assert sum(op.name == "transpose" for op in back.ops) <= 2 * len(weight_params)


@settings(max_examples=20, deadline=None)
@given(chain=conv_chains())
def test_preferred_layout_already_is_a_no_op(chain):
    f, src = chain
    assert get_pass("layout").configured(prefer=src).run(f).text() == f.text()


def test_bad_option_is_a_user_error():
    import pytest
    from flowc.ir.types import FlowcError
    f = Function("f", [x := Value(TensorType(float32, (2,)), "x")], [], [x])
    with pytest.raises(FlowcError, match="NCHW or NHWC"):
        get_pass("layout").configured(prefer="NWHC").run(f)


def _sink_only(f: Function) -> Function:
    from flowc.passes.layout import patterns
    from flowc.passes.rewrite import apply_patterns
    return get_pass("dce").run(apply_patterns(f, [p for p in patterns("NHWC") if p.name == "sink-transpose"]))


def _transposed_add(perm, v_shape) -> Function:
    """``add(transpose(x, perm), v)``: the shape sink-transpose sees after a layout switch."""
    out = (2, 1, 1, 2)
    x = Value(TensorType(float32, tuple(out[i] for i in np.argsort(perm))), "x")
    v = Value(TensorType(float32, tuple(v_shape)), "v")
    b = Builder()
    y = b("add", b("transpose", x, perm=tuple(perm)), v)
    return Function("f", [x, v], b.ops, [y])


def test_sink_transpose_uses_a_reshape_only_when_axis_order_is_kept():
    # (2,3,0,1) moves v's two size-2 axes past each other: a reshape would transpose the data
    # (the fuzz reproducer tests/regressions/layout_sink_transpose_reshape); the rule must not fire.
    f = _transposed_add((2, 3, 0, 1), (2, 1, 1, 2))
    g = _sink_only(f)
    check_same_results(f, g, 0)
    assert [op.name for op in g.ops] == ["transpose", "add"] and g.ops[1].operands[1].name == "v"
    # (0,2,3,1) keeps v's non-unit axes (0 and 3) in order: v is reshaped, the transpose sinks.
    f = _transposed_add((0, 2, 3, 1), (2, 1, 1, 2))
    g = _sink_only(f)
    check_same_results(f, g, 0)
    assert [op.name for op in g.ops] == ["reshape", "add", "transpose"]
    assert g.ops[0].attrs["shape"] == (2, 2, 1, 1) and g.ops[1].operands[0].name == "x"


@settings(max_examples=60, deadline=None)
@given(perm=st.permutations(range(4)), keep=st.lists(st.booleans(), min_size=4, max_size=4),
       rank=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_sink_transpose_is_exact_for_any_perm_and_broadcast_operand(perm, keep, rank, seed):
    """Whatever the perm and whichever axes of v broadcast, sinking never changes a bit; a
    non-transposed operand is only ever reshaped, never silently re-ordered."""
    full = tuple(d if k else 1 for d, k in zip((2, 2, 2, 2), keep))
    v_shape = full[4 - rank:] if all(d == 1 for d in full[:4 - rank]) else full
    x = Value(TensorType(float32, (2, 2, 2, 2)), "x")
    v = Value(TensorType(float32, v_shape), "v")
    b = Builder()
    y = b("mul", b("transpose", x, perm=tuple(perm)), v)
    f = Function("f", [x, v], b.ops, [y])
    g = _sink_only(f)
    check_same_results(f, g, seed)
    moved = [a for a in np.argsort(perm) if ((1,) * (4 - len(v_shape)) + v_shape)[a] != 1]
    fired = g.ops[-1].name == "transpose"
    assert fired == (moved == sorted(moved)), g


@settings(max_examples=40, deadline=None)
@given(perm=st.permutations(range(4)), keep=st.lists(st.booleans(), min_size=4, max_size=4),
       rank=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_sink_transpose_through_a_broadcast_is_exact(perm, keep, rank, seed):
    """``transpose(x) > broadcast_to(v)``: the broadcast is redone in the untransposed frame whenever
    its source re-lays out for free (always for a scalar: relu's gradient compares with one)."""
    full = tuple(d if k else 1 for d, k in zip((2, 3, 2, 3), keep))
    v_shape = full[4 - rank:] if all(d == 1 for d in full[:4 - rank]) else full
    x = Value(TensorType(float32, tuple((2, 3, 2, 3)[i] for i in np.argsort(perm))), "x")
    v = Value(TensorType(float32, v_shape), "v")
    b = Builder()
    y = b("mul", b("transpose", x, perm=tuple(perm)), b("broadcast_to", v, shape=(2, 3, 2, 3)))
    f = Function("f", [x, v], b.ops, [y])
    g = _sink_only(f)
    check_same_results(f, g, seed)
    moved = [a for a in np.argsort(perm) if ((1,) * (4 - len(v_shape)) + v_shape)[a] != 1]
    assert (g.ops[-1].name == "transpose") == (moved == sorted(moved)), g
    if v_shape == ():
        assert [op.name for op in g.ops] == ["broadcast_to", "mul", "transpose"]
