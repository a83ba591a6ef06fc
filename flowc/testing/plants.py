"""Planted bugs: a deliberately wrong backend and a deliberately wrong pass.

The checking tools are only trustworthy if they catch a bug we know is there; the
tests register these temporarily (``install_buggy_backend`` / ``install_mul_zero_pass``
with pytest's monkeypatch) and assert that ``check`` names the op, ``--bisect`` the
pass and ``fuzz`` shrinks the failure to a handful of ops.
"""
from __future__ import annotations

import sys
import types

import numpy as np

from flowc.ir import Function, Op

BUGGY_BACKEND = "buggy_mul"
MUL_ZERO_PASS = "mul-zero"


def _buggy_compile(f: Function):
    """The reference interpreter, except ``mul`` is 1.5x too large wherever |x| > 0.5 (floats)."""
    from flowc.backends.reference.interpreter import _Interp, bind_inputs

    class Interp(_Interp):
        def op(self, op: Op, args):
            outs = super().op(op, args)
            if op.name == "mul" and outs[0].dtype.kind == "f":
                x = np.broadcast_to(args[0], outs[0].shape)
                outs = [np.where(np.abs(x) > 0.5, outs[0] * 1.5, outs[0]).astype(outs[0].dtype)]
            return outs

    def run(*args):
        return Interp(bind_inputs(f, args)).region(f, args)
    return run


def install_buggy_backend(monkeypatch, name: str = BUGGY_BACKEND) -> str:
    from flowc.backends import BACKENDS
    mod = types.ModuleType(f"flowc_planted_{name}")
    mod.compile = _buggy_compile
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(BACKENDS, name, mod.__name__)
    return name


def _mul_zero(op: Op, rw):
    from flowc.passes.rewrite import is_splat, splat
    for side in (0, 1):
        if is_splat(op.operands[side], 0):
            return splat(rw, 0, op.result.type, 4096)
    return None


def mul_zero_pass(f: Function) -> Function:
    """``x * 0 -> 0`` for every dtype: wrong for floats (inf * 0 and nan * 0 are nan)."""
    from flowc.passes.rewrite import Pattern, apply_patterns
    return apply_patterns(f, [Pattern("mul-by-zero", "mul", _mul_zero)])


def install_mul_zero_pass(monkeypatch, opt_levels=(1, 2, 3)) -> str:
    """Register the wrong pass and put it after ``simplify`` in the given default pipelines."""
    from flowc.passes import PIPELINES, Pass, available
    from flowc.passes.base import PASSES
    available()
    monkeypatch.setitem(PASSES, MUL_ZERO_PASS, Pass(MUL_ZERO_PASS, "planted bug: x*0 -> 0", mul_zero_pass))
    for level in opt_levels:
        monkeypatch.setitem(PIPELINES, level, ["fold", MUL_ZERO_PASS] + [p for p in PIPELINES[level] if p != "fold"])
    return MUL_ZERO_PASS


__all__ = ["install_buggy_backend", "install_mul_zero_pass", "mul_zero_pass", "BUGGY_BACKEND", "MUL_ZERO_PASS"]
