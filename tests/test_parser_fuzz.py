"""Mutated IR text never crashes the parser or verifier: it either loads or raises an IRError.

Whatever survives the mutation and verifies must also print canonically (print/parse is stable).
"""
import re
from pathlib import Path

from hypothesis import given, settings, strategies as st

from flowc.ir import IRError, parse_module, print_module, verify_module
from irgen import functions

SEEDS = [p.read_text() for p in sorted((Path(__file__).parent / "fir").rglob("*.fir"))]
TOKENS = ["%0", "%x", "f32[", "]", "[B,", "loc(", '"a.py":3', "dense<", "0x", "0x0", "nan", "-inf", "inf", "1e999",
          "99999999999999999999", "-0.0", "func", "yield", "return", "{", "}", "(", ")", ",", ":", "=", "B", "i8",
          "bool", "->", '"', "\\u", "\\", "//", "^(", "\n", "@f", "true", "none", "1.5", "-3", "u32[0]", "é"]

DTYPE_NAMES = ["bool", "i8", "i32", "i64", "u32", "f16", "f32", "f64"]
RETYPE = re.compile(r"\b(?:bool|i8|i32|i64|u32|f16|f32|f64)\b|(?<=[\[,( ])\d+(?=[\],)])")
texts = st.sampled_from(SEEDS) | functions(max_ops=5).map(str)


@st.composite
def mutated(draw):
    text = draw(texts)
    for _ in range(draw(st.integers(1, 3))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 12)))
        kind = draw(st.sampled_from(["delete", "insert_char", "insert_token", "duplicate", "swap_chars",
                                     "swap_tokens", "truncate", "retype", "retype"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert_char":
            text = text[:i] + draw(st.characters(codec="utf-8")) + text[i:]
        elif kind == "insert_token":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "swap_chars" and j < n and i < j:
            text = text[:i] + text[j] + text[i + 1:j] + text[i] + text[j + 1:]
        elif kind == "swap_tokens":
            toks = text.split(" ")
            a, b = draw(st.integers(0, len(toks) - 1)), draw(st.integers(0, len(toks) - 1))
            toks[a], toks[b] = toks[b], toks[a]
            text = " ".join(toks)
        elif kind == "truncate":
            text = text[:i]
        elif kind == "retype":   # a well-formed but (probably) ill-typed program: exercises every type rule
            sites = list(RETYPE.finditer(text))
            if sites:
                m = draw(st.sampled_from(sites))
                new = draw(st.sampled_from(DTYPE_NAMES if m.group()[0].isalpha() else list("0123456789") + ["B"]))
                text = text[:m.start()] + new + text[m.end():]
    return text


def load(text: str):
    """Parse + verify; an IRError is the only acceptable failure."""
    try:
        return verify_module(parse_module(text, "fuzz.fir"))
    except IRError as e:
        # A located error names this file and a position inside the text.
        assert e.file in ("fuzz.fir",) or e.file.startswith("@") or e.line == 0 or ".py" in e.file, str(e)
        assert str(e)
        return None


@settings(max_examples=400)
@given(mutated())
def test_mutated_text_loads_or_raises_irerror(text):
    m = load(text)
    if m is not None:
        printed = print_module(m)
        assert print_module(verify_module(parse_module(printed))) == printed


@given(st.text(alphabet="%@(){}[]<>,:=^-.0123456789abefilnorstuxyBdgp \n\"\\", max_size=80))
def test_random_text_loads_or_raises_irerror(text):
    load(text)


def test_errors_point_into_the_text():
    text = (Path(__file__).parent / "fir" / "roundtrip" / "region.fir").read_text()
    broken = text.replace("]", "", 1)
    try:
        parse_module(broken, "fuzz.fir")
    except IRError as e:
        assert 1 <= e.line <= broken.count("\n") + 1 and e.col >= 1
        assert e.source_line == broken.splitlines()[e.line - 1]
    else:
        raise AssertionError("a deleted ']' must not parse")
