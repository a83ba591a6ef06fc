"""Dataflow-graph views: the networkx graph and the DOT text."""
import networkx as nx

from flowc.ir import Loc, parse
from flowc.ir.graph import to_dot, to_networkx

TEXT = """func @g(%x: f32[B,3], %w: f32[3]) -> (f32[B,3], f32[3]) {
  %0 = mul(%x, %w) : f32[B,3] loc("m.py":7)
  %1, %2 = fusion(%0, %w) {kind = "loop"} : f32[B,3], f32[3] {
  ^(%3: f32[B,3], %4: f32[3]):
    %5 = add(%3, %4) : f32[B,3]
    %6 = neg(%4) : f32[3]
    yield %5, %6
  }
  return %1, %2
}
"""


def test_networkx_nodes_edges_and_types():
    f = parse(TEXT)
    g = to_networkx(f)
    assert isinstance(g, nx.MultiDiGraph) and g.graph["name"] == "g"
    mul, fusion = f.ops
    assert set(g.nodes) == {("param", 0), ("param", 1), mul, fusion, ("return", 0), ("return", 1)}
    kinds = nx.get_node_attributes(g, "kind")
    assert sorted(kinds.values()) == ["op", "op", "param", "param", "return", "return"]
    assert g.nodes[("param", 0)]["label"] == "%x: f32[B,3]"
    edges = sorted((str(a if isinstance(a, tuple) else a.name), str(b if isinstance(b, tuple) else b.name),
                    d["operand"], d["type"]) for a, b, d in g.edges(data=True))
    assert edges == [
        ("('param', 0)", "mul", 0, "f32[B,3]"), ("('param', 1)", "fusion", 1, "f32[3]"),
        ("('param', 1)", "mul", 1, "f32[3]"),
        ("fusion", "('return', 0)", 0, "f32[B,3]"), ("fusion", "('return', 1)", 0, "f32[3]"),
        ("mul", "fusion", 0, "f32[B,3]"),
    ]
    assert nx.is_directed_acyclic_graph(g)
    assert list(nx.topological_sort(g))[-1][0] == "return"
    assert f.to_networkx().number_of_edges() == 6


def test_shared_operand_gives_parallel_edges():
    f = parse("func @sq(%x: f32[2]) -> (f32[2]) {\n  %0 = mul(%x, %x) : f32[2]\n  return %0\n}\n")
    g = to_networkx(f)
    assert g.number_of_edges(("param", 0), f.ops[0]) == 2


def test_dot_output():
    f = parse(TEXT)
    dot = to_dot(f)
    assert dot == f.to_dot()
    lines = dot.splitlines()
    assert lines[0] == 'digraph "g" {' and lines[-1] == "}"
    assert '  n0 [label="%x: f32[B,3]", shape=invhouse];' in lines
    assert '  n2 [label="mul\\nm.py:7", shape=box];' in lines
    assert '  n3 [label="fusion [2 ops]", shape=box];' in lines
    assert '  n4 [label="return #0: f32[B,3]", shape=house];' in lines
    assert '  n2 -> n3 [label="f32[B,3]"];' in lines
    assert sum("->" in line for line in lines) == 6


def test_dot_escapes_quotes_in_locations():
    f = parse('func @q(%x: f32[]) -> (f32[]) {\n  %0 = neg(%x) : f32[] loc("a\\"b.py":1:2)\n  return %0\n}\n')
    assert f.ops[0].loc == Loc('a"b.py', 1, 2)
    assert '[label="neg\\na\\"b.py:1:2", shape=box]' in to_dot(f)
