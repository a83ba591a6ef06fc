"""The IR text form: print/parse round trips on random IR and on the .fir corpus, every attribute kind."""
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from flowc.ir import (OPS, DTYPES, Loc, ParseError, Sym, parse, parse_module, print_function, print_module,
                      verify, verify_module)
from flowc.ir.parser import _Parser
from flowc.ir.printer import format_attr, format_dense
from flowc.backends.reference import run
from irgen import functions, inputs_for, modules

CORPUS = sorted((Path(__file__).parent / "fir" / "roundtrip").glob("*.fir"))


@given(functions())
def test_random_function_round_trips(f):
    text = print_function(f)
    g = parse(text)
    verify(g)
    assert print_function(g) == text
    assert print_function(g, locs=False) == print_function(f, locs=False)
    assert [op.loc for op in g.walk()] == [op.loc for op in f.walk()]


@given(functions(special=False), st.sampled_from([{"B": 1}, {"B": 3}, {"B": 5}]))
def test_random_functions_run_finitely_on_the_reference(f, sizes):
    """irgen's contract for other tests: special=False IR evaluates without nan/inf or errors."""
    args = inputs_for(f, 0, sizes)
    assert [a.dtype for a in args] == [p.type.dtype.np for p in f.params]
    outs = run(f, *args)
    assert len(outs) == len(f.results)
    for o, v in zip(outs, f.results):
        assert o.dtype == v.type.dtype.np and o.ndim == v.type.ndim
        assert o.dtype.kind != "f" or np.isfinite(o).all(), str(f)


@given(modules(max_functions=3, max_ops=4))
def test_random_module_round_trips(m):
    text = print_module(m)
    g = verify_module(parse_module(text, "m.fir"))
    assert print_module(g) == text
    assert list(g.functions) == list(m.functions)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_file_is_canonical_and_verifies(path):
    text = path.read_text()
    m = verify_module(parse_module(text, str(path)))
    printed = print_module(m)
    assert print_module(parse_module(printed)) == printed
    if "//" not in text:          # comment-free corpus files are written in canonical form
        assert printed == text


def test_corpus_covers_every_op():
    seen = set()
    for path in CORPUS:
        for f in parse_module(path.read_text(), str(path)):
            seen |= {op.name for op in f.walk()}
    missing = sorted(set(OPS) - seen)
    assert not missing, f"ops missing from tests/fir/roundtrip/*.fir: {', '.join(missing)}"


# -- attributes --------------------------------------------------------------------------------

def parse_attr(text: str):
    p = _Parser(text, "<attr>")
    v = p.attr()
    assert p.peek().kind == "eof", text
    return v


def same(a, b) -> bool:
    """Equal including float sign and nan, and the type (int vs float vs bool)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


ATTRS = [
    0, -7, 2**63 - 1, -2**63,
    0.0, -0.0, 1.5, 0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 1e16, -2.5e-10, math.inf, -math.inf,
    math.nan,
    "", "plain", 'quo"te', "back\\slash", "tab\tnew\nline", "unicode é ∑ 😀", "\x00ctl",
    True, False, None, DTYPES["f32"], DTYPES["u32"], DTYPES["bool"], Sym("B"), Sym("seq_len"),
    (), (1,), (1, 2), ((0, 1), (2, 3)), (Sym("B"), 3), ((), ((1.5,),), "s"),
]


@pytest.mark.parametrize("value", ATTRS, ids=repr)
def test_attribute_round_trips(value):
    text = format_attr(value)
    back = parse_attr(text)
    assert same(back, value), (text, back)
    assert format_attr(back) == text


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_attribute_round_trips(x):
    assert same(parse_attr(format_attr(x)), x)


@given(st.text(max_size=20))
def test_any_string_attribute_round_trips(s):
    assert parse_attr(format_attr(s)) == s


def _dense_samples(dt, n):
    rng = np.random.default_rng(n)
    npd = dt.np
    if dt.is_bool:
        return rng.random(n) < 0.5
    if dt.is_float:
        a = rng.standard_normal(n).astype(npd)
        specials = [-0.0, np.nan, np.inf, -np.inf, np.finfo(npd).tiny, np.finfo(npd).max]
        a[:min(n, len(specials))] = specials[:n]
        return a
    info = np.iinfo(npd)
    a = rng.integers(info.min, info.max, n, dtype=npd, endpoint=True)
    a[:min(n, 2)] = [info.min, info.max][:n]
    return a


@pytest.mark.parametrize("n,shape", [(6, (2, 3)), (1, ()), (0, (0, 2)), (20, (4, 5))],
                         ids=["list", "scalar", "empty", "hex"])
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_dense_constant_round_trips_bit_exactly(dtype, n, shape):
    a = _dense_samples(DTYPES[dtype], n).reshape(shape)
    text = format_dense(a)
    assert ("0x" in text) == (n > 16)
    b = parse_attr(text)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert b.tobytes() == a.tobytes()        # -0.0, nan and the extreme ints survive exactly
    assert format_dense(b) == text


def test_dense_constant_in_a_function_round_trips():
    text = ("func @c() -> (f16[3], u32[17]) {\n"
            "  %0 = constant() {value = dense<[-0.0, nan, -inf]> : f16[3]} : f16[3]\n"
            f"  %1 = constant() {{value = dense<0x{np.arange(17, dtype='<u4').tobytes().hex()}> : u32[17]}} : u32[17]\n"
            "  return %0, %1\n}\n")
    f = verify(parse(text))
    assert print_function(f) == text
    c0, c1 = (op.attrs["value"] for op in f.ops)
    assert np.signbit(c0[0]) and np.isnan(c0[1]) and c0[2] == -np.inf
    assert c1.tolist() == list(range(17))


# -- locations, results, regions, modules ----------------------------------------------------

def test_locations_with_and_without_column():
    text = ('func @f(%x: f32[2]) -> (f32[2]) {\n'
            '  %0 = neg(%x) : f32[2] loc("a/b.py":12)\n'
            '  %1 = abs(%0) : f32[2] loc("a/b.py":13:7)\n'
            '  %2 = exp(%1) : f32[2] loc("we\\"ird \\u00e9.py":1:1)\n'
            '  %3 = relu(%2) : f32[2]\n'
            '  return %3\n}\n')
    f = parse(text)
    assert [op.loc for op in f.ops] == [Loc("a/b.py", 12), Loc("a/b.py", 13, 7), Loc('we"ird é.py', 1, 1), None]
    assert print_function(f) == text
    assert "loc(" not in print_function(f, locs=False)


def test_multiple_results_and_regions():
    text = (Path(__file__).parent / "fir" / "roundtrip" / "region.fir").read_text()
    m = verify_module(parse_module(text))
    fused = m["fused"]
    op = fused.ops[0]
    assert op.name == "fusion" and len(op.results) == 2 and len(op.regions) == 1
    assert [str(t) for t in op.regions[0].param_types] == ["f32[B,8]", "f32[8]"]
    assert op.attrs == {"kind": "loop"} and op.loc == Loc("layers.py", 21, 5)
    assert fused.results[1] is op.results[0]
    inner = m["nested"].ops[0].regions[0].ops[0]
    assert inner.name == "fusion" and inner.regions[0].ops[0].name == "mul"


def test_module_with_several_functions_keeps_order():
    text = ("func @b(%x: i32[]) -> (i32[]) {\n  return %x\n}\n\n"
            "func @a(%x: i32[], %y: i32[]) -> (i32[], i32[]) {\n  return %y, %x\n}\n")
    m = verify_module(parse_module(text))
    assert list(m.functions) == ["b", "a"] and print_module(m) == text
    with pytest.raises(ParseError, match="function @b defined twice"):
        parse_module(text + "\nfunc @b() -> () {\n  return\n}\n")


def test_parameter_names_are_kept_or_made_unique():
    f = parse("func @f(%x: f32[], %arg0: f32[]) -> (f32[]) {\n  %0 = add(%x, %arg0) : f32[]\n  return %0\n}\n")
    text = print_function(f)
    assert text.startswith("func @f(%x: f32[], %arg0: f32[])")
    f.params[1].name = None          # unnamed: argN by position, skipping names already taken
    f.params[0].name = "arg1"
    text = print_function(f)
    assert text.startswith("func @f(%arg1: f32[], %_arg1: f32[])") and print_function(parse(text)) == text


def test_comments_are_ignored():
    f = parse("// leading\nfunc @f(%x: f32[]) -> (f32[]) { // trailing\n  return %x // end\n}\n")
    assert print_function(f) == "func @f(%x: f32[]) -> (f32[]) {\n  return %x\n}\n"


@pytest.mark.parametrize("items,type_,message", [
    ("1.5", "i32[1]", "dense constant element 1.5 does not fit i32"),
    ("-1", "u32[1]", "dense constant element -1 does not fit u32"),
    ("128", "i8[1]", "dense constant element 128 does not fit i8"),
    ("7", "bool[1]", "dense constant element 7 does not fit bool"),
    ("true", "f32[1]", "dense constant element true does not fit f32"),
    ("nan", "i64[1]", "dense constant element nan does not fit i64"),
    ("1e10", "f16[1]", "dense constant does not fit f16[1]: overflow encountered in cast"),
    ("1.0", "f32[99999999999999999999]", "dense constant has 1 element(s) but f32[99999999999999999999] needs "
     "99999999999999999999"),
])
def test_dense_constant_never_converts_silently(items, type_, message):
    text = f"func @f() -> ({type_}) {{\n  %0 = constant() {{value = dense<[{items}]> : {type_}}} : {type_}\n" \
           "  return %0\n}\n"
    with pytest.raises(ParseError) as e:
        parse(text, "c.fir")
    assert str(e.value).splitlines()[0].split(": ", 1) == [f"c.fir:2:{34 if 'has' in message or 'cast' in message else 35}",
                                                          message]
