"""fc.nn and fc.random against plain numpy formulas."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flowc as fc

rng = np.random.default_rng(0)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_activations_and_softmax():
    x = (rng.standard_normal((3, 5)) * 4).astype(np.float32)
    f = fc.jit(lambda x: (fc.nn.relu(x), fc.nn.sigmoid(x), fc.nn.tanh(x), fc.nn.softmax(x),
                          fc.nn.softmax(x, axis=0), fc.nn.log_softmax(x)))
    want = (np.maximum(x, 0), 1 / (1 + np.exp(-x)), np.tanh(x), np_softmax(x), np_softmax(x, 0),
            np.log(np_softmax(x)))
    for g, w in zip(f(x), want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy():
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    want = -np.mean(np.log(np_softmax(logits))[np.arange(6), labels])
    got = fc.jit(fc.nn.softmax_cross_entropy)(logits, labels)
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)
    probs = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_allclose(fc.nn.softmax_cross_entropy(logits, probs), want, rtol=1e-5)


def np_conv(x, w, stride, pads, dil, groups):
    """Direct NCHW/OIHW cross-correlation."""
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg, i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                          j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
                out[:, g * og:(g + 1) * og, i, j] = np.einsum("nchw,ochw->no", patch, w[g * og:(g + 1) * og])
    return out.astype(np.float32)


@given(stride=st.integers(1, 2), dil=st.integers(1, 2), groups=st.sampled_from([1, 2]),
       padding=st.sampled_from(["SAME", "VALID", 1, ((0, 1), (2, 0))]), nhwc=st.booleans())
def test_conv2d(stride, dil, groups, padding, nhwc):
    x = np.random.default_rng(1).standard_normal((2, 4, 7, 6)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((6, 4 // groups, 3, 2)).astype(np.float32)
    if padding == "SAME":
        pads = []
        for n, k in zip((7, 6), (3, 2)):
            total = max((-(-n // stride) - 1) * stride + (k - 1) * dil + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
    elif padding == "VALID":
        pads = [(0, 0), (0, 0)]
    elif padding == 1:
        pads = [(1, 1), (1, 1)]
    else:
        pads = list(padding)
    want = np_conv(x, w, (stride, stride), pads, (dil, dil), groups)
    if nhwc:
        got = fc.nn.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), stride=stride, padding=padding,
                           dilation=dil, groups=groups, data_format="NHWC").transpose(0, 3, 1, 2)
    else:
        got = fc.nn.conv2d(x, w, stride=stride, padding=padding, dilation=dil, groups=groups)
    if padding == "SAME":
        assert got.shape[2:] == (-(-7 // stride), -(-6 // stride))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_pooling_and_lrn():
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    mp = fc.nn.max_pool2d(x, 2)
    np.testing.assert_allclose(mp, x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))
    ap = fc.nn.avg_pool2d(x, (2, 3))
    np.testing.assert_allclose(ap, x.reshape(2, 3, 3, 2, 2, 3).mean(axis=(3, 5)), rtol=1e-5)
    same = fc.nn.avg_pool2d(x, 3, stride=1, padding="SAME")       # edges divide by real cells only
    np.testing.assert_allclose(same[0, 0, 0, 0], x[0, 0, :2, :2].mean(), rtol=1e-5)
    assert fc.nn.max_pool2d(x.transpose(0, 2, 3, 1), 3, 3, data_format="NHWC").shape == (2, 2, 2, 3)
    lrn = fc.nn.local_response_norm(x, size=3, alpha=1e-2, beta=0.75, k=2.0)
    sq = np.pad(x ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    want = x / (2.0 + 1e-2 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])) ** 0.75
    np.testing.assert_allclose(lrn, want, rtol=1e-5)


def test_random_is_deterministic_and_splits():
    k = fc.random.key(42)
    assert k.dtype == np.uint32 and k.shape == (2,)
    np.testing.assert_array_equal(k, [0, 42])
    ks = fc.random.split(k, 3)
    assert ks.shape == (3, 2) and len({tuple(r) for r in ks}) == 3
    u1 = fc.random.uniform(ks[0], (1000,))
    np.testing.assert_array_equal(u1, fc.random.uniform(ks[0], (1000,)))
    assert u1.dtype == np.float32 and 0 <= u1.min() and u1.max() < 1 and abs(u1.mean() - 0.5) < 0.05
    u2 = fc.random.uniform(ks[1], (2, 500), minval=-2, maxval=3)
    assert -2 <= u2.min() and u2.max() < 3 and not np.array_equal(u2.ravel()[:10], u1[:10])
    z = fc.random.normal(ks[2], (2000,), fc.float64)
    assert z.dtype == np.float64 and abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1
    b = fc.random.bernoulli(k, 0.25, (4000,))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.25) < 0.03


def test_random_inside_jit_with_key_argument():
    @fc.jit
    def f(key, x):
        k1, k2 = fc.random.split(key)[0], fc.random.split(key)[1]
        return fc.nn.dropout(k1, x, 0.5), fc.random.uniform(k2, x.shape)
    key = fc.random.key(0)
    x = np.ones((50, 40), np.float32)
    d, u = f(key, x)
    assert set(np.unique(d)) <= {0.0, 2.0} and abs((d == 0).mean() - 0.5) < 0.05
    np.testing.assert_allclose(d.mean(), 1.0, atol=0.1)      # inverted dropout keeps the expectation
    np.testing.assert_array_equal(f(key, x)[0], d)
    assert u.shape == x.shape
    np.testing.assert_array_equal(fc.nn.dropout(key, x, 0.0), x)
    with pytest.raises(fc.FlowcError, match="rate"):
        fc.nn.dropout(key, x, 1.0)
