"""Pretrained weights from ``.npz`` files of named arrays; nothing is downloaded at run time.

Naming: one array per parameter, ``"<layer>.w"`` and ``"<layer>.b"``, where the layer
names are the model's (``conv1`` .. ``conv5``, ``fc6`` .. ``fc8`` for AlexNet;
``conv1_1`` .. ``conv5_4``, ``fc6`` .. ``fc8`` for VGG; ``model.shapes`` lists them).
Conv weights are OIHW (``[out, in/groups, kh, kw]``); dense weights are
``[in, out]`` (flowc computes ``x @ w``), so fc6's rows follow the NCHW flatten order
(channel, row, column).  Inputs are RGB in [0, 1] normalised by
``vgg.IMAGENET_MEAN``/``IMAGENET_STD``.

From torchvision (run once where torchvision is installed)::

    import numpy as np, torchvision
    from flowc.models import weights
    sd = {k: v.numpy() for k, v in torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict().items()}
    weights.save_npz("vgg19.npz", weights.from_torchvision(sd, "vgg19"))

  ``features.<i>`` indices map to conv layers in order, ``classifier.0/3/6`` to fc6/7/8;
  Linear weights are transposed.  torchvision's AlexNet is the later one-tower
  variant (64-192-384-256-256 filters, no LRN, no groups), not the paper's net, so
  it has no mapping here.

From Keras (``keras.applications.VGG19``)::

    layers = {l.name: l.get_weights() for l in keras.applications.VGG19().layers if l.get_weights()}
    weights.save_npz("vgg19.npz", weights.from_keras(layers, "vgg19"))

  ``block{s}_conv{i}`` kernels are HWIO (transposed to OIHW); ``fc1``'s rows are in
  NHWC flatten order (row, column, channel) and are permuted to (channel, row,
  column); ``fc1``/``fc2``/``predictions`` become fc6/fc7/fc8.  Keras VGG expects
  Caffe preprocessing (BGR, 0-255, per-channel mean subtracted); ``from_keras`` folds
  that into conv1_1 (channel order, scale and bias) so one input convention serves
  all weights.  The fold is exact except in the one-pixel border, where Keras pads
  the mean-subtracted image with zeros.

For the paper's AlexNet, Caffe's ``bvlc_alexnet`` has this exact architecture:
conv weights are already OIHW with groups 2, ``fc*`` weights ``[out, in]`` need a
transpose, and its input is BGR 0-255 minus the mean at 227x227.
"""
from __future__ import annotations

import os

import numpy as np

from flowc.ir.types import FlowcError

from .vgg import IMAGENET_MEAN, IMAGENET_STD, STAGES

CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)


class WeightsError(FlowcError):
    """A weights file that does not fit the model (missing, unexpected shape)."""


def flatten_params(params: dict) -> dict[str, np.ndarray]:
    return {f"{layer}.{k}": np.asarray(v) for layer, d in params.items() for k, v in d.items()}


def unflatten_params(arrays) -> dict:
    params: dict = {}
    for key in arrays:
        layer, _, k = key.rpartition(".")
        if not layer:
            raise WeightsError(f"array name {key!r} is not '<layer>.w' or '<layer>.b'")
        params.setdefault(layer, {})[k] = np.asarray(arrays[key], np.float32)
    return params


def save_npz(path: str | os.PathLike, params: dict) -> None:
    np.savez(path, **flatten_params(params))


def load_npz(path: str | os.PathLike, model=None) -> dict:
    """Parameters from ``path``; with ``model``, only its layers, each checked against ``model.shapes``."""
    with np.load(path, allow_pickle=False) as f:
        params = unflatten_params({k: f[k] for k in f.files})
    return params if model is None else check(params, model, str(path))


def check(params: dict, model, where: str = "params") -> dict:
    """The model's layers of ``params``, float32, after checking every name and shape."""
    out = {}
    for layer, shapes in model.shapes.items():
        for k, shape in shapes.items():
            if k not in params.get(layer, {}):
                raise WeightsError(f"{where}: {model.name} needs '{layer}.{k}' of shape {shape}; it is missing")
            got = np.shape(params[layer][k])
            if got != tuple(shape):
                raise WeightsError(f"{where}: '{layer}.{k}' has shape {got}, {model.name} needs {tuple(shape)}")
        out[layer] = {k: np.asarray(params[layer][k], np.float32) for k in shapes}
    return out


# --------------------------------------------------------------------------- torchvision

def _vgg_depth(arch: str) -> int:
    depth = {"vgg16": 16, "vgg19": 19}.get(arch)
    if depth is None:
        raise WeightsError(f"no torchvision/Keras mapping for {arch!r} (supported: vgg16, vgg19)")
    return depth


def torchvision_names(arch: str) -> dict[str, str]:
    """Our layer name -> torchvision module name (``features.<i>`` / ``classifier.<i>``)."""
    depth = _vgg_depth(arch)
    names, i = {}, 0
    for s, n in enumerate(STAGES[depth], 1):
        for j in range(1, n + 1):
            names[f"conv{s}_{j}"] = f"features.{i}"
            i += 2                      # Conv2d, ReLU
        i += 1                          # MaxPool2d
    names.update(fc6="classifier.0", fc7="classifier.3", fc8="classifier.6")
    return names


def from_torchvision(state_dict: dict, arch: str) -> dict:
    """Our parameters from a torchvision VGG ``state_dict`` of numpy arrays (dense layers optional)."""
    params = {}
    for ours, theirs in torchvision_names(arch).items():
        if f"{theirs}.weight" not in state_dict:
            if ours.startswith("fc"):
                continue
            raise WeightsError(f"state_dict has no '{theirs}.weight' (for {ours})")
        w = np.asarray(state_dict[f"{theirs}.weight"], np.float32)
        params[ours] = {"w": w.T.copy() if ours.startswith("fc") else w,
                        "b": np.asarray(state_dict[f"{theirs}.bias"], np.float32)}
    return params


def to_torchvision(params: dict, arch: str) -> dict:
    """The inverse of ``from_torchvision``: a state_dict of numpy arrays."""
    sd = {}
    for ours, theirs in torchvision_names(arch).items():
        if ours in params:
            w = np.asarray(params[ours]["w"])
            sd[f"{theirs}.weight"] = np.ascontiguousarray(w.T) if ours.startswith("fc") else w
            sd[f"{theirs}.bias"] = np.asarray(params[ours]["b"])
    return sd


# --------------------------------------------------------------------------- Keras

def from_keras(layers: dict, arch: str, fold_preprocessing: bool = True) -> dict:
    """Our parameters from ``{keras layer name: [kernel, bias]}`` of ``keras.applications.VGG16/19``."""
    depth = _vgg_depth(arch)
    params = {}
    for s, n in enumerate(STAGES[depth], 1):
        for j in range(1, n + 1):
            kernel, bias = layers[f"block{s}_conv{j}"]
            params[f"conv{s}_{j}"] = {"w": np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)), np.float32),
                                      "b": np.asarray(bias, np.float32)}
    if "fc1" in layers:
        k, b = layers["fc1"]
        c = params[f"conv5_{STAGES[depth][-1]}"]["w"].shape[0]
        side = int(round((k.shape[0] // c) ** 0.5))
        k = k.reshape(side, side, c, -1).transpose(2, 0, 1, 3).reshape(k.shape[0], -1)
        params["fc6"] = {"w": np.asarray(k, np.float32), "b": np.asarray(b, np.float32)}
        for ours, theirs in (("fc7", "fc2"), ("fc8", "predictions")):
            k, b = layers[theirs]
            params[ours] = {"w": np.asarray(k, np.float32), "b": np.asarray(b, np.float32)}
    if fold_preprocessing:
        params["conv1_1"] = fold_caffe_preprocessing(params["conv1_1"])
    return params


def fold_caffe_preprocessing(p: dict) -> dict:
    """conv1_1 of a net fed BGR 0-255 minus ``CAFFE_BGR_MEAN``, rewritten to take torchvision-normalised RGB.

    With x_rgb = std * z + mean (z the normalised input) the Caffe input is
    255 * x_bgr - M, so the weights become w[:, bgr->rgb] * 255 * std and the bias
    gains sum(w * (255 * mean - M)).
    """
    w = np.asarray(p["w"], np.float32)[:, ::-1]                      # BGR -> RGB input channels
    shift = 255.0 * IMAGENET_MEAN - CAFFE_BGR_MEAN[::-1]
    b = np.asarray(p["b"], np.float32) + np.einsum("oikl,i->o", w, shift)
    return {"w": np.ascontiguousarray(w * (255.0 * IMAGENET_STD)[None, :, None, None]), "b": b.astype(np.float32)}
