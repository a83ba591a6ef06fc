"""End-to-end gradient checks of whole models (float64), and registry completeness."""
import numpy as np
import pytest

import flowc as fc
from flowc.autodiff import grad_rules
from flowc.ir import OPS


def check_model_grad(loss, params, *data, eps=1e-6, rtol=1e-5, atol=1e-8, max_elems=6, seed=0):
    """Compare fc.grad with central differences on a few random entries of every parameter."""
    g = fc.grad(loss)(params, *data)
    f = fc.jit(loss)
    rng = np.random.default_rng(seed)
    for k, p in params.items():
        for j in rng.choice(p.size, min(max_elems, p.size), replace=False):
            hi = {q: v.copy() for q, v in params.items()}
            lo = {q: v.copy() for q, v in params.items()}
            hi[k].reshape(-1)[j] += eps
            lo[k].reshape(-1)[j] -= eps
            num = (float(f(hi, *data)) - float(f(lo, *data))) / (2 * eps)
            np.testing.assert_allclose(g[k].reshape(-1)[j], num, rtol=rtol, atol=atol, err_msg=f"{k}[{j}]")


def test_small_cnn_with_lrn_pooling_and_dropout():
    rng = np.random.default_rng(0)
    p = {"c1": rng.normal(size=(4, 2, 3, 3)) * 0.5, "c2": rng.normal(size=(4, 2, 3, 3)) * 0.5,
         "fc": rng.normal(size=(4 * 2 * 2, 3)) * 0.5}
    x = rng.normal(size=(2, 2, 9, 9))
    y = np.array([0, 2])
    key = fc.random.key(3)

    def loss(p, x, y):
        h = fc.nn.relu(fc.nn.conv2d(x, p["c1"], stride=1, padding="SAME"))
        h = fc.nn.local_response_norm(h, size=3, alpha=0.1, beta=0.75, k=2.0)
        h = fc.nn.max_pool2d(h, 3, stride=2)
        h = fc.nn.conv2d(h, p["c2"], padding=1, groups=2)
        h = fc.nn.avg_pool2d(h, 2, padding="SAME")
        h = fc.nn.dropout(key, h.reshape(2, -1), 0.25)
        return fc.nn.softmax_cross_entropy(h @ p["fc"], y)

    check_model_grad(loss, p, x, y)


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return fc.matmul(f, fc.transpose(f, (0, 2, 1))) / (c * h * w)


def test_gram_style_loss_matches_numpy_and_differentiates():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(1, 3, 3, 3))
    img = {"x": rng.normal(size=(1, 3, 4, 4)), "w": rng.normal(size=(3, 3, 2, 2))}

    def style(p, t):
        feat = fc.nn.relu(fc.nn.conv2d(p["x"], p["w"], padding="VALID"))
        return fc.sum((gram(feat) - gram(t)) ** 2)

    val = fc.jit(style)(img, target)
    feat = np.maximum(0, _conv_valid(img["x"], img["w"]))
    gm = lambda f: (f.reshape(1, 3, -1) @ f.reshape(1, 3, -1).transpose(0, 2, 1)) / f[0].size  # noqa: E731
    np.testing.assert_allclose(val, np.sum((gm(feat) - gm(target)) ** 2), rtol=1e-10)
    check_model_grad(style, img, target)


def _conv_valid(x, w):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i:i + kh, j:j + kw], w)
    return out


def total_variation(x):
    return fc.sum((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2) + fc.sum((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)


def test_total_variation_loss():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 2, 4, 5))
    tv = fc.jit(total_variation)(x)
    ref = np.sum(np.diff(x, axis=2) ** 2) + np.sum(np.diff(x, axis=3) ** 2)
    np.testing.assert_allclose(tv, ref, rtol=1e-12)
    g = fc.grad(total_variation)(x)
    num = np.zeros_like(x)
    for j in range(x.size):
        hi, lo = x.copy(), x.copy()
        hi.reshape(-1)[j] += 1e-6
        lo.reshape(-1)[j] -= 1e-6
        num.reshape(-1)[j] = (fc.jit(total_variation)(hi) - fc.jit(total_variation)(lo)) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_every_op_has_a_gradient_rule_or_is_declared_nondifferentiable():
    assert sorted(set(OPS) - set(grad_rules.table)) == []


def test_gradient_through_a_fusion_region():
    from flowc.autodiff import vjp_function
    from flowc.backends import reference
    from flowc.ir import parse
    f = parse("""func @f(%x: f64[3], %y: f64[3]) -> (f64[3]) {
  %0 = fusion(%x, %y) {kind = "loop"} : f64[3] {
  ^(%1: f64[3], %2: f64[3]):
    %3 = mul(%1, %2) : f64[3]
    %4 = tanh(%3) : f64[3]
    yield %4
  }
  return %0
}
""")
    g = vjp_function(f, [0, 1]).verify()
    x, y, ct = np.array([0.1, 0.5, -1.0]), np.array([2.0, -0.3, 0.7]), np.array([1.0, 2.0, 3.0])
    _, dx, dy = reference.run(g, x, y, ct)
    d = ct * (1 - np.tanh(x * y) ** 2)
    np.testing.assert_allclose(dx, d * y)
    np.testing.assert_allclose(dy, d * x)
