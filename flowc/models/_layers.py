"""Layer helpers shared by the seed models: parameters are plain dicts ``{"w": ..., "b": ...}``.

Conv weights are OIHW (torch's layout); dense weights are ``[in, out]`` (used as
``x @ w``, flowc's convention; torch's Linear stores the transpose).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import flowc as fc


@dataclass(frozen=True)
class Model:
    """An init/apply pair over a parameter pytree, plus the configuration that built it.

    ``init(key) -> params``; ``apply(params, x, key=None) -> logits`` (dropout only when a key is given);
    ``features(params, x, names) -> {name: activation}`` where the model has named intermediate layers;
    ``shapes`` gives every parameter's shape without initialising anything.
    """
    name: str
    init: Callable
    apply: Callable
    features: Callable | None = None
    config: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)   # {layer: {"w": shape, "b": shape}}: what a weights file must hold

    @property
    def input_shape(self) -> tuple:
        c = self.config
        return (c["in_channels"], c["input_size"], c["input_size"])


def scaled(channels: int, width: float, multiple: int = 1) -> int:
    """``channels * width`` rounded to a positive multiple of ``multiple`` (groups need divisible counts)."""
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def init_layer(key, shape: dict, bias: float = 0.0, glorot: bool = False) -> dict:
    """He-normal (or Glorot-uniform) weights of ``shape["w"]`` (OIHW or [in, out]) and constant biases."""
    init = fc.nn.init.glorot_uniform if glorot else fc.nn.init.he_normal
    return {"w": np.asarray(init(key, shape["w"]), np.float32), "b": np.full(shape["b"], bias, np.float32)}


def conv(p: dict, x, stride: int = 1, padding: int = 0, groups: int = 1):
    y = fc.nn.conv2d(x, p["w"], stride=stride, padding=padding, groups=groups)
    return y + fc.reshape(p["b"], (1, -1, 1, 1))


def dense(p: dict, x):
    return x @ p["w"] + p["b"]


def conv_out(size: int, k: int, stride: int = 1, pad: int = 0) -> int:
    return (size + 2 * pad - k) // stride + 1
