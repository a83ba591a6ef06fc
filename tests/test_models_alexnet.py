"""AlexNet: shapes, the two-tower groups, LRN and dropout in the graph, and a tiny net that learns."""
import numpy as np
import pytest

import flowc as fc
from flowc.models import alexnet
from flowc.models.alexnet import feature_size


def test_paper_shapes_at_full_width():
    m = alexnet()
    s = m.shapes
    assert s["conv1"]["w"] == (96, 3, 11, 11)
    assert s["conv2"]["w"] == (256, 48, 5, 5)          # groups=2: each tower sees half of conv1's 96
    assert s["conv3"]["w"] == (384, 256, 3, 3)         # conv3 sees both towers
    assert s["conv4"]["w"] == (384, 192, 3, 3)
    assert s["conv5"]["w"] == (256, 192, 3, 3)
    assert s["fc6"]["w"] == (256 * 6 * 6, 4096) and s["fc8"]["w"] == (4096, 1000)
    assert feature_size(227) == 6 and feature_size(67) == 1


def test_width_keeps_group_channels_even_and_rejects_tiny_inputs():
    m = alexnet(num_classes=10, width=0.1, input_size=67)
    assert all(c % 2 == 0 for c in m.config["channels"])
    with pytest.raises(ValueError, match="at least 67"):
        alexnet(input_size=63)


def test_graph_has_grouped_convs_lrn_overlapping_pools_and_dropout():
    m = alexnet(num_classes=4, width=0.0625, input_size=67, in_channels=1)
    params = m.init(fc.random.key(0))
    for layer, shape in m.shapes.items():
        assert params[layer]["w"].shape == shape["w"] and params[layer]["w"].dtype == np.float32
    x = np.zeros((2, 1, 67, 67), np.float32)
    text = fc.jit(lambda p, x, k: m.apply(p, x, k)).lower(params, x, fc.random.key(1)).text()
    assert text.count("groups = 2") == 3 and text.count("groups = 1") == 2
    assert text.count("local_response_norm(") == 2
    assert text.count("max_pool2d(") == 3 and "window = (3, 3)" in text and "strides = (2, 2)" in text
    assert text.count("random_bernoulli(") == 2
    eval_text = fc.jit(m.apply).lower(params, x).text()
    assert "random_bernoulli" not in eval_text


def test_dropout_only_with_a_key():
    m = alexnet(num_classes=3, width=0.0625, input_size=67, in_channels=1)
    params = m.init(fc.random.key(0))
    x = np.random.default_rng(0).random((2, 1, 67, 67), np.float32)
    f = fc.jit(m.apply)
    np.testing.assert_array_equal(f(params, x), f(params, x))
    a, b = f(params, x, fc.random.key(1)), f(params, x, fc.random.key(2))
    assert a.shape == (2, 3) and not np.allclose(a, b)


def test_tiny_alexnet_learns_a_separable_task():
    """Two classes (bright left vs right half): a few Adam steps with dropout bring the loss down."""
    m = alexnet(num_classes=2, width=0.0625, input_size=67, in_channels=1, dropout=0.25)
    params = m.init(fc.random.key(0))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 32)
    x = rng.random((32, 1, 67, 67), np.float32) * 0.2
    for i, c in enumerate(y):
        x[i, 0, :, :33] += 0.8 * (c == 0)
        x[i, 0, :, 34:] += 0.8 * (c == 1)
    opt = fc.optim.adam(3e-3)
    state = opt.init(params)

    @fc.jit
    def step(p, s, x, y, k):
        v, g = fc.value_and_grad(lambda p, x, y, k: fc.nn.softmax_cross_entropy(m.apply(p, x, k), y))(p, x, y, k)
        p, s = opt.update(g, s, p)
        return v, p, s

    losses = []
    for i in range(15):
        v, params, state = step(params, state, x, y, fc.random.key(100 + i))
        losses.append(float(v))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.5 * losses[0]
    pred = np.argmax(fc.jit(m.apply)(params, x), axis=1)
    assert (pred == y).mean() >= 0.9


def test_example_upscaling_is_bilinear_and_keeps_constants():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    from alexnet import upscale
    x = np.full((2, 784), 0.5, np.float32)
    up = upscale(x, 67)
    assert up.shape == (2, 1, 67, 67)
    np.testing.assert_allclose(up, 0.5, rtol=1e-6)
    ramp = np.tile(np.arange(28, dtype=np.float32), 28)[None]
    row = upscale(ramp, 67)[0, 0, 10]
    assert np.all(np.diff(row) >= 0) and row[0] == 0 and row[-1] == 27
