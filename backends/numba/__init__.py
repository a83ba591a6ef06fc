"""The Numba CPU backend: a whole Function becomes one ``@numba.njit`` program, compiled once.

``compile(function)`` returns a :class:`Compiled` callable on numpy arrays.  The
program source is readable (``compiled.source``), symbolic dims are runtime
variables (one compilation serves every batch size), and compiled code is
cached in memory per function text and on disk (see :mod:`.cache`).
``FLOWC_NUM_THREADS`` sets Numba's thread count (default: all cores).
"""
from __future__ import annotations

from . import lower  # noqa: F401  (registers every lowering rule)
from .codegen import NumbaLoweringError, generate, rules
from .compiler import Compiled, NumbaBackendBug, compile

__all__ = ["compile", "Compiled", "generate", "rules", "NumbaLoweringError", "NumbaBackendBug"]
