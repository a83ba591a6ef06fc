"""``benchmarks/bench.py`` runs end to end: flowc and a peer timed in alternating rounds, results checked."""
from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(HERE, "..", "benchmarks"))
    monkeypatch.syspath_prepend(os.path.join(HERE, "..", "examples"))
    import bench as module
    yield module
    sys.modules.pop("bench", None)


def test_rounds_alternate_flowc_and_the_peer(bench, monkeypatch, capsys):
    # numpy only: torch or jax imported into the test process would turn off flowc's forked compile workers
    monkeypatch.setattr(bench, "_torch", lambda: None)
    monkeypatch.setattr(bench, "_jax", lambda: None)
    calls = []
    timeit = bench.timeit
    monkeypatch.setattr(bench, "timeit", lambda fn, reps: calls.append(reps) or timeit(fn, reps, warmup=0))
    bench.main(["--only", "W3", "--peers", "numpy", "--reps", "1", "--rounds", "2", "--same-process"])
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("W3") and "numpy" in row and "RESULTS DIFFER" not in row
    assert len(calls) == 4                      # flowc, numpy, flowc, numpy
