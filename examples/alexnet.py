"""AlexNet (Krizhevsky et al. 2012) on flowc: benchmark against PyTorch eager, or train on upscaled MNIST.

    python examples/alexnet.py --bench [--width 1.0 --size 227]      # images/s, batch 8 and 32, flowc vs torch
    python examples/alexnet.py --train [--width 0.25 --size 67 --limit 6000 --epochs 1]

Training uses the whole stack: grouped convolutions (the two towers), LRN,
overlapping max pooling and dropout, compiled with Adam into one program per step.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowc as fc  # noqa: E402
from _common import Timer, batches, parser, progress  # noqa: E402
from flowc.models import alexnet  # noqa: E402
from flowc.models.alexnet import CONVS, LRN, LRN_AFTER, POOL_AFTER  # noqa: E402


# --------------------------------------------------------------------------- data

def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] bilinear interpolation weights (pixel centres aligned)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    hi = np.clip(lo + 1, 0, n_in - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def upscale(x784: np.ndarray, size: int) -> np.ndarray:
    """MNIST rows [N, 784] -> NCHW [N, 1, size, size], bilinear."""
    a = resize_matrix(28, size)
    return (a @ x784.reshape(-1, 28, 28) @ a.T)[:, None].astype(np.float32)


# --------------------------------------------------------------------------- flowc programs

def make_step(model, opt, backend):
    def loss(p, x, y, key):
        return fc.nn.softmax_cross_entropy(model.apply(p, x, key), y)

    @fc.jit(backend=backend)
    def step(p, state, x, y, key):
        value, grads = fc.value_and_grad(loss)(p, x, y, key)
        p, state = opt.update(grads, state, p)
        return value, p, state
    return step


def make_predict(model, backend):
    return fc.jit(model.apply, backend=backend)


# --------------------------------------------------------------------------- PyTorch twin (for --bench)

def torch_alexnet(model, params):
    """The same net in torch eager, holding the same weights (torch's LRN alpha = flowc's * size)."""
    import torch
    nn = torch.nn
    layers, c_in = [], model.config["in_channels"]
    for (name, _, k, s, p, g, _), c in zip(CONVS, model.config["channels"]):
        layers += [nn.Conv2d(c_in, c, k, s, p, groups=g), nn.ReLU()]
        if name in LRN_AFTER:
            layers.append(nn.LocalResponseNorm(LRN["size"], LRN["alpha"] * LRN["size"], LRN["beta"], LRN["k"]))
        if name in POOL_AFTER:
            layers.append(nn.MaxPool2d(3, 2))
        c_in = c
    h, rate = model.config["hidden"], model.config["dropout"]
    layers += [nn.Flatten(), nn.Linear(model.shapes["fc6"]["w"][0], h), nn.ReLU(), nn.Dropout(rate),
               nn.Linear(h, h), nn.ReLU(), nn.Dropout(rate), nn.Linear(h, model.config["num_classes"])]
    net = nn.Sequential(*layers)
    names = [n for n, *_ in CONVS] + ["fc6", "fc7", "fc8"]
    with torch.no_grad():
        for name, m in zip(names, [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]):
            w = params[name]["w"]
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T if isinstance(m, nn.Linear) else w)))
            m.bias.copy_(torch.from_numpy(params[name]["b"]))
    return net


def _rate(fn, batch, reps):
    fn()                                              # warm-up (tracing / allocator)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return batch * reps / (time.perf_counter() - t0)


def bench(args):
    model = alexnet(num_classes=1000, width=args.width, input_size=args.size)
    params = model.init(fc.random.key(args.seed))
    opt = fc.optim.adam(1e-4)
    state = opt.init(params)
    predict, step = make_predict(model, args.backend), make_step(model, opt, args.backend)
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        net = torch_alexnet(model, params)
        topt = torch.optim.Adam(net.parameters(), 1e-4)
    except ImportError:
        torch = None
        print("torch not installed: flowc numbers only (pip install -e '.[torch]' to compare)")
    print(f"AlexNet width {args.width} input {args.size}x{args.size}, 1000 classes, "
          f"{sum(v.size for d in params.values() for v in d.values()) / 1e6:.1f} M parameters, "
          f"flowc backend {args.backend}, {args.reps} timed reps after 1 warm-up")
    print(f"{'batch':>5} {'':>10} {'flowc img/s':>12} {'torch img/s':>12}")
    rng = np.random.default_rng(0)
    for b in (8, 32):
        x = rng.standard_normal((b, 3, args.size, args.size)).astype(np.float32)
        y = rng.integers(0, 1000, b)
        key = fc.random.key(1)
        inf = _rate(lambda: predict(params, x), b, args.reps)
        train = _rate(lambda: step(params, state, x, y, key), b, args.reps)
        t_inf = t_train = float("nan")
        if torch is not None:
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)

            def t_predict():
                net.eval()
                with torch.no_grad():
                    net(xt)

            def t_step():
                net.train()
                topt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt), yt).backward()
                topt.step()
            t_inf, t_train = _rate(t_predict, b, args.reps), _rate(t_step, b, args.reps)
        print(f"{b:>5} {'inference':>10} {inf:>12.1f} {t_inf:>12.1f}")
        print(f"{b:>5} {'train step':>10} {train:>12.1f} {t_train:>12.1f}")


def train(args):
    (x_train, y_train), (x_test, y_test) = fc.datasets.mnist()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.test_limit:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    model = alexnet(num_classes=10, width=args.width, input_size=args.size, in_channels=1)
    params = model.init(fc.random.key(args.seed))
    print(f"AlexNet width {args.width} on MNIST upscaled to {args.size}x{args.size}: channels "
          f"{model.config['channels']}, hidden {model.config['hidden']}; {len(x_train)} training images, "
          f"{args.epochs:g} epoch(s), batch {args.batch}; {len(x_test)} test images; {args.backend} backend")
    opt = fc.optim.adam(args.lr)
    state = opt.init(params)
    step = make_step(model, opt, args.backend)
    idx0 = np.arange(args.batch)
    with Timer() as t:
        step.lower(params, state, upscale(x_train[idx0], args.size), y_train[idx0], fc.random.key(0))
    print(f"traced the training step in {t.seconds:.2f} s")
    steps = int(args.epochs * (len(x_train) // args.batch))
    t0 = time.perf_counter()
    for i, idx in enumerate(progress(batches(len(x_train), args.batch, args.epochs, args.seed), steps, "train")):
        key = fc.random.key(args.seed * 1_000_003 + i + 1)
        value, params, state = step(params, state, upscale(x_train[idx], args.size), y_train[idx], key)
    secs = time.perf_counter() - t0
    print(f"{steps} steps in {secs:.1f} s: {steps * args.batch / max(secs, 1e-9):.1f} images/s, "
          f"last loss {float(value):.4f}")
    predict = make_predict(model, args.backend)
    correct = sum(int(np.sum(np.argmax(predict(params, upscale(x_test[i:i + 500], args.size)), 1)
                             == y_test[i:i + 500])) for i in range(0, len(x_test), 500))
    acc = correct / len(x_test)
    print(f"test accuracy: {acc:.4f}")
    return acc


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=1, batch=64)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--bench", action="store_true", help="images/s at batch 8 and 32 vs PyTorch eager")
    mode.add_argument("--train", action="store_true", help="train on MNIST upscaled to --size")
    p.add_argument("--width", type=float, default=None, help="channel multiplier (bench 1.0, train 0.25)")
    p.add_argument("--size", type=int, default=None, help="input side (bench 227, train 67, the smallest)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per measurement (bench)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (train)")
    p.add_argument("--test-limit", type=int, default=0, help="evaluate on the first N test images only")
    args = p.parse_args(argv)
    if args.bench:
        args.width, args.size = args.width or 1.0, args.size or 227
        return bench(args)
    args.width, args.size = args.width or 0.25, args.size or 67
    return train(args)


if __name__ == "__main__":
    main()
