"""Replay every fuzz reproducer kept in tests/regressions/ (NAME.fir + NAME.npz + NAME.json).

Each must now agree with the reference through its recorded backend and pipeline.  A reproducer of a
bug that is not fixed yet carries an ``xfail`` reason in its .json (strict: the fix makes it fail loudly
so the marker gets removed).
"""
import glob
import json
import os

import pytest

from flowc.commands.opt import load_fir, pick_function
from flowc.commands.run import inputs_from_npz
from flowc.testing.check import backend_status, check_function

HERE = os.path.join(os.path.dirname(__file__), "regressions")
CASES = sorted(glob.glob(os.path.join(HERE, "*.fir")))


def _param(path):
    meta = json.load(open(path[:-4] + ".json"))
    marks = [pytest.mark.xfail(reason=meta["xfail"], strict=True)] if meta.get("xfail") else []
    return pytest.param(path, meta, marks=marks, id=os.path.basename(path)[:-4])


def test_there_are_reproducers():
    assert CASES, "tests/regressions/ holds no reproducer"
    for path in CASES:
        assert os.path.exists(path[:-4] + ".npz") and os.path.exists(path[:-4] + ".json")


@pytest.mark.parametrize("path,meta", [_param(p) for p in CASES])
def test_replay(path, meta):
    if backend_status(meta["backend"])[0] is None:
        pytest.skip(f"backend {meta['backend']} is not available here")
    f = pick_function(load_fir(path), None)
    rep = check_function(f, inputs_from_npz(f, path[:-4] + ".npz"), [meta["backend"]],
                         opt_level=meta["opt_level"], passes=meta["passes"])
    assert rep.ok, str(rep)
