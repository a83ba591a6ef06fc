"""Fits the minimax coefficients that ``flowc/backends/numba/fastmath.py`` hard-codes (run on demand).

    python benchmarks/fastmath_fit.py

* ``e^r`` on |r| <= ln2/2 as 1 + r*c1 + ... + r^6*c6 (float32 ``exp``, ``exp_nonpos``, hence ``sigmoid``);
* ``tanh(x) = x * P(x^2) / Q(x^2)`` on [0, 9.1], P and Q of degree 4 with P(0) = Q(0) = 1 (float32 ``tanh``).

Method: Lawson's iteratively reweighted least squares on the relative error, over Chebyshev points (for
the rational fit, on its linearised form P - f*Q, weighted by 1/(f*Q) of the previous step).  Each step
multiplies the weights by the error, which drives the solution towards equal ripple; the best maximum
error seen is kept.  Prints the maximum relative error in float64 and the coefficients rounded to float32,
as they are written in fastmath.py.  The errors of the float32 functions, rounding included, are measured
by ``fastmath_accuracy.py`` and asserted by ``tests/test_numba_fastmath.py``.
"""
from __future__ import annotations

import numpy as np

TANH_CLAMP = 9.1          # tanh rounds to 1 in float32 from 9.02 on (fastmath._TANH_CLAMP_32)


def _lawson(basis, f, rhs_offset, denominator=None, iters=400):
    """Weighted least squares of ``basis @ c ~ f - rhs_offset`` towards minimax relative error in f."""
    n = f.size
    w, scale, best = np.full(n, 1.0 / n), np.ones(n), None
    for _ in range(iters):
        rw = np.sqrt(w) / (f * scale)
        c, *_ = np.linalg.lstsq(basis * rw[:, None], (f - rhs_offset) * rw, rcond=None)
        approx, scale = denominator(c) if denominator else (rhs_offset + basis @ c, np.ones(n))
        err = (approx - f) / f
        worst = np.abs(err).max()
        if best is None or worst < best[0]:
            best = (worst, c.copy())
        w = np.maximum(w * np.abs(err), 1e-300)
        w /= w.sum()
    return best


def _chebyshev(lo, hi, n=6000):
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    return np.sort(lo + (hi - lo) * (t + 1) / 2)


def fit_exp(degree=6):
    """c1..c_degree of e^r ~ 1 + sum c_k r^k on |r| <= ln2/2 (slightly widened for the reduction's rounding)."""
    h = np.log(2) / 2 * 1.0001
    r = _chebyshev(-h, h)
    worst, c = _lawson(r[:, None] ** np.arange(1, degree + 1), np.exp(r), 1.0)
    return worst, c


def fit_tanh(dp=4, dq=4, top=TANH_CLAMP):
    """(p1..p_dp, q1..q_dq) of tanh(x)/x ~ P(u)/Q(u), u = x^2, P(0) = Q(0) = 1."""
    x = _chebyshev(0.0, top, 8000)
    x = np.concatenate([np.geomspace(1e-5, 1e-2, 200), x[x > 1e-2]])
    v = (x / top) ** 2                                   # fitted in u / top^2 for conditioning
    f = np.tanh(x) / x
    vp, vq = v[:, None] ** np.arange(1, dp + 1), v[:, None] ** np.arange(1, dq + 1)

    def ratio(c):
        p, q = 1 + vp @ c[:dp], 1 + vq @ c[dp:]
        return p / q, q
    basis = np.hstack([vp, -f[:, None] * vq])
    worst, c = _lawson(basis, f, 1.0, denominator=ratio)
    p = c[:dp] / top ** (2 * np.arange(1, dp + 1))
    q = c[dp:] / top ** (2 * np.arange(1, dq + 1))
    return worst, p, q


def _f32(values):
    return ", ".join(repr(float(np.float32(v))) for v in values)


def main():
    worst, c = fit_exp()
    print(f"exp: e^r on |r| <= ln2/2, degree 6: max relative error {worst:.3e}")
    print(f"  c1..c6 = {_f32(c)}")
    worst, p, q = fit_tanh()
    print(f"tanh: x P(x^2)/Q(x^2) on [0, {TANH_CLAMP}], degrees 4/4: max relative error {worst:.3e}")
    print(f"  p1..p4 = {_f32(p)}")
    print(f"  q1..q4 = {_f32(q)}")


if __name__ == "__main__":
    main()
