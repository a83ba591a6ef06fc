"""Lowering a Function to a list of kernel-launching steps, and running it with tensors kept on the device.

``Lowering`` walks the ops once at compile time; each rule (``codegen.rules``) returns
a ``run(args, env) -> results`` closure that launches kernels on device arrays (``env``
binds symbolic dims).  Inside ``fusion`` regions, runs of elementwise ops become ONE
generated kernel (:func:`Lowering.block`); at the top level every op is lowered by its own
rule.  ``Compiled`` copies numpy inputs in once (objects exposing
``__cuda_array_interface__`` are used in place), runs the steps and copies the results out
(or hands back device arrays with ``device_outputs=True``).  A value's device buffer is
dropped after its last use.
"""
from __future__ import annotations

import numpy as np

from flowc.backends.reference import RuntimeInputError
from flowc.ir.core import Function, Op, Value
from flowc.ir.graph import backward_slice
from flowc.ir.printer import _Namer, print_function
from flowc.ir.types import FlowcError, Sym, TensorType, broadcast_shapes

from . import device, graphs, kernels
from .codegen import CudaLoweringError, build, fits, generate, resolve, rules, scalar_ok


def launch(kernel, n: int, *args):
    blocks, threads = device.grid(n)
    launch_grid(kernel, (blocks, threads), *args)


def launch_grid(kernel, grid, *args):
    """``kernel`` over an explicit (blocks, threads) grid, on the backend's stream."""
    device.LAUNCHES[0] += 1
    kernel[grid[0], grid[1], device.stream()](*args)


def empty(shape, dtype):
    return device.cuda().device_array(tuple(shape), dtype)


def flat(a):
    return a.reshape(-1) if a.ndim != 1 else a


def copy(a):
    """A fresh contiguous device copy of ``a`` (outputs must not alias inputs or constants)."""
    out = empty(a.shape, a.dtype)
    if a.size:
        f = (a.size,)
        launch(kernels.gather, a.size, flat(out), flat(a), f, (0,), (1,), (1,), f, a.dtype.type(0))
    return out


class Lowering:
    """Compile-time state: generated kernel sources and IR text for comments."""

    def __init__(self, f: Function):
        self.f = f
        self.sources: list[str] = []
        self.namer = _Namer()
        self.ir_lines = print_function(f, locs=False, _namer=self.namer).split("\n")
        self.count = 0
        self.const_ids: set[int] = set()     # device arrays uploaded at compile time (constants)

    def comment(self, op: Op) -> str:
        k = self.namer.lines.get(id(op))
        text = self.ir_lines[k].strip() if k is not None else op.name
        return text if len(text) <= 120 else text[:100] + " ..."

    # -- one op ---------------------------------------------------------------------------------
    def op(self, op: Op):
        if op.name not in rules:
            raise CudaLoweringError(f"op '{op.name}' has no cuda lowering" + (f" (at {op.loc})" if op.loc else ""))
        return rules[op.name](self, op)

    # -- a generated elementwise kernel ---------------------------------------------------------
    def loop(self, ops: list[Op], inputs: list[Value], outputs: list[Value], loop_shape):
        """run(args, env) launching one generated kernel for ``ops`` (args: arrays for ``inputs``).  Outputs
        smaller than the loop get a kernel over their own shape, so they are written even when the loop
        is empty (a [1,5] result of a [B,5] run with B = 0)."""
        pad = len(loop_shape)
        small = [k for k, v in enumerate(outputs)
                 if (1,) * (pad - v.type.ndim) + tuple(v.type.shape) != tuple(loop_shape)]
        if small:
            parts = [(k, self.loop(backward_slice(ops, [v]), inputs, [v], v.type.shape)) for k, v in enumerate(outputs)
                     if k in small]
            full = [v for k, v in enumerate(outputs) if k not in small]
            if full:
                parts.append((None, self.loop(ops, inputs, full, loop_shape)))

            def run_parts(args, env):
                outs, rest = [None] * len(outputs), []
                for k, part in parts:
                    got = part(args, env)
                    if k is None:
                        rest = got
                    else:
                        outs[k] = got[0]
                it = iter(rest)
                return [o if o is not None else next(it) for o in outs]
            return run_parts
        name = f"fused_{self.count}"
        self.count += 1
        src = generate(name, ops, inputs, outputs, loop_shape, self.comment)
        self.sources.append(src)
        kernel = build(name, src)
        out_types = [v.type for v in outputs]

        def run(args, env):
            dims = resolve(loop_shape, env) or (1,)
            n = int(np.prod(dims))
            outs = [empty(resolve(t.shape, env), t.dtype.np) for t in out_types]
            shaped = [a.reshape(1) if a.ndim == 0 else a for a in (*outs, *args)]
            if n:
                launch(kernel, n, *shaped, dims, n)
            return outs
        return run

    # -- a block of ops (function body or region) -------------------------------------------------
    def block(self, params, ops, results, fuse: bool):
        """run(args, env) for a single-block region; ``fuse`` batches elementwise runs into kernels."""
        steps = []                      # (run, operand values, result values)
        pending: list[Op] = []
        later_uses = _uses_after(ops, results)

        def flush():
            if not pending:
                return
            batch = list(pending)
            pending.clear()
            inside = {id(r) for op in batch for r in op.results}
            pos = {id(op): k for k, op in enumerate(ops)}
            last = pos[id(batch[-1])]
            outs = [r for op in batch for r in op.results if later_uses(r, last)]
            ins, seen = [], set()
            for op in batch:
                for v in op.operands:
                    if id(v) not in inside and id(v) not in seen:
                        seen.add(id(v))
                        ins.append(v)
            try:
                loop_shape = broadcast_shapes(*[v.type.shape for v in outs]) if outs else None
            except FlowcError:
                loop_shape = None
            ok = loop_shape is not None and len(batch) > 1 and all(
                fits(v.type.shape, loop_shape) for v in (*ins, *(r for op in batch for r in op.results)))
            if not ok:
                for op in batch:
                    steps.append((self.op(op), op.operands, op.results))
                return
            steps.append((self.loop(batch, ins, outs, loop_shape), ins, outs))

        for op in ops:
            if fuse and scalar_ok(op):
                pending.append(op)
                continue
            flush()
            steps.append((self.op(op), op.operands, op.results))
        flush()
        return _runner(params, steps, results)


def _shapes(arrays):
    return tuple(tuple(a.shape) for a in arrays)


def _uses_after(ops, results):
    """later_uses(v, k): is ``v`` read by an op after position k, or yielded?"""
    last: dict[int, int] = {}
    for k, op in enumerate(ops):
        for v in op.operands:
            last[id(v)] = k
    yielded = {id(v) for v in results}
    return lambda v, k: id(v) in yielded or last.get(id(v), -1) > k


def _runner(params, steps, results):
    """Run ``steps`` in order, dropping each device buffer after its last read."""
    slot: dict[int, int] = {}

    def slot_of(v):
        return slot.setdefault(id(v), len(slot))

    for p in params:
        slot_of(p)
    plan = []
    for run, ins, outs in steps:
        plan.append((run, [slot_of(v) for v in ins], [slot_of(v) for v in outs]))
    res = [slot_of(v) for v in results]
    last: dict[int, int] = {}
    for k, (_, ins, _) in enumerate(plan):
        for s in ins:
            last[s] = k
    keep = set(res)
    frees = [[s for s in ins if last[s] == k and s not in keep] for k, (_, ins, _) in enumerate(plan)]
    nslots = len(slot)

    def run_all(args, env):
        vals = [None] * nslots
        for p, a in zip(range(len(params)), args):
            vals[p] = a
        for (run, ins, outs), free in zip(plan, frees):
            got = run([vals[s] for s in ins], env)
            got = got if isinstance(got, (list, tuple)) else [got]
            for s, g in zip(outs, got):
                vals[s] = g
            for s in free:
                vals[s] = None
        return [vals[s] for s in res]
    return run_all


# --------------------------------------------------------------------------- entry and exit

def _to_device(a, i, p):
    cuda = device.cuda()
    what = f"argument {i} (%{p.name or i})"
    if hasattr(a, "copy_to_host") or hasattr(a, "__cuda_array_interface__"):   # numba's (or the simulator's)
        d = a if hasattr(a, "copy_to_host") else cuda.as_cuda_array(a)
        if not d.is_c_contiguous():
            raise RuntimeInputError(f"{what}: a non-contiguous device array; pass a C-contiguous one")
    elif isinstance(a, (np.ndarray, np.generic)):
        d = np.asarray(a)
    else:
        raise RuntimeInputError(f"{what}: expected a numpy array or a CUDA array (__cuda_array_interface__) of "
                                f"type {p.type}, got {type(a).__name__}")
    if np.dtype(d.dtype) != p.type.dtype.np:
        raise RuntimeInputError(f"{what}: expected dtype {p.type.dtype.np_name} ({p.type}), got {d.dtype}")
    if isinstance(d, np.ndarray):
        d = cuda.to_device(d if d.flags.c_contiguous else d.copy(order="C"))
    return d, what


def bind(t: TensorType, shape, env, what):
    if len(shape) != t.ndim:
        raise RuntimeInputError(f"{what}: expected rank {t.ndim} ({t}), got shape {tuple(shape)}")
    for axis, (d, n) in enumerate(zip(t.shape, shape)):
        if isinstance(d, Sym):
            if env.setdefault(d, n) != n:
                raise RuntimeInputError(f"{what}: dim {d} (axis {axis}) is {n} here but {env[d]} elsewhere")
        elif d != n:
            raise RuntimeInputError(f"{what}: expected {t}, got shape {tuple(shape)} (axis {axis}: {n} != {d})")


class Compiled:
    """A Function lowered to CUDA kernels: call it on numpy or CUDA arrays; ``source`` is the generated code."""

    def __init__(self, function: Function):
        self.function = function
        low = Lowering(function)
        self._run = low.block(function.params, function.ops, function.results, fuse=False)
        self.sources = low.sources
        self._consts = low.const_ids
        self._graphs: dict = {}          # input shapes -> Graph; False: capture next call; None: never
        self.graph_failure = None        # why the last capture failed, if one did
        self._use_graphs = None          # graphs.enabled(), read at the first call

    @property
    def source(self) -> str:
        from .codegen import HEADER
        return HEADER + "".join("\n\n" + s for s in self.sources)

    def text(self, kind: str = "source") -> str:
        if kind != "source":
            raise FlowcError(f"the cuda backend shows only its generated 'source', not {kind!r}")
        return self.source

    def __call__(self, *args, device_outputs: bool = False):
        f = self.function
        if len(args) != len(f.params):
            raise RuntimeInputError(f"@{f.name} takes {len(f.params)} argument(s), got {len(args)}")
        env: dict = {}
        dev = []
        for i, (a, p) in enumerate(zip(args, f.params)):
            d, what = _to_device(a, i, p)
            bind(p.type, d.shape, env, what)
            dev.append(d)
        if self._use_graphs is None:
            self._use_graphs = graphs.enabled()
        use_graphs = self._use_graphs
        key = _shapes(dev) if use_graphs else None
        outs = self._replay(key, dev, env) if use_graphs else None
        if outs is not None:
            return outs if device_outputs else [o.copy_to_host() for o in outs]
        launched = device.LAUNCHES[0]
        outs = self._run(dev, env)
        if use_graphs and self._graphs.get(key) is False:
            worth = graphs.worth_it(device.LAUNCHES[0] - launched, dev, outs)
            self._graphs[key] = False if worth else None
        fresh, seen = [], {id(a) for a in dev}
        for o, v in zip(outs, f.results):
            shape = resolve(v.type.shape, env)
            if tuple(o.shape) != shape:
                raise RuntimeInputError(f"@{f.name}: a result has shape {tuple(o.shape)}, expected {shape} "
                                        "(symbolic dims assumed equal are not)")
            if id(o) in seen or id(o) in self._consts:
                o = copy(o)
            seen.add(id(o))
            fresh.append(o)
        if device_outputs:
            return fresh
        return [o.copy_to_host() for o in fresh]

    def _replay(self, key, dev, env):
        """The results by CUDA graph replay (fresh buffers), or None to run step by step: the first call
        with these shapes runs step by step (it compiles the kernels, warms the allocator and counts
        the launches), the second captures if :func:`graphs.worth_it` said so."""
        if key not in self._graphs:
            self._graphs[key] = False
            return None
        g = self._graphs[key]
        if g is False:
            try:
                g = graphs.Graph(self._run, dev, env)
            except Exception as e:  # noqa: BLE001 - a step that cannot be captured: keep running step by step
                self.graph_failure = f"{type(e).__name__}: {e}"
                g = None
            self._graphs[key] = g
        return None if g is None else g(dev)
