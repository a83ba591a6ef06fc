"""Optimizers: the update formulas, jit-ability, pytree structure, and that they train."""
import numpy as np
import pytest

import flowc as fc
from flowc import initializers as init
from flowc import optim
from flowc.transforms import value_and_grad


def test_sgd_momentum_nesterov_formulas():
    p, g = {"w": np.array([1.0, -2.0])}, {"w": np.array([0.5, 0.25])}
    new, _ = optim.sgd(0.1).update(g, optim.sgd(0.1).init(p), p)
    np.testing.assert_allclose(new["w"], [0.95, -2.025])
    opt = optim.sgd(0.1, momentum=0.9)
    s = opt.init(p)
    p1, s = opt.update(g, s, p)
    p2, s = opt.update(g, s, p1)
    np.testing.assert_allclose(p2["w"], p["w"] - 0.1 * g["w"] - 0.1 * 1.9 * g["w"])
    nes = optim.sgd(0.1, momentum=0.9, nesterov=True)
    q1, _ = nes.update(g, nes.init(p), p)
    np.testing.assert_allclose(q1["w"], p["w"] - 0.1 * (g["w"] + 0.9 * g["w"]))
    with pytest.raises(ValueError):
        optim.sgd(0.1, nesterov=True)


def test_adam_matches_reference_formula():
    rng = np.random.default_rng(0)
    p = {"a": rng.normal(size=3), "b": [rng.normal(size=(2, 2))]}
    opt = optim.adam(0.01)
    s = opt.init(p)
    m = v = 0
    w = p["a"].copy()
    for t in range(1, 4):
        g = {"a": np.cos(p["a"]), "b": [np.sin(p["b"][0])]}
        p, s = opt.update(g, s, p)
        ga = np.cos(w)
        m = 0.9 * m + 0.1 * ga
        v = 0.999 * v + 0.001 * ga * ga
        w = w - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p["a"], w, rtol=1e-5)  # the step count is f32


@pytest.mark.parametrize("opt", [optim.sgd(0.5), optim.sgd(0.2, momentum=0.9), optim.adam(0.05),
                                 optim.rmsprop(0.05), optim.rmsprop(0.02, momentum=0.5)])
def test_jitted_training_step_reduces_loss(opt):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    w_true = rng.normal(size=(5, 1)).astype(np.float32)
    y = x @ w_true

    def loss(p, x, y):
        return fc.mean((x @ p["w"] + p["b"] - y) ** 2)

    @fc.jit
    def step(p, s, x, y):
        val, g = value_and_grad(loss)(p, x, y)
        p, s = opt.update(g, s, p)
        return val, p, s

    p = {"w": np.zeros((5, 1), np.float32), "b": np.zeros(1, np.float32)}
    s = opt.init(p)
    first = None
    for _ in range(30):
        val, p, s = step(p, s, x, y)
        first = val if first is None else first
    assert val < 0.2 * first
    assert p["w"].dtype == np.float32 and step.trace_count == 1


def test_structure_mismatch_is_an_error():
    with pytest.raises(ValueError, match="structure"):
        optim.sgd(0.1).update({"a": np.ones(1)}, {}, {"b": np.ones(1)})


def test_initializer_scales():
    k = fc.random.key(1)
    assert init.fans((3, 4, 5, 5)) == (100, 75)
    assert init.fans((5, 5, 4, 3), "HWIO") == (100, 75)
    w = init.he_normal(k, (200, 300))
    assert abs(w.std() - np.sqrt(2 / 200)) < 0.01 * np.sqrt(2 / 200) * 10
    u = init.glorot_uniform(k, (100, 50))
    lim = np.sqrt(6 / 150)
    assert u.min() >= -lim and u.max() < lim and abs(u.std() - lim / np.sqrt(3)) < 0.05 * lim
