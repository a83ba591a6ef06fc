"""Memory planning: give every intermediate a buffer slot, reusing slots whose lifetimes
do not overlap and updating in place where that is legal.

``plan_memory(f, sizes={"B": 64})`` is an analysis: it returns a :class:`MemoryPlan`
and leaves ``f`` alone.  The ``memory`` pass returns an unchanged copy of the IR with
the plan attached as ``function.memory_plan`` for backends (the op schemas have no
place for a slot attribute, and a plan is a property of one backend's execution, not
of the program's meaning).

Linear scan in program order: at each op its results are placed first, then the
slots of operands that die there are freed (so a result never shares a buffer with
an input it reads, except in place).  A result is computed *in place* into a dying
operand's slot when the op is elementwise (or a fusion region whose ops are all
elementwise on one shape) and the operand has exactly the result's type.  Otherwise
it takes the smallest free slot large enough, else the largest free slot (grown),
else a new one.  Constants and returned values are not intermediates (they live in
the program and in the caller); ops inside fusion regions are never materialised.

Sizes of symbolic dims come from ``sizes``; an unbound symbol stays symbolic in the
reported bytes (``3136*B + 40``) and is taken to be 64 when ranking program points.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flowc.ir import Function, Op, Value
from flowc.ir.types import FlowcError

from .base import register
from .liveness import ZERO, Size, intermediates, last_uses, nbytes
from .rewrite import derive


@dataclass
class MemoryPlan:
    function: Function
    sizes: dict[str, int]
    slot_of: dict[Value, int] = field(default_factory=dict)
    slot_sizes: list[Size] = field(default_factory=list)
    in_place: dict[Value, Value] = field(default_factory=dict)   # result -> the operand it overwrites
    value_bytes: dict[Value, Size] = field(default_factory=dict)
    live_peak: Size = ZERO

    @property
    def peak_bytes_before(self):
        """Bytes with one buffer per intermediate (what an unplanned interpreter holds)."""
        return sum(self.value_bytes.values(), ZERO).value()

    @property
    def peak_bytes_after(self):
        """Bytes of all slots together: the arena this plan needs."""
        return sum(self.slot_sizes, ZERO).value()

    @property
    def live_peak_bytes(self):
        """The most intermediate bytes live at any one program point (no plan can do better)."""
        return self.live_peak.value()

    def report(self) -> str:
        from flowc.ir.printer import _Namer, print_function
        namer = _Namer()
        print_function(self.function, _namer=namer)
        bound = ", ".join(f"{k}={v}" for k, v in sorted(self.sizes.items()))
        lines = [f"memory plan for @{self.function.name}" + (f" ({bound})" if bound else ""),
                 f"  intermediates: {len(self.value_bytes)} values, {_fmt(self.peak_bytes_before)} without reuse",
                 f"  planned: {len(self.slot_sizes)} slots, {_fmt(self.peak_bytes_after)} "
                 f"(live peak {_fmt(self.live_peak_bytes)}), {len(self.in_place)} in-place updates"]
        for s, size in enumerate(self.slot_sizes):
            vals = [namer[v] + ("*" if v in self.in_place else "") for v in self.slot_of if self.slot_of[v] == s]
            lines.append(f"  slot {s}: {_fmt(size.value())}  {' '.join(vals)}")
        if self.in_place:
            lines.append("  (* computed in place over a dying operand)")
        return "\n".join(lines) + "\n"


def _fmt(b) -> str:
    return f"{b} bytes" if not isinstance(b, int) else f"{b:,} bytes"


def _in_place_candidates(op: Op, r: Value) -> bool:
    traits = op.opdef.traits
    if "elementwise" in traits:
        return True
    if op.name == "fusion" and op.regions:
        return all(("elementwise" in o.opdef.traits or "broadcasting" in o.opdef.traits) and not o.regions
                   and all(x.type.shape == r.type.shape for x in o.results)
                   for o in op.regions[0].ops)
    return False


def plan_memory(function: Function, sizes: dict[str, int] | None = None) -> MemoryPlan:
    sizes = dict(sizes or {})
    plan = MemoryPlan(function, sizes)
    last = last_uses(function)
    placed = {id(v) for v in intermediates(function)}
    by_id: dict[int, Value] = {}
    free: list[int] = []
    live: Size = ZERO
    for i, op in enumerate(function.ops):
        dying = []
        for v in op.operands:
            if id(v) in placed and last[id(v)] == i and v not in dying:
                dying.append(v)
        taken: set[int] = set()
        for r in op.results:
            if id(r) not in placed:
                continue
            size = nbytes(r.type, sizes)
            plan.value_bytes[r] = size
            by_id[id(r)] = r
            live = live + size
            donor = next((d for d in dying if d.type == r.type and plan.slot_of[d] not in taken), None) \
                if _in_place_candidates(op, r) else None
            if donor is not None:
                slot = plan.slot_of[donor]
                plan.in_place[r] = donor
                live = live - plan.value_bytes[donor]     # the result replaces it
            else:
                slot = _pick(plan, free, size)
            taken.add(slot)
            plan.slot_of[r] = slot
        plan.live_peak = max(plan.live_peak, live, key=Size.estimate)
        donors = {id(d) for d in plan.in_place.values()}
        for d in dying:
            if id(d) not in donors:
                live = live - plan.value_bytes[d]
                free.append(plan.slot_of[d])
        for r in op.results:      # results nobody reads die at once
            if id(r) in placed and id(r) not in last:
                live = live - plan.value_bytes[r]
                free.append(plan.slot_of[r])
    return plan


def _pick(plan: MemoryPlan, free: list[int], size: Size) -> int:
    fitting = [s for s in free if plan.slot_sizes[s].covers(size)]
    if fitting:
        slot = min(fitting, key=lambda s: (plan.slot_sizes[s].estimate(), s))
    elif free:
        slot = max(free, key=lambda s: (plan.slot_sizes[s].estimate(), -s))
        plan.slot_sizes[slot] = plan.slot_sizes[slot].tmax(size)
    else:
        plan.slot_sizes.append(size)
        return len(plan.slot_sizes) - 1
    free.remove(slot)
    return slot


def parse_sizes(text: str) -> dict[str, int]:
    """``"B=64;N=3"`` (or ``B:64``) -> ``{"B": 64, "N": 3}``."""
    out = {}
    for item in filter(None, (s.strip() for s in text.replace(":", "=").split(";"))):
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier() or not value.strip().isdigit():
            raise FlowcError(f"bad symbol size {item!r}; write NAME=INT, several separated by ';'")
        out[name.strip()] = int(value)
    return out


@register("memory", "plan intermediate buffers (slots, reuse, in-place); the IR is unchanged, the plan "
          "is attached as function.memory_plan", sizes="")
def memory(f: Function, sizes: str = "") -> Function:
    g = derive(f, f.ops, f.results, dict(getattr(f, "positions", None) or {}))
    g.memory_plan = plan_memory(g, parse_sizes(sizes))
    return g
