"""The op registry is complete and consistent: impls, docs and attribute schemas for every op."""
import pytest

from flowc.backends.reference import impls
from flowc.ir import OPS, Rules, TypeError_, get_op
from flowc.ir.registry import ATTR_KINDS, REQUIRED

OP_NAMES = sorted(OPS)


def test_every_op_has_a_reference_implementation():
    assert impls.missing() == []
    assert set(impls.table) <= set(OPS), "reference impls registered for undeclared ops"


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_declaration_is_well_formed(name):
    op = OPS[name]
    assert op.name == name
    assert op.doc.strip(), f"{name} has no docstring"
    assert op.arity is None or (isinstance(op.arity, int) and op.arity >= 0)
    assert isinstance(op.regions, int) and op.regions >= 0
    assert op.infer is not None or op.regions, f"{name} has neither a type rule nor a region to type it"
    assert isinstance(op.traits, frozenset) and all(isinstance(t, str) for t in op.traits)
    for attr_name, spec in op.attrs.items():
        assert attr_name.isidentifier()
        assert spec.kind in ATTR_KINDS, f"{name}.{attr_name}: unknown attribute kind {spec.kind!r}"
        if spec.default is not REQUIRED:
            if spec.default is None:
                assert spec.optional, f"{name}.{attr_name}: default None but not optional"
            else:   # the default is itself a valid, already-normalized value
                assert spec.check(attr_name, spec.default) == spec.default
        for choice in spec.choices:
            assert spec.check(attr_name, choice) == choice
    required = {k for k, s in op.attrs.items() if s.default is REQUIRED}
    if required:
        with pytest.raises(TypeError_, match="missing attribute"):
            op.normalize_attrs({})
    else:
        assert set(op.normalize_attrs({})) == set(op.attrs)


def test_unknown_op_and_attribute_errors():
    with pytest.raises(TypeError_, match="unknown op 'nope'"):
        get_op("nope")
    with pytest.raises(TypeError_, match="unknown attribute.*bogus"):
        get_op("cast").normalize_attrs({"dtype": "f32", "bogus": 1})


def test_rules_table_rejects_duplicates_and_reports_missing():
    rules = Rules("test")
    rules.register("add", "sub")(lambda *a: None)
    with pytest.raises(ValueError, match="registered twice"):
        rules.register("add")(lambda *a: None)
    assert "add" in rules and "neg" not in rules
    assert "neg" in rules.missing() and "add" not in rules.missing()
    with pytest.raises(NotImplementedError, match="op 'neg' has no test rule"):
        rules["neg"]
