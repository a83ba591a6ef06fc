"""Differential testing: check a program on every backend against the reference, bisect the pass
pipeline, fuzz random programs, shrink failures to small reproducers.

    fc.testing.check(fn, x, w, backends=("numba",))      # raises CheckFailure with a report on a mismatch
    fc.testing.bisect_passes(f, inputs, opt_level=2)     # the first pass and rewrite that change results
    fc.testing.fuzz(count=200, seed=1, backends=("reference",))
"""
from .bisect import BisectResult, bisect_passes
from .check import (BackendUnavailable, CheckFailure, CheckReport, Divergence, Mismatch, check, check_function,
                    localize)
from .fuzz import FuzzFailure, FuzzReport, fuzz, generate, write_reproducer
from .programs import random_inputs
from .shrink import shrink
from .tolerances import compare, tolerance

__all__ = ["BisectResult", "bisect_passes", "BackendUnavailable", "CheckFailure", "CheckReport", "Divergence",
           "Mismatch", "check", "check_function", "localize", "FuzzFailure", "FuzzReport", "fuzz", "generate",
           "write_reproducer", "random_inputs", "shrink", "compare", "tolerance"]
