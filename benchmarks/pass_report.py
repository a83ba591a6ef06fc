"""Op counts through the -O2/-O3 pipelines, fusion regions and planned memory, for two models.

    python benchmarks/pass_report.py [--model mnist_cnn|alexnet|all]

* ``mnist_cnn``: the training step of ``examples/mnist_cnn.py`` (value_and_grad + Adam), batch 64;
* ``alexnet``: an AlexNet-like forward pass (5 convs with LRN and overlapping max-pools, 3 fully
  connected layers, the paper's sizes as one tower), batch 8, constant (compile-time) weights
  so the layout pass can pre-transpose them.

``build_mnist_step()`` and ``build_alexnet()`` return traced functions; the tests reuse them.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import flowc as fc  # noqa: E402
from flowc.ir import Function  # noqa: E402
from flowc.passes import PIPELINES, run_stages  # noqa: E402
from flowc.passes.memory import plan_memory  # noqa: E402


def build_mnist_step(batch: int = 64) -> Function:
    import mnist_cnn
    key = fc.random.key(0)
    params = mnist_cnn.init_params(key)
    opt = fc.optim.adam(1e-3)
    state = opt.init(params)
    step = mnist_cnn.make_step(opt, "reference")
    x = np.zeros((batch, 784), np.float32)
    y = np.zeros(batch, np.int64)
    return step.lower(params, state, x, y, key).function("traced")


ALEXNET = [  # (out channels, kernel, stride, pad, LRN after, max-pool after)
    (96, 11, 4, 2, True, True), (256, 5, 1, 2, True, True), (384, 3, 1, 1, False, False),
    (384, 3, 1, 1, False, False), (256, 3, 1, 1, False, True)]


def alexnet_params(seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    convs, c = [], 3
    for o, k, *_ in ALEXNET:
        w = (rng.standard_normal((o, c, k, k)) * np.sqrt(2 / (c * k * k)) * scale).astype(np.float32)
        convs.append((w, np.full(o, 0.1, np.float32)))
        c = o
    fcs = []
    for n_in, n_out in ((256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)):
        fcs.append(((rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype(np.float32),
                    np.zeros(n_out, np.float32)))
    return convs, fcs


def alexnet_forward(x, convs, fcs):
    h = x
    for (w, b), (o, k, s, p, lrn, pool) in zip(convs, ALEXNET):
        h = fc.nn.relu(fc.nn.conv2d(h, w, stride=s, padding=p) + b.reshape(1, o, 1, 1))
        if lrn:
            h = fc.nn.local_response_norm(h, size=5, alpha=1e-4, beta=0.75, k=2.0)
        if pool:
            h = fc.nn.max_pool2d(h, 3, 2)
    h = h.reshape(h.shape[0], -1)
    for i, (w, b) in enumerate(fcs):
        h = h @ w + b
        if i < len(fcs) - 1:
            h = fc.nn.relu(h)
    return h


def build_alexnet(batch: int = 8, size: int = 224, fcs_in=None) -> Function:
    """Weights are closed over, so they become constants of the traced function."""
    convs, fcs = alexnet_params()

    @fc.jit
    def forward(x):
        return alexnet_forward(x, convs, fcs)

    return forward.lower(np.zeros((batch, 3, size, size), np.float32)).function("traced")


def count_ops(f: Function) -> tuple[int, int]:
    """(top-level ops, ops including those inside regions)."""
    return len(f.ops), sum(1 for _ in f.walk())


def report(name: str, f: Function, sizes: dict) -> str:
    lines = [f"== {name}: {count_ops(f)[0]} ops traced"]
    for level in (2, 3):
        lines.append(f"  -O{level}: {', '.join(PIPELINES[level])}")
        for pass_name, g in run_stages(f, opt_level=level):
            top, total = count_ops(g)
            regions = sum(1 for op in g.ops if op.name == "fusion")
            kinds = {}
            for op in g.ops:
                if op.name == "fusion":
                    kinds[op.attrs["kind"]] = kinds.get(op.attrs["kind"], 0) + 1
            extra = f", {regions} fusion regions {kinds}" if regions else ""
            lines.append(f"    after {pass_name:<8} {top:5d} top-level ops ({total} in all){extra}")
        plan = plan_memory(g, sizes)
        lines.append(f"    memory: {plan.peak_bytes_before:,} bytes of intermediates without reuse -> "
                     f"{plan.peak_bytes_after:,} planned in {len(plan.slot_sizes)} slots "
                     f"(live peak {plan.live_peak_bytes:,}; {len(plan.in_place)} in place)")
    traced_plan = plan_memory(f, sizes)
    lines.append(f"  traced, unfused: {traced_plan.peak_bytes_before:,} bytes without reuse -> "
                 f"{traced_plan.peak_bytes_after:,} planned")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("mnist_cnn", "alexnet", "all"), default="all")
    args = ap.parse_args(argv)
    if args.model in ("mnist_cnn", "all"):
        print(report("MNIST CNN training step (batch 64)", build_mnist_step(), {"B": 64}))
    if args.model in ("alexnet", "all"):
        print(report("AlexNet-like forward (batch 8)", build_alexnet(), {"B": 8}))


if __name__ == "__main__":
    main()
