"""One test per verifier invariant (see flowc.ir.verifier's docstring), each checking the exact message.

IR that the parser cannot even express (a value defined twice, an op reused) is built
directly from ``Op``/``Function`` objects, as a buggy pass would build it.
"""
import numpy as np
import pytest

from flowc.ir import (Builder, Function, Loc, Op, ParseError, Region, TensorType, Value, VerifyError, float32,
                      int32, parse, parse_module, verify, verify_module)

F3 = TensorType(float32, (3,))
F4 = TensorType(float32, (4,))


def x(name="x", t=F3):
    return Value(t, name)


def error(f) -> str:
    with pytest.raises(VerifyError) as e:
        verify(f)
    return str(e.value)


def fir_error(text: str) -> str:
    with pytest.raises(VerifyError) as e:
        verify_module(parse_module(text, "t.fir"))
    return str(e.value)


# 1. each value is defined exactly once -----------------------------------------------------

def test_1_parameter_defined_twice():
    p = x()
    assert error(Function("f", [p, p], [], [p])) == "@f: value %x (f32[3]) is defined twice"


def test_1_op_result_defined_twice():
    p = x()
    op = Op("neg", [p], {}, [F3], loc=Loc("model.py", 5))
    msg = error(Function("f", [p], [op, op], [op.result]))
    assert msg == "model.py:5: neg(f32[3]): value result #0 (f32[3]) is defined twice\n" \
                  '  %1 = neg(%x) : f32[3] loc("model.py":5)'


def test_1_text_value_defined_twice_is_a_parse_error():
    with pytest.raises(ParseError) as e:
        parse("func @f(%x: f32[3]) -> (f32[3]) {\n  %x = neg(%x) : f32[3]\n  return %x\n}\n", "t.fir")
    assert str(e.value).splitlines()[0] == "t.fir:2:3: value %x is defined twice"


# 2. operands are defined earlier in the same region ----------------------------------------

def test_2_operand_used_before_definition():
    p = x()
    a = Op("neg", [p], {}, [F3])
    b = Op("abs", [a.result], {}, [F3], loc=Loc("net.py", 12, 4))
    msg = error(Function("f", [p], [b, a], [a.result]))
    assert msg.splitlines()[0] == ("net.py:12:4: abs(f32[3]): operand #0 (f32[3]) is used before it is defined "
                                   "or comes from outside this region")


def test_2_region_may_not_use_outer_values():
    p = x()
    inner_param = x(None)
    inner = Op("add", [inner_param, p], {}, [F3], loc=Loc("net.py", 30))   # p is outside the region
    fusion = Op("fusion", [p], {"kind": "loop"}, [F3], [Region([inner_param], [inner], [inner.result])])
    msg = error(Function("f", [p], [fusion], [fusion.result]))
    assert msg.splitlines()[0] == ("net.py:30: add(f32[3], f32[3]): operand #1 (f32[3]) is used before it is "
                                   "defined or comes from outside this region")


def test_2_text_use_before_definition_is_a_parse_error():
    with pytest.raises(ParseError) as e:
        parse("func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = neg(%1) : f32[3]\n  %1 = neg(%x) : f32[3]\n"
              "  return %0\n}\n", "t.fir")
    assert str(e.value) == "t.fir:2:12: use of undefined value %1\n    %0 = neg(%1) : f32[3]\n             ^"


# 3. registered op, attributes match the schema ---------------------------------------------

def test_3_unknown_op():
    p = x()
    op = Op("frobnicate", [p], {}, [F3])
    assert error(Function("f", [p], [op], [op.result])).splitlines()[0] == \
        "@f: frobnicate(f32[3]): unknown op 'frobnicate'"


def test_3_bad_attribute_value():
    p = x()
    op = Op("cast", [p], {"dtype": "complex128"}, [F3], loc=Loc("m.py", 2))
    assert error(Function("f", [p], [op], [op.result])).splitlines()[0] == \
        "m.py:2: cast(f32[3]): attribute 'dtype': unsupported dtype complex128; flowc supports " \
        "bool, int8, int32, int64, uint32, float16, float32, float64"


def test_3_unknown_attribute():
    p = x()
    op = Op("neg", [p], {"axis": 0}, [F3])
    assert error(Function("f", [p], [op], [op.result])).splitlines()[0] == \
        "@f: neg(f32[3]): unknown attribute(s) axis; it takes none"


def test_3_defaults_must_be_filled_in():
    op = Op("iota", [], {"shape": (3,), "dtype": float32}, [F3], loc=Loc("m.py", 8, 1))
    assert error(Function("f", [], [op], [op.result])).splitlines()[0] == \
        "m.py:8:1: iota(): attributes are not normalized (defaults missing)"


def test_3_text_bad_attribute_is_located():
    with pytest.raises(ParseError) as e:
        parse("func @f(%x: f32[3]) -> (f32[3]) {\n  %0 = cast(%x) {dtype = 3} : f32[3]\n  return %0\n}\n",
              "t.fir")
    assert str(e.value).splitlines()[0] == "t.fir:2:8: cast: attribute 'dtype': unknown dtype 3"


# 4. result types equal the type rule -------------------------------------------------------

def test_4_result_type_mismatch_in_text_points_at_the_op():
    msg = fir_error("func @f(%x: f32[3]) -> (f32[4]) {\n  %0 = add(%x, %x) : f32[4]\n  return %0\n}\n")
    assert msg == ("t.fir:2:8: add(f32[3], f32[3]): result type(s) f32[4] do not match the type rule's f32[3]\n"
                   "    %0 = add(%x, %x) : f32[4]\n"
                   "         ^")


def test_4_type_rule_error_in_text():
    msg = fir_error("func @f(%x: f32[3], %i: i32[3]) -> (f32[3]) {\n  %0 = neg(%x) : f32[3]\n"
                    "  %1 = add(%0, %i) : f32[3]\n  return %1\n}\n")
    assert msg.splitlines()[0] == "t.fir:3:8: add(f32[3], i32[3]): operand dtypes f32 and i32 differ (insert a cast)"


def test_4_type_rule_error_names_the_users_line():
    p, q = x(), x("y", F4)
    op = Op("mul", [p, q], {}, [F3], loc=Loc("train.py", 41))
    msg = error(Function("f", [p, q], [op], [op.result]))
    assert msg == ("train.py:41: mul(f32[3], f32[4]): shapes [3], [4] cannot be broadcast (axis -1: 3 vs 4)\n"
                   '  %0 = mul(%x, %y) : f32[3] loc("train.py":41)')


def test_4_parsed_single_function_is_located_too():
    f = parse("func @f(%x: f32[3]) -> (f32[4]) {\n  %0 = add(%x, %x) : f32[4]\n  return %0\n}\n", "one.fir")
    with pytest.raises(VerifyError) as e:
        f.verify()
    assert str(e.value).startswith("one.fir:2:8: add(f32[3], f32[3]): result type(s)")
    assert e.value.line == 2 and e.value.col == 8 and e.value.file == "one.fir"


# 5. region count and the region hook -------------------------------------------------------

def test_5_unexpected_region():
    p = x()
    rp = x(None)
    op = Op("neg", [p], {}, [F3], [Region([rp], [], [rp])], loc=Loc("m.py", 3))
    assert error(Function("f", [p], [op], [op.result])).splitlines()[0] == \
        "m.py:3: neg(f32[3]): has 1 region(s), expected 0"


def test_5_missing_region():
    p = x()
    op = Op("fusion", [p], {"kind": "loop"}, [F3])
    assert error(Function("f", [p], [op], [op.result])).splitlines()[0] == \
        "@f: fusion(f32[3]): takes its result types from its region, but has none"


def test_5_region_hook_rejects_mismatched_parameters():
    msg = fir_error("func @f(%x: f32[3]) -> (f32[4]) {\n"
                    "  %0 = fusion(%x) {kind = \"loop\"} : f32[4] {\n"
                    "  ^(%1: f32[4]):\n"
                    "    yield %1\n"
                    "  }\n"
                    "  return %0\n}\n")
    assert msg.splitlines()[0] == ("t.fir:2:8: fusion(f32[3]): region parameters (f32[4]) do not match "
                                   "the operands (f32[3])")


def test_5_fusion_must_yield():
    msg = fir_error("func @f(%x: f32[3]) -> () {\n"
                    "  fusion(%x) {kind = \"loop\"} : () {\n"
                    "  ^(%1: f32[3]):\n"
                    "    yield\n"
                    "  }\n"
                    "  return\n}\n")
    assert msg.splitlines()[0] == "t.fir:2:3: fusion(f32[3]): a fusion region must yield at least one value"


# 6. returned/yielded values are defined in their region ------------------------------------

def test_6_returned_value_not_defined():
    p, stray = x(), x("stray", F4)
    assert error(Function("f", [p], [], [stray])) == \
        "@f: a returned value of type f32[4] is not defined in this region"


def test_6_yielded_value_from_outside():
    p = x()
    rp = x(None)
    fusion = Op("fusion", [p], {"kind": "loop"}, [F3], [Region([rp], [], [p])], loc=Loc("k.py", 9, 2))
    assert error(Function("f", [p], [fusion], [fusion.result])).splitlines()[0] == \
        "k.py:9:2: fusion(f32[3]): a yielded value of type f32[3] is not defined in this region"


# the happy path ----------------------------------------------------------------------------

def test_builder_made_function_verifies_and_is_returned():
    b = Builder(loc=Loc("m.py", 1))
    p = Value(TensorType(int32, ("B", 2)), "i")
    c = b("constant", value=np.arange(2, dtype=np.int32))
    y = b("add", p, c)
    f = Function("f", [p], b.ops, [y, p])
    assert verify(f) is f and f.verify() is f
