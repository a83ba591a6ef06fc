"""AlexNet (Krizhevsky, Sutskever & Hinton 2012), NCHW, as an init/apply pair.

    conv1  96 x 11x11 stride 4        ReLU  LRN  maxpool 3/2
    conv2 256 x 5x5 pad 2, groups 2   ReLU  LRN  maxpool 3/2
    conv3 384 x 3x3 pad 1             ReLU
    conv4 384 x 3x3 pad 1, groups 2   ReLU
    conv5 256 x 3x3 pad 1, groups 2   ReLU       maxpool 3/2
    fc6 4096 ReLU dropout   fc7 4096 ReLU dropout   fc8 num_classes

The paper's two GPU towers are grouped convolutions: conv2, conv4 and conv5 see
only their own tower's half of the channels; conv3 and the dense layers see
both.  LRN uses the paper's constants (size 5, alpha 1e-4, beta 0.75, k 2) with
the paper's alpha — torch.nn.LocalResponseNorm divides alpha by ``size``, so the
torch equivalent is ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``.
Pooling windows overlap (3x3, stride 2).  The paper's 224 input is really 227
(conv1 has no padding); ``input_size`` can be anything from 67 up (67 is the
smallest input whose last pooling window still fits).  ``width`` scales every
channel count and the hidden dense size (channels stay even for the groups).
"""
from __future__ import annotations

import flowc as fc

from ._layers import Model, conv, conv_out, dense, init_layer, scaled

LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
CONVS = (  # name, out channels, kernel, stride, padding, groups, paper's bias init
    ("conv1", 96, 11, 4, 0, 1, 0.0),
    ("conv2", 256, 5, 1, 2, 2, 1.0),
    ("conv3", 384, 3, 1, 1, 1, 0.0),
    ("conv4", 384, 3, 1, 1, 2, 1.0),
    ("conv5", 256, 3, 1, 1, 2, 1.0),
)
POOL_AFTER = ("conv1", "conv2", "conv5")
LRN_AFTER = ("conv1", "conv2")


def feature_size(input_size: int) -> int:
    """Spatial size of conv5's pooled output for a square input."""
    n = input_size
    for name, _, k, s, p, _, _ in CONVS:
        n = conv_out(n, k, s, p)
        if name in POOL_AFTER:
            n = conv_out(n, 3, 2)
    return n


def alexnet(num_classes: int = 1000, width: float = 1.0, input_size: int = 227, in_channels: int = 3,
            dropout: float = 0.5, paper_biases: bool = False) -> Model:
    """AlexNet; ``width=0.25`` gives a quarter-width net, ``input_size`` the square input side.

    Weights are He-normal (the paper's N(0, 0.01) trains far slower without its schedule); biases are 0, or
    with ``paper_biases`` 1 on conv2, conv4, conv5 and the hidden dense layers as in the paper.
    """
    side = feature_size(input_size)
    if side < 1:
        raise ValueError(f"alexnet: input_size {input_size} is too small (at least 67 is needed)")
    chans = [scaled(c, width, 2) for _, c, *_ in CONVS]
    hidden = scaled(4096, width)
    cfg = dict(num_classes=num_classes, width=width, input_size=input_size, in_channels=in_channels,
               dropout=dropout, channels=tuple(chans), hidden=hidden, feature_side=side)

    shapes, c_in = {}, in_channels
    for (name, _, k, _, _, g, _), c in zip(CONVS, chans):
        shapes[name] = {"w": (c, c_in // g, k, k), "b": (c,)}
        c_in = c
    for name, n_in, n_out in (("fc6", c_in * side * side, hidden), ("fc7", hidden, hidden),
                              ("fc8", hidden, num_classes)):
        shapes[name] = {"w": (n_in, n_out), "b": (n_out,)}

    biases = {n: b for n, *_, b in CONVS} | {"fc6": 1.0, "fc7": 1.0, "fc8": 0.0}

    def init(key):
        keys = fc.random.split(key, len(shapes))
        return {name: init_layer(keys[i], shape, biases[name] if paper_biases else 0.0, glorot=name == "fc8")
                for i, (name, shape) in enumerate(shapes.items())}

    def apply(params, x, key=None):
        """Logits for NCHW images ``x``; dropout is active only when ``key`` is given (training)."""
        h = x
        for name, _, _, s, p, g, _ in CONVS:
            h = fc.nn.relu(conv(params[name], h, s, p, g))
            if name in LRN_AFTER:
                h = fc.nn.local_response_norm(h, **LRN)
            if name in POOL_AFTER:
                h = fc.nn.max_pool2d(h, 3, 2)
        h = fc.reshape(h, (h.shape[0], -1))
        ks = None if key is None else fc.random.split(key, 2)
        keys = (None, None) if ks is None else (ks[0], ks[1])
        for name, k in zip(("fc6", "fc7"), keys):
            h = fc.nn.relu(dense(params[name], h))
            if k is not None and dropout:
                h = fc.nn.dropout(k, h, dropout)
        return dense(params["fc8"], h)

    return Model("alexnet", init, apply, None, cfg, shapes)
