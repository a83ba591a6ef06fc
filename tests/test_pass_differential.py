"""Differential tests: every pass and every default pipeline preserves the reference results.

Functions come from ``irgen.functions()`` and are then *decorated* with the shapes each
pass looks for (x*1, neg(neg x), cast and transpose chains, duplicate ops, dead ops,
constant-only subgraphs, ...), so the rewrites actually fire.  Every rewrite here is
exact, so results must match bit for bit: same dtype and shape, equal values (nan where
nan) and the same sign of zero.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from flowc.backends.reference import run
from flowc.ir import OPS, Builder, Function, Value, verify
from flowc.passes import PIPELINES, available, run_stages
from irgen import functions, inputs_for

FLOATS = {"f16", "f32", "f64"}


def _ones_like_scalar(b: Builder, v: Value, x) -> Value:
    return b("constant", value=np.array(x, dtype=v.type.dtype.np))


def _static_shape(t):
    return all(isinstance(d, int) for d in t.shape)


def decorate(draw, f: Function) -> Function:
    """Append pass-triggering ops around values of ``f``; return f's results plus the new values."""
    b = Builder()
    pool = list(f.params) + [r for op in f.ops for r in op.results]
    extra: list[Value] = []
    for _ in range(draw(st.integers(3, 10))):
        x = draw(st.sampled_from(pool))
        t, dt = x.type, x.type.dtype
        kinds = ["neg-neg", "dup", "dead", "cast-cast", "cast-same", "select", "fold"]
        if not dt.is_bool:
            kinds += ["mul-one", "one-mul", "add-zero", "sub-zero", "sub-self", "mul-zero"]
        if dt.is_float:
            kinds += ["div-one"]
        if dt.is_bool:
            kinds += ["not-not"]
        if t.ndim >= 2 and "transpose" in OPS:
            kinds += ["transpose"]
        if "reshape" in OPS:
            kinds += ["reshape", "broadcast"]
        kind = draw(st.sampled_from(kinds))
        if kind == "neg-neg" and not dt.is_bool:
            y = b("neg", b("neg", x))
        elif kind in ("neg-neg", "not-not") and dt.is_bool:
            y = b("logical_not", b("logical_not", x))
        elif kind == "neg-neg":
            y = x
        elif kind == "dup":
            name = "abs" if not dt.is_bool else "logical_not"
            y = b("add" if not dt.is_bool else "logical_and", b(name, x), b(name, x))
        elif kind == "dead":
            b("neg" if not dt.is_bool else "logical_not", x)
            y = x
        elif kind == "cast-cast":
            names = ["bool", "i8", "i32", "i64", "u32", "f16", "f32", "f64"]
            mid, dst = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            if dt.is_float and mid not in FLOATS and mid != "bool":
                mid = "f64"   # keep float->int conversions in range (irgen's values may be huge)
            if (mid in FLOATS or (dt.is_float and mid == "bool")) and dst not in FLOATS | {"bool"}:
                dst = "f64"
            y = b("cast", b("cast", x, dtype=mid), dtype=dst)
        elif kind == "cast-same":
            y = b("cast", x, dtype=dt)
        elif kind == "select":
            c = b("constant", value=np.array(draw(st.booleans())))
            other = draw(st.sampled_from([v for v in pool if v.type == t]))
            y = b("select", c, x, other) if draw(st.booleans()) else b("select", c, other, x)
        elif kind == "fold":
            c = b("constant", value=np.arange(6, dtype=np.float32).reshape(2, 3))
            y = b("exp", b("mul", c, c))
        elif kind in ("mul-one", "one-mul", "add-zero", "sub-zero", "div-one", "mul-zero"):
            val = {"mul-one": 1, "one-mul": 1, "div-one": 1, "mul-zero": 0,
                   "add-zero": draw(st.sampled_from([0.0, -0.0])), "sub-zero": draw(st.sampled_from([0.0, -0.0]))}[kind]
            if draw(st.booleans()) and _static_shape(t):
                c = b("constant", value=np.full((2,) + t.shape, val, dtype=dt.np))   # broadcasting constant
            else:
                c = _ones_like_scalar(b, x, val)
            op = {"mul-one": "mul", "mul-zero": "mul", "one-mul": "mul", "add-zero": "add", "sub-zero": "sub",
                  "div-one": "div"}[kind]
            y = b(op, c, x) if kind == "one-mul" or draw(st.booleans()) and op in ("mul", "add") else b(op, x, c)
        elif kind == "sub-self":
            y = b("sub", x, x)
        elif kind == "transpose":
            p1 = tuple(draw(st.permutations(range(t.ndim))))
            p2 = tuple(draw(st.permutations(range(t.ndim))))
            y = b("transpose", b("transpose", x, perm=p1), perm=p2)
        elif kind == "reshape":
            y = b("reshape", b("reshape", x, shape=t.shape + (1,)), shape=t.shape)
        else:  # broadcast: of the same shape, and of a splat constant
            y = b("broadcast_to", x, shape=t.shape)
            extra.append(b("broadcast_to", b("constant", value=np.array(2, dt.np)), shape=(2, 2)))
        extra.append(y)
        pool.append(y)
    return Function(f.name, f.params, list(f.ops) + b.ops, list(f.results) + extra)


@st.composite
def decorated(draw):
    return decorate(draw, draw(functions(max_ops=6)))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    return bool(np.array_equal(a, b, equal_nan=True)
                and np.array_equal(np.signbit(a) | np.isnan(a), np.signbit(b) | np.isnan(b)))


def check_same_results(before: Function, after: Function, seed: int):
    verify(after)
    args = inputs_for(before, seed)
    want, got = run(before, *args), run(after, *[a.copy() for a in args])
    assert len(want) == len(got)
    for i, (w, g) in enumerate(zip(want, got)):
        assert same(w, g), f"result {i} differs after the pass:\n{before}\n{after}\nwant {w!r}\ngot  {g!r}"


PASS_NAMES = sorted(available())


@pytest.mark.parametrize("name", PASS_NAMES)
@given(f=decorated(), seed=st.integers(0, 2**16))
def test_pass_preserves_results(name, f, seed):
    text_before = f.text()
    g = available()[name].run(f)
    assert f.text() == text_before, f"pass {name} changed its input"
    check_same_results(f, g, seed)


@given(f=decorated(), seed=st.integers(0, 2**16))
def test_default_pipelines_preserve_results(f, seed):
    for level in PIPELINES:
        stages = run_stages(f, opt_level=level)
        assert [n for n, _ in stages] == PIPELINES[level]
        check_same_results(f, stages[-1][1] if stages else f, seed)


@pytest.mark.parametrize("name", ["fold", "simplify"])
@given(f=decorated())
def test_rewrite_passes_are_idempotent(name, f):
    """The driver stops only at a fixed point, so a second run finds nothing left to do."""
    p = available()[name]
    once = p.run(f)
    assert p.run(once).text() == once.text()
