"""The cuda backend's host-side policies, testable without a GPU: allocator size classes and when a
program is worth replaying as a CUDA graph."""
import numpy as np
from hypothesis import given, strategies as st

from flowc.backends.cuda import device, graphs


@given(st.integers(1, 1 << 34))
def test_size_classes_cover_the_request_with_bounded_waste(n):
    c = device.size_class(n)
    assert c >= n and c % 512 == 0
    if n > 1 << 20:
        assert c - n <= n // 8          # eighths of a power of two above 1 MiB
    else:
        assert c - n < 512 or n < 512
    assert device.size_class(c) == c    # a class serves itself: blocks are reused at their own size


def test_graphs_only_for_many_launches_over_small_copies():
    small = [np.zeros(1000, np.float32)]
    big = [np.zeros(1 << 24, np.float32)]           # W1's 64 MiB input
    assert graphs.worth_it(40, small, small)
    assert not graphs.worth_it(3, small, small)     # too few launches to save
    assert not graphs.worth_it(1, big, big)         # copying in and out would double the traffic
    assert graphs.worth_it(40, big, big)            # 128 MiB of copies beside 40 launches
