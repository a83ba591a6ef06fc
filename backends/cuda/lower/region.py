"""``fusion`` regions: elementwise runs become one generated kernel; anchors and reductions use their rules.

A ``loop`` region is usually a single kernel.  In ``reduce`` and ``*_epilogue`` regions
the elementwise prologue (before a reduction) or epilogue (after a matmul/conv) is one
kernel and the anchor or reduction is launched by its own rule, all on device.
"""
from __future__ import annotations

from ..codegen import rules


@rules.register("fusion")
def _fusion(ctx, op):
    region = op.regions[0]
    return ctx.block(region.params, region.ops, region.results, fuse=True)
