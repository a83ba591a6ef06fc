"""Gradient of a ``fusion`` region: differentiate the region body and inline its backward program."""
from flowc.ir.core import Function, Op

from .transform import grad_rules, vjp_function


@grad_rules.register("fusion")
def _fusion(g, op, cts):
    cts = cts if isinstance(cts, (list, tuple)) else [cts]
    (region,) = op.regions
    body = Function("fusion_body", region.params, region.ops, region.results)
    wrt = [i for i, p in enumerate(region.params) if p.type.dtype.is_float]
    back = vjp_function(body, wrt)
    env = {id(p): v for p, v in zip(back.params, list(op.operands) + list(cts))}
    for o in back.ops:
        new = Op(o.name, [env[id(v)] for v in o.operands], o.attrs, [r.type for r in o.results], o.regions,
                 o.loc if o.loc is not None else op.loc)
        g.b.ops.append(new)
        env.update((id(r), s) for r, s in zip(o.results, new.results))
    grads = [env[id(v)] for v in back.results[len(region.results):]]
    out = [None] * len(op.operands)
    for i, gr in zip(wrt, grads):
        out[i] = gr
    return out
