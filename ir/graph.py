"""Dataflow-graph views of a function: networkx for analyses, DOT for pictures."""
from __future__ import annotations

import json

import networkx as nx

from .core import Function


def to_networkx(f: Function) -> "nx.MultiDiGraph":
    """Nodes: ``("param", i)``, ops (by object), ``("return", i)``; edges carry the value type."""
    g = nx.MultiDiGraph(name=f.name)
    producer = {}
    for i, p in enumerate(f.params):
        node = ("param", i)
        g.add_node(node, kind="param", label=f"%{p.name or f'arg{i}'}: {p.type}")
        producer[id(p)] = node
    for op in f.ops:
        g.add_node(op, kind="op", label=op.name, op=op)
        for k, v in enumerate(op.operands):
            g.add_edge(producer[id(v)], op, operand=k, type=str(v.type))
        for r in op.results:
            producer[id(r)] = op
    for i, v in enumerate(f.results):
        node = ("return", i)
        g.add_node(node, kind="return", label=f"return #{i}: {v.type}")
        g.add_edge(producer[id(v)], node, operand=0, type=str(v.type))
    return g


def to_dot(f: Function) -> str:
    g = to_networkx(f)
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    shape = {"param": "invhouse", "op": "box", "return": "house"}
    lines = [f"digraph {json.dumps(f.name)} {{", "  rankdir=TB;", '  node [fontname="monospace"];']
    for n, data in g.nodes(data=True):
        label = data["label"]
        if data["kind"] == "op":
            op = data["op"]
            if op.regions:
                label += f" [{sum(len(r.ops) for r in op.regions)} ops]"
            if op.loc is not None:
                label += f"\n{op.loc}"
        lines.append(f"  {ids[n]} [label={json.dumps(label)}, shape={shape[data['kind']]}];")
    for a, b, data in g.edges(data=True):
        lines.append(f"  {ids[a]} -> {ids[b]} [label={json.dumps(data['type'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def backward_slice(ops: list, values: list) -> list:
    """The ops of ``ops`` (a block, in order) that ``values`` depend on, in block order."""
    producer = {id(r): o for o in ops for r in o.results}
    seen, todo = set(), list(values)
    while todo:
        o = producer.get(id(todo.pop()))
        if o is not None and id(o) not in seen:
            seen.add(id(o))
            todo.extend(o.operands)
    return [o for o in ops if id(o) in seen]
