"""Fixtures for tests/test_cli_dump.py."""
import flowc as fc


def mlp(x: fc.f32["B", 4], W: fc.f32[4, 3]):
    h = fc.tanh(x @ W)
    return h.sum(axis=1)


def unannotated(x, W):
    return x @ W


@fc.jit
def jitted(x: fc.f32["N"]):
    return x * 2.0


def broken(x: fc.f32["B", 4], W: fc.f32[5, 3]):
    return x @ W


def branchy(x: fc.f32[3]):
    if x.sum() > 0:
        return x
    return -x
