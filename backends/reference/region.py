"""Reference semantics of region ops: evaluate the region in place."""
from . import impls


@impls.register("fusion")
def _fusion(*args, kind, regions):
    return tuple(regions[0](*args))
