"""Optimizers, optax-style: pure functions of (grads, state, params), usable inside ``@fc.jit``.

    opt = fc.optim.adam(1e-3)
    state = opt.init(params)
    params, state = opt.update(grads, state, params)

They use only operators and fc.* functions, so they work on traced values (one
compiled training step) and on plain numpy arrays alike.  Step counters are f32
scalars in the state, so a jitted step never retraces as training advances.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from . import numpy_api as fnp
from .pytree import tree_map
from .tracing import Tracer


class Optimizer(NamedTuple):
    init: Callable
    update: Callable


def _zeros_like(p):
    return fnp.zeros_like(p) if isinstance(p, Tracer) else np.zeros_like(np.asarray(p))


def _sqrt(x):
    return fnp.sqrt(x) if isinstance(x, Tracer) else np.sqrt(x)


def _check(grads, params, name):
    from .pytree import flatten
    gl, gt = flatten(grads)
    pl, pt = flatten(params)
    if gt != pt:
        raise ValueError(f"{name}.update: grads have structure {gt} but params have {pt}")


def sgd(lr: float, momentum: float = 0.0, nesterov: bool = False) -> Optimizer:
    """Gradient descent; with momentum v <- m v + g, step v (or g + m v with Nesterov)."""
    if nesterov and not momentum:
        raise ValueError("nesterov=True needs momentum > 0")

    def init(params):
        return {"velocity": tree_map(_zeros_like, params)} if momentum else {}

    def update(grads, state, params):
        _check(grads, params, "sgd")
        if not momentum:
            return tree_map(lambda p, g: p - lr * g, params, grads), state
        vel = tree_map(lambda v, g: momentum * v + g, state["velocity"], grads)
        step = tree_map(lambda v, g: g + momentum * v, vel, grads) if nesterov else vel
        return tree_map(lambda p, s: p - lr * s, params, step), {"velocity": vel}

    return Optimizer(init, update)


def adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def init(params):
        return {"count": np.zeros((), np.float32), "mu": tree_map(_zeros_like, params),
                "nu": tree_map(_zeros_like, params)}

    def update(grads, state, params):
        _check(grads, params, "adam")
        t = state["count"] + 1.0
        mu = tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["mu"], grads)
        nu = tree_map(lambda v, g: b2 * v + (1 - b2) * (g * g), state["nu"], grads)
        c1 = 1 - b1 ** t
        c2 = 1 - b2 ** t
        new = tree_map(lambda p, m, v: p - lr * (m / c1) / (_sqrt(v / c2) + eps), params, mu, nu)
        return new, {"count": t, "mu": mu, "nu": nu}

    return Optimizer(init, update)


def rmsprop(lr: float, decay: float = 0.9, eps: float = 1e-8, momentum: float = 0.0) -> Optimizer:
    """RMSProp: scale by a running RMS of gradients (optionally with momentum)."""

    def init(params):
        state = {"ms": tree_map(_zeros_like, params)}
        if momentum:
            state["mom"] = tree_map(_zeros_like, params)
        return state

    def update(grads, state, params):
        _check(grads, params, "rmsprop")
        ms = tree_map(lambda s, g: decay * s + (1 - decay) * (g * g), state["ms"], grads)
        step = tree_map(lambda g, s: g / (_sqrt(s) + eps), grads, ms)
        new_state = {"ms": ms}
        if momentum:
            step = tree_map(lambda m, s: momentum * m + s, state["mom"], step)
            new_state["mom"] = step
        return tree_map(lambda p, s: p - lr * s, params, step), new_state

    return Optimizer(init, update)


__all__ = ["Optimizer", "sgd", "adam", "rmsprop"]
