"""The Numba CPU backend: a whole Function becomes one ``@numba.njit`` program, compiled once.

``compile(function)`` returns a :class:`Compiled` callable on numpy arrays.  The
program is a short sequence of calls into kernels: hand-written ones in
:mod:`.kernels` (BLAS matmul, reductions, softmax, conv/pool, Threefry; cached
with the package) and generated ones, one per distinct op or fusion-region text
(cached in the flowc cache, shared by every program).  The program calls them by
symbol rather than linking a copy of each into its own machine code (see :mod:`.link`), so kernels that
return nothing compile in forked workers beside the program (:mod:`.workers`).  The source is readable
(``compiled.source``: program then kernels), symbolic dims are runtime variables
(one compilation serves every batch size), and compiled code is cached in memory
per function text and on disk (see :mod:`.cache`).  ``FLOWC_NUM_THREADS`` sets
Numba's thread count.  Large loop nests run under ``prange`` in programs that make
no BLAS call (``FLOWC_NUMBA_PARALLEL=auto``, the default; ``=1`` everywhere, ``=0``
never; see ``codegen.parallel_mode``).  Image ops run in NHWC (``PREFERRED_LAYOUT``, see
:mod:`.image`), where every convolution is a plain GEMM.
"""
from __future__ import annotations

from . import target

VECTORS = target.configure()    # before anything compiles: the machine's full vector width (see .target)

from . import lower  # noqa: F401,E402  (registers every lowering rule)
from .codegen import NumbaLoweringError, generate, rules  # noqa: E402
from .compiler import Compiled, NumbaBackendBug, compile  # noqa: E402

PREFERRED_LAYOUT = "NHWC"   # for the layout pass

__all__ = ["PREFERRED_LAYOUT", "compile", "Compiled", "generate", "rules", "NumbaLoweringError", "NumbaBackendBug"]
