"""Loops written in explicit 512-bit vectors, where LLVM's loop vectorizer leaves Numba's code scalar.

Why: a float max over a row (``v if v > m else m``) is a select recurrence, which the vectorizer
takes only under no-nans fast-math, and not even then from Numba's code (tried: fastmath
``nnan``/``nsz``/``True``, one accumulator or four).  The max pass of softmax and logsumexp then
ran at one element per cycle: 1.23 of the 2.86 ms one thread spends on W2's [4096,1000] logsumexp.
Vectors of ``512 // bits`` lanes are legalised by LLVM into whatever the host has (two ymm, four
xmm), so the code is portable.
"""
from __future__ import annotations

import numba
import numba.extending
from llvmlite import ir
from numba.core import cgutils, types


@numba.extending.intrinsic
def max_skip_nan(typingctx, row):
    """Max of a non-empty C-contiguous float row, in vectors of 512 bits.  A nan after the first element
    never wins (softmax does not care: the nan reaches the row's sum); a nan first element is the result."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
            and row.dtype in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(row)(context, builder, args[0])
        ft = context.get_value_type(row.dtype)
        lanes = 512 // row.dtype.bitwidth
        vt = ir.VectorType(ft, lanes)
        i64 = ir.IntType(64)
        data, n = ary.data, builder.extract_value(ary.shape, 0)

        def keep_greater(v, m):
            return builder.select(builder.fcmp_ordered(">", v, m), v, m)

        first = builder.load(data)
        splat = builder.insert_element(ir.Constant(vt, None), first, ir.Constant(ir.IntType(32), 0))
        acc = cgutils.alloca_once_value(builder, builder.shuffle_vector(
            splat, ir.Constant(vt, None), ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)))
        whole = builder.udiv(n, ir.Constant(i64, lanes))
        with cgutils.for_range(builder, whole) as loop:
            at = builder.gep(data, [builder.mul(loop.index, ir.Constant(i64, lanes))])
            v = builder.load(builder.bitcast(at, vt.as_pointer()), align=row.dtype.bitwidth // 8)
            builder.store(keep_greater(v, builder.load(acc)), acc)
        vec = builder.load(acc)
        m = cgutils.alloca_once_value(builder, builder.extract_element(vec, ir.Constant(ir.IntType(32), 0)))
        for lane in range(1, lanes):
            builder.store(keep_greater(builder.extract_element(vec, ir.Constant(ir.IntType(32), lane)),
                                       builder.load(m)), m)
        with cgutils.for_range(builder, builder.sub(n, builder.mul(whole, ir.Constant(i64, lanes)))) as loop:
            x = builder.load(builder.gep(data, [builder.add(builder.mul(whole, ir.Constant(i64, lanes)), loop.index)]))
            builder.store(keep_greater(x, builder.load(m)), m)
        return builder.load(m)
    return row.dtype(row), codegen
