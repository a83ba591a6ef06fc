"""Asking for the cuda backend where it cannot run gives one clear line (no numba.cuda import needed)."""
import numpy as np
import pytest

import flowc as fc
from flowc.backends.cuda import device
from flowc.ir.types import FlowcError


def _call():
    return fc.jit(lambda x: x + 1.0, backend="cuda")(np.ones(3, np.float32))


def test_no_gpu_and_no_simulator_is_one_line(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(device, "_numba_cuda_installed", lambda: True)
    monkeypatch.setattr(device, "_gpu_present", lambda: False)
    with pytest.raises(FlowcError) as e:
        _call()
    assert str(e.value) == ("backend 'cuda' needs an NVIDIA GPU (none found) or NUMBA_ENABLE_CUDASIM=1 to use "
                            "the simulator")
    assert isinstance(e.value, device.CudaUnavailable) and "\n" not in str(e.value)


def test_numba_cuda_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(device.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FlowcError, match=r"^backend 'cuda' needs numba-cuda, which is not installed: "
                                         r"pip install -e '\.\[cuda\]'$") as e:
        _call()
    assert "\n" not in str(e.value)


def test_simulator_env_var_counts_as_available(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    monkeypatch.setattr(device, "_numba_cuda_installed", lambda: True)
    monkeypatch.setattr(device, "_gpu_present", lambda: pytest.fail("must not probe for a GPU"))
    device.check_available()
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setattr(device, "_gpu_present", lambda: False)
    with pytest.raises(device.CudaUnavailable):
        device.check_available()


def test_cuda_is_a_known_backend():
    from flowc.backends import BACKENDS, get_backend
    assert "cuda" in BACKENDS and get_backend("cuda").PREFERRED_LAYOUT == "NHWC"


class _FakeDeviceArray:
    """Only the CUDA array interface: jit must type it from there and never read or copy its data."""
    __cuda_array_interface__ = {"typestr": "<f4", "shape": (2, 3), "data": (0, False), "version": 3}


def test_device_arrays_are_typed_from_their_interface_without_touching_data():
    lowered = fc.jit(lambda x: x * 2.0, backend="cuda").lower(_FakeDeviceArray())
    (p,) = lowered.function().params
    assert str(p.type) == "f32[2,3]"


def test_device_arrays_and_device_outputs_need_a_device_backend():
    with pytest.raises(fc.JitError, match="backend 'reference' takes only host arrays"):
        fc.jit(lambda x: x * 2.0)(_FakeDeviceArray())
    with pytest.raises(FlowcError, match="device_outputs=True needs a backend with device arrays"):
        fc.jit(lambda x: x, backend="numba", device_outputs=True)
