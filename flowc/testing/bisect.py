"""Opt-bisect: the first pass, and the first rewrite inside it, after which results change.

Every stage of the pipeline is run on the reference interpreter with the same inputs
and compared with the unoptimised program.  Within the first bad pass, the rewrite
driver's budget (``flowc.passes.rewrite.rewrite_budget``) lets only the first ``n``
pattern rewrites fire; a binary search over ``n`` finds the rewrite that breaks the
program — like LLVM's ``-opt-bisect-limit``, but automatic.  A pass that does not
go through the rewrite driver (cse, dce, fusion planners) is named without a rewrite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from flowc.ir import Function

from .tolerances import Diff, coarsest, compare_value, loosest


@dataclass
class BisectResult:
    pass_index: int                 # 0-based position of the first bad pass in the pipeline
    pass_name: str
    pipeline: list[str]
    output: int                     # which output first differs (-1: the stage fails to run)
    diff: Diff | None
    error: str = ""                 # the stage raised instead of computing
    rewrite: int | None = None      # 1-based number of the first bad rewrite within the pass
    rewrites: int | None = None     # how many rewrites the pass applies in all
    rule: str = ""
    op_name: str = ""
    loc: object = None
    before: Function | None = None  # the function just before the bad pass (or bad rewrite)
    after: Function | None = None   # ... and just after it

    def describe(self) -> str:
        lines = [f"first bad pass: '{self.pass_name}' (pass {self.pass_index + 1} of {len(self.pipeline)}: "
                 f"{','.join(self.pipeline)})"]
        if self.error:
            lines.append(f"  after it the program fails on the reference interpreter: {self.error}")
        elif self.diff is not None:
            lines.append(f"  output {self.output}: {self.diff.describe()}")
        if self.rewrite is not None:
            at = f" at {self.loc}" if self.loc is not None else ""
            lines.append(f"  first bad rewrite: #{self.rewrite} of {self.rewrites}: rule '{self.rule}' on "
                         f"{self.op_name}{at}")
        elif self.rewrites is not None:
            lines.append("  (the pass is not rewrite-driven, or it breaks the program outside its rewrites: "
                         "no single rewrite to name)")
        return "\n".join(lines)


def _outputs(f: Function, inputs):
    from flowc.backends.reference import run
    try:
        return run(f, *inputs), ""
    except Exception as e:  # a stage that no longer runs is a divergence too
        return None, f"{type(e).__name__}: {e}"


def first_difference(outs, want, f: Function, rtol=None, atol=None, also: Function | None = None
                     ) -> tuple[int, Diff | None]:
    """(index of the first output differing from ``want``, its Diff), or (-1, None) if all agree.

    Tolerances follow the loosest op class in ``f`` (and ``also``, e.g. its optimised form), and the least
    precise float dtype computed in ``f`` (an f32 reduction cast to f64 is judged as f32).
    """
    cls = loosest([op.name for op in f.walk()] + ([op.name for op in also.walk()] if also is not None else []))
    dtypes = {r.type.dtype for op in f.walk() for r in op.results} | {p.type.dtype for p in f.params}
    if len(outs) != len(want):
        return 0, Diff(False, "shape", got=f"{len(outs)} outputs", want=f"{len(want)} outputs")
    for i, (o, w) in enumerate(zip(outs, want)):
        d = compare_value(o, w, coarsest(f.results[i].type.dtype, dtypes), cls, rtol, atol)
        if not d.ok:
            return i, d
    return -1, None


def _bad(g: Function, inputs, want, rtol, atol, f0=None):
    outs, err = _outputs(g, inputs)
    if outs is None:
        return True, -1, None, err
    i, d = first_difference(outs, want, g, rtol, atol, also=f0)
    return i >= 0, i, d, ""


def bisect_passes(f: Function, inputs: Sequence[np.ndarray], passes=None, opt_level: int | None = None,
                  rtol: float | None = None, atol: float | None = None) -> BisectResult | None:
    """The first pass (and rewrite) after which ``f`` computes something else; None if none does."""
    from flowc.passes import DEFAULT_OPT_LEVEL, default_pipeline, parse_spec
    from flowc.passes.manager import _check
    from flowc.passes.rewrite import rewrite_budget

    level = DEFAULT_OPT_LEVEL if opt_level is None else opt_level
    pipeline = parse_spec(default_pipeline(level) if passes is None else passes)
    want, err = _outputs(f, inputs)
    if want is None:
        raise ValueError(f"the unoptimised program does not run on the reference interpreter: {err}")
    cur = f
    for k, p in enumerate(pipeline):
        nxt = p.run(cur)
        _check(nxt, f"pass '{p.name}'")
        bad, out, diff, err = _bad(nxt, inputs, want, rtol, atol, f)
        if not bad:
            cur = nxt
            continue
        res = BisectResult(k, p.name, [q.name for q in pipeline], out, diff, err, before=cur, after=nxt)
        with rewrite_budget(1 << 60) as log:
            p.run(cur)
        res.rewrites = len(log)
        with rewrite_budget(0):
            if _bad(p.run(cur), inputs, want, rtol, atol, f)[0]:
                return res   # breaks the program even with no rewrite: not a rewrite's fault
        lo, hi = 0, len(log)   # invariant: budget lo is good, budget hi is bad
        while hi - lo > 1:
            mid = (lo + hi) // 2
            with rewrite_budget(mid):
                g = p.run(cur)
            if _bad(g, inputs, want, rtol, atol, f)[0]:
                hi = mid
            else:
                lo = mid
        if hi == 0:
            return res
        with rewrite_budget(lo):
            res.before = p.run(cur)
        with rewrite_budget(hi) as log:
            res.after = p.run(cur)
        res.rewrite = hi
        res.rule, res.op_name, res.loc = log[hi - 1]
        return res
    return None


__all__ = ["BisectResult", "bisect_passes", "first_difference"]
