import os

# fc.jit's default backend is numba (native code, seconds of compile per new program).  The suite tests the
# numba backend where it names it; everything else runs on the reference interpreter, which compiles nothing.
os.environ.setdefault("FLOWC_BACKEND", "reference")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
