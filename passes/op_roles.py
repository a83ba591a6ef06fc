"""Per-op facts the fusion and layout passes need beyond the registry's traits.

Traits already say which ops are ``elementwise``, ``broadcasting`` or a ``reduction``;
the passes read those.  What traits do not say lives here, in small tables keyed by
op name and filled by ``register`` calls (never an if/elif chain in a pass):

* ``ANCHORS``: ops that head an *epilogue* fusion region (a contraction followed by
  elementwise work on its output); the value is the region ``kind``.
* ``COSTS``: relative per-element cost of elementwise ops (default 1).  The fusion
  pass duplicates a producer into a second region only when its cost is at most
  ``CHEAP``; transcendental ops are worth keeping materialised instead.
* ``WEIGHT_OPERANDS`` / ``WEIGHT_RESULTS``: for ops with a ``layout`` attribute, which
  operands/results are filters (OIHW under NCHW, HWIO under NHWC) rather than images.
* ``INDEX_VALUED``: operand-free ops whose value is a function of the loop index (``iota``); a
  region recomputes them instead of reading them, like scalar constants.
* ``SPLATS``: ops whose result from a scalar constant is that constant at every index
  (``broadcast_to``); a region copies them in with their constant instead of reading them.
* ``EXPANSIONS``: ops the fusion pass first rewrites into elementwise ops (XLA's "expanders"),
  so that they fuse into their consumers instead of being materialised: ``one_hot`` becomes
  ``cast(eq(y[..., None], iota))``, which a cross-entropy's reduction then reads per element.

These would sit more naturally as traits on the op declarations (``contraction``,
``transcendental``); they are kept here until ``ir/ops`` grows them.
"""
from __future__ import annotations

from typing import Callable

from flowc.ir.registry import Rules

CHEAP = 1

ANCHORS = Rules("fusion anchor")
COSTS: dict[str, int] = {}
WEIGHT_OPERANDS: dict[str, tuple[int, ...]] = {}
WEIGHT_RESULTS: dict[str, tuple[int, ...]] = {}


def anchor(name: str, kind: str):
    ANCHORS.register(name)(lambda op, _kind=kind: _kind)


def cost(value: int, *names: str):
    for n in names:
        COSTS[n] = value


def weights(name: str, operands: tuple[int, ...] = (), results: tuple[int, ...] = ()):
    WEIGHT_OPERANDS[name] = operands
    WEIGHT_RESULTS[name] = results


def op_cost(name: str) -> int:
    return COSTS.get(name, 1)


INDEX_VALUED: set[str] = {"iota"}
SPLATS: set[str] = {"broadcast_to"}

EXPANSIONS: dict[str, Callable] = {}


def expansion(name: str):
    """Register ``fn(op, rw) -> Value``: an elementwise form of op ``name`` built with a Rewriter."""
    def deco(fn):
        EXPANSIONS[name] = fn
        return fn
    return deco


@expansion("one_hot")
def _one_hot_elementwise(op, rw):
    """Same values, negative and out-of-range indices included: no j in [0, depth) equals them."""
    (y,), t = op.operands, op.results[0].type
    column = rw("expand_dims", y, axes=(y.type.ndim,))
    j = rw("iota", shape=t.shape, dtype=y.type.dtype, axis=t.ndim - 1)
    return rw("cast", rw("eq", column, j), dtype=t.dtype)


anchor("matmul", "matmul_epilogue")
anchor("conv2d", "conv_epilogue")

cost(4, "exp", "log", "log1p", "tanh", "sigmoid", "sin", "cos", "sqrt", "rsqrt", "pow", "div")

weights("conv2d", operands=(1,))
weights("conv2d_input_grad", operands=(1,))
weights("conv2d_filter_grad", results=(0,))
