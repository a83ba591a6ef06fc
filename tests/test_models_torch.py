"""AlexNet, VGG-16 and the style loss against PyTorch: same weights -> same logits and gradients.

Skipped (with a message) where torch is absent; CI does not install it.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install -e '.[torch]' for the cross-checks")
nn = torch.nn

import flowc as fc  # noqa: E402
from flowc.models import alexnet, style, vgg16, vgg19, weights  # noqa: E402
from flowc.models.alexnet import CONVS, LRN, LRN_AFTER, POOL_AFTER  # noqa: E402
from flowc.models.vgg import STAGES  # noqa: E402

torch.set_num_threads(2)


def torch_alexnet(model):
    """The paper's AlexNet in torch: torch's LRN alpha is flowc's times ``size``."""
    layers, c_in = [], model.config["in_channels"]
    for (name, _, k, s, p, g, _), c in zip(CONVS, model.config["channels"]):
        layers += [nn.Conv2d(c_in, c, k, s, p, groups=g), nn.ReLU()]
        if name in LRN_AFTER:
            layers.append(nn.LocalResponseNorm(LRN["size"], LRN["alpha"] * LRN["size"], LRN["beta"], LRN["k"]))
        if name in POOL_AFTER:
            layers.append(nn.MaxPool2d(3, 2))
        c_in = c
    h = model.config["hidden"]
    layers += [nn.Flatten(), nn.Linear(model.shapes["fc6"]["w"][0], h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
               nn.Linear(h, model.config["num_classes"])]
    net = nn.Sequential(*layers)
    named = [n for n, _, *_ in CONVS] + ["fc6", "fc7", "fc8"]
    return net, dict(zip(named, [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]))


def torch_vgg(model):
    """torchvision's VGG module layout (features.<i> / classifier.<i>) without the adaptive pool."""
    feats, c_in = [], model.config["in_channels"]
    for s, n in enumerate(STAGES[model.config["depth"]]):
        c = model.config["channels"][s]
        for _ in range(n):
            feats += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
            c_in = c
        feats.append(nn.MaxPool2d(2))
    h = model.config["hidden"]
    net = nn.Module()
    net.features = nn.Sequential(*feats)
    net.classifier = nn.Sequential(nn.Linear(model.shapes["fc6"]["w"][0], h), nn.ReLU(), nn.Dropout(),
                                   nn.Linear(h, h), nn.ReLU(), nn.Dropout(), nn.Linear(h, model.config["num_classes"]))
    net.forward = lambda x: net.classifier(torch.flatten(net.features(x), 1))
    return net


def load_modules(modules, params):
    with torch.no_grad():
        for name, m in modules.items():
            w = params[name]["w"]
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T if isinstance(m, nn.Linear) else w)))
            m.bias.copy_(torch.from_numpy(params[name]["b"]))


def torch_grads(modules, x, loss_fn):
    xt = torch.from_numpy(x).requires_grad_(True)
    loss = loss_fn(xt)
    loss.backward()
    grads = {}
    for name, m in modules.items():
        gw = m.weight.grad.numpy()
        grads[name] = {"w": gw.T if isinstance(m, nn.Linear) else gw, "b": m.bias.grad.numpy()}
    return loss.item(), grads, xt.grad.numpy()


def close(a, b, rtol=2e-4):
    scale = max(float(np.abs(b).max()), 1e-6)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def check_model(model, net, modules, x, y):
    params = model.init(fc.random.key(1))
    load_modules(modules, params)
    net.eval()
    logits = fc.jit(model.apply)(params, x)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    close(logits, ref)

    def loss(p, x):
        return fc.nn.softmax_cross_entropy(model.apply(p, x), y)

    value, (gp, gx) = fc.jit(fc.value_and_grad(loss, argnums=(0, 1)))(params, x)
    tv, tg, tx = torch_grads(modules, x, lambda xt: nn.functional.cross_entropy(net(xt), torch.from_numpy(y)))
    assert abs(float(value) - tv) < 1e-4 * max(1.0, abs(tv))
    for name in modules:
        close(gp[name]["w"], tg[name]["w"])
        close(gp[name]["b"], tg[name]["b"])
    close(gx, tx)


def test_alexnet_matches_torch():
    model = alexnet(num_classes=7, width=0.125, input_size=75, in_channels=3)
    net, modules = torch_alexnet(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3, 75, 75)).astype(np.float32)
    check_model(model, net, modules, x, rng.integers(0, 7, 3))


def test_vgg16_matches_torch_through_the_torchvision_mapping():
    model = vgg16(num_classes=5, width=1 / 16, input_size=32)
    params = model.init(fc.random.key(2))
    net = torch_vgg(model)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.to_torchvision(params, "vgg16").items()})
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    back = weights.from_torchvision(sd, "vgg16")
    for layer in params:
        np.testing.assert_array_equal(back[layer]["w"], params[layer]["w"])
    names = weights.torchvision_names("vgg16")
    modules = {ours: net.get_submodule(theirs) for ours, theirs in names.items()}
    rng = np.random.default_rng(1)
    check_model(model, net, modules, rng.standard_normal((2, 3, 32, 32)).astype(np.float32), rng.integers(0, 5, 2))


def test_style_loss_and_image_gradient_match_torch():
    model = vgg19(width=1 / 16, input_size=32, include_top=False, pool="avg")
    params = model.init(fc.random.key(3))
    rng = np.random.default_rng(2)
    content, sty, x = (rng.random((1, 3, 32, 32)).astype(np.float32) for _ in range(3))
    ct, st = style.targets(model, params, content, sty)

    def loss(x):
        return style.total_loss(model, params, x, ct, st, 1.0, 1e3, 1e-2)[0]

    value, gx = fc.value_and_grad(loss)(x)

    convs = {name: nn.Conv2d(*params[name]["w"].shape[1::-1], 3, padding=1) for name in params}
    load_modules(convs, params)
    mean = torch.from_numpy(style.IMAGENET_MEAN.reshape(1, 3, 1, 1))
    std = torch.from_numpy(style.IMAGENET_STD.reshape(1, 3, 1, 1))

    def feats(img, names):
        h, out = (img - mean) / std, {}
        for s, n in enumerate(STAGES[19], 1):
            for i in range(1, n + 1):
                h = convs[f"conv{s}_{i}"](h)
                out[f"conv{s}_{i}"] = h
                h = torch.relu(h)
            h = nn.functional.avg_pool2d(h, 2)
        return {k: out[k] for k in names}

    def tgram(f):
        n, c, hh, ww = f.shape
        f = f.reshape(n, c, hh * ww)
        return f @ f.transpose(1, 2) / (c * hh * ww)

    t_ct = feats(torch.from_numpy(content), style.CONTENT_LAYERS)
    t_st = {k: tgram(v) for k, v in feats(torch.from_numpy(sty), style.STYLE_LAYERS).items()}
    for k in st:
        close(st[k], t_st[k].detach().numpy())

    xt = torch.from_numpy(x).requires_grad_(True)
    f = feats(xt, style.CONTENT_LAYERS + style.STYLE_LAYERS)
    lc = sum(0.5 * ((f[k] - t_ct[k].detach()) ** 2).sum() for k in style.CONTENT_LAYERS)
    ls = sum(0.25 * ((tgram(f[k]) - t_st[k].detach()) ** 2).sum() for k in style.STYLE_LAYERS) / 5
    tv = ((xt[:, :, 1:] - xt[:, :, :-1]) ** 2).sum() + ((xt[..., 1:] - xt[..., :-1]) ** 2).sum()
    tl = lc + 1e3 * ls + 1e-2 * tv
    tl.backward()
    assert abs(float(value) - tl.item()) < 1e-4 * abs(tl.item())
    close(gx, xt.grad.numpy(), rtol=1e-3)
