"""The CUDA backend: a Function becomes a sequence of kernel launches on device-resident tensors.

It lowers the same (fused) IR as the Numba CPU backend, through its own rule table
(``codegen.rules``, one module per op family under ``lower/``): each ``fusion``
region's elementwise work is ONE generated ``@cuda.jit`` kernel (readable source in
``compiled.source``); matmul/conv use a tiled shared-memory GEMM, reductions and
softmax shared-memory row reductions, RNG ops Threefry kernels bit-identical to the
reference; conv/pool/LRN gradients reuse im2col + GEMM or gather kernels (``kernels_grad``).  Tensors stay on the device between kernels; ``compiled(*args,
device_outputs=True)`` keeps the results there too.

Needs numba-cuda and an NVIDIA GPU, or ``NUMBA_ENABLE_CUDASIM=1`` (Numba's CPU
simulator, slow: tests use tiny tensors).  Without either, :func:`compile` raises a
one-line :class:`CudaUnavailable`.
"""
from __future__ import annotations

from .device import CudaUnavailable, check_available

PREFERRED_LAYOUT = "NHWC"   # for the layout pass: conv runs as im2col over NHWC
DEVICE_ARRAYS = True        # fc.jit passes device arrays through and honours device_outputs=True


def compile(function):
    """Lower ``function`` to kernels (compiled lazily by Numba, per dtype) and return a Compiled callable."""
    check_available()
    from . import lower  # noqa: F401  (registers every lowering rule)
    from .program import Compiled
    return Compiled(function)


__all__ = ["compile", "check_available", "CudaUnavailable", "PREFERRED_LAYOUT", "DEVICE_ARRAYS"]
