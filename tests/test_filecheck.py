"""FileCheck tests: every ``tests/fir/**/*.fir`` with a ``// RUN:`` line is one test.

Like LLVM's lit: ``%s`` is the file itself; ``flowc`` and ``filecheck`` are this
virtualenv's console scripts; ``not CMD`` succeeds when CMD fails.  Each RUN line runs
in bash with ``pipefail``, so a crash on the left of a pipe is not hidden by FileCheck.
"""
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent / "fir"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def run_lines(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("// RUN:"):
            cmd = line[len("// RUN:"):].strip()
            if lines and lines[-1].endswith("\\"):      # continuation lines
                lines[-1] = lines[-1][:-1] + " " + cmd
            else:
                lines.append(cmd)
    return lines


FILES = sorted(p for p in ROOT.rglob("*.fir") if run_lines(p))

PRELUDE = f"""set -o pipefail
flowc() {{ {shlex.quote(_tool("flowc"))} "$@"; }}
filecheck() {{ {shlex.quote(_tool("filecheck"))} "$@"; }}
not() {{ if "$@"; then return 1; else return 0; fi; }}
"""


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fir_file(path):
    for cmd in run_lines(path):
        script = PRELUDE + cmd.replace("%s", shlex.quote(str(path)))
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                           cwd=path.parent)
        assert r.returncode == 0, f"RUN: {cmd}\nexit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def test_runner_substitutions_and_not(tmp_path):
    """The harness itself: %s, the tool functions, ``not`` and pipefail behave as documented."""
    f = tmp_path / "t.fir"
    f.write_text("// RUN: not flowc opt %s 2>&1 | filecheck %s\n// CHECK: t.fir:3:1: expected 'func'\nbogus\n")
    assert run_lines(f) == ["not flowc opt %s 2>&1 | filecheck %s"]
    test_fir_file(f)
    f.write_text("// RUN: flowc opt %s | filecheck %s\n// CHECK: never printed\nbogus\n")
    with pytest.raises(AssertionError, match="exit 1"):
        test_fir_file(f)
