"""Threefry-2x32-20 and flowc's counter layout, in vectorised numpy uint32 arithmetic.

Shared by every backend that needs the exact bits (the semantics are documented
in ``flowc.ir.ops.random``).  Threefry is the counter-based block cipher of
Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC 2011): for a
fixed key it is a bijection on 64-bit counters, so distinct counters give
distinct blocks and any element can be computed independently of the others.
"""
from __future__ import annotations

import numpy as np

ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
PARITY = 0x1BD11BDA          # key-schedule constant of Threefry-2x32
ROUNDS = 20
SPLIT_DOMAIN = 0x80000000    # high bit of counter word 1: random_split's counters

_U32 = np.uint32


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def threefry2x32(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Encrypt counters ``(x0, x1)`` under key ``(k0, k1)``; all broadcastable uint32 (scalars too)."""
    with np.errstate(over="ignore"):      # wrapping is the point; numpy only warns for scalars
        return _rounds(np.asarray(k0, _U32), np.asarray(k1, _U32), np.asarray(x0, _U32), np.asarray(x1, _U32))


def _rounds(k0, k1, x0, x1):
    ks = (k0, k1, k0 ^ k1 ^ _U32(PARITY))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for i in range(ROUNDS):
        x0 = x0 + x1
        x1 = _rotl(x1, ROTATIONS[i % 8]) ^ x0
        if i % 4 == 3:                       # key injection after every 4 rounds
            s = i // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + _U32(s)
    return x0, x1


def _key(key) -> tuple[np.ndarray, np.ndarray]:
    key = np.asarray(key)
    if key.dtype != np.uint32 or key.shape != (2,):
        raise ValueError(f"a random key is a uint32 array of shape (2,), got {key.dtype} {key.shape}")
    return key[0:1], key[1:2]


def blocks(key, m: int, domain: int = 0) -> np.ndarray:
    """Blocks for counters ``j = 0..m-1`` as uint32[m, 2]: counter words are (j mod 2**32, j >> 32 | domain)."""
    k0, k1 = _key(key)
    j = np.arange(m, dtype=np.uint64)
    lo = (j & np.uint64(0xFFFFFFFF)).astype(_U32)
    hi = (j >> np.uint64(32)).astype(_U32) | _U32(domain)
    y0, y1 = threefry2x32(k0, k1, lo, hi)
    return np.stack([y0, y1], axis=-1)


def random_bits(key, shape) -> np.ndarray:
    """Words 0..n-1 of the stream (block j gives words 2j, 2j+1), laid out in C order."""
    n = int(np.prod(shape, dtype=np.int64))
    return blocks(key, (n + 1) // 2).reshape(-1)[:n].reshape(shape)


def split(key, n: int) -> np.ndarray:
    """Child key i is the block for counter (i, 0x80000000): uint32[n, 2]."""
    return blocks(key, n, SPLIT_DOMAIN)
