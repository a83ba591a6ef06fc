"""@fc.jit: pytrees in and out, the signature cache, symbolic dims, static args, stages, backends."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowc as fc
from flowc.ir.types import FlowcError

rng = np.random.default_rng(0)


def test_pytrees_in_and_out():
    @fc.jit
    def step(params, batch):
        h = batch["x"] @ params["layers"][0]["W"] + params["layers"][0]["b"]
        return {"out": h, "pair": (h.sum(), [params["scale"] * 2])}

    params = {"layers": [{"W": rng.standard_normal((4, 3)).astype(np.float32),
                          "b": np.zeros(3, np.float32)}], "scale": np.float32(3)}
    batch = {"x": rng.standard_normal((2, 4)).astype(np.float32)}
    out = step(params, batch)
    want = batch["x"] @ params["layers"][0]["W"]
    np.testing.assert_allclose(out["out"], want, rtol=1e-5)
    assert isinstance(out["pair"], tuple) and isinstance(out["pair"][1], list)
    np.testing.assert_allclose(out["pair"][0], want.sum(), rtol=1e-5)
    assert out["pair"][1][0] == 6 and isinstance(out["pair"][1][0], np.ndarray)
    text = step.lower(params, batch).text()
    assert "%params_layers_0_W: f32[4,3]" in text and "%batch_x: f32[2,4]" in text


def test_cache_and_trace_count():
    @fc.jit
    def f(x, y):
        return x * y
    a = np.ones((2, 3), np.float32)
    f(a, a)
    f(a + 1, a)
    assert f.trace_count == 1
    f(np.ones((4, 3), np.float32), a[:1])       # a new shape: retrace
    f(a.astype(np.float64), a)                   # a new dtype: retrace
    f(a, 2.0)                                    # a Python scalar: retrace once ...
    f(a, 3.0)                                    # ... and reuse for another value
    assert f.trace_count == 4
    f.lower(a, a)                                # lowering reuses the cache too
    assert f.trace_count == 4


def test_symbolic_dims_reuse_the_program():
    @fc.jit
    def predict(x: fc.f32["B", 4], W: fc.f32[4, 3]):
        return fc.nn.relu(x @ W)
    W = rng.standard_normal((4, 3)).astype(np.float32)
    for n in (1, 5, 17):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        np.testing.assert_allclose(predict(x, W), np.maximum(x @ W, 0), rtol=1e-5)
    assert predict.trace_count == 1
    assert "%x: f32[B,4]" in predict.lower(x, W).text()


@pytest.mark.parametrize("x,msg", [
    (np.ones((2, 4), np.float64), "argument 'x': expected f32\\[B,4\\] \\(dtype float32\\)"),
    (np.ones((2, 4, 1), np.float32), "argument 'x': expected f32\\[B,4\\] \\(rank 2\\)"),
    (np.ones((2, 5), np.float32), "argument 'x': expected f32\\[B,4\\].*axis 1: 5 != 4"),
])
def test_annotation_mismatch(x, msg):
    f = fc.jit(lambda x: x)
    f = fc.jit(_annotated)
    with pytest.raises(FlowcError, match=msg):
        f(x, np.ones(2, np.float32))


def _annotated(x: fc.f32["B", 4], y: fc.f32["B"]):
    return x.sum(axis=1) + y


def test_symbol_bound_consistently():
    f = fc.jit(_annotated)
    with pytest.raises(FlowcError, match="dim B .* is 3, but it is 2 in argument 'x'"):
        f(np.ones((2, 4), np.float32), np.ones(3, np.float32))


def test_static_args():
    @fc.jit(static_argnums=(1,), static_argnames=("mode",))
    def f(x, n, mode="sum"):
        y = x.reshape(n, -1)
        return y.sum(axis=1) if mode == "sum" else y.max(axis=1)
    x = np.arange(12, dtype=np.float32)
    np.testing.assert_array_equal(f(x, 3), x.reshape(3, -1).sum(axis=1))
    np.testing.assert_array_equal(f(x, 4, mode="max"), x.reshape(4, -1).max(axis=1))
    f(x, 3)
    assert f.trace_count == 2
    with pytest.raises(FlowcError, match="must be hashable"):
        f(x, [3])


def test_closed_over_constants_and_nested_jit():
    table = np.arange(6, dtype=np.float32).reshape(2, 3)
    inner = fc.jit(lambda x: x * 2)

    @fc.jit
    def f(x):
        return inner(x) + table
    np.testing.assert_array_equal(f(np.ones(3, np.float32)), 2 + table)
    assert "constant" in f.lower(np.ones(3, np.float32)).text()


def test_inputs_not_mutated_and_outputs_fresh():
    f = fc.jit(lambda x, d: (x, d["y"] * 1, x[0]))
    x = rng.standard_normal((3, 2)).astype(np.float32)
    d = {"y": np.ones(2, np.float32)}
    x0, y0 = x.copy(), d["y"].copy()
    a, b, c = f(x, d)
    a[...] = 7
    c[...] = 8
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(d["y"], y0)
    assert not np.shares_memory(a, x) and not np.shares_memory(b, d["y"])


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_repeated_calls_take_the_fast_path_and_stay_correct(backend):
    """Array-only calls matching a signature that already ran skip binding and tracing; the results are
    still fresh arrays, and anything else (new shapes or structure, scalars, keywords) takes the full path."""
    f = fc.jit(lambda p, x: (x, {"y": x @ p["w"] + p["b"]}), backend=backend)
    p = {"w": rng.standard_normal((4, 3)).astype(np.float32), "b": np.ones(3, np.float32)}
    x = rng.standard_normal((2, 4)).astype(np.float32)
    first = f(p, x)
    assert len(f._fast) == 1
    for _ in range(2):                                   # fast path
        again = f(p, x)
        np.testing.assert_array_equal(again[1]["y"], first[1]["y"])
        assert not np.shares_memory(again[0], x)         # the identity output is still a copy
        again[0][...] = 5
        assert not (x == 5).any()
    np.testing.assert_allclose(f(p, x[:1])[1]["y"], x[:1] @ p["w"] + 1, rtol=1e-5)     # new shape
    np.testing.assert_allclose(f(p, x=x)[1]["y"], first[1]["y"])                         # keyword
    f(dict(p, extra=x), x)                               # another structure: traced
    f(p, np.float32(2) * x)
    assert f.trace_count == 3 and len(f._fast) == 3


def test_lowered_stages_and_function():
    f = fc.jit(lambda x: fc.exp(x) + 0.0)
    low = f.lower(np.ones(3, np.float32))
    fn = low.function("traced")
    assert [op.name for op in fn.ops] == ["exp", "constant", "add"]
    assert list(low.stages)[0] == "traced"
    assert 'loc("' in low.text("traced", locs=True) and "loc(" not in low.text("traced")
    if len(low.stages) > 1:       # flowc.passes present: an "optimized" alias of the last stage
        assert low.function("optimized") is list(low.stages.values())[-2]
    with pytest.raises(FlowcError, match="no stage 'nope'"):
        low.text("nope")


def test_opt_levels_run():
    x = rng.standard_normal(5).astype(np.float32)
    for level in range(4):
        f = fc.jit(opt_level=level)(lambda x: fc.tanh(x) * 1.0 + 0.0)
        np.testing.assert_allclose(f(x), np.tanh(x), rtol=1e-6)


def test_default_opt_level_fuses():
    """fc.jit's default pipeline is DEFAULT_OPT_LEVEL (2): elementwise chains reach the backend fused."""
    from flowc.passes import DEFAULT_OPT_LEVEL, default_pipeline
    f = fc.jit(lambda x: fc.tanh(x * 2.0) + x)
    assert f.opt_level == DEFAULT_OPT_LEVEL == 2
    low = f.lower(np.ones(4, np.float32))
    assert list(low.stages)[1:-1] == default_pipeline(2) and "fusion(" in low.text("optimized")


def test_backends():
    with pytest.raises(FlowcError, match="unknown backend 'tpu'"):
        fc.jit(backend="tpu")(lambda x: x)
    with pytest.raises(FlowcError, match="opt_level"):
        fc.jit(opt_level=7)(lambda x: x)


@pytest.mark.parametrize("arg,msg", [
    ("hello", "argument 'x': expected a numpy array or a Python number, got str"),
    (np.array(["a"]), "argument 'x': .*dtype"),
    ({"w": object()}, "argument x\\['w'\\]: expected a numpy array"),
])
def test_bad_leaves(arg, msg):
    with pytest.raises(FlowcError, match=msg):
        fc.jit(lambda x: x)(arg)


def test_wrong_arity_and_bad_outputs():
    f = fc.jit(lambda x, y: x + y)
    with pytest.raises(FlowcError, match="missing a required argument"):
        f(np.ones(2))
    with pytest.raises(FlowcError, match="returned a str"):
        fc.jit(lambda x: "no")(np.ones(2))


def test_string_annotations_and_scalar_for_annotated_scalar():
    def g(x: 'fc.f32["B", 2]', lr: "fc.f32[()]"):       # as under `from __future__ import annotations`
        return x * lr
    f = fc.jit(g)
    out = f(np.ones((3, 2), np.float32), 0.5)
    assert out.dtype == np.float32 and out.shape == (3, 2) and (out == 0.5).all()
    f(np.ones((5, 2), np.float32), 0.25)
    assert f.trace_count == 1
    assert "%lr: f32[]" in f.lower(np.ones((5, 2), np.float32), 0.1).text()


def test_jit_passes_option_selects_the_pipeline():
    def f(x):
        return (x * 1.0 + 0.0) * 2.0

    x = np.ones(3, np.float32)
    low = fc.jit(f, passes=["simplify", "dce"]).lower(x)
    assert list(low.stages) == ["traced", "simplify", "dce", "optimized"]
    assert "mul" in low.text("optimized") and low.function("optimized") is low.function("dce")
    assert len(low.function("dce").ops) < len(low.function("traced").ops)
    np.testing.assert_array_equal(fc.jit(f, passes="simplify,dce")(x), f(x))
    with pytest.raises(fc.FlowcError, match="unknown pass 'nope'"):
        fc.jit(f, passes=["nope"])


def test_generated_code_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))   # a fresh compile: numba cannot inspect cached code

    def f(x: fc.f32["B", 3]):
        return fc.exp(x) * 2.0

    low = fc.jit(f, backend="numba").lower(np.ones((2, 3), np.float32))
    src = low.text("source")
    assert "numba" in src and "def program" in src
    assert "define" in low.text("llvm")
    with pytest.raises(FlowcError, match="generates no code"):
        fc.jit(f).lower(np.ones((2, 3), np.float32)).text("source")


def test_default_backend_is_numba_unless_the_environment_says_otherwise(monkeypatch):
    def f(x):
        return x + 1
    monkeypatch.delenv("FLOWC_BACKEND", raising=False)
    assert fc.default_backend() == "numba" and fc.jit(f).backend == "numba"
    monkeypatch.setenv("FLOWC_BACKEND", "reference")
    assert fc.jit(f).backend == "reference"
    assert fc.jit(f, backend="numba").backend == "numba"          # an explicit choice wins
    monkeypatch.setenv("FLOWC_BACKEND", "nope")
    with pytest.raises(fc.FlowcError, match="nope"):
        fc.jit(f)


Pair = __import__("collections").namedtuple("Pair", "first second")
_trees = st.recursive(
    st.just(None) | st.just("leaf"),
    lambda kids: (st.lists(kids, max_size=3) | st.lists(kids, max_size=3).map(tuple)
                  | st.dictionaries(st.sampled_from(["b", "a", "w", "0"]), kids, max_size=3)
                  | st.tuples(kids, kids).map(lambda p: Pair(*p))),
    max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(_trees)
def test_builder_rebuilds_what_unflatten_does(tree):
    """The jit fast path rebuilds results with ``pytree.builder``: the same tree, container types and
    dict order as ``unflatten`` for any structure (tuples of one, empty lists, None, namedtuples)."""
    from flowc.pytree import builder, flatten, unflatten
    leaves, treedef = flatten(tree)
    numbered = list(range(len(leaves)))
    want, got = unflatten(treedef, numbered), builder(treedef)(numbered)

    def shape(t):
        if isinstance(t, dict):
            return ("dict", list(t), [shape(v) for v in t.values()])
        if isinstance(t, (list, tuple)):
            return (type(t), [shape(v) for v in t])
        return t
    assert shape(got) == shape(want)
