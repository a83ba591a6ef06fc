"""Neural style transfer (Gatys, Ecker & Bethge 2016) losses and the optimisation step.

The image x is optimised so that its VGG features match the content image's at
``CONTENT_LAYERS`` and its feature correlations (Gram matrices) match the style
image's at ``STYLE_LAYERS``:

    L = content_weight * sum_l 1/2 sum (F_l - P_l)^2
      + style_weight   * sum_l w_l 1/(4 C_l^2 M_l^2) sum (F_l F_l^T - A_l)^2
      + tv_weight      * sum of squared neighbour differences of x

with C_l channels and M_l = H_l W_l positions.  ``gram`` divides by C M, so the
style term is 1/4 sum (G - A)^2 of normalised Gram matrices — the paper's loss,
with numbers that stay small in float32.  Every function works on traced values
(inside ``@fc.jit``) and on numpy arrays (eagerly).
"""
from __future__ import annotations

import flowc as fc

from .vgg import IMAGENET_MEAN, IMAGENET_STD

CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def gram(f):
    """Normalised Gram matrices ``F F^T / (C H W)`` of NCHW features: ``[N, C, C]``."""
    n, c, h, w = f.shape
    flat = fc.reshape(f, (n, c, h * w))
    return flat @ fc.transpose(flat, (0, 2, 1)) / float(c * h * w)


def content_loss(f, target):
    """1/2 sum (F - P)^2."""
    d = f - target
    return 0.5 * fc.sum(d * d)


def style_loss(g, target):
    """1/4 sum (G - A)^2 over normalised Gram matrices (= the paper's 1/(4 C^2 M^2) sum of raw ones)."""
    d = g - target
    return 0.25 * fc.sum(d * d)


def tv_loss(x):
    """Total variation: sum of squared differences between vertical and horizontal neighbours (NCHW)."""
    dv = x[:, :, 1:, :] - x[:, :, :-1, :]
    dh = x[:, :, :, 1:] - x[:, :, :, :-1]
    return fc.sum(dv * dv) + fc.sum(dh * dh)


def normalize(x):
    """RGB in [0, 1] -> the VGG input convention (ImageNet mean/std)."""
    return (x - IMAGENET_MEAN.reshape(1, 3, 1, 1)) / IMAGENET_STD.reshape(1, 3, 1, 1)


def targets(model, params, content, style, content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS):
    """``(content features, style Gram matrices)``: dicts by layer name, for the images in [0, 1]."""
    fcont = model.features(params, normalize(content), content_layers)
    fsty = model.features(params, normalize(style), style_layers)
    return {k: fcont[k] for k in content_layers}, {k: gram(fsty[k]) for k in style_layers}


def total_loss(model, params, x, content_t, style_t, content_weight=1.0, style_weight=1e3, tv_weight=0.0):
    """``(L, (content term, style term, tv term))`` for image ``x`` against precomputed targets."""
    feats = model.features(params, normalize(x), list(content_t) + list(style_t))
    lc = sum(content_loss(feats[k], t) for k, t in content_t.items())
    ls = sum(style_loss(gram(feats[k]), t) for k, t in style_t.items()) / float(len(style_t))
    lt = tv_loss(x)
    parts = (content_weight * lc, style_weight * ls, tv_weight * lt)
    return parts[0] + parts[1] + parts[2], parts


def make_step(model, lr=0.02, content_weight=1.0, style_weight=1e3, tv_weight=0.0, backend="reference"):
    """``(opt, step)``: one jitted Adam step on the image, ``step(x, state, params, content_t, style_t)``
    -> ``(x, state, loss, parts)``, the image clipped to [0, 1] after each update."""
    opt = fc.optim.adam(lr)

    def loss(x, params, content_t, style_t):
        return total_loss(model, params, x, content_t, style_t, content_weight, style_weight, tv_weight)

    @fc.jit(backend=backend)
    def step(x, state, params, content_t, style_t):
        (value, parts), g = fc.value_and_grad(loss, has_aux=True)(x, params, content_t, style_t)
        x, state = opt.update(g, state, x)
        return fc.clip(x, 0.0, 1.0), state, value, parts

    return opt, step
