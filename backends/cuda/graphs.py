"""Replaying a whole program as one CUDA graph: one driver call instead of a Python launch per kernel.

A training step is dozens of small kernels; launched one by one from Python each costs tens of
microseconds of host time, far more than the GPU spends on it.  So a program's second call with
the same input shapes runs its steps under stream capture into a graph, and later calls replay
that graph: the inputs are copied into the graph's own input buffers, one ``cuGraphLaunch`` runs
every kernel (cuBLAS calls included), and the results are copied out of the graph's buffers into
fresh ones (callers own their results; the next replay overwrites the graph's).  Programs of a
few launches over large tensors skip it (:func:`worth_it`): the copies would cost more.

Every buffer the captured run allocates comes from a *private* pool of the caching allocator
(:mod:`.device`), held as long as the graph: a buffer freed during capture is reused only by the
captured steps, which the graph runs in stream order.  Without that allocator (``FLOWC_CUDA_POOL=0``,
or a context created before flowc's), with ``FLOWC_CUDA_GRAPHS=0``, or on the simulator, programs
run step by step.  A capture that fails leaves the program running step by step.
"""
from __future__ import annotations

import os

from . import device


def enabled() -> bool:
    return (os.environ.get("FLOWC_CUDA_GRAPHS", "1") != "0" and not device.simulated()
            and device.pool_manager() is not None)


COPY_BYTES_PER_LAUNCH = 8 << 20


def worth_it(launches: int, inputs, outputs) -> bool:
    """Replay pays for its copies in and out when they are small beside the launches it saves: a
    Python launch costs tens of microseconds, copying 8 MiB about three on an H100.  One big
    elementwise kernel (W1) is faster launched directly than copied in and out of a graph."""
    io = sum(a.nbytes for a in inputs) + sum(o.nbytes for o in outputs)
    return launches >= 4 and io <= launches * COPY_BYTES_PER_LAUNCH


class Graph:
    """A captured run of ``run(inputs, env)`` for one set of input shapes."""

    def __init__(self, run, inputs, env):
        from numba.cuda.cudadrv.driver import binding, driver
        self._driver = driver
        mm = device.pool_manager()
        stream = device.stream()
        self.private: dict[int, list] = {}
        mm.private = self.private
        try:
            self.inputs = [device.cuda().device_array(a.shape, a.dtype) for a in inputs]
            driver.cuStreamBeginCapture(stream.handle, binding.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED)
            try:
                self.outputs = run(self.inputs, env)
            finally:
                graph = driver.cuStreamEndCapture(stream.handle)
        finally:
            mm.private = None
        self.graph = graph
        self.exec = driver.cuGraphInstantiate(graph, 0)
        self.stream = stream

    def __call__(self, inputs):
        """Results of the captured program on ``inputs``, in fresh buffers."""
        for static, a in zip(self.inputs, inputs):
            device.copy_async(static, a)
        self._driver.cuGraphLaunch(self.exec, self.stream.handle)
        outs = []
        for o in self.outputs:
            fresh = device.cuda().device_array(o.shape, o.dtype)
            device.copy_async(fresh, o)
            outs.append(fresh)
        return outs

    def __del__(self):
        try:
            self._driver.cuGraphExecDestroy(self.exec)
            self._driver.cuGraphDestroy(self.graph)
        except Exception:       # interpreter shutdown, or a context already gone
            pass
