"""A register-blocked float32 GEMM for the products numpy's OpenBLAS runs slowly on these machines.

On the AMD Zen 4 host this was first measured on, OpenBLAS picks its SkylakeX kernels and reaches about
100 GFLOP/s a core on large square products, but 75-85 on the narrow ones convolutions are made of
([12544,800]x[800,64], the MNIST CNN's conv2).  oneDNN's direct convolution ran that layer at 250 GFLOP/s on two cores, so the
machine has the headroom.  The kernel here keeps a tile of MR rows x 64 columns of the result in 24
vector registers (``<16 x float>``, written as LLVM IR: Numba's loops do not register-block) and per step
of the contraction broadcasts MR elements of ``a`` against four vectors of ``b``: 24 fused multiply-adds
for 10 loads.  Measured on that product: 105 GFLOP/s on one core, 206 on two (OpenBLAS: 80 and 154).

``b`` must have unit column stride (or unit row stride: a transposed weight, packed through 16 x 16
register transposes) and ``n`` a multiple of 16: each contraction block of it is copied into contiguous,
cache-line-aligned [KC, 64] panels first (``_pack``).  ``a`` is read in place through a table of row
addresses, so it may have any strides (a transposed operand is not copied) and its "rows" need not be a
matrix's at all: ``conv_block`` points them at each output pixel's window in the padded image, a
convolution with no patch matrix (an implicit GEMM).  ``gemm_nt_block`` is the dot-product form
for ``a @ w.T`` with the rows of both contiguous (a transposed weight, which the kernel above could read
only after a copy; ``blas.gemm`` copies a narrow b transposed for it): 4 x 4, 4 x 2 or 4 x 1 tiles
of accumulators along k, folded into their results at the end.  Used only
where the host has AVX-512 (``AVAILABLE``): elsewhere LLVM splits the vectors and the accumulators no
longer fit in registers.
"""
from __future__ import annotations

import numba
import numba.extending
import numpy as np
from llvmlite import binding, ir
from numba.core import cgutils

from . import epilogue
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


def fma16(builder):
    """LLVM's fused multiply-add of two <16 x float> onto a third (vfmadd on AVX-512)."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16, [_V16] * 3), "llvm.fma.v16f32")


def _tile_intrinsic(nv: int):
    """C[MR, 16*nv] (acc: +=, else =) A[MR, K] @ B[K, 16*nv] over raw addresses; strides in elements.

    Row r of A starts at the address held in the int64 ``rows[r]``, so a tile's rows may lie anywhere: a
    matrix's rows, or a convolution's output pixels each reading its own window of the image.  K is
    ``nseg`` segments of ``k`` steps (a window's tap rows): A's element (s, kk) of a row lies
    ``off + s*sstride + kk*csa`` past the row's start; B's row is ``s*k + kk``."""
    @numba.extending.intrinsic
    def tile(typingctx, rows, off, csa, nseg, sstride, b, ldb, k, c, ldc, acc):
        def codegen(context, builder, signature, args):
            rows_, off_, csa_, nseg_, sstride_, b_, ldb_, k_, c_, ldc_, acc_ = args
            fp, vp = _F32.as_pointer(), _V16.as_pointer()
            bp, cp = (builder.inttoptr(x, fp) for x in (b_, c_))
            rp = builder.inttoptr(rows_, _I64.as_pointer())
            arow = [builder.gep(builder.inttoptr(builder.load(builder.gep(rp, [ir.Constant(_I64, r)])), fp), [off_])
                    for r in range(MR)]
            fma = fma16(builder)
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
            with cgutils.for_range(builder, nseg_) as seg:
                sa = builder.mul(seg.index, sstride_)
                sb = builder.gep(bp, [builder.mul(builder.mul(seg.index, k_), ldb_)])
                with cgutils.for_range(builder, k_) as loop:
                    kk = loop.index
                    brow = builder.gep(sb, [builder.mul(kk, ldb_)])
                    bv = [builder.load(builder.bitcast(builder.gep(brow, [ir.Constant(_I64, 16 * j)]), vp), align=4)
                          for j in range(nv)]
                    at = builder.add(sa, builder.mul(kk, csa_))
                    for r in range(MR):
                        s = builder.load(builder.gep(arow[r], [at]))
                        one = builder.insert_element(ir.Constant(_V16, None), s, ir.Constant(ir.IntType(32), 0))
                        bc = builder.shuffle_vector(one, ir.Constant(_V16, None), splat)
                        for j in range(nv):
                            builder.store(builder.call(fma, [bc, bv[j], builder.load(slots[r][j])]), slots[r][j])
            for r in range(MR):
                for j in range(nv):
                    builder.store(builder.load(slots[r][j]), c_vec(r, j), align=4)
            return context.get_dummy_value()
        i64 = numba.types.int64
        return numba.types.void(*[i64] * 11), codegen
    return tile


_tile4, _tile2, _tile1 = (_tile_intrinsic(nv) for nv in (4, 2, 1))


@jit
def _tile(rows, off, csa, nseg, sstride, pb, ldb, k, pc, ldc, acc, width):
    """One tile of MR rows and ``width`` (a multiple of 16, at most NR) columns."""
    j = 0
    while width - j >= 64:
        _tile4(rows, off, csa, nseg, sstride, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)
        j += 64
    if width - j >= 32:
        _tile2(rows, off, csa, nseg, sstride, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)
        j += 32
    if width - j >= 16:
        _tile1(rows, off, csa, nseg, sstride, pb + 4 * j, ldb, k, pc + 4 * j, ldc, acc)


@numba.extending.intrinsic
def _copy_panel(typingctx, src, ld, rows, nv, dst):
    """dst[r*NR + c] = src[r*ld + c] for r < rows, c < 16*nv (nv <= 4), over raw float32 addresses.

    Why IR: the same copy as a Numba loop over row views ran at a quarter of this speed with b already in
    L2 (a row view per step, a scalar or short-vector loop).  Prefetching rows ahead measured the same
    (0.097-0.106 ms per 2 MB at 0 to 8 rows ahead), so there is none."""
    def codegen(context, builder, signature, args):
        src_, ld_, rows_, nv_, dst_ = args
        fp, vp = _F32.as_pointer(), _V16.as_pointer()
        s, d = builder.inttoptr(src_, fp), builder.inttoptr(dst_, fp)
        with cgutils.for_range(builder, rows_) as loop:
            srow = builder.gep(s, [builder.mul(loop.index, ld_)])
            drow = builder.gep(d, [builder.mul(loop.index, ir.Constant(_I64, NR))])
            for j in range(NR // 16):
                with builder.if_then(builder.icmp_signed(">", nv_, ir.Constant(_I64, j))):
                    v = builder.load(builder.bitcast(builder.gep(srow, [ir.Constant(_I64, 16 * j)]), vp), align=4)
                    builder.store(v, builder.bitcast(builder.gep(drow, [ir.Constant(_I64, 16 * j)]), vp), align=4)
        return context.get_dummy_value()
    i64 = numba.types.int64
    return numba.types.void(*[i64] * 5), codegen


def _transpose16(builder, vecs):
    """The 16 x 16 transpose of 16 rows held as <16 x float>: four butterfly stages, each exchanging the
    off-diagonal blocks of size 8, 4, 2, 1 between pairs of rows (one two-source shuffle per row per stage,
    vpermt2ps on AVX-512)."""
    v = list(vecs)
    index = ir.VectorType(ir.IntType(32), 16)
    for half in (8, 4, 2, 1):
        lo = ir.Constant(index, [j if j & half == 0 else 16 + j - half for j in range(16)])
        hi = ir.Constant(index, [j + half if j & half == 0 else 16 + j for j in range(16)])
        for i in range(16):
            if i & half:
                continue
            x, y = v[i], v[i + half]
            v[i], v[i + half] = builder.shuffle_vector(x, y, lo), builder.shuffle_vector(x, y, hi)
    return v


@numba.extending.intrinsic
def transpose16(typingctx, src, lds, dst, offsets):
    """dst[offsets[q] + r] = src[r*lds + q] for r, q < 16: one float32 block transposed in registers, its
    16 result rows stored wherever ``offsets`` (an int64 address of 16 element offsets) puts them.

    Why: a transposing copy element by element reads the source a row apart per element; this reads 16
    contiguous runs and writes 16 (``_transpose_panel``; ``kernels.transposed``, AlexNet's filters)."""
    def codegen(context, builder, signature, args):
        src_, lds_, dst_, offsets_ = args
        fp, vp = _F32.as_pointer(), _V16.as_pointer()
        s, d = builder.inttoptr(src_, fp), builder.inttoptr(dst_, fp)
        offs = builder.inttoptr(offsets_, _I64.as_pointer())
        rows = [builder.load(builder.bitcast(builder.gep(s, [builder.mul(ir.Constant(_I64, r), lds_)]), vp), align=4)
                for r in range(16)]
        for q, row in enumerate(_transpose16(builder, rows)):
            at = builder.load(builder.gep(offs, [ir.Constant(_I64, q)]))
            builder.store(row, builder.bitcast(builder.gep(d, [at]), vp), align=4)
        return context.get_dummy_value()
    i64 = numba.types.int64
    return numba.types.void(i64, i64, i64, i64), codegen


def vector_transposes(x):
    """Whether :func:`transpose16` serves ``x``'s dtype here (float32 on an AVX-512 host)."""


@numba.extending.overload(vector_transposes)
def _vector_transposes_impl(x):
    ok = AVAILABLE and x.dtype == numba.float32
    return lambda x: ok


@jit
def _transpose_panel(src, ld, rows, nv, dst):
    """dst[r*NR + c] = src[c*ld + r] for r < rows (a multiple of 16), c < 16*nv, over raw float32
    addresses: a panel of b packed from b's transpose (a weight w read as w.T), by ``transpose16``.

    Why: ``a @ w.T`` otherwise takes the dot-product kernel (gemm_nt_block), which reads both operands
    from L2 for every 16 multiply-adds.  Two threads, interleaved in one process, three rounds (dot-product
    kernel / packed): [128,1024]x[1024,1024].T 119-149 / 180-206 GFLOP/s, [64,128]x[128,3136].T 105-108 /
    160-208, [64,1024]x[1024,3136].T 137-154 / 146-167; in a quieter hour 148-191 / 278-312, 180-206 /
    280-317, 185-216 / 257-272.  Sixteen columns at a time (16 streams of b, which
    the hardware prefetcher follows; 64 at once it did not) packed 2 MB in 0.10 ms instead of 0.15-0.19."""
    offsets = np.arange(16) * NR                # block row q goes to panel row q
    for g in range(nv):
        for r in range(0, rows, 16):
            transpose16(src + 4 * (16 * g * ld + r), ld, dst + 4 * (r * NR + 16 * g), offsets.ctypes.data)


@jit
def _pack(b, k0, kk, j0, j1, buf, at):
    """b[k0:k0+kk, j0:j1] into buf[at:] as a [kk, NR] panel (columns past j1 - j0 are left unread; j1 - j0
    is a multiple of 16; b's columns or its rows contiguous).

    Why: read in place, b's rows are ldb apart (4 KB for a 1024-wide weight), so each step of the k loop
    touches a new page and the same few L1 sets; a contiguous panel streams.  Measured on one thread,
    interleaved with the unpacked kernel, three runs: [128,1024]x[1024,1024] 70-80 -> 98-118 GFLOP/s, W4's
    weight gradient [1024,128]x[128,1024] 111-121 -> 141-170; convolution-shaped products within the noise
    (+-10%).  Packing a's tiles as well lost: a scalar copy per tile cost up to a third of the
    [12544,800]x[800,64] convolution product.  The copy (``_copy_panel``) packs 2 MB of a 4 MB weight in
    0.10 ms where a Numba loop took 0.27-0.41 ms: with 2 threads the [128,1024]x[1024,1024] product went
    from 150-160 GFLOP/s to (prepacked) 220-250."""
    if kk <= 0:
        return
    if b.strides[1] == 4:
        _copy_panel(b.ctypes.data + 4 * (k0 * (b.strides[0] // 4) + j0), b.strides[0] // 4, kk, (j1 - j0) // 16,
                    buf.ctypes.data + 4 * at)
        return
    ld = b.strides[1] // 4                        # b's rows contiguous: b is a transposed C matrix
    whole = kk // 16 * 16
    _transpose_panel(b.ctypes.data + 4 * (k0 + j0 * ld), ld, whole, (j1 - j0) // 16, buf.ctypes.data + 4 * at)
    for r in range(whole, kk):
        for c in range(j1 - j0):
            buf[at + r * NR + c] = b[k0 + r, j0 + c]


@jit
def _aligned(size):
    """An empty float32 buffer starting on a cache line.

    Why: Numba's arrays start 32 bytes into a line about half the time, and then every 64-byte load of a
    packed panel spans two lines.  Two threads on prepacked [128,1024]x[1024,1024] panels, three rounds:
    291-395 GFLOP/s aligned, 269-300 at 32 bytes off."""
    raw = np.empty(size + 16, np.float32)
    at = (-raw.ctypes.data) % 64 // 4
    return raw[at:at + size]


@jit
def _tiles(rows, m, csa, run, last, nsegs, sstride, segs, b, out, r0, c0, c1, acc0, ep):
    """out[r0:r0+m, c0:c1] (+)= A @ b[:, c0:c1] (``acc0``: add to out), then the epilogue ``ep``
    (:mod:`.epilogue`) on each tile's results once they are final, A's row t starting at the address
    ``rows[t]`` (``rows`` holds whole tiles: the last row's address repeats) and made of ``nsegs`` segments
    of ``run`` elements (the last one ``last``; segs == 1 where they differ), ``sstride`` apart; see
    _tile_intrinsic.

    Contraction blocks of ``segs`` segments; b's block is packed into [kk, NR] panels (_pack), all of them
    when they fit in B_RESIDENT (then each tile of A is read once a block), else one panel at a time that
    stays in L2 across the tiles.  A last tile of fewer than MR rows works in a scratch."""
    ntiles, full = (m + MR - 1) // MR, m // MR
    npan = (c1 - c0 + NR - 1) // NR
    most = segs * run if nsegs > 1 else last
    buf = _aligned(max(most * NR, min(B_RESIDENT, most * npan * NR)))
    res = np.empty((MR, c1 - c0), np.float32)
    if acc0:
        for r in range(m - full * MR):
            for q in range(c1 - c0):
                res[r, q] = out[r0 + full * MR + r, c0 + q]
    ldc = out.strides[0] // 4
    for i0 in range(0, nsegs, segs):
        ns = min(segs, nsegs - i0)
        k = run if i0 + ns < nsegs else last
        k0, kk = i0 * run, ns * k
        acc = 1 if i0 > 0 or acc0 else 0
        whole = kk * npan * NR <= B_RESIDENT
        if whole:
            for q in range(npan):
                _pack(b, k0, kk, c0 + q * NR, min(c1, c0 + (q + 1) * NR), buf, q * kk * NR)
        final = i0 + ns >= nsegs
        for q in range(1 if whole else npan):
            if not whole:
                _pack(b, k0, kk, c0 + q * NR, min(c1, c0 + (q + 1) * NR), buf, 0)
            p0, p1 = (0, npan) if whole else (q, q + 1)
            for t in range(ntiles):
                if t < full:
                    tc, ld = out.ctypes.data + 4 * (r0 + t * MR) * ldc, ldc
                else:                              # the scratch's results are addressed from column c0
                    tc, ld = res.ctypes.data - 4 * c0, c1 - c0
                for p in range(p0, p1):
                    j0 = c0 + p * NR
                    _tile(rows.ctypes.data + 8 * t * MR, i0 * sstride, csa, ns, sstride,
                          buf.ctypes.data + 4 * (p - q) * kk * NR, NR, k, tc + 4 * j0, ld, acc, min(NR, c1 - j0))
                if final and t < full:             # still in L1: the tile's rows of these panels
                    epilogue.apply(out, r0 + t * MR, r0 + (t + 1) * MR, c0 + p0 * NR, min(c1, c0 + p1 * NR), ep)
    for r in range(m - full * MR):
        for q in range(c1 - c0):
            out[r0 + full * MR + r, c0 + q] = res[r, q]
    epilogue.apply(out, r0 + full * MR, r0 + m, c0, c1, ep)


@jit
def gemm_block(a, b, out, r0, r1, c0, c1, ep):
    """out[r0:r1, c0:c1] = (a @ b)[r0:r1, c0:c1] for float32, then the epilogue ``ep``; c0, c1 multiples
    of 16, b with unit column or row stride; contraction blocks of KC."""
    k, m = a.shape[1], r1 - r0
    rsa, csa = a.strides[0] // 4, a.strides[1] // 4
    rows = np.empty((m + MR - 1) // MR * MR, np.int64)
    for t in range(rows.size):
        rows[t] = a.ctypes.data + 4 * (r0 + min(t, m - 1)) * rsa
    nsegs = max(1, (k + KC - 1) // KC)
    _tiles(rows, m, csa, KC, k - (nsegs - 1) * KC, nsegs, KC * csa, 1, b, out, r0, c0, c1, False, ep)


@jit
def conv_block(xp, wm, out, kh, kw, sh, sw, dh, oh, ow, r0, r1, ep):
    """Rows r0:r1 of a convolution's output ``out`` [n*oh*ow, O], then its epilogue ``ep``, read straight
    from the image (an implicit GEMM): ``xp`` is the zero-padded NHWC image, ``wm`` the HWIO weights as [kh*kw*C, O] with O a multiple
    of 16, width dilation 1.  Each output pixel's tap row i is a contiguous run of kw*C elements of
    ``xp``, and the rows of a tile are pixels in output order, crossing image rows freely.

    Why: the patch matrix an im2col convolution builds is kh*kw / (sh*sw) times the image; AlexNet's
    (batch 8) came to 141 MB written and read again per forward, a quarter of the convolutions' time."""
    hp, wp, c = xp.shape[1], xp.shape[2], xp.shape[3]
    m, ohw, run = r1 - r0, oh * ow, kw * c
    rows = np.empty((m + MR - 1) // MR * MR, np.int64)
    for t in range(rows.size):
        r = r0 + min(t, m - 1)
        bi, p, q = r // ohw, r % ohw // ow, r % ow
        rows[t] = xp.ctypes.data + 4 * (((bi * hp + p * sh) * wp + q * sw) * c)
    _tiles(rows, m, 1, run, run, kh, dh * wp * c, max(1, min(kh, KC // run)), wm, out, r0, 0, wm.shape[1],
           False, ep)


@jit
def conv_filter_block(xp, dy, dwm, kh, kw, sh, sw, dh, dw, r0, r1, b0, b1):
    """Rows r0:r1 of a convolution's filter gradient ``dwm`` [kh*kw*C, O] += the sum over images b0:b1 of
    P_b^T dy_b, read straight from the zero-padded NHWC image ``xp`` (no patch matrix): row (i, j, c) of
    P^T is tap (i, j)'s channel c at every output pixel, ``sw*C`` apart along an output row and
    ``sh*wp*C`` from one output row to the next, so each image is a contraction of oh segments of ow.
    ``dy`` is NHWC with O a multiple of 16."""
    hp, wp, c = xp.shape[1], xp.shape[2], xp.shape[3]
    n, oh, ow, o = dy.shape
    m = r1 - r0
    rows = np.empty((m + MR - 1) // MR * MR, np.int64)
    taps = np.empty(rows.size, np.int64)
    for t in range(rows.size):
        r = r0 + min(t, m - 1)
        i, j, ch = r // (kw * c), r // c % kw, r % c
        taps[t] = 4 * ((i * dh * wp + j * dw) * c + ch)
    for b in range(b0, b1):
        start = xp.ctypes.data + 4 * b * hp * wp * c
        for t in range(rows.size):
            rows[t] = start + taps[t]
        _tiles(rows, m, sw * c, ow, ow, oh, sh * wp * c, max(1, min(oh, KC // max(ow, 1))),
               dy[b].reshape((oh * ow, o)), dwm, r0, 0, o, True, epilogue.none(dwm))


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


def lane_mask(builder, count, first=0):
    """<16 x i1>: lane l is on where first + l < count (count an i64 value)."""
    lanes = ir.Constant(ir.VectorType(_I64, 16), [first + l for l in range(16)])
    splat = builder.insert_element(ir.Constant(ir.VectorType(_I64, 16), None), count, ir.Constant(ir.IntType(32), 0))
    splat = builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))
    return builder.icmp_signed("<", lanes, splat)


def masked_load(builder, ptr, mask):
    """The lanes of <16 x float> at float* ``ptr`` under ``mask`` (the others 0; nothing read there)."""
    vp = _V16.as_pointer()
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16, [vp, ir.IntType(32), mask.type, _V16]),
                                        "llvm.masked.load.v16f32.p0")
    return builder.call(fn, [builder.bitcast(ptr, vp), ir.Constant(ir.IntType(32), 4), mask, ir.Constant(_V16, [0.0] * 16)])


def _nt_tile_intrinsic(J: int):
    @numba.extending.intrinsic
    def tile(typingctx, a, lda, w, ldw, k, c, ldc, nrows, ncols):
        """C[:nrows, :ncols] = A[NT, k] @ W[J, k]^T over raw addresses (rows contiguous; strides in
        elements), nrows <= NT, ncols <= J.  The NT*J accumulators hold lanes of k (the last partial 16
        through masked loads); at the end a fold tree turns them into one vector of the dot products (15
        adds for 16), instead of a horizontal sum each.  Rows past ``nrows`` (``ncols``) read row 0 again
        and are not stored: a partial tile costs a whole one, and nothing past the operands is read."""
        def codegen(context, builder, signature, args):
            a_, lda_, w_, ldw_, k_, c_, ldc_, nrows_, ncols_ = args
            fp, vp = _F32.as_pointer(), _V16.as_pointer()
            cp = builder.inttoptr(c_, fp)
            fma = fma16(builder)

            def starts(base, ld, count, n):
                p = builder.inttoptr(base, fp)
                return [builder.select(builder.icmp_signed("<", ir.Constant(_I64, r), count),
                                       builder.gep(p, [builder.mul(ir.Constant(_I64, r), ld)]), p) for r in range(n)]
            arows, wrows = starts(a_, lda_, nrows_, NT), starts(w_, ldw_, ncols_, J)
            slots = [cgutils.alloca_once(builder, _V16) for _ in range(NT * J)]
            for sl in slots:
                builder.store(ir.Constant(_V16, [0.0] * 16), sl)

            def step(off, load):
                av = [load(builder.gep(p, [off])) for p in arows]
                wv = [load(builder.gep(p, [off])) for p in wrows]
                for i in range(NT):
                    for j in range(J):
                        sl = slots[i * J + j]
                        builder.store(builder.call(fma, [av[i], wv[j], builder.load(sl)]), sl)
            k16 = builder.sdiv(k_, ir.Constant(_I64, 16))
            with cgutils.for_range(builder, k16) as loop:
                step(builder.mul(loop.index, ir.Constant(_I64, 16)),
                     lambda p: builder.load(builder.bitcast(p, vp), align=4))
            rest = builder.srem(k_, ir.Constant(_I64, 16))
            with builder.if_then(builder.icmp_signed(">", rest, ir.Constant(_I64, 0))):
                mask = lane_mask(builder, rest)
                step(builder.mul(k16, ir.Constant(_I64, 16)), lambda p: masked_load(builder, p, mask))
            vs = [builder.load(sl) for sl in slots]
            half = 8
            while half:                     # 16 vectors -> 8 -> 4 -> 2 -> 1; lane t ends as accumulator t
                if len(vs) == 1:
                    vs.append(ir.Constant(_V16, [0.0] * 16))
                vs = [_fold(builder, vs[2 * q], vs[2 * q + 1], half) for q in range(len(vs) // 2)]
                half //= 2
            for i in range(NT):
                for j in range(J):
                    inside = builder.and_(builder.icmp_signed("<", ir.Constant(_I64, i), nrows_),
                                          builder.icmp_signed("<", ir.Constant(_I64, j), ncols_))
                    with builder.if_then(inside):
                        at = builder.add(builder.mul(ir.Constant(_I64, i), ldc_), ir.Constant(_I64, j))
                        builder.store(builder.extract_element(vs[0], ir.Constant(ir.IntType(32), i * J + j)),
                                      builder.gep(cp, [at]))
            return context.get_dummy_value()
        i64 = numba.types.int64
        return numba.types.void(*[i64] * 9), codegen
    return tile


_nt4, _nt2, _nt1 = (_nt_tile_intrinsic(j) for j in (4, 2, 1))


@jit
def gemm_nt_block(a, w, out, r0, r1, c0, c1):
    """out[r0:r1, c0:c1] = a[r0:r1] @ w[c0:c1].T for float32 with a's and w's rows contiguous: tiles of
    NT rows x NT columns, then 2 and 1 (a narrow product, 10 logits, computes no padding columns);
    partial rows at the block's edge."""
    k = a.shape[1]
    lda, ldw, ldc = a.strides[0] // 4, w.strides[0] // 4, out.strides[0] // 4
    pa, pw, pc = a.ctypes.data, w.ctypes.data, out.ctypes.data
    chunk = max(NT, NT_ROWS_L2 // max(k, 1) // NT * NT)
    for i0 in range(r0, r1, chunk):
        i1 = min(i0 + chunk, r1)
        j = c0
        while j < c1:
            rest = c1 - j
            for i in range(i0, i1, NT):
                at, rows = pc + 4 * (i * ldc + j), min(NT, i1 - i)
                if rest >= NT:
                    _nt4(pa + 4 * i * lda, lda, pw + 4 * j * ldw, ldw, k, at, ldc, rows, NT)
                elif rest >= 2:
                    _nt2(pa + 4 * i * lda, lda, pw + 4 * j * ldw, ldw, k, at, ldc, rows, 2)
                else:
                    _nt1(pa + 4 * i * lda, lda, pw + 4 * j * ldw, ldw, k, at, ldc, rows, 1)
            j += NT if rest >= NT else (2 if rest >= 2 else 1)


def fits(x, n):
    """Whether a product with ``n`` columns in ``x``'s dtype runs here (given unit column strides)."""


@numba.extending.overload(fits)
def _fits_impl(x, n):
    if AVAILABLE and x.dtype == numba.float32:
        return lambda x, n: n % 16 == 0
    return lambda x, n: False
