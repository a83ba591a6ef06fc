"""Hand-written recursive-descent parser for the IR text form (never evaluates text).

Errors are :class:`ParseError` carrying ``file:line:col`` and a caret under the
offending token.  ``//`` starts a comment (FileCheck's RUN/CHECK lines live there).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np

from .core import Function, Loc, Module, Op, Region, Value
from .registry import OPS, get_op
from .types import DTYPES, FlowcError, Sym, TensorType, TypeError_


class IRError(FlowcError):
    """An error located in IR text: prints as ``file:line:col: message`` plus the line and a caret."""

    def __init__(self, message: str, file: str = "<string>", line: int = 0, col: int = 0, source_line: str = ""):
        super().__init__(message)
        self.message, self.file, self.line, self.col, self.source_line = message, file, line, col, source_line

    def __str__(self) -> str:
        # ``file:line:col``, or ``file:line`` for a traced op's Loc without a column, or ``@func``.
        where = self.file + (f":{self.line}" if self.line else "") + (f":{self.col}" if self.col else "")
        head = f"{where}: {self.message}"
        if self.source_line:
            head += f"\n  {self.source_line}\n  {' ' * (self.col - 1)}^"
        return head


class ParseError(IRError):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.$\-]+)
  | (?P<symbol>@[A-Za-z_][A-Za-z0-9_.$]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<hex>0x[0-9a-fA-F]*)
  | (?P<number>-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+|inf\b))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<arrow>->)
  | (?P<punct>[()\[\]{},:=<>^])
""", re.VERBOSE)


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str, err) -> list[Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            err(pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        if kind != "ws":
            toks.append(Tok("punct" if kind == "arrow" else kind, m.group(), pos))
        pos = m.end()
    toks.append(Tok("eof", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str, filename: str):
        self.text, self.file = text, filename
        self.toks = _tokenize(text, self._error_at)
        self.i = 0
        self.positions: dict[int, tuple[int, int]] = {}

    # -- errors and token helpers -----------------------------------------------------------
    def _linecol(self, pos: int) -> tuple[int, int, str]:
        line = self.text.count("\n", 0, pos) + 1
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        return line, pos - start + 1, self.text[start:end if end >= 0 else len(self.text)]

    def _error_at(self, pos: int, msg: str):
        line, col, src = self._linecol(pos)
        raise ParseError(msg, self.file, line, col, src)

    def error(self, msg: str, tok: Tok | None = None):
        self._error_at((tok or self.peek()).pos, msg)

    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def at(self, text: str) -> bool:
        t = self.peek()
        return t.text == text and t.kind in ("punct", "ident")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.next()
            return True
        return False

    def expect(self, text: str) -> Tok:
        if not self.at(text):
            t = self.peek()
            self.error(f"expected '{text}', found " + (f"'{t.text}'" if t.kind != "eof" else "end of input"))
        return self.next()

    def expect_kind(self, kind: str, what: str) -> Tok:
        t = self.peek()
        if t.kind != kind:
            self.error(f"expected {what}, found " + (f"'{t.text}'" if t.kind != "eof" else "end of input"))
        return self.next()

    # -- grammar ----------------------------------------------------------------------------
    def module(self) -> Module:
        funcs, seen = [], set()
        while self.peek().kind != "eof":
            tok = self.peek()
            f = self.function()
            if f.name in seen:
                self.error(f"function @{f.name} defined twice", tok)
            seen.add(f.name)
            funcs.append(f)
        return Module(funcs)

    def function(self) -> Function:
        self.expect("func")
        name = self.expect_kind("symbol", "a function name like @main").text[1:]
        self.scope: dict[str, Value] = {}
        self.defined: set[str] = set()
        params = self.param_list()
        self.expect("->")
        self.expect("(")
        rtypes = []
        if not self.at(")"):
            rtypes.append(self.type_())
            while self.accept(","):
                rtypes.append(self.type_())
        self.expect(")")
        self.expect("{")
        ops = self.ops_until("return")
        ret_tok = self.expect("return")
        results = self.refs_until("}")
        self.expect("}")
        if len(results) != len(rtypes) or any(v.type != t for v, t in zip(results, rtypes)):
            self.error(f"@{name} returns ({', '.join(str(v.type) for v in results)}) but its signature says "
                       f"({', '.join(map(str, rtypes))})", ret_tok)
        return Function(name, params, ops, results)

    def param_list(self) -> list[Value]:
        self.expect("(")
        params = []
        if not self.at(")"):
            params.append(self.param())
            while self.accept(","):
                params.append(self.param())
        self.expect(")")
        return params

    def param(self) -> Value:
        tok = self.expect_kind("value", "a parameter like %x")
        self.expect(":")
        v = Value(self.type_(), tok.text[1:])
        self.define(tok, v)
        return v

    def define(self, tok: Tok, v: Value):
        name = tok.text[1:]
        if name in self.defined:
            self.error(f"value %{name} is defined twice", tok)
        self.defined.add(name)
        self.scope[name] = v

    def ops_until(self, terminator: str) -> list[Op]:
        ops = []
        while not self.at(terminator):
            if self.peek().kind == "eof":
                self.error(f"expected '{terminator}' before end of input")
            ops.append(self.op())
        return ops

    def refs_until(self, end: str) -> list[Value]:
        refs = []
        if not self.at(end):
            refs.append(self.ref())
            while self.accept(","):
                refs.append(self.ref())
        return refs

    def ref(self) -> Value:
        tok = self.expect_kind("value", "a value like %0")
        v = self.scope.get(tok.text[1:])
        if v is None:
            self.error(f"use of undefined value {tok.text}", tok)
        return v

    def op(self) -> Op:
        start = self.peek()
        result_toks = []
        if start.kind == "value":
            result_toks.append(self.next())
            while self.accept(","):
                result_toks.append(self.expect_kind("value", "a result name like %3"))
            self.expect("=")
        name_tok = self.expect_kind("ident", "an op name")
        if name_tok.text not in OPS:
            try:
                get_op(name_tok.text)
            except TypeError_:
                self.error(f"unknown op '{name_tok.text}'", name_tok)
        opdef = OPS[name_tok.text]
        self.expect("(")
        operands = self.refs_until(")")
        self.expect(")")
        attrs = {}
        if self.at("{"):
            attrs = self.attr_dict()
        try:
            attrs = opdef.normalize_attrs(attrs)
        except TypeError_ as e:
            self.error(f"{name_tok.text}: {e}", name_tok)
        self.expect(":")
        types = []
        if self.accept("("):
            self.expect(")")
        else:
            types.append(self.type_())
            while self.accept(","):
                types.append(self.type_())
        if len(types) != len(result_toks):
            self.error(f"{name_tok.text} has {len(result_toks)} result name(s) but {len(types)} result type(s)",
                       name_tok)
        loc = self.loc() if self.at("loc") else None
        regions = []
        outer_scope = self.scope
        while self.at("{"):
            regions.append(self.region())
        self.scope = outer_scope
        op = Op(name_tok.text, operands, attrs, types, regions, loc)
        for tok, v in zip(result_toks, op.results):
            self.define(tok, v)
        self.positions[id(op)] = self._linecol(name_tok.pos)[:2]
        return op

    def region(self) -> Region:
        self.expect("{")
        self.expect("^")
        self.scope = {}
        params = self.param_list()
        self.expect(":")
        ops = self.ops_until("yield")
        self.expect("yield")
        results = self.refs_until("}")
        self.expect("}")
        return Region(params, ops, results)

    def attr_dict(self) -> dict:
        self.expect("{")
        attrs = {}
        if not self.at("}"):
            while True:
                key = self.expect_kind("ident", "an attribute name")
                if key.text in attrs:
                    self.error(f"attribute '{key.text}' given twice", key)
                self.expect("=")
                attrs[key.text] = self.attr()
                if not self.accept(","):
                    break
        self.expect("}")
        return attrs

    def attr(self):
        t = self.peek()
        if t.kind == "number":
            return self.number(self.next())
        if t.kind == "string":
            return self.string(self.next())
        if t.text == "(" and t.kind == "punct":
            self.next()
            items = []
            while not self.at(")"):
                items.append(self.attr())
                if not self.accept(","):
                    break
            self.expect(")")
            return tuple(items)
        if t.kind == "ident":
            self.next()
            if t.text == "dense":
                return self.dense()
            consts = {"true": True, "false": False, "none": None, "nan": math.nan}
            if t.text in consts:
                return consts[t.text]
            if t.text in DTYPES:
                return DTYPES[t.text]
            if "." in t.text:
                self.error(f"bad attribute value '{t.text}'", t)
            return Sym(t.text)
        self.error("expected an attribute value")

    def number(self, t: Tok):
        s = t.text
        if s in ("inf", "-inf"):
            return float(s)
        if any(c in s for c in ".eE"):
            return float(s)
        return int(s)

    def string(self, t: Tok) -> str:
        try:
            return json.loads(t.text)
        except ValueError:
            self.error("malformed string literal", t)

    def dense(self) -> np.ndarray:
        self.expect("<")
        t = self.peek()
        if t.kind == "hex":
            self.next()
            blob, items = t.text[2:], None
            if len(blob) % 2:
                self.error("hex constant has an odd number of digits", t)
        else:
            self.expect("[")
            items, item_toks = [], []
            while not self.at("]"):
                s = self.next()
                item_toks.append(s)
                if s.kind == "number":
                    items.append(self.number(s))
                elif s.kind == "ident" and s.text in ("true", "false", "nan"):
                    items.append({"true": True, "false": False, "nan": math.nan}[s.text])
                else:
                    self.error("expected a number in a dense constant", s)
                if not self.accept(","):
                    break
            self.expect("]")
        self.expect(">")
        self.expect(":")
        type_tok = self.peek()
        ty = self.type_()
        if not ty.is_static:
            self.error("a dense constant needs a static shape", type_tok)
        npd = ty.dtype.np
        count = math.prod(ty.shape)   # Python ints: a huge shape must not overflow
        if items is None:
            raw = bytes.fromhex(blob)
            if len(raw) != count * npd.itemsize:
                self.error(f"hex constant holds {len(raw)} bytes but {ty} needs {count * npd.itemsize}", t)
            return np.frombuffer(raw, dtype=npd.newbyteorder("<")).astype(npd).reshape(ty.shape)
        if len(items) != count:
            self.error(f"dense constant has {len(items)} element(s) but {ty} needs {count}", t)
        for x, tok in zip(items, item_toks):   # no silent conversions: 1.5 is not an i32, -1 not a u32
            if ty.dtype.is_bool:
                bad = not isinstance(x, bool)
            elif ty.dtype.is_int:
                info = np.iinfo(npd)
                bad = isinstance(x, (bool, float)) or not info.min <= x <= info.max
            else:
                bad = isinstance(x, bool)
            if bad:
                self.error(f"dense constant element {tok.text} does not fit {ty.dtype}", tok)
        try:
            with np.errstate(over="raise"):
                return np.array(items, dtype=npd).reshape(ty.shape)
        except (OverflowError, FloatingPointError, ValueError) as e:
            self.error(f"dense constant does not fit {ty}: {e}", t)

    def type_(self) -> TensorType:
        t = self.expect_kind("ident", "a type like f32[B,10]")
        if t.text not in DTYPES:
            self.error(f"unknown element type '{t.text}' (expected one of {', '.join(DTYPES)})", t)
        self.expect("[")
        dims = []
        if not self.at("]"):
            while True:
                d = self.next()
                if d.kind == "number" and d.text.isdigit():
                    dims.append(int(d.text))
                elif d.kind == "ident" and d.text.isidentifier() and d.text not in DTYPES:
                    dims.append(Sym(d.text))
                else:
                    self.error("expected a dimension (a non-negative int or a symbol name)", d)
                if not self.accept(","):
                    break
        self.expect("]")
        return TensorType(DTYPES[t.text], tuple(dims))

    def loc(self) -> Loc:
        self.expect("loc")
        self.expect("(")
        f = self.string(self.expect_kind("string", "a file name string"))
        self.expect(":")
        line = self.expect_kind("number", "a line number")
        col = None
        if self.accept(":"):
            col = self.expect_kind("number", "a column number")
        self.expect(")")
        for x in (line, col):
            if x is not None and not x.text.isdigit():
                self.error("expected a non-negative integer", x)
        return Loc(f, int(line.text), int(col.text) if col is not None else None)


def parse_module(text: str, filename: str = "<string>") -> Module:
    p = _Parser(text, filename)
    m = p.module()
    m.positions = p.positions
    m.filename = filename
    m.source = text
    return m


def parse_function(text: str, filename: str = "<string>") -> Function:
    m = parse_module(text, filename)
    if len(m) != 1:
        raise ParseError(f"expected exactly one function, found {len(m)}", filename, 1, 1)
    f = next(iter(m))
    f.positions, f.filename, f.source = m.positions, filename, text
    return f


parse = parse_function


def parse_type(text: str, filename: str = "<type>") -> TensorType:
    """Parse one type such as ``f32[B,784]``."""
    p = _Parser(text, filename)
    t = p.type_()
    if p.peek().kind != "eof":
        p.error("unexpected text after the type")
    return t


def parse_types(text: str, filename: str = "<types>") -> list[TensorType]:
    """Parse whitespace- or comma-separated types: ``"f32[B,784] f32[784,10]"``."""
    p = _Parser(text, filename)
    out = []
    while p.peek().kind != "eof":
        out.append(p.type_())
        p.accept(",")
    return out
