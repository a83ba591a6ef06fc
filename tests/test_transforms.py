"""fc.grad / fc.value_and_grad / fc.vjp: JAX conventions, pytrees, inside and outside jit."""
import numpy as np
import pytest

import flowc as fc
from flowc.autodiff import GradError
from flowc.transforms import grad, value_and_grad, vjp


def mlp_loss(p, x, y):
    h = fc.tanh(x @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    return fc.nn.softmax_cross_entropy(logits, y)


def params(rng, dtype=np.float64):
    return {"w1": rng.normal(size=(4, 5)).astype(dtype), "b1": rng.normal(size=5).astype(dtype),
            "w2": rng.normal(size=(5, 3)).astype(dtype), "b2": np.zeros(3, dtype)}


def numeric_grad(f, p, key, eps=1e-6):
    out = np.zeros_like(p[key])
    for j in range(out.size):
        hi = {k: v.copy() for k, v in p.items()}
        lo = {k: v.copy() for k, v in p.items()}
        hi[key].reshape(-1)[j] += eps
        lo[key].reshape(-1)[j] -= eps
        out.reshape(-1)[j] = (f(hi) - f(lo)) / (2 * eps)
    return out


def test_grad_of_pytree_matches_finite_differences():
    rng = np.random.default_rng(0)
    p, x, y = params(rng), rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
    g = grad(mlp_loss)(p, x, y)
    assert set(g) == set(p)
    loss = fc.jit(mlp_loss)
    for k in p:
        np.testing.assert_allclose(g[k], numeric_grad(lambda q: float(loss(q, x, y)), p, k), rtol=1e-5, atol=1e-8)


def test_value_and_grad_inside_jit_is_one_program():
    rng = np.random.default_rng(1)
    p, x, y = params(rng, np.float32), rng.normal(size=(6, 4)).astype(np.float32), np.arange(6) % 3

    @fc.jit
    def step(p, x, y):
        loss, g = value_and_grad(mlp_loss)(p, x, y)
        return loss, {k: p[k] - 0.1 * g[k] for k in p}

    loss, new = step(p, x, y)
    f = step.lower(p, x, y).function("traced")
    assert f.results[0].type.dtype.name == "f32"
    assert all(r.type.dtype.name == "f32" for r in f.results)   # 0.1 is a weak scalar
    assert np.isclose(loss, mlp_loss_np(p, x, y), rtol=1e-5)
    loss2, _ = step(new, x, y)
    assert loss2 < loss


def mlp_loss_np(p, x, y):
    h = np.tanh(x @ p["w1"] + p["b1"])
    z = h @ p["w2"] + p["b2"]
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def test_argnums_tuple_and_has_aux():
    def f(a, b, c):
        return fc.sum(a * b) + c, {"prod": a * b}

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    (da, db), aux = grad(f, argnums=(0, 1), has_aux=True)(a, b, 1.0)
    np.testing.assert_allclose(da, b)
    np.testing.assert_allclose(db, a)
    np.testing.assert_allclose(aux["prod"], a * b)
    (val, aux2), g = value_and_grad(f, argnums=1, has_aux=True)(a, b, 1.0)
    assert np.isclose(val, 12.0) and np.allclose(g, a)


def test_grad_of_grad():
    d2 = grad(grad(lambda x: x * x * x))(np.float64(2.0))
    assert np.isclose(d2, 12.0)


def test_errors():
    with pytest.raises(GradError, match="scalar"):
        grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(GradError, match="argument 0 of type i64"):
        grad(lambda n: fc.sum(n))(np.arange(3))
    with pytest.raises(GradError, match="out of range"):
        grad(lambda x: fc.sum(x), argnums=2)(np.ones(3))


def test_vjp_inside_jit():
    @fc.jit
    def f(x, ct):
        y, pull = vjp(lambda v: fc.exp(v) * 2.0, x)
        (dx,) = pull(ct)
        return y, dx

    x = np.array([0.0, 1.0])
    y, dx = f(x, np.array([1.0, 3.0]))
    np.testing.assert_allclose(y, 2 * np.exp(x))
    np.testing.assert_allclose(dx, [2.0, 6.0 * np.e])


def test_inputs_not_mutated():
    rng = np.random.default_rng(2)
    p = params(rng)
    before = {k: v.copy() for k, v in p.items()}
    grad(mlp_loss)(p, rng.normal(size=(2, 4)), np.array([0, 1]))
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


def test_closures_over_traced_values_are_constants():
    @fc.jit
    def f(x, y):
        inner = lambda v: fc.sum(v * y * x)       # noqa: E731  (closes over x and y)
        g = grad(inner)(x)
        gg = grad(lambda v: fc.sum(grad(lambda u: fc.sum(u * u * y))(v)))(x)   # nested captures
        return g, gg

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    g, gg = f(x, y)
    np.testing.assert_allclose(g, y * x)          # d/dv sum(v*y*x) with x held constant
    np.testing.assert_allclose(gg, 2 * y)


def test_split_keys_unpack_along_the_leading_dim():
    k1, k2 = fc.jit(lambda k: tuple(fc.random.split(k, 2)))(fc.random.key(0))
    assert k1.shape == (2,) and not np.array_equal(k1, k2)
