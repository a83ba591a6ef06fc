"""How close two results must be: tolerances per dtype and op class, and the comparison itself.

Integers, bools and every op that only moves or selects data are compared exactly.
Float tolerances start from the dtype's precision and widen by op class: a
transcendental (``exp``, ``tanh``) may differ by a few ulps between libm and numpy,
and an op that accumulates (reductions, matmul, conv) may sum in another order.
For accumulating ops the absolute tolerance also scales with the result's largest
magnitude, since cancellation leaves an error relative to the terms, not to the sum.
NaN equals NaN and an infinity must match exactly; -0.0 equals 0.0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

# (rtol, atol) for a float dtype, for exact-in-principle elementwise ops.
BASE = {"f16": (2e-3, 1e-3), "f32": (2e-6, 1e-6), "f64": (1e-12, 1e-12)}

# Op classes, loosest last: the class factor multiplies both tolerances.
CLASS_FACTOR = {"exact": 0.0, "elementwise": 1.0, "transcendental": 8.0, "accumulate": 64.0}

TRANSCENDENTAL = frozenset({
    "exp", "log", "log1p", "sqrt", "rsqrt", "tanh", "sigmoid", "sin", "cos", "pow", "softmax", "log_softmax", "logsumexp",
    "local_response_norm", "random_normal", "random_uniform", "div"})
MOVES_DATA = frozenset({
    "reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "concatenate", "pad", "slice", "take",
    "pick", "one_hot", "constant", "iota", "select", "neg", "abs", "sign", "relu", "floor", "ceil", "maximum",
    "minimum", "max_pool2d", "reduce_max", "reduce_min", "argmax", "argmin", "random_bits", "random_split",
    "random_bernoulli", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not"})
ACCUMULATE = frozenset({
    "reduce_sum", "reduce_mean", "reduce_prod", "matmul", "conv2d", "avg_pool2d", "scatter_add",
    "conv2d_input_grad", "conv2d_filter_grad", "avg_pool2d_grad", "max_pool2d_grad", "fusion"})


def op_class(name: str) -> str:
    if name in ACCUMULATE:
        return "accumulate"
    if name in TRANSCENDENTAL:
        return "transcendental"
    if name in MOVES_DATA:
        return "exact"
    return "elementwise"


def loosest(names: Iterable[str]) -> str:
    """The loosest class among ``names``: the class a whole program's outputs are judged by."""
    classes = {op_class(n) for n in names} | {"elementwise"}
    return max(classes, key=CLASS_FACTOR.__getitem__)


def coarsest(out_dtype, dtypes: Iterable) -> object:
    """The dtype an output of ``out_dtype`` is judged by: the least precise float among it and ``dtypes``
    (the values computed on the way), since a float32 sum cast to float64 keeps float32's rounding."""
    name = getattr(out_dtype, "name", out_dtype)
    if name not in BASE:
        return out_dtype
    floats = [d for d in dtypes if getattr(d, "name", d) in BASE]
    return max([out_dtype, *floats], key=lambda d: BASE[getattr(d, "name", d)][0])


def tolerance(dtype, cls: str = "elementwise") -> tuple[float, float]:
    """(rtol, atol) for results of ``dtype`` (a DType or its name) computed by ops of class ``cls``."""
    name = getattr(dtype, "name", dtype)
    if name not in BASE:
        return 0.0, 0.0
    rtol, atol = BASE[name]
    k = max(CLASS_FACTOR[cls], 1.0)
    return rtol * k, atol * k


@dataclass
class Diff:
    """How ``got`` differs from ``want`` (``ok`` when within tolerance)."""
    ok: bool
    reason: str = ""             # "" | "shape" | "dtype" | "values"
    max_abs: float = 0.0
    max_rel: float = 0.0
    bad: int = 0                 # number of out-of-tolerance elements
    index: tuple = ()            # the worst element
    got: object = None
    want: object = None

    def describe(self) -> str:
        if self.ok:
            return "agrees"
        if self.reason in ("shape", "dtype"):
            return f"{self.reason} differs: got {self.got}, expected {self.want}"
        return (f"{self.bad} element(s) differ; max abs error {self.max_abs:.3g}, max rel error "
                f"{self.max_rel:.3g}; worst at index {list(self.index)}: got {self.got!r}, expected {self.want!r}")


def compare(got, want, rtol: float, atol: float, scale_atol: bool = False) -> Diff:
    """Compare one result against the reference; ``scale_atol`` multiplies atol by max |want|."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return Diff(False, "shape", got=got.shape, want=want.shape)
    if got.dtype != want.dtype:
        return Diff(False, "dtype", got=got.dtype, want=want.dtype)
    if got.size == 0:
        return Diff(True)
    if want.dtype.kind != "f":
        bad = got != want
        if not bad.any():
            return Diff(True)
        g, w = got.astype(np.float64), want.astype(np.float64)
        err = np.abs(g - w)
        i = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), got.shape)
        return Diff(False, "values", float(err.max()), float(np.max(err / np.maximum(np.abs(w), 1e-300))),
                    int(bad.sum()), tuple(int(k) for k in i), got[i].item(), want[i].item())
    g, w = got.astype(np.float64), want.astype(np.float64)
    if scale_atol:
        finite = np.abs(w[np.isfinite(w)])
        atol = atol * max(1.0, float(finite.max(initial=0.0)))
    with np.errstate(all="ignore"):
        err = np.abs(g - w)
        same_special = (np.isnan(g) & np.isnan(w)) | (np.isinf(g) & (g == w))
        finite_both = np.isfinite(g) & np.isfinite(w)
        ok = same_special | (finite_both & (err <= atol + rtol * np.abs(w)))
        rel = np.where(finite_both, err / np.maximum(np.abs(w), np.finfo(np.float64).tiny), np.inf)
        err = np.where(finite_both, err, np.inf)
    if ok.all():
        return Diff(True)
    bad = ~ok
    i = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(err, posinf=1e308), -1))), got.shape)
    return Diff(False, "values", float(err[bad].max()), float(rel[bad].max()), int(bad.sum()),
                tuple(int(k) for k in i), got[i].item(), want[i].item())


def compare_value(got, want, dtype, cls: str, rtol: float | None = None, atol: float | None = None) -> Diff:
    """``compare`` with the tolerance of ``dtype``/``cls`` unless ``rtol``/``atol`` override it."""
    r, a = tolerance(dtype, cls)
    return compare(got, want, r if rtol is None else rtol, a if atol is None else atol,
                   scale_atol=cls == "accumulate")


__all__ = ["BASE", "CLASS_FACTOR", "op_class", "loosest", "coarsest", "tolerance", "Diff", "compare", "compare_value"]
