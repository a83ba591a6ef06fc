"""VGG-16 and VGG-19 (Simonyan & Zisserman 2015, configurations D and E), NCHW, as init/apply pairs.

Layers are named as in the paper's convention used by style transfer: ``conv{stage}_{i}``
(3x3, pad 1), ``relu{stage}_{i}`` its activation, ``pool{stage}`` (2x2/2), then
``fc6``/``fc7`` (4096, ReLU, dropout) and ``fc8``.  ``features(params, x, names)``
returns any of those activations by name (``conv*`` before the ReLU, ``relu*``
after) and stops at the deepest one asked for.  ``pool="avg"`` swaps max pooling
for average pooling (Gatys et al. recommend it for image synthesis).

Inputs are RGB in [0, 1] normalised with ``IMAGENET_MEAN``/``IMAGENET_STD`` (the
torchvision convention; see ``flowc.models.weights`` for Keras/Caffe weights).
torchvision puts an ``AdaptiveAvgPool2d(7)`` before the classifier, the identity at
224x224; here fc6 takes the flattened pool5 output at whatever ``input_size`` is.
"""
from __future__ import annotations

import numpy as np

import flowc as fc

from ._layers import Model, conv, dense, init_layer, scaled

STAGES = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
STAGE_CHANNELS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def layer_names(depth: int) -> list[str]:
    """Every layer name in forward order (conv/relu pairs, pools, dense layers)."""
    names = []
    for s, n in enumerate(STAGES[depth], 1):
        for i in range(1, n + 1):
            names += [f"conv{s}_{i}", f"relu{s}_{i}"]
        names.append(f"pool{s}")
    return names + ["fc6", "fc7", "fc8"]


def conv_names(depth: int) -> list[str]:
    return [n for n in layer_names(depth) if n.startswith("conv")]


def vgg(depth: int, num_classes: int = 1000, width: float = 1.0, input_size: int = 224, in_channels: int = 3,
        include_top: bool = True, pool: str = "max", dropout: float = 0.5) -> Model:
    if depth not in STAGES:
        raise ValueError(f"vgg: depth must be 16 or 19, got {depth}")
    if pool not in ("max", "avg"):
        raise ValueError(f"vgg: pool must be 'max' or 'avg', got {pool!r}")
    if include_top and input_size < 32:
        raise ValueError(f"vgg: input_size {input_size} is too small for the classifier (at least 32)")
    chans = [scaled(c, width) for c in STAGE_CHANNELS]
    hidden = scaled(4096, width)
    side = input_size // 32
    cfg = dict(depth=depth, num_classes=num_classes, width=width, input_size=input_size, in_channels=in_channels,
               include_top=include_top, pool=pool, dropout=dropout, channels=tuple(chans), hidden=hidden)
    convs = conv_names(depth)
    order = layer_names(depth)

    shapes, c_in = {}, in_channels
    for name in convs:
        c = chans[int(name[4]) - 1]
        shapes[name] = {"w": (c, c_in, 3, 3), "b": (c,)}
        c_in = c
    if include_top:
        for name, n_in, n_out in (("fc6", c_in * side * side, hidden), ("fc7", hidden, hidden),
                                  ("fc8", hidden, num_classes)):
            shapes[name] = {"w": (n_in, n_out), "b": (n_out,)}

    def init(key):
        keys = fc.random.split(key, len(shapes))
        return {name: init_layer(keys[i], shape, glorot=name == "fc8")
                for i, (name, shape) in enumerate(shapes.items())}

    def _pool(h):
        return fc.nn.max_pool2d(h, 2) if pool == "max" else fc.nn.avg_pool2d(h, 2)

    def features(params, x, names):
        """``{name: activation}`` for the requested conv/relu/pool layer names."""
        want = set(names)
        unknown = want - set(order[:-3])
        if unknown:
            raise ValueError(f"vgg{depth}: unknown feature layer(s) {sorted(unknown)}; known: {order[:-3]}")
        out, h = {}, x
        for name in order[:-3]:
            if not want - set(out):
                break
            if name.startswith("conv"):
                h = conv(params[name], h, padding=1)
            elif name.startswith("relu"):
                h = fc.nn.relu(h)
            else:
                h = _pool(h)
            if name in want:
                out[name] = h
        return out

    def apply(params, x, key=None):
        """Logits (or pool5 features without the top); dropout only when ``key`` is given."""
        h = features(params, x, ["pool5"])["pool5"]
        if not include_top:
            return h
        h = fc.reshape(h, (h.shape[0], -1))
        ks = None if key is None else fc.random.split(key, 2)
        keys = (None, None) if ks is None else (ks[0], ks[1])
        for name, k in zip(("fc6", "fc7"), keys):
            h = fc.nn.relu(dense(params[name], h))
            if k is not None and dropout:
                h = fc.nn.dropout(k, h, dropout)
        return dense(params["fc8"], h)

    return Model(f"vgg{depth}", init, apply, features, cfg, shapes)


def vgg16(num_classes: int = 1000, **kwargs) -> Model:
    """VGG-16 (configuration D); keyword arguments as ``vgg``."""
    return vgg(16, num_classes, **kwargs)


def vgg19(num_classes: int = 1000, **kwargs) -> Model:
    """VGG-19 (configuration E); keyword arguments as ``vgg``."""
    return vgg(19, num_classes, **kwargs)
