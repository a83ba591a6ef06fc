"""A register-blocked float32 GEMM for the products numpy's OpenBLAS runs slowly on these machines.

OpenBLAS picks its SkylakeX kernels on the AMD Zen 4 cores here and reaches about 100 GFLOP/s a core on
large square products, but 75-85 on the narrow ones convolutions are made of ([12544,800]x[800,64], the
MNIST CNN's conv2).  oneDNN's direct convolution ran that layer at 250 GFLOP/s on two cores, so the
machine has the headroom.  The kernel here keeps a tile of MR rows x 64 columns of the result in 24
vector registers (``<16 x float>``, written as LLVM IR: Numba's loops do not register-block) and per step
of the contraction broadcasts MR elements of ``a`` against four vectors of ``b``: 24 fused multiply-adds
for 10 loads.  Measured on that product: 105 GFLOP/s on one core, 206 on two (OpenBLAS: 80 and 154).

``b`` must have unit column stride and ``n`` a multiple of 16: each contraction block of it is copied
into contiguous [KC, 64] panels first (``_pack``); ``a`` may have any strides, so a transposed operand is
not copied.  ``gemm_nt_block`` is the dot-product form
for ``a @ w.T`` with the rows of both contiguous (a transposed weight, which the kernel above could read
only after a copy): 4x4 tiles of accumulators along k, folded into their 16 results at the end.  Used only
where the host has AVX-512 (``AVAILABLE``): elsewhere LLVM splits the vectors and the accumulators no
longer fit in registers.
"""
from __future__ import annotations

import numba
import numba.extending
import numpy as np
from llvmlite import binding, ir
from numba.core import cgutils

from .runtime import jit

MR = 6                   # rows of a tile: 6 x 4 accumulators + 4 of b + a broadcast = 29 of 32 registers
NR = 64                  # columns of a full tile (four vectors of 16)
KC = 512                 # contraction block: b's [KC, 64] block (128 KB) stays in L2 across row tiles
B_RESIDENT = 1 << 17     # elements of b's block (512 KB) that stay in L2 with every column panel
_F32 = ir.FloatType()
_V16 = ir.VectorType(_F32, 16)
_I64 = ir.IntType(64)


def _host_has_avx512() -> bool:
    binding.initialize_native_target()
    return "+avx512f" in binding.get_host_cpu_features().flatten().split(",")


AVAILABLE = _host_has_avx512()


def _tile_intrinsic(nv: int):
    """C[MR, 16*nv] (acc: +=, else =) A[MR, k] @ B[k, 16*nv] over raw addresses; strides in elements."""
    @numba.extending.intrinsic
    def tile(typingctx, a, rsa, csa, b, ldb, k, c, ldc, acc):
        def codegen(context, builder, signature, args):
            a_, rsa_, csa_, b_, ldb_, k_, c_, ldc_, acc_ = args
            fp, vp = _F32.as_pointer(), _V16.as_pointer()
            ap, bp, cp = (builder.inttoptr(x, fp) for x in (a_, b_, c_))
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16, [_V16] * 3), "llvm.fma.v16f32")
            keep = builder.icmp_signed("!=", acc_, ir.Constant(_I64, 0))
            zero = ir.Constant(_V16, [0.0] * 16)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16)

            def c_vec(r, j):
                at = builder.add(builder.mul(ir.Constant(_I64, r), ldc_), ir.Constant(_I64, 16 * j))
                return builder.bitcast(builder.gep(cp, [at]), vp)

            slots = [[cgutils.alloca_once(builder, _V16) for _ in range(nv)] for _ in range(MR)]
            with builder.if_else(keep) as (then, otherwise):
                with then:
                    for r in range(MR):
                        for j in range(nv):
                            builder.store(builder.load(c_vec(r, j), align=4), slots[r][j])
                with otherwise:
                    for r in range(MR):
                        for j in range(nv):
                            builder.store(zero, slots[r][j])
            with cgutils.for_range(builder, k_) as loop:
                kk = loop.index
                brow = builder.gep(bp, [builder.mul(kk, ldb_)])
                bv = [builder.load(builder.bitcast(builder.gep(brow, [ir.Constant(_I64, 16 * j)]), vp), align=4)
                      for j in range(nv)]
                acol = builder.gep(ap, [builder.mul(kk, csa_)])
                for r in range(MR):
                    s = builder.load(builder.gep(acol, [builder.mul(ir.Constant(_I64, r), rsa_)]))
                    one = builder.insert_element(ir.Constant(_V16, None), s, ir.Constant(ir.IntType(32), 0))
                    bc = builder.shuffle_vector(one, ir.Constant(_V16, None), splat)
                    for j in range(nv):
                        builder.store(builder.call(fma, [bc, bv[j], builder.load(slots[r][j])]), slots[r][j])
            for r in range(MR):
                for j in range(nv):
                    builder.store(builder.load(slots[r][j]), c_vec(r, j), align=4)
            return context.get_dummy_value()
        i64 = numba.types.int64
        return numba.types.void(i64, i64, i64, i64, i64, i64, i64, i64, i64), codegen
    return tile


_tile4, _tile2, _tile1 = _tile_intrinsic(4), _tile_intrinsic(2), _tile_intrinsic(1)


@jit
def _tile(pa, rsa, csa, pb, ldb, k, pc, ldc, acc, width):
    """One tile of MR rows and ``width`` (a multiple of 16, at most NR) columns."""
    j = 0
    while width - j >= 64:
        _tile4(pa, rsa, csa, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)
        j += 64
    if width - j >= 32:
        _tile2(pa, rsa, csa, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)
        j += 32
    if width - j >= 16:
        _tile1(pa, rsa, csa, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)


@jit
def _pack(b, k0, kk, j0, j1, buf, at):
    """b[k0:k0+kk, j0:j1] into buf[at:] as a [kk, NR] panel (columns past j1 - j0 are left unread).

    Why: read in place, b's rows are ldb apart (4 KB for a 1024-wide weight), so each step of the k loop
    touches a new page and the same few L1 sets; a contiguous panel streams.  Measured on one thread,
    interleaved with the unpacked kernel, three runs: [128,1024]x[1024,1024] 70-80 -> 98-118 GFLOP/s, W4's
    weight gradient [1024,128]x[128,1024] 111-121 -> 141-170; convolution-shaped products within the noise
    (+-10%).  Packing a's tiles as well lost: a scalar copy per tile cost up to a third of the
    [12544,800]x[800,64] convolution product."""
    for r in range(kk):
        row = b[k0 + r]
        base = at + r * NR
        for c in range(j1 - j0):
            buf[base + c] = row[j0 + c]


@jit
def _tiles(pa, rsa, csa, b, pc, ldc, k, ntiles, c0, c1, buf, pad, pres):
    """``ntiles`` tiles of MR rows from pa/pc, columns c0:c1, over contraction blocks of KC; b's blocks packed
    into ``buf``.  ``pad`` (when it has rows) is one more tile: the last rows of a, zero-padded to MR, with
    results at ``pres``."""
    rest = pad.shape[0] > 0
    for k0 in range(0, k, KC):
        kk = min(KC, k - k0)
        acc = 1 if k0 > 0 else 0
        npan = (c1 - c0 + NR - 1) // NR
        whole = kk * npan * NR <= B_RESIDENT     # all of b's block stays in L2: each tile of a is read once
        if whole:
            for q in range(npan):
                _pack(b, k0, kk, c0 + q * NR, min(c1, c0 + (q + 1) * NR), buf, q * kk * NR)
        for q in range(1 if whole else npan):
            if not whole:                          # one panel at a time stays in L2 across the tiles of a
                _pack(b, k0, kk, c0 + q * NR, min(c1, c0 + (q + 1) * NR), buf, 0)
            for t in range(ntiles + (1 if rest else 0)):
                if t < ntiles:
                    ta, tc, ld, ra, ca = pa + 4 * (t * MR * rsa + k0 * csa), pc + 4 * t * MR * ldc, ldc, rsa, csa
                else:                              # the rest's results are addressed from column c0
                    ta, tc, ld, ra, ca = pad.ctypes.data + 4 * k0, pres - 4 * c0, c1 - c0, k, 1
                p0, p1 = (0, npan) if whole else (q, q + 1)
                for p in range(p0, p1):
                    j0 = c0 + p * NR
                    _tile(ta, ra, ca, buf.ctypes.data + 4 * (p - q) * kk * NR, NR, kk, tc + 4 * j0, ld, acc,
                          min(NR, c1 - j0))


@jit
def gemm_block(a, b, out, r0, r1, c0, c1):
    """out[r0:r1, c0:c1] = (a @ b)[r0:r1, c0:c1] for float32; c0, c1 multiples of 16, b with unit column
    stride.  A last tile of fewer than MR rows runs on a zero-padded copy of its rows."""
    k = a.shape[1]
    rsa, csa = a.strides[0] // 4, a.strides[1] // 4
    ldc = out.strides[0] // 4
    full = (r1 - r0) // MR
    rest = r0 + full * MR
    nrest = r1 - rest
    pad = np.zeros((MR if nrest else 0, k), np.float32)
    for r in range(nrest):
        for q in range(k):
            pad[r, q] = a[rest + r, q]
    res = np.empty((MR if nrest else 0, c1 - c0), np.float32)
    buf = np.empty(min(B_RESIDENT, min(KC, k) * ((c1 - c0 + NR - 1) // NR) * NR), np.float32)   # what _tiles packs
    _tiles(a.ctypes.data + 4 * r0 * rsa, rsa, csa, b, out.ctypes.data + 4 * r0 * ldc, ldc, k, full, c0, c1, buf,
           pad, res.ctypes.data)
    for r in range(nrest):
        for q in range(c1 - c0):
            out[rest + r, c0 + q] = res[r, q]


# -- a @ w.T with both operands' rows contiguous (the backward pass's input gradient d @ W^T) ------------

NT = 4                   # a tile of NT x NT results: 16 accumulators of 16 k-lanes, 8 loads per 16 FMAs
NT_ROWS_L2 = 1 << 17     # elements of a's rows (512 KB) kept in L2 while every tile of w's rows passes


def _fold(builder, x, y, half):
    """x and y hold groups of 2*half lanes, one accumulator each; returns [x's groups | y's groups] with each
    group's two halves added (``half`` lanes a group): one add for two vectors."""
    idx_lo, idx_hi = [], []
    for g in range(16 // (2 * half)):          # groups of x, then of y (lanes 16.. address y)
        for i in range(half):
            idx_lo.append(g * 2 * half + i)
            idx_hi.append(g * 2 * half + half + i)
    for g in range(16 // (2 * half)):
        for i in range(half):
            idx_lo.append(16 + g * 2 * half + i)
            idx_hi.append(16 + g * 2 * half + half + i)
    i32 = ir.IntType(32)
    a = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(i32, 16), idx_lo))
    b = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(i32, 16), idx_hi))
    return builder.fadd(a, b)


@numba.extending.intrinsic
def _nt_tile(typingctx, a, lda, w, ldw, k16, c, ldc):
    """C[NT, NT] = A[NT, 16*k16] @ W[NT, 16*k16]^T over raw addresses (rows contiguous; strides in elements).
    The 16 accumulators hold lanes of k; at the end a fold tree (15 adds) turns them into one vector of
    the 16 dot products, instead of 16 horizontal sums."""
    def codegen(context, builder, signature, args):
        a_, lda_, w_, ldw_, k_, c_, ldc_ = args
        fp, vp = _F32.as_pointer(), _V16.as_pointer()
        ap, wp, cp = (builder.inttoptr(x, fp) for x in (a_, w_, c_))
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16, [_V16] * 3), "llvm.fma.v16f32")
        slots = [cgutils.alloca_once(builder, _V16) for _ in range(NT * NT)]
        for sl in slots:
            builder.store(ir.Constant(_V16, [0.0] * 16), sl)
        with cgutils.for_range(builder, k_) as loop:
            off = builder.mul(loop.index, ir.Constant(_I64, 16))

            def row(p, ld, r):
                at = builder.add(builder.mul(ir.Constant(_I64, r), ld), off)
                return builder.load(builder.bitcast(builder.gep(p, [at]), vp), align=4)
            av = [row(ap, lda_, r) for r in range(NT)]
            wv = [row(wp, ldw_, r) for r in range(NT)]
            for i in range(NT):
                for j in range(NT):
                    sl = slots[i * NT + j]
                    builder.store(builder.call(fma, [av[i], wv[j], builder.load(sl)]), sl)
        vs = [builder.load(sl) for sl in slots]
        half = 8
        while len(vs) > 1:                     # 16 vectors -> 8 -> 4 -> 2 -> 1; lane t ends as accumulator t
            vs = [_fold(builder, vs[2 * q], vs[2 * q + 1], half) for q in range(len(vs) // 2)]
            half //= 2
        for i in range(NT):
            for j in range(NT):
                at = builder.add(builder.mul(ir.Constant(_I64, i), ldc_), ir.Constant(_I64, j))
                builder.store(builder.extract_element(vs[0], ir.Constant(ir.IntType(32), i * NT + j)),
                              builder.gep(cp, [at]))
        return context.get_dummy_value()
    i64 = numba.types.int64
    return numba.types.void(i64, i64, i64, i64, i64, i64, i64), codegen


@jit
def gemm_nt_block(a, w, out, r0, r1, c0, c1):
    """out[r0:r1, c0:c1] = a[r0:r1] @ w[c0:c1].T for float32 with a's and w's rows contiguous and k a
    multiple of 16.  Tiles of NT x NT; the rows and columns past the last whole tile are plain dot products."""
    k = a.shape[1]
    lda, ldw, ldc = a.strides[0] // 4, w.strides[0] // 4, out.strides[0] // 4
    pa, pw, pc = a.ctypes.data, w.ctypes.data, out.ctypes.data
    rt, ct = r0 + (r1 - r0) // NT * NT, c0 + (c1 - c0) // NT * NT
    chunk = max(NT, NT_ROWS_L2 // max(k, 1) // NT * NT)
    for i0 in range(r0, rt, chunk):
        for j in range(c0, ct, NT):
            for i in range(i0, min(i0 + chunk, rt), NT):
                _nt_tile(pa + 4 * i * lda, lda, pw + 4 * j * ldw, ldw, k // 16, pc + 4 * (i * ldc + j), ldc)
    for i in range(r0, r1):
        for j in range(c0, c1):
            if i >= rt or j >= ct:
                s = np.float32(0)
                for q in range(k):
                    s += a[i, q] * w[j, q]
                out[i, j] = s


def fits(x, n):
    """Whether a product with ``n`` columns in ``x``'s dtype runs here (given unit column strides)."""


@numba.extending.overload(fits)
def _fits_impl(x, n):
    if AVAILABLE and x.dtype == numba.float32:
        return lambda x, n: n % 16 == 0
    return lambda x, n: False
