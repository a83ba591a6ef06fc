"""Neural-style losses against numpy references, and a few optimisation steps on a tiny VGG-19."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import flowc as fc
from flowc.models import style, vgg19

shapes = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(2, 6), st.integers(2, 6))


def arrays(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)


@given(shapes, st.integers(0, 2**16))
def test_gram_and_style_loss_match_numpy(shape, seed):
    f, g = arrays(shape, seed)
    n, c, h, w = shape
    flat = f.astype(np.float64).reshape(n, c, h * w)
    ref = flat @ flat.transpose(0, 2, 1)
    np.testing.assert_allclose(style.gram(f), ref / (c * h * w), rtol=1e-5, atol=1e-6)
    # the paper's 1/(4 C^2 M^2) sum (G - A)^2 over raw Gram matrices
    flat_g = g.astype(np.float64).reshape(n, c, h * w)
    raw = np.sum((ref - flat_g @ flat_g.transpose(0, 2, 1)) ** 2) / (4 * c**2 * (h * w) ** 2)
    np.testing.assert_allclose(style.style_loss(style.gram(f), style.gram(g)), raw, rtol=1e-4)


@given(shapes, st.integers(0, 2**16))
def test_content_and_tv_losses_match_numpy(shape, seed):
    f, p = arrays(shape, seed)
    np.testing.assert_allclose(style.content_loss(f, p), 0.5 * np.sum((f.astype(np.float64) - p) ** 2), rtol=1e-5)
    x = f.astype(np.float64)
    tv = np.sum(np.diff(x, axis=2) ** 2) + np.sum(np.diff(x, axis=3) ** 2)
    np.testing.assert_allclose(style.tv_loss(f), tv, rtol=1e-5)


def test_few_adam_steps_lower_the_loss_and_keep_the_image_in_range():
    model = vgg19(width=1 / 16, input_size=32, include_top=False, pool="avg")
    params = model.init(fc.random.key(0))
    rng = np.random.default_rng(0)
    content = rng.random((1, 3, 32, 32), np.float32)
    sty = np.repeat(np.linspace(0, 1, 32, dtype=np.float32)[None, None, None, :], 3, 1).repeat(32, 2)
    ct, st_ = style.targets(model, params, content, sty)
    assert set(ct) == {"conv4_2"} and set(st_) == set(style.STYLE_LAYERS)
    opt, step = style.make_step(model, lr=0.05, tv_weight=1e-2)
    x = content.copy()
    state = opt.init(x)
    losses = []
    for _ in range(3):
        x, state, value, parts = step(x, state, params, ct, st_)
        losses.append(float(value))
        np.testing.assert_allclose(float(value), sum(float(p) for p in parts), rtol=1e-5)
    assert losses[-1] < losses[0]
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0 and x.shape == content.shape
    assert step.trace_count == 1
    assert not np.allclose(x, content)


def test_neural_style_example_end_to_end(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import neural_style
    out = tmp_path / "out.png"
    x, history = neural_style.main(["-o", str(out), "--size", "32", "--iters", "3", "--width", "0.0625",
                                    "--lr", "0.05"])
    assert out.exists() and (tmp_path / "out_loss.png").exists()
    assert history[-1][0] < history[0][0]
    assert x.shape == (1, 3, 32, 32) and np.isfinite(x).all() and 0.0 <= x.min() and x.max() <= 1.0
