"""VGG-16/19 structure and features, and the .npz weights loader with its torchvision/Keras mappings."""
import numpy as np
import pytest

import flowc as fc
from flowc.models import vgg16, vgg19, weights
from flowc.models.vgg import conv_names


def test_paper_configurations():
    assert len(conv_names(16)) == 13 and len(conv_names(19)) == 16
    s = vgg19().shapes
    assert s["conv1_1"]["w"] == (64, 3, 3, 3) and s["conv5_4"]["w"] == (512, 512, 3, 3)
    assert s["fc6"]["w"] == (512 * 7 * 7, 4096) and s["fc8"]["w"] == (4096, 1000)
    assert "fc6" not in vgg16(include_top=False).shapes
    assert weights.torchvision_names("vgg16")["conv5_3"] == "features.28"
    assert weights.torchvision_names("vgg19")["conv5_4"] == "features.34"


def test_logits_and_named_features():
    m = vgg16(num_classes=5, width=1 / 16, input_size=32)
    params = m.init(fc.random.key(0))
    x = np.random.default_rng(0).random((2, 3, 32, 32), np.float32)
    assert fc.jit(m.apply)(params, x).shape == (2, 5)
    f = fc.jit(lambda p, x: m.features(p, x, ["conv1_1", "relu1_1", "pool2", "conv4_2"]))(params, x)
    assert f["conv1_1"].shape == (2, 4, 32, 32) and f["pool2"].shape == (2, 8, 8, 8)
    assert f["conv4_2"].shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(f["relu1_1"], np.maximum(f["conv1_1"], 0))
    with pytest.raises(ValueError, match="unknown feature"):
        m.features(params, x, ["conv5_4"])


def test_avg_pool_variant_pools_by_mean():
    m = vgg19(width=1 / 16, input_size=32, include_top=False, pool="avg")
    params = m.init(fc.random.key(0))
    x = np.random.default_rng(1).random((1, 3, 32, 32), np.float32)
    f = fc.jit(lambda p, x: m.features(p, x, ["relu1_2", "pool1"]))(params, x)
    r = f["relu1_2"]
    np.testing.assert_allclose(f["pool1"], r.reshape(1, 4, 16, 2, 16, 2).mean(axis=(3, 5)), rtol=1e-6)


def test_npz_round_trip_and_checked_loading(tmp_path):
    m = vgg16(num_classes=3, width=1 / 16, input_size=32)
    params = m.init(fc.random.key(0))
    path = tmp_path / "vgg.npz"
    weights.save_npz(path, params)
    assert "conv3_2.w" in np.load(path).files
    back = weights.load_npz(path, m)
    for layer in params:
        np.testing.assert_array_equal(back[layer]["w"], params[layer]["w"])
    # a features-only model takes just its layers from a full file
    assert set(weights.load_npz(path, vgg16(width=1 / 16, include_top=False))) == set(conv_names(16))
    with pytest.raises(weights.WeightsError, match=r"'conv1_1.w' has shape \(4, 3, 3, 3\)"):
        weights.load_npz(path, vgg16(num_classes=3, width=1 / 8, input_size=32))
    del params["fc8"]
    weights.save_npz(path, params)
    with pytest.raises(weights.WeightsError, match="'fc8.w'.*missing"):
        weights.load_npz(path, m)


def test_torchvision_mapping_round_trips():
    params = vgg19(num_classes=3, width=1 / 16, input_size=32).init(fc.random.key(0))
    sd = weights.to_torchvision(params, "vgg19")
    assert sd["classifier.0.weight"].shape == params["fc6"]["w"].shape[::-1]
    back = weights.from_torchvision(sd, "vgg19")
    for layer in params:
        np.testing.assert_array_equal(back[layer]["w"], params[layer]["w"])
    with pytest.raises(weights.WeightsError, match="supported: vgg16, vgg19"):
        weights.torchvision_names("alexnet")


def test_keras_mapping_permutes_fc1_and_folds_caffe_preprocessing():
    rng = np.random.default_rng(0)
    m = vgg16(num_classes=3, width=1 / 16, input_size=64)
    ours = m.init(fc.random.key(0))
    layers = {}
    for name, p in ours.items():
        if name.startswith("conv"):
            layers[f"block{name[4]}_conv{name[6]}"] = [p["w"].transpose(2, 3, 1, 0), p["b"]]
    c = ours["conv5_3"]["w"].shape[0]
    fc1 = rng.standard_normal((2 * 2 * c, 7)).astype(np.float32)      # rows in Keras (H, W, C) order
    layers.update(fc1=[fc1, np.zeros(7)], fc2=[np.eye(7), np.zeros(7)], predictions=[np.eye(7), np.zeros(7)])
    conv = weights.from_keras(layers, "vgg16", fold_preprocessing=False)
    np.testing.assert_array_equal(conv["conv3_2"]["w"], ours["conv3_2"]["w"])
    feat = rng.standard_normal((c, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(feat.ravel() @ conv["fc6"]["w"], feat.transpose(1, 2, 0).ravel() @ fc1, rtol=1e-5)

    # conv1_1 folded: normalised RGB in == Caffe BGR 0-255 minus mean in (exact without padding)
    folded = weights.fold_caffe_preprocessing(ours["conv1_1"])
    rgb = rng.random((1, 3, 9, 9)).astype(np.float32)
    z = (rgb - weights.IMAGENET_MEAN.reshape(1, 3, 1, 1)) / weights.IMAGENET_STD.reshape(1, 3, 1, 1)
    caffe = 255.0 * rgb[:, ::-1] - weights.CAFFE_BGR_MEAN.reshape(1, 3, 1, 1)

    def conv_valid(p, x):
        return fc.nn.conv2d(x, p["w"], padding="VALID") + p["b"].reshape(1, -1, 1, 1)

    np.testing.assert_allclose(conv_valid(folded, z), conv_valid(ours["conv1_1"], np.ascontiguousarray(caffe)),
                               rtol=1e-4, atol=1e-3)
