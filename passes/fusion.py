"""Op fusion: group elementwise ops, broadcasts, reductions and matmul/conv epilogues into
``fusion`` regions, so a backend emits one kernel per region.

Which ops may fuse comes from the registry's traits (``elementwise``, ``broadcasting``,
``reduction``) plus the ``ANCHORS`` table of :mod:`.op_roles` (matmul, conv2d).  Every
group has a *domain*: the shape its loop runs over (a reduction's input shape, an
anchor's output shape, else the op's result shape).

Grouping is greedy, in program order: each fusible op tries to join the groups of the
ops producing its operands.  Two groups merge only when

1. their domains are equal (no op is recomputed per element of a larger loop);
2. their kinds combine: ``loop`` + ``loop`` -> ``loop``; ``loop`` + X -> X; ``reduce`` +
   ``reduce`` only with the same axes and keepdims (reductions over different axes
   never share a kernel); two anchors never merge (an anchor never joins as a consumer:
   no prologue fusion into a contraction);
3. no member consumes a reduction result of the same group (the reduction is a root);
4. the merged group stays acyclic w.r.t. the rest of the graph: no path leaves it and
   comes back (checked on the graph of groups, not just ops).

Cost rule.  Fusing never recomputes by itself: a fused value that is also used outside
its region is yielded (multi-output region).  The one duplication is deliberate: an
elementwise producer whose per-element cost is at most ``CHEAP`` (add, mul, cast,
broadcast_to, ...; not exp/tanh/div), whose operands come from outside its own group and
whose shape is the consumer group's domain, is *recomputed* inside each other group that
reads it, so it need not be materialised for them; a short chain of such producers computed in one
group (``cast(eq(y, iota))``) is recomputed whole, down to the values its group yields anyway.  Matmul,
conv and reductions are never duplicated.  Scalar constants, their broadcasts and iotas are copied into
the regions that use them.

Before grouping, ops with an entry in ``EXPANSIONS`` (``one_hot``) are rewritten into elementwise
ops, so a one-hot target fuses into the loss that reads it instead of being materialised.

Groups of a single op stay unwrapped (there is nothing to fuse).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from flowc.ir import Function, Op, Region, Value

from .base import register
from .dce import dce
from .op_roles import ANCHORS, CHEAP, EXPANSIONS, INDEX_VALUED, SPLATS, op_cost
from .rewrite import Pattern, apply_patterns, derive, inherit_position, rebuild


def role(op: Op) -> str | None:
    """``anchor``, ``reduce``, ``loop`` or None (never fused)."""
    if op.regions:
        return None
    if op.name in ANCHORS:
        return "anchor"
    traits = op.opdef.traits
    if "reduction" in traits:
        return "reduce"
    if ("elementwise" in traits or "broadcasting" in traits) and op.operands:
        return "loop"
    return None


def _reduce_sig(op: Op):
    axes = op.attrs["axes"] if "axes" in op.attrs else (op.attrs["axis"],)
    return tuple(axes), op.attrs["keepdims"]


@dataclass
class Group:
    members: list[int]
    kind: str
    domain: tuple
    sig: tuple | None = None
    clones: list[int] = field(default_factory=list)

    @property
    def lo(self) -> int:
        return min(self.members)

    @property
    def hi(self) -> int:
        return max(self.members)


class _Fuser:
    def __init__(self, f: Function):
        self.f = f
        self.ops = list(f.ops)
        self.index = {id(op): i for i, op in enumerate(self.ops)}
        self.roles = [role(op) for op in self.ops]
        self.users: list[list[int]] = [[] for _ in self.ops]
        for i, op in enumerate(self.ops):
            for v in op.operands:
                p = self.producer(v)
                if p is not None:
                    self.users[p].append(i)
        self.returned = {id(v) for v in f.results}
        self.parent = list(range(len(self.ops)))
        self.groups: dict[int, Group] = {}

    def producer(self, v: Value) -> int | None:
        return self.index.get(id(v.producer)) if v.producer is not None else None

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    # -- grouping ------------------------------------------------------------------------------
    def new_group(self, i: int):
        op, r = self.ops[i], self.roles[i]
        if r == "anchor":
            self.groups[i] = Group([i], ANCHORS[op.name](op), op.results[0].type.shape)
        elif r == "reduce":
            self.groups[i] = Group([i], "reduce", op.operands[0].type.shape, _reduce_sig(op))
        else:
            self.groups[i] = Group([i], "loop", op.results[0].type.shape)

    @staticmethod
    def combine(a: Group, b: Group) -> tuple[str, tuple | None] | None:
        if a.domain != b.domain:
            return None
        if a.kind == "loop":
            return b.kind, b.sig
        if b.kind == "loop":
            return a.kind, a.sig
        if a.kind == b.kind == "reduce" and a.sig == b.sig:
            return "reduce", a.sig
        return None

    def roots_ok(self, members: set[int]) -> bool:
        for m in members:
            for v in self.ops[m].operands:
                p = self.producer(v)
                if p in members and self.roles[p] == "reduce":
                    return False
        return True

    def acyclic(self, ga: int, gb: int) -> bool:
        """No path from the merged group leaves it and comes back."""
        merged = set(self.groups[ga].members) | set(self.groups[gb].members)
        hi = max(merged)
        stack = [u for m in merged for u in self.users[m] if u not in merged]
        seen: set[int] = set()
        while stack:
            g = self.find(stack.pop())
            if g in seen:
                continue
            seen.add(g)
            grp = self.groups.get(g)
            members = grp.members if grp is not None else [g]
            if min(members) > hi:
                continue
            for m in members:
                for u in self.users[m]:
                    if u in merged:
                        return False
                    stack.append(u)
        return True

    def try_merge(self, ga: int, gb: int) -> bool:
        a, b = self.groups[ga], self.groups[gb]
        kind = self.combine(a, b)
        if kind is None or not self.roots_ok(set(a.members) | set(b.members)) or not self.acyclic(ga, gb):
            return False
        self.parent[gb] = ga
        a.members = sorted(a.members + b.members)
        a.kind, a.sig = kind
        del self.groups[gb]
        return True

    def group_all(self):
        for i, op in enumerate(self.ops):
            r = self.roles[i]
            if r is None:
                continue
            self.new_group(i)
            if r == "anchor":
                continue
            for v in op.operands:
                p = self.producer(v)
                if p is None or self.roles[p] is None:
                    continue
                gp, gi = self.find(p), self.find(i)
                if gp != gi:
                    self.try_merge(gp, gi)

    # -- the cost rule: recompute cheap leaf producers instead of reading them --------------------
    def duplicate_cheap(self):
        for g, grp in self.groups.items():
            members = set(grp.members)
            for m in grp.members:
                for v in self.ops[m].operands:
                    p = self.producer(v)
                    if p is None or p in members or p in grp.clones:
                        continue
                    chain = self.cheap_chain(p, grp.domain)
                    if chain is not None:
                        grp.clones.extend(q for q in chain if q not in grp.clones)
            grp.clones.sort()

    def cheap_chain(self, p: int, domain, depth: int = 0) -> list[int] | None:
        """``p`` and the producers it reads from its own group, when all of them are cheap elementwise ops
        over ``domain`` (a short chain such as an expanded one_hot's ``cast(eq(y, iota))``); else None."""
        op = self.ops[p]
        if depth > 3 or self.roles[p] != "loop" or op_cost(op.name) > CHEAP or op.results[0].type.shape != domain:
            return None
        home = set(self.groups[self.find(p)].members)
        chain = [p]
        for v in op.operands:
            q = self.producer(v)
            if q in home and not self.materialised(q, home):
                sub = self.cheap_chain(q, domain, depth + 1)
                if sub is None:
                    return None
                chain += sub
        return chain

    def materialised(self, q: int, home: set[int]) -> bool:
        """``q``'s result is yielded by its group anyway (read outside it, or returned): a chain recomputed
        elsewhere reads it there rather than recomputing it (relu's mask ``cast(gt(y, 0))`` reads the
        activation ``y`` the forward keeps, instead of the forward writing a mask for the backward)."""
        return (any(u not in home for u in self.users[q])
                or any(id(r) in self.returned for r in self.ops[q].results))

    # -- building the new function -------------------------------------------------------------
    def run(self) -> Function:
        self.group_all()
        self.duplicate_cheap()
        positions = dict(getattr(self.f, "positions", None) or {})
        wrapped = {g: grp for g, grp in self.groups.items() if len(grp.members) + len(grp.clones) >= 2}
        node_of = {}
        for i in range(len(self.ops)):
            g = self.find(i) if self.roles[i] is not None else i
            node_of[i] = g if g in wrapped else ("op", i)
        nodes: dict = {}
        for i in range(len(self.ops)):
            nodes.setdefault(node_of[i], []).append(i)
        needed = self._read_outside(nodes, wrapped)
        mapping: dict[int, Value] = {}
        out: list[Op] = []
        for node in self._topo(nodes, node_of, wrapped):
            if node in wrapped:
                out.append(self._build(wrapped[node], mapping, positions, needed))
            else:
                op = self.ops[node[1]]
                operands = [mapping.get(id(v), v) for v in op.operands]
                if any(a is not b for a, b in zip(operands, op.operands)):
                    new = rebuild(op, operands)
                    inherit_position(positions, op, new)
                    mapping.update((id(a), b) for a, b in zip(op.results, new.results))
                    op = new
                out.append(op)
        results = [mapping.get(id(v), v) for v in self.f.results]
        return dce(derive(self.f, out, results, positions))

    def _inputs(self, grp: Group) -> list[Value]:
        """External operands of a group's ops, in first-use order (clones read their own operands)."""
        inside = set(grp.members) | set(grp.clones)
        seen, out = set(), []
        for m in sorted(inside):
            for v in self.ops[m].operands:
                p = self.producer(v)
                if p in inside or id(v) in seen or _copied_in(v):
                    continue
                seen.add(id(v))
                out.append(v)
        return out

    def _topo(self, nodes: dict, node_of: dict, wrapped: dict):
        deps: dict = {n: set() for n in nodes}
        for n, members in nodes.items():
            grp = wrapped.get(n)
            needed = self._inputs(grp) if grp is not None else [v for m in members for v in self.ops[m].operands]
            for v in needed:
                p = self.producer(v)
                if p is not None and node_of[p] != n:
                    deps[n].add(node_of[p])
        rev: dict = {n: [] for n in nodes}
        for n, ds in deps.items():
            for d in ds:
                rev[d].append(n)
        key = {n: max(m) for n, m in nodes.items()}
        count = {n: len(ds) for n, ds in deps.items()}
        ready = [(key[n], k, n) for k, n in enumerate(nodes) if not count[n]]
        order = {n: k for k, n in enumerate(nodes)}
        heapq.heapify(ready)
        while ready:
            _, _, n = heapq.heappop(ready)
            yield n
            for s in rev[n]:
                count[s] -= 1
                if not count[s]:
                    heapq.heappush(ready, (key[s], order[s], s))
        if any(count.values()):
            raise AssertionError("fusion produced a cyclic group graph (a bug in the acyclicity check)")

    def _read_outside(self, nodes: dict, wrapped: dict) -> set[int]:
        """ids of the values some node reads from outside itself (plus the returned ones):
        exactly the member results a group must yield.  A group's reads include those of the
        producers it recomputes, which may be members of a third group."""
        needed = set(self.returned)
        for n, members in nodes.items():
            grp = wrapped.get(n)
            vals = self._inputs(grp) if grp is not None else [v for m in members for v in self.ops[m].operands]
            needed.update(id(v) for v in vals)
        return needed

    def _build(self, grp: Group, mapping: dict, positions: dict, needed: set[int]) -> Op:
        inputs = self._inputs(grp)
        params = [Value(v.type, None) for v in inputs]
        local: dict[int, Value] = {id(v): p for v, p in zip(inputs, params)}
        body: list[Op] = []

        def operand(v: Value) -> Value:
            if id(v) not in local:        # a scalar constant, its broadcast or an iota, copied in
                c = v.producer
                cloned = Op(c.name, [operand(u) for u in c.operands], c.attrs, [v.type], (), c.loc)
                body.append(cloned)
                local[id(v)] = cloned.results[0]
            return local[id(v)]

        for i in sorted(set(grp.members) | set(grp.clones)):
            op = self.ops[i]
            new = Op(op.name, [operand(v) for v in op.operands], op.attrs, [r.type for r in op.results], (),
                     op.loc)
            body.append(new)
            local.update((id(a), b) for a, b in zip(op.results, new.results))
        outputs = [r for i in grp.members for r in self.ops[i].results if id(r) in needed]
        if not outputs:     # a dead group (DCE drops the fusion op afterwards)
            outputs = list(self.ops[grp.hi].results)
        body, keep = _live(body, [local[id(r)] for r in outputs], params)
        inputs, params = [inputs[k] for k in keep], [params[k] for k in keep]
        root = self.ops[grp.hi]
        fused = Op("fusion", [mapping.get(id(v), v) for v in inputs], {"kind": grp.kind},
                   [r.type for r in outputs], [Region(params, body, [local[id(r)] for r in outputs])], root.loc)
        inherit_position(positions, root, fused)
        mapping.update((id(a), b) for a, b in zip(outputs, fused.results))
        return fused


def _live(body: list[Op], yields: list[Value], params: list[Value]) -> tuple[list[Op], list[int]]:
    """The body ops the yields depend on, and the indices of the params they read.  Members whose
    every reader recomputes them elsewhere (the cost rule) are dead here, and so may be their inputs."""
    live = {id(v) for v in yields}
    kept = []
    for op in reversed(body):
        if any(id(r) in live for r in op.results):
            kept.append(op)
            live.update(id(v) for v in op.operands)
    return kept[::-1], [k for k, p in enumerate(params) if id(p) in live]


def _copied_in(v: Value) -> bool:
    """Values a region recomputes rather than reads: scalar constants and their broadcasts (autodiff's
    ``broadcast_to(1/N, [N, 1])`` seeds), and iotas (a function of the index)."""
    p = v.producer
    if p is not None and p.name in SPLATS:
        return _scalar_constant(p.operands[0])
    return _scalar_constant(v) or (p is not None and p.name in INDEX_VALUED)


def _scalar_constant(v: Value) -> bool:
    p = v.producer
    return p is not None and p.name == "constant" and p.attrs["value"].size <= 1


def _expand(f: Function) -> Function:
    """Rewrite the ops of ``EXPANSIONS`` into their elementwise forms, so they fuse into their consumers."""
    patterns = [Pattern(f"expand-{name}", name, fn, doc=f"{name} -> elementwise ops")
                for name, fn in EXPANSIONS.items()]
    return apply_patterns(f, patterns) if any(op.name in EXPANSIONS for op in f.ops) else f


@register("fusion", "group elementwise ops, broadcasts, reductions and matmul/conv epilogues into fusion regions")
def fusion(f: Function) -> Function:
    return _Fuser(dce(_expand(f))).run()
