"""FileCheck tests of the passes: every ``tests/fir/passes/*.fir`` through its RUN line.

The RUN lines read ``flowc opt %s --passes SPEC | filecheck %s``; here the ``flowc opt``
half runs in-process (parse, PassManager, print) so these tests do not depend on the
CLI, and the check half is the real ``filecheck`` CLI.  ``tests/test_filecheck.py``
runs the same files through the real command line.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.ir import OPS, parse
from flowc.passes import PassManager
from flowc.passes.simplify import PATTERNS

HERE = Path(__file__).parent / "fir" / "passes"
FILES = sorted(HERE.glob("*.fir"))
FILECHECK = Path(sys.executable).with_name("filecheck")
RUN = re.compile(r"^// RUN: flowc opt %s (?P<args>.*?) \| filecheck %s$", re.M)
OP_USE = re.compile(r"=\s*([a-z_0-9]+)\(")


def opt(path: Path) -> str:
    text = path.read_text()
    m = RUN.search(text)
    assert m, f"{path.name}: no 'RUN: flowc opt %s ... | filecheck %s' line"
    args = shlex.split(m.group("args"))
    assert args[0] == "--passes" and len(args) == 2, f"{path.name}: only --passes SPEC is emulated here"
    return PassManager(args[1]).run(parse(text, str(path))).text()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fir(path: Path):
    missing = sorted(set(OP_USE.findall(path.read_text())) - set(OPS))
    if missing:
        pytest.skip(f"op(s) {', '.join(missing)} not declared yet (being written in ir/ops/)")
    out = opt(path)
    res = subprocess.run([str(FILECHECK), str(path)], input=out, capture_output=True, text=True)
    assert res.returncode == 0, f"filecheck failed on the output:\n{out}\n{res.stdout}{res.stderr}"


def test_every_simplify_pattern_has_a_fir_test():
    names = {p.stem.removeprefix("simplify-") for p in FILES if p.stem.startswith("simplify-")}
    assert {p.name for p in PATTERNS} <= names


def test_files_found():
    assert len(FILES) >= 25
