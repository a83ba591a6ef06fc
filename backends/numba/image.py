"""Image kernels: convolution, pooling and LRN with their gradients, on contiguous NHWC arrays.

NHWC because every convolution is then a plain GEMM over rows of pixels: the patch matrix
P[(b, p, q), (i, j, c)] times the HWIO weights viewed as [KH*KW*Cg, O] *is* the NHWC output, the input
gradient's patches are dy [pixels, O] times W^T, and the filter gradient is P^T dy, already HWIO.  The
NCHW kernels these replace needed a transpose after every GEMM; measured on the MNIST CNN's 5x5x32->64
convolution (batch 64, 2 cores) the forward went 22.8 -> 9.2 ms.  Channels are also the contiguous,
vectorised inner loop of the pooling and LRN kernels.  Programs in NCHW transpose at the edges
(``lower/nn.py``); the layout pass makes NHWC the rule for this backend (``PREFERRED_LAYOUT``).

Where the microkernel runs (float32, a multiple of 16 output columns, AVX-512) the three products read the
image in place instead of a patch matrix (``microkernel.conv_block``, ``conv_filter_block``); the input
gradient of a stride-1 convolution is then the convolution of dy with the flipped filters.  Measured
interleaved against the patch-matrix path (2 threads, a loaded machine): the MNIST CNN's conv2 input
gradient 9.6-11.4 -> 6.5-6.7 ms and filter gradient 14.8-15.7 -> 5.5-6.9 ms; AlexNet's conv2 (batch 8)
35.6-45.4 -> 23.6-28.3 and 55.6-56.4 -> 30.7-34.8 ms.
"""
from __future__ import annotations

import numpy as np

from . import epilogue, microkernel
from .blas import num_threads, gemm
from numba import prange

from .runtime import advise, jit, pjit, returns

# -- convolution (NHWC input, HWIO weights) ---------------------------------------------------------
# One GEMM per group over a chunk of the batch, so BLAS sees one large product instead of one per image.
# Chunks keep the patch matrix under COLS_MAX_ELEMENTS: measured on the MNIST CNN's convolutions
# (2 cores), 1 << 22 (16 MB of float32) beat both the whole batch (1 << 24: page faults, cache misses on a
# 40 MB buffer) and smaller chunks (1 << 18, 1 << 20).

COLS_MAX_ELEMENTS = 1 << 22
# Patch rows copy a whole (j, c) run at once where it is contiguous in the input (stride-1 columns,
# all channels, window inside the image).  Measured: a win for few channels (MNIST conv1, C=1: 2.8 ->
# 1.6 ms; AlexNet conv1, C=3: 2.6 -> 1.7 ms), a loss for many (C=32: 0.4 -> 1.8 ms), where the per-tap
# channel loop is already a long contiguous copy.  Copying the run between views and sharing out
# (image, row) pairs rather than images: AlexNet conv1's patches for a 3-image chunk 1.5 -> 0.5-0.8 ms.
RUN_COPY_MAX_CHANNELS = 16


@jit
def _batch_chunk(rows, ohw, n):
    """Images per chunk: the fewest chunks under COLS_MAX_ELEMENTS, then balanced, so that no chunk is a
    small remainder (AlexNet's conv4 at batch 8 ran as 7 + 1 images: the 1-image GEMM wasted BLAS)."""
    most = max(1, COLS_MAX_ELEMENTS // max(1, rows * ohw))
    chunks = max(1, -(-n // most))
    return max(1, -(-n // chunks))


@jit
def _valid(n_out, stride, off, size):
    """[lo, hi): the output positions q whose input index q*stride + off lies in [0, size)."""
    lo = min(n_out, max(0, (stride - 1 - off) // stride))
    hi = min(n_out, max(lo, (size - off + stride - 1) // stride))
    return lo, hi


@jit
def _out_size(size, k, stride, pad_lo, pad_hi, dilation):
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


@pjit
def _patches(x, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """P[(b, p, q), (i, j, c)] = x[b0 + b, p*sh - pt + i*dh, q*sw - pl + j*dw, c]; zero outside the image.

    Every channel of ``x``: a group's channels come as their own contiguous copy, because an offset
    channel index (``x[..., c0 + k]``) kept LLVM from turning the channel loop into a block copy
    (C=32: 0.5 -> 1.9 ms)."""
    n, h, wd, c = x.shape
    run = kw * c
    P = advise(np.empty((nb * oh * ow, kh * run), x.dtype))
    rows = x.reshape((n, h, wd * c))
    runs = dw == 1 and c <= RUN_COPY_MAX_CHANNELS
    for bp in prange(nb * oh):           # (image, output row) pairs: 3 images on 2 threads left one idle
        b, p = bp // oh, bp % oh
        for q in range(ow):
            row = bp * ow + q
            s0 = q * sw - pl
            inside = runs and s0 >= 0 and s0 + kw <= wd
            for i in range(kh):
                r = p * sh - pt + i * dh
                if inside and 0 <= r < h:
                    dst, src = P[row, i * run:(i + 1) * run], rows[b0 + b, r, s0 * c:s0 * c + run]
                    for k in range(run):        # views: an offset index is a select per element
                        dst[k] = src[k]
                    continue
                for j in range(kw):
                    s = s0 + j * dw
                    col = (i * kw + j) * c
                    if 0 <= r < h and 0 <= s < wd:
                        for k in range(c):
                            P[row, col + k] = x[b0 + b, r, s, k]
                    else:
                        for k in range(c):
                            P[row, col + k] = 0
    return P


@pjit
def _patches_by_tap(x, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """_patches transposed, written as such: PT[(i, j, c), (b, p, q)], one tap's row of pixels at a time.

    For single-channel images (see ``conv2d_nhwc``): P's rows are then only kh*kw long, and filling them
    tap by tap cost more than the GEMM; a tap's row here is runs of ``ow`` pixels."""
    n, h, wd, c = x.shape
    PT = advise(np.empty((kh * kw * c, nb * oh * ow), x.dtype))
    for t in prange(kh * kw * c):
        i, j, k = t // (kw * c), (t // c) % kw, t % c
        off = j * dw - pl
        lo, hi = _valid(ow, sw, off, wd)
        for b in range(nb):
            for p in range(oh):
                r = p * sh - pt + i * dh
                at = (b * oh + p) * ow
                if not 0 <= r < h:
                    PT[t, at:at + ow] = 0
                    continue
                PT[t, at:at + lo] = 0
                if hi > lo:         # views, not indexed loads: MNIST conv1's 64 images 0.95 -> 0.76 ms
                    dst, src = PT[t, at + lo:at + hi], x[b0 + b, r, lo * sw + off:(hi - 1) * sw + off + 1:sw, k]
                    for q in range(hi - lo):        # a loop, not a slice assignment (runtime.py, slice copies)
                        dst[q] = src[q]
                PT[t, at + hi:at + ow] = 0
    return PT


@pjit
def _patches_add(dP, dx, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """dx[b0 + b, r, s, c] += dP[(b, p, q), (i, j, c)] over every tap that reads (r, s): _patches' adjoint."""
    h, wd, c = dx.shape[1], dx.shape[2], dx.shape[3]
    for b in prange(nb):
        for p in range(oh):
            for q in range(ow):
                row = (b * oh + p) * ow + q
                for i in range(kh):
                    r = p * sh - pt + i * dh
                    for j in range(kw):
                        s = q * sw - pl + j * dw
                        if 0 <= r < h and 0 <= s < wd:
                            col = (i * kw + j) * c
                            for k in range(c):
                                dx[b0 + b, r, s, k] += dP[row, col + k]


@jit
def _product(a, b):
    return gemm(a, b, np.empty((a.shape[0], b.shape[1]), a.dtype))


@jit
def _group(x, g, groups):
    """Channels of group ``g`` as a contiguous NHWC array (``x`` itself when there is one group)."""
    if groups == 1:
        return x
    cg = x.shape[3] // groups
    return np.ascontiguousarray(x[:, :, :, g * cg:(g + 1) * cg])


@jit
def _conv_rows(P, wm, rows, g, og, groups):
    """rows (group g's columns) = P @ W_g: P is the patch matrix, or _patches_by_tap's transposed."""
    if groups == 1:
        gemm(P, wm, rows)                         # the GEMM writes the NHWC rows in place
    else:
        rows[:, g * og:(g + 1) * og] = _product(P, wm[:, g * og:(g + 1) * og])


@jit
def _filter_rows(PT, dyrows, dwm, g, og, groups):
    """dW_g += P^T dy_g: PT is _patches_by_tap's matrix, or the patch matrix transposed."""
    if groups == 1:
        dwm += _product(PT, dyrows)
    else:
        dwm[:, g * og:(g + 1) * og] += _product(PT, dyrows[:, g * og:(g + 1) * og])


@pjit
def _padded(x, pt, pb, pl, pr):
    """x with zero rows and columns around each image (x itself when there are none)."""
    if pt == 0 and pb == 0 and pl == 0 and pr == 0:
        return x
    n, h, wd, c = x.shape
    xp = advise(np.empty((n, h + pt + pb, wd + pl + pr, c), x.dtype))
    for br in prange(n * (h + pt + pb)):
        b, r = br // (h + pt + pb), br % (h + pt + pb)
        dst = xp[b, r]
        if pt <= r < pt + h:
            dst[:pl] = 0
            src = x[b, r - pt]
            for s in range(wd):
                for k in range(c):
                    dst[pl + s, k] = src[s, k]
            dst[pl + wd:] = 0
        else:
            dst[:, :] = 0
    return xp


@pjit
def _implicit_conv(xp, wm, out, kh, kw, sh, sw, dh, oh, ow, ep):
    """out = the epilogue ``ep`` of the convolution, by ``microkernel.conv_block`` on blocks of whole tiles,
    one per thread."""
    m, q = out.shape[0], microkernel.MR
    parts = max(1, min(num_threads(), m // (4 * q)))
    for t in prange(parts):
        r0 = m * t // parts // q * q
        r1 = m if t == parts - 1 else m * (t + 1) // parts // q * q
        microkernel.conv_block(xp, wm, out, kh, kw, sh, sw, dh, oh, ow, r0, r1, ep)


@pjit
def _implicit_filter_grad(xp, dy, dwm, kh, kw, sh, sw, dh, dw):
    """dwm (zeros on entry) += the filter gradient, by ``microkernel.conv_filter_block``: the threads split
    its rows (whole tiles) where there are enough of them, else the images, each into its own copy."""
    kk, q, n = dwm.shape[0], microkernel.MR, dy.shape[0]
    threads = num_threads()
    by_rows = kk // q >= 4 * threads
    parts = threads if by_rows else max(1, min(threads, n))
    copies = np.zeros((0 if by_rows else parts, kk, dwm.shape[1]), dwm.dtype)
    for t in prange(parts):
        if by_rows:
            r0 = kk * t // parts // q * q
            r1 = kk if t == parts - 1 else kk * (t + 1) // parts // q * q
            microkernel.conv_filter_block(xp, dy, dwm, kh, kw, sh, sw, dh, dw, r0, r1, 0, n)
        else:
            microkernel.conv_filter_block(xp, dy, copies[t], kh, kw, sh, sw, dh, dw, 0, kk, n * t // parts,
                                          n * (t + 1) // parts)
    for t in range(copies.shape[0]):
        dwm += copies[t]


@jit
def _flipped(w):
    """HWIO filters turned into those of the input gradient's convolution (stride 1): rotated 180 degrees,
    I and O swapped, as the [kh*kw*O, C] matrix ``conv_block`` reads."""
    kh, kw, c, o = w.shape
    f = np.empty((kh * kw * o, c), w.dtype)
    for i in range(kh):
        for j in range(kw):
            at = ((kh - 1 - i) * kw + kw - 1 - j) * o
            for k in range(c):
                for q in range(o):
                    f[at + q, k] = w[i, j, k, q]
    return f


# Single-channel groups (grayscale images, depthwise convolutions) build the patches tap by tap
# (_patches_by_tap).  Measured (batch 64, 28x28, 32 filters, 2 cores): 5x5 forward 1.66 -> 1.35 ms and
# filter gradient 2.1 -> 1.45 ms, 3x3 0.81 -> 0.56 and 0.96 -> 0.61 ms; with 2 to 4 channels, or
# AlexNet's 3-channel stride-4 conv1, the forward lost (C=4: 3.9 -> 5.0 ms).
# With the microkernel (float32, a multiple of 16 filters, AVX-512) and one group, no patches are built
# (_implicit_conv, width dilation 1; _implicit_filter_grad): each output pixel reads its window of the
# padded image in place.  Measured against the patch-matrix forward (2 threads, medians of 15): MNIST CNN
# conv1 1.46 -> 0.58 ms, conv2 5.40 -> 4.23; AlexNet's five layers at batch 8 63.7 -> 56.2 ms (conv2 26.5
# -> 21.9).  MNIST conv1's filter gradient, on a loaded machine: 2.27-2.42 ms by rows, 0.87-1.53 implicit
# (1.24 by tap in an earlier, quieter run).
BY_TAP_MAX_CHANNELS = 1


@returns(4)
@jit
def conv2d_nhwc(x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups, ep):
    """The convolution of NHWC ``x`` with HWIO ``w``, then its epilogue ``ep`` (:mod:`.epilogue`, over the
    result as [n*oh*ow, channels]), applied by the implicit GEMM per tile or per batch chunk of patches."""
    n, h, wd, _ = x.shape
    kh, kw, cg, o = w.shape
    oh, ow = _out_size(h, kh, sh, pt, pb, dh), _out_size(wd, kw, sw, pl, pr, dw)
    og, ohw, kk = o // groups, oh * ow, kh * kw * cg
    out = advise(np.empty((n * ohw, o), x.dtype))
    wm = w.reshape((kk, o))
    if groups == 1 and dw == 1 and microkernel.fits(x, o):
        _implicit_conv(_padded(x, pt, pb, pl, pr), wm, out, kh, kw, sh, sw, dh, oh, ow, ep)
        return out.reshape((n, oh, ow, o))
    chunk = _batch_chunk(kk, ohw, n)
    for b0 in range(0, n, chunk):
        nb = min(chunk, n - b0)
        rows = out[b0 * ohw:(b0 + nb) * ohw]
        for g in range(groups):
            xg = _group(x, g, groups)
            if cg <= BY_TAP_MAX_CHANNELS and not microkernel.fits(x, og):
                PT = _patches_by_tap(xg, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
                _conv_rows(PT.T, wm, rows, g, og, groups)
            else:
                _conv_rows(_patches(xg, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw), wm, rows, g, og, groups)
        epilogue.apply(out, b0 * ohw, (b0 + nb) * ohw, 0, o, ep)
    return out.reshape((n, oh, ow, o))


@returns(4)
@jit
def conv2d_input_grad_nhwc(dy, w, h, wd, sh, sw, pt, pl, dh, dw, groups):
    """dP = dy W_g^T per group and batch chunk (one GEMM), then scattered back by ``_patches_add``; a
    stride-1 convolution on the microkernel is a convolution of dy instead (see the module's docstring)."""
    n, oh, ow, o = dy.shape
    kh, kw, cg, _ = w.shape
    og, ohw, kk = o // groups, oh * ow, kh * kw * cg
    # stride 1: the convolution of dy, padded to h + (kh-1)*dh rows, with the flipped filters
    top, bottom, left, right = (kh - 1) * dh - pt, h + pt - oh, (kw - 1) * dw - pl, wd + pl - ow
    if (groups == 1 and sh == 1 and sw == 1 and dw == 1 and microkernel.fits(dy, cg)
            and min(top, bottom, left, right) >= 0):
        dx = advise(np.empty((n * h * wd, cg), dy.dtype))
        _implicit_conv(_padded(dy, top, bottom, left, right), _flipped(w), dx, kh, kw, 1, 1, dh, h, wd,
                       epilogue.none(dx))
        return dx.reshape((n, h, wd, cg))
    dx = advise(np.empty((n, h, wd, cg * groups), dy.dtype))
    dx[...] = 0           # after the advice: zeroing is the first touch
    dxg = dx if groups == 1 else np.zeros((n, h, wd, cg), dy.dtype)
    dyf = dy.reshape((n * ohw, o))
    wm = w.reshape((kk, o))
    chunk = _batch_chunk(kk, ohw, n)
    for g in range(groups):
        wt = np.ascontiguousarray(wm[:, g * og:(g + 1) * og].T)                  # [og, K]
        for b0 in range(0, n, chunk):
            nb = min(chunk, n - b0)
            dP = advise(np.empty((nb * ohw, kk), dy.dtype))
            rows = dyf[b0 * ohw:(b0 + nb) * ohw]                                  # C-contiguous: no copy
            if groups == 1:
                gemm(rows, wt, dP)
            else:
                gemm(rows[:, g * og:(g + 1) * og], wt, dP)
            _patches_add(dP, dxg, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
        if groups > 1:
            dx[:, :, :, g * cg:(g + 1) * cg] = dxg
            dxg[...] = 0
    return dx


@returns(4)
@jit
def conv2d_filter_grad_nhwc(x, dy, kh, kw, sh, sw, pt, pl, dh, dw, groups):
    """dW_g = P_g^T dy_g, contracted over batch and pixels in one GEMM per group and batch chunk (HWIO), or
    on the microkernel without P (``_implicit_filter_grad``)."""
    n, _, _, c = x.shape
    cg = c // groups
    _, oh, ow, o = dy.shape
    og, ohw, kk = o // groups, oh * ow, kh * kw * cg
    dwm = np.zeros((kk, o), x.dtype)
    if groups == 1 and microkernel.fits(x, o):
        h, wd = x.shape[1], x.shape[2]
        pb = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - pt)     # the rows and columns the windows reach
        pr = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - wd - pl)
        _implicit_filter_grad(_padded(x, pt, pb, pl, pr), dy, dwm, kh, kw, sh, sw, dh, dw)
        return dwm.reshape((kh, kw, cg, o))
    dyf = dy.reshape((n * ohw, o))
    chunk = _batch_chunk(kk, ohw, n)
    for b0 in range(0, n, chunk):
        nb = min(chunk, n - b0)
        rows = dyf[b0 * ohw:(b0 + nb) * ohw]
        for g in range(groups):
            xg = _group(x, g, groups)
            if cg <= BY_TAP_MAX_CHANNELS:
                _filter_rows(_patches_by_tap(xg, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw), rows, dwm, g, og,
                             groups)
            else:
                P = _patches(xg, b0, nb, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
                _filter_rows(P.T, rows, dwm, g, og, groups)
    return dwm.reshape((kh, kw, cg, o))


# -- pooling (NHWC): per output pixel, the taps in row-major order, channels as the inner loop -------

@jit
def _max_tap(best, v):
    """The running max with nan winning for good (the reference's np.max semantics)."""
    return v if (v > best or v != v) and best == best else best


@jit
def _taps(o, stride, pad, k, size):
    """[lo, hi): the window taps of output position ``o`` that land inside [0, size) (padding skipped)."""
    start = o * stride - pad
    return max(0, -start), min(k, size - start)


@returns(4)
@pjit
def max_pool2d_nhwc(x, kh, kw, sh, sw, pt, pb, pl, pr):
    n, h, wd, c = x.shape
    oh, ow = _out_size(h, kh, sh, pt, pb, 1), _out_size(wd, kw, sw, pl, pr, 1)
    out = advise(np.empty((n, oh, ow, c), x.dtype))
    for b in prange(n):
        for p in range(oh):
            for q in range(ow):
                for k in range(c):
                    out[b, p, q, k] = -np.inf
                i0, i1 = _taps(p, sh, pt, kh, h)
                j0, j1 = _taps(q, sw, pl, kw, wd)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        r, s = p * sh - pt + i, q * sw - pl + j
                        for k in range(c):
                            out[b, p, q, k] = _max_tap(out[b, p, q, k], x[b, r, s, k])
    return out


@returns(4, like=1)
@pjit
def max_pool2d_grad_nhwc(x, dy, kh, kw, sh, sw, pt, pl):
    """dy goes to the first maximum (row-major) of each window, as argmax over the padded taps (a padding
    tap counts as -inf, so it wins only a window of -inf and padding, and then nothing is routed).

    The winner is kept as its input pixel's offset, so routing dy is one add per channel: recovering
    (i, j) from a tap index took two integer divisions per element (MNIST CNN pools 1.55 / 0.69 ms).
    Windows that tile the image (stride = window, the usual 2x2/2) write each of their pixels once
    instead, dy or 0 per channel: no zeroing pass and no scatter."""
    n, h, wd, c = x.shape
    oh, ow = dy.shape[1], dy.shape[2]
    dx = advise(np.empty(x.shape, dy.dtype))
    tiled = sh == kh and sw == kw
    if not tiled:
        dx[...] = 0       # after the advice: zeroing is the first touch
    for b in prange(n):
        xb, dxb = x[b].reshape((h * wd, c)), dx[b].reshape((h * wd, c))
        best = np.empty(c, x.dtype)
        arg = np.empty(c, np.int64)   # the winning pixel r * wd + s, or -1 for a padding tap
        for p in range(oh):
            for q in range(ow):
                _window_argmax(xb, best, arg, p * sh - pt, q * sw - pl, kh, kw, h, wd)
                dyrow = dy[b, p, q]
                if tiled:
                    for r in range(max(0, p * sh - pt), min(h, p * sh - pt + kh)):
                        for t in range(max(0, q * sw - pl), min(wd, q * sw - pl + kw)):
                            pix, drow = r * wd + t, dxb[r * wd + t]
                            for k in range(c):
                                drow[k] = dyrow[k] if arg[k] == pix else 0
                else:
                    for k in range(c):
                        if arg[k] >= 0:
                            dxb[arg[k], k] += dyrow[k]
        if tiled:                     # rows and columns past the last window
            for r in range(h):
                for t in range(wd):
                    if r >= oh * sh - pt or t >= ow * sw - pl:
                        for k in range(c):
                            dxb[r * wd + t, k] = 0
    return dx


@jit
def _window_argmax(xb, best, arg, r0, s0, kh, kw, h, wd):
    """best, arg = the max of the window at (r0, s0) per channel and its pixel (see max_pool2d_grad_nhwc)."""
    c = best.size
    for i in range(kh):
        r = r0 + i
        for j in range(kw):
            s = s0 + j
            if not (0 <= r < h and 0 <= s < wd):
                if i == 0 and j == 0:       # a padding tap wins only as the first one
                    best[:] = -np.inf
                    arg[:] = -1
                continue
            pix = r * wd + s
            row = xb[pix]
            if i == 0 and j == 0:
                for k in range(c):      # a loop, not a slice assignment (runtime.py, slice copies)
                    best[k] = row[k]
                arg[:] = pix
                continue
            for k in range(c):
                v = row[k]
                if (v > best[k] or v != v) and best[k] == best[k]:
                    best[k] = v
                    arg[k] = pix


@pjit
def avg_pool2d_nhwc(x, kh, kw, sh, sw, pt, pb, pl, pr, include_pad):
    n, h, wd, c = x.shape
    oh, ow = _out_size(h, kh, sh, pt, pb, 1), _out_size(wd, kw, sw, pl, pr, 1)
    out = advise(np.empty((n, oh, ow, c), x.dtype))
    for b in prange(n):
        for p in range(oh):
            for q in range(ow):
                for k in range(c):
                    out[b, p, q, k] = 0       # accumulate in the array's own precision, tap by tap
                i0, i1 = _taps(p, sh, pt, kh, h)
                j0, j1 = _taps(q, sw, pl, kw, wd)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        r, s = p * sh - pt + i, q * sw - pl + j
                        for k in range(c):
                            out[b, p, q, k] += x[b, r, s, k]
                cnt = kh * kw if include_pad else (i1 - i0) * (j1 - j0)
                for k in range(c):
                    out[b, p, q, k] = out[b, p, q, k] / cnt
    return out


@pjit
def avg_pool2d_grad_nhwc(dy, h, wd, kh, kw, sh, sw, pt, pl, include_pad):
    n, oh, ow, c = dy.shape
    dx = advise(np.empty((n, h, wd, c), dy.dtype))
    dx[...] = 0           # after the advice: zeroing is the first touch
    for b in prange(n):
        for p in range(oh):
            for q in range(ow):
                i0, i1 = _taps(p, sh, pt, kh, h)
                j0, j1 = _taps(q, sw, pl, kw, wd)
                cnt = kh * kw if include_pad else (i1 - i0) * (j1 - j0)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        r, s = p * sh - pt + i, q * sw - pl + j
                        for k in range(c):
                            dx[b, r, s, k] += dy[b, p, q, k] / cnt
    return dx


# -- local response normalisation across channels (AlexNet formula, see flowc.ir.ops.nn) -----------

@pjit
def _lrn_scale(x, size, alpha, k):
    """s = k + alpha * window sum of x^2 over channels, float64 (summed from the lowest channel up)."""
    n, h, wd, c = x.shape
    half = size // 2
    s = advise(np.empty(x.shape, np.float64))
    for b in prange(n):
        for r in range(h):
            for q in range(wd):
                for ch in range(c):
                    acc = 0.0
                    for cc in range(max(ch - half, 0), min(ch + half, c - 1) + 1):
                        v = np.float64(x[b, r, q, cc])
                        acc += v * v
                    s[b, r, q, ch] = k + alpha * acc
    return s


@jit
def lrn_nhwc(x, size, alpha, beta, k):
    s = _lrn_scale(x, size, alpha, k)
    out = advise(np.empty(x.shape, x.dtype))
    flat_x, flat_s, flat_o = x.reshape(x.size), s.reshape(s.size), out.reshape(out.size)
    for i in range(x.size):
        flat_o[i] = flat_x[i] / flat_s[i] ** beta
    return out


@pjit
def lrn_grad_nhwc(x, dy, size, alpha, beta, k):
    """dx_c = dy_c s_c^-b - 2ab x_c sum_{c' near c} dy_c' x_c' s_c'^(-b-1), in float64."""
    n, h, wd, c = x.shape
    half = size // 2
    s = _lrn_scale(x, size, alpha, k)
    t = advise(np.empty(x.shape, np.float64))
    fx, fdy, fs, ft = x.reshape(x.size), dy.reshape(dy.size), s.reshape(s.size), t.reshape(t.size)
    for i in range(x.size):
        ft[i] = np.float64(fdy[i]) * np.float64(fx[i]) * fs[i] ** (-beta - 1)
    dx = advise(np.empty(x.shape, x.dtype))
    for b in prange(n):
        for r in range(h):
            for q in range(wd):
                for ch in range(c):
                    inner = 0.0
                    for cc in range(max(ch - half, 0), min(ch + half, c - 1) + 1):
                        inner += t[b, r, q, cc]
                    dx[b, r, q, ch] = (np.float64(dy[b, r, q, ch]) * s[b, r, q, ch] ** (-beta)
                                       - 2 * alpha * beta * np.float64(x[b, r, q, ch]) * inner)
    return dx
