"""Ops that own regions.  ``fusion`` groups ops a backend emits as one kernel."""
from __future__ import annotations

from ..registry import Attr, defop
from ..types import TypeError_


def _verify_fusion(op):
    (region,) = op.regions
    got = tuple(v.type for v in op.operands)
    if region.param_types != got:
        raise TypeError_(f"region parameters ({', '.join(map(str, region.param_types))}) do not match the "
                         f"operands ({', '.join(map(str, got))})")
    if not region.results:
        raise TypeError_("a fusion region must yield at least one value")


defop("fusion", arity=None, regions=1, attrs={"kind": Attr("str", "loop")}, traits=("pure",),
      verify_regions=_verify_fusion,
      doc="run the region on the operands; results are what it yields (one kernel per fusion)")(None)
