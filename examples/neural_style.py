"""Neural style transfer (Gatys, Ecker & Bethge 2016) with VGG-19 features, Adam on the image, one jitted step.

    python examples/neural_style.py CONTENT STYLE -o out.png [--weights vgg19.npz] [--size 256] [--iters 200]
    python examples/neural_style.py -o out.png            # matplotlib's sample images, random VGG features
    python examples/neural_style.py --bench [--bench-sizes 64,256]   # s/iteration, flowc vs PyTorch eager

Content layer conv4_2; style layers conv1_1, conv2_1, conv3_1, conv4_1, conv5_1
(equal weights); average pooling as the paper recommends.  Without ``--weights``
the VGG-19 is randomly initialised (He-normal): random filters at five depths
still give multi-scale texture statistics, but not the paper's results.  See
``flowc.models.weights`` to convert torchvision/Keras VGG-19 weights to .npz.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowc as fc  # noqa: E402
from _common import progress  # noqa: E402
from flowc.models import style, vgg19, weights  # noqa: E402
from flowc.models.vgg import STAGES  # noqa: E402


# --------------------------------------------------------------------------- images

def sample_images() -> tuple[str, str]:
    """Content and style images shipped with matplotlib (available offline)."""
    import matplotlib
    d = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data")
    return os.path.join(d, "grace_hopper.jpg"), os.path.join(d, "Minduka_Present_Blue_Pack.png")


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), np.minimum(lo + 1, n_in - 1)] += frac
    return m


def load_image(path: str, size: int) -> np.ndarray:
    """[1, 3, size, size] float32 RGB in [0, 1] (centre-cropped square, bilinear resize)."""
    try:
        from PIL import Image
        a = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
    except ImportError:
        import matplotlib.image
        a = matplotlib.image.imread(path).astype(np.float32)
        a = a / 255.0 if a.max() > 1.0 else a
        a = np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a[..., :3]
    h, w = a.shape[:2]
    s = min(h, w)
    a = a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    m = _resize_matrix(s, size)
    a = np.einsum("ij,jkc,lk->cil", m, a, m)
    return np.clip(a, 0.0, 1.0)[None].astype(np.float32)


def save_image(path: str, x: np.ndarray) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(path, np.clip(x[0].transpose(1, 2, 0), 0.0, 1.0))


def save_loss_plot(path: str, history: list) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no loss plot")
        return False
    h = np.asarray(history)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, label in enumerate(("total", "content", "style", "tv")):
        if np.any(h[:, i] > 0):
            ax.plot(h[:, i], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- model

def build(args):
    model = vgg19(width=args.width, input_size=args.size, include_top=False, pool="avg")
    if args.weights:
        params = weights.load_npz(args.weights, model)
        print(f"VGG-19 weights from {args.weights}")
    else:
        params = model.init(fc.random.key(args.seed))
        print(f"no --weights: randomly initialised VGG-19 features (He-normal, seed {args.seed}, width {args.width})"
              " - random multi-scale filters, not pretrained ones, so expect texture transfer, not the paper's "
              "results")
    return model, params


def run(args, content, sty, model, params):
    """Optimise the image; returns it and the loss history [(total, content, style, tv), ...]."""
    ct, st = fc.jit(lambda p, c, s: style.targets(model, p, c, s), backend=args.backend)(params, content, sty)
    opt, step = style.make_step(model, args.lr, args.content_weight, args.style_weight, args.tv_weight,
                                args.backend)
    rng = np.random.default_rng(args.seed)
    x = content.copy() if args.init == "content" else rng.random(content.shape, np.float32)
    state = opt.init(x)
    history = []
    t0 = time.perf_counter()
    for _ in progress(range(args.iters), args.iters, "style"):
        x, state, value, parts = step(x, state, params, ct, st)
        history.append([float(value)] + [float(p) for p in parts])
    secs = time.perf_counter() - t0
    return x, history, secs


# --------------------------------------------------------------------------- PyTorch eager twin (--bench)

def torch_step_fn(model, params, content, sty, args):
    """The same algorithm in PyTorch eager: returns a function doing one Adam step on the image."""
    import torch
    convs = {}
    for name, p in params.items():
        conv = torch.nn.Conv2d(p["w"].shape[1], p["w"].shape[0], 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(p["w"]))
            conv.bias.copy_(torch.from_numpy(p["b"]))
        conv.requires_grad_(False)
        convs[name] = conv
    mean = torch.from_numpy(style.IMAGENET_MEAN.reshape(1, 3, 1, 1))
    std = torch.from_numpy(style.IMAGENET_STD.reshape(1, 3, 1, 1))
    want = set(style.CONTENT_LAYERS + style.STYLE_LAYERS)

    def feats(img):
        h, out = (img - mean) / std, {}
        for s, n in enumerate(STAGES[19], 1):
            for i in range(1, n + 1):
                h = convs[f"conv{s}_{i}"](h)
                out[f"conv{s}_{i}"] = h
                if want <= set(out):
                    return out
                h = torch.relu(h)
            h = torch.nn.functional.avg_pool2d(h, 2)
        return out

    def gram(f):
        n, c, hh, ww = f.shape
        f = f.reshape(n, c, hh * ww)
        return f @ f.transpose(1, 2) / (c * hh * ww)

    with torch.no_grad():
        fc_ = feats(torch.from_numpy(content))
        ct = {k: fc_[k] for k in style.CONTENT_LAYERS}
        st = {k: gram(v) for k, v in feats(torch.from_numpy(sty)).items() if k in style.STYLE_LAYERS}
    x = torch.from_numpy(content.copy()).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=args.lr)

    def step():
        opt.zero_grad()
        f = feats(x)
        lc = sum(0.5 * ((f[k] - t) ** 2).sum() for k, t in ct.items())
        ls = sum(0.25 * ((gram(f[k]) - t) ** 2).sum() for k, t in st.items()) / len(st)
        tv = ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum() + ((x[..., 1:] - x[..., :-1]) ** 2).sum()
        loss = args.content_weight * lc + args.style_weight * ls + args.tv_weight * tv
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        return loss.item()
    return step


def bench(args):
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
        print("torch not installed: flowc numbers only (pip install -e '.[torch]' to compare)")
    c_path, s_path = args.content or sample_images()[0], args.style or sample_images()[1]
    print(f"time per iteration (one Adam step on the image, forward + backward through VGG-19 to conv5_1), "
          f"flowc {args.backend} backend vs PyTorch eager, {args.iters} timed iterations after 1 warm-up")
    print(f"{'size':>9} {'flowc s/it':>11} {'torch s/it':>11} {'flowc 1st loss':>15} {'torch 1st loss':>15}")
    for size in [int(s) for s in args.bench_sizes.split(",")]:
        args.size = size
        model, params = build(args)
        content, sty = load_image(c_path, size), load_image(s_path, size)
        ct, st = style.targets(model, params, content, sty)
        opt, step = style.make_step(model, args.lr, args.content_weight, args.style_weight, args.tv_weight,
                                    args.backend)
        x, state = content.copy(), opt.init(content)
        x, state, first, _ = step(x, state, params, ct, st)           # warm-up: traces and compiles
        t0 = time.perf_counter()
        for _ in range(args.iters):
            x, state, _, _ = step(x, state, params, ct, st)
        ours = (time.perf_counter() - t0) / args.iters
        theirs, t_first = float("nan"), float("nan")
        if torch is not None:
            tstep = torch_step_fn(model, params, content, sty, args)
            t_first = tstep()
            t0 = time.perf_counter()
            for _ in range(args.iters):
                tstep()
            theirs = (time.perf_counter() - t0) / args.iters
        print(f"{size:>4}x{size:<4} {ours:>11.3f} {theirs:>11.3f} {float(first):>15.6g} {t_first:>15.6g}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("content", nargs="?", help="content image (default: matplotlib's grace_hopper.jpg)")
    p.add_argument("style", nargs="?", help="style image (default: matplotlib's Minduka_Present_Blue_Pack.png)")
    p.add_argument("-o", "--output", default="neural_style.png", help="output image (loss plot beside it)")
    p.add_argument("--weights", help="VGG-19 .npz (see flowc.models.weights); default: random features")
    p.add_argument("--size", type=int, default=256, help="square image side (default 256)")
    p.add_argument("--iters", type=int, default=100, help="Adam iterations (default 100)")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate on [0, 1] pixels")
    p.add_argument("--content-weight", type=float, default=1.0, help="alpha (default 1)")
    p.add_argument("--style-weight", type=float, default=1e3, help="beta (default 1e3: the paper's alpha/beta 1e-3)")
    p.add_argument("--tv-weight", type=float, default=1e-2, help="total-variation weight (default 1e-2)")
    p.add_argument("--init", choices=("content", "noise"), default="content", help="starting image")
    p.add_argument("--width", type=float, default=1.0, help="VGG channel multiplier (random features only)")
    p.add_argument("--backend", default=fc.default_backend(), help="flowc backend (default: $FLOWC_BACKEND or numba)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bench", action="store_true", help="time per iteration vs PyTorch eager, then exit")
    p.add_argument("--bench-sizes", default="64,256", help="sizes for --bench (default 64,256)")
    args = p.parse_args(argv)
    if args.weights and args.width != 1.0:
        p.error("--width applies to random features only")
    if args.bench:
        args.iters = args.iters if "--iters" in (argv or sys.argv) else 2
        return bench(args)
    default_c, default_s = sample_images()
    c_path, s_path = args.content or default_c, args.style or default_s
    print(f"content {c_path}\nstyle   {s_path}\nsize {args.size}x{args.size}, {args.iters} iterations")
    model, params = build(args)
    content, sty = load_image(c_path, args.size), load_image(s_path, args.size)
    x, history, secs = run(args, content, sty, model, params)
    first, last = history[0], history[-1]
    print(f"loss {first[0]:.5g} -> {last[0]:.5g} (content {last[1]:.4g}, style {last[2]:.4g}, tv {last[3]:.4g}); "
          f"{secs / max(len(history), 1):.3f} s/iteration ({args.backend} backend)")
    save_image(args.output, x)
    stem = os.path.splitext(args.output)[0]
    plot = f"{stem}_loss.png"
    print(f"wrote {args.output}" + (f" and {plot}" if save_loss_plot(plot, history) else ""))
    return x, history


if __name__ == "__main__":
    main()
