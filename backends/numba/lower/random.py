"""Random ops via the Threefry kernels in ``kernels`` — bit for bit the reference's recipes.

Uniform floats: ``u * (hi - lo) + lo`` in the compute type (f32, or f64 for f64),
rounded to the dtype, clamped to ``[lo_d, nextafter(hi_d, -inf)]``; the clamp
bounds are computed here at codegen time with numpy, exactly as the reference does.
"""
from __future__ import annotations

import numpy as np

from flowc.ir.ops.random import compute_dtype
from flowc.backends.reference.threefry import SPLIT_DOMAIN

from ..codegen import literal, rules


@rules.register("random_split")
def _split(e, op):
    name = e.result_var(op.result)
    e.emit(f"{name} = {e.helper('random_blocks')}({e.arr(op.operands[0])}, {op.attrs['n']}, {SPLIT_DOMAIN})")
    return name


@rules.register("random_bits")
def _bits(e, op):
    shape = op.attrs["shape"]
    name = e.result_var(op.result)
    e.emit(f"{name} = {e.helper('random_bits')}({e.arr(op.operands[0])}, {e.count(shape)})"
           f".reshape({e.shape(shape)})")
    return name


@rules.register("random_uniform")
def _uniform(e, op):
    a, t = op.attrs, op.result.type
    dt, ct = t.dtype, compute_dtype(t.dtype)
    key, n = e.arr(op.operands[0]), e.count(a["shape"])
    lo, hi = ct.type(a["minval"]), ct.type(a["maxval"])
    name = e.result_var(op.result)
    kern = "uniform_f64" if ct == np.float64 else "uniform_f32"
    cdt = "f64" if ct == np.float64 else "f32"
    from flowc.ir.types import DTYPES
    e.emit(f"{name} = {e.helper(kern)}({key}, {n}, {literal(lo, DTYPES[cdt])}, {literal(hi, DTYPES[cdt])})")
    e.finish(name, t)
    with np.errstate(all="ignore"):
        lo_d, hi_d = dt.np.type(a["minval"]), dt.np.type(a["maxval"])
        top = np.nextafter(hi_d, dt.np.type(-np.inf))
    e.emit(f"{e.helper('clamp')}({name}, {literal(lo_d, dt)}, {literal(top, dt)})")
    shaped = e.result_var(op.result)
    e.emit(f"{shaped} = {name}.reshape({e.shape(a['shape'])})")
    return shaped


@rules.register("random_normal")
def _normal(e, op):
    a, t = op.attrs, op.result.type
    kern = "normal_f64" if t.dtype.name == "f64" else "normal_f32"
    name = e.result_var(op.result)
    e.emit(f"{name} = {e.helper(kern)}({e.arr(op.operands[0])}, {e.count(a['shape'])})")
    e.finish(name, t)
    shaped = e.result_var(op.result)
    e.emit(f"{shaped} = {name}.reshape({e.shape(a['shape'])})")
    return shaped


@rules.register("random_bernoulli")
def _bernoulli(e, op):
    kv, pv = op.operands
    shape = op.attrs["shape"]
    bits = e.fresh("bits")
    e.emit(f"{bits} = {e.helper('random_bits')}({e.arr(kv)}, {e.count(shape)}).reshape({e.shape(shape)})")
    out = e.alloc(op.result)
    u01 = e.helper("u01_f32")
    with e.loops(shape) as idx:
        p = e.load(pv, shape, idx)
        e.emit(f"{out}{e.sub(idx)} = {u01}({bits}{e.sub(idx)}) < {p}")
    return out


# Calls into the Threefry kernels only (no loops of their own): emitted in the program itself.
for _name in ("random_split", "random_bits", "random_uniform", "random_normal"):
    rules[_name].in_program = lambda op: True
