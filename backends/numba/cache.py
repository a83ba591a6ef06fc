"""The on-disk compile cache: generated sources as real files, so Numba's own ``cache=True`` can persist machine code.

Layout under ``$FLOWC_CACHE_DIR`` (default ``~/.cache/flowc``)::

    numba/<key>.py              generated program, first line "# flowc-sha256: <hash of the rest>"
    numba/k_<hash>.py           a kernel (one op or fusion region), named by the hash of its text and
                                shared by every program that calls it
    numba/__pycache__/<stem>.*  Numba's index and object code (its in-tree cache, beside the source)

``key`` is the sha256 of (function text, flowc version, numba version, codegen
version), so any change to the IR or to the tools gives a new entry.  Files are
written to a temporary name and renamed (atomic on POSIX), and a file whose
hash header does not match its body — truncated, edited, half written — is
deleted and regenerated instead of trusted.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import numba

from .runtime import GENERATED_HEADER, hand_written_digest

CACHE_ENV = "FLOWC_CACHE_DIR"
CODEGEN_VERSION = "3"   # bump when generated code changes for the same IR
_HEADER = GENERATED_HEADER


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "flowc")
    return Path(root) / "numba"


@functools.lru_cache(maxsize=None)
def kernels_digest() -> str:
    """Programs link the hand-written kernels into their machine code: a change to them must miss the cache."""
    from .blas import PROVIDER
    return _digest(hand_written_digest() + PROVIDER)


def cache_key(function_text: str) -> str:
    from flowc import __version__
    h = hashlib.sha256()
    from .codegen import parallel_mode
    parallel = parallel_mode() + ":" + os.environ.get("FLOWC_NUMBA_PARALLEL_MIN", "")
    for part in (function_text, __version__, numba.__version__, CODEGEN_VERSION, parallel, kernels_digest()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def read_source(path: Path) -> str | None:
    """The cached source if the file exists and its hash header matches; a corrupt file is deleted."""
    try:
        text = path.read_text()
    except (FileNotFoundError, UnicodeDecodeError, OSError):
        text = None
    if text is None:
        return None
    first, _, body = text.partition("\n")
    if first.startswith(_HEADER) and first[len(_HEADER):] == _digest(body):
        return body
    purge(path)
    return None


def write_source(path: Path, source: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{_HEADER}{_digest(source)}\n{source}")
    os.replace(tmp, path)


def purge(path: Path):
    """Delete a cache entry: the source and Numba's files for it."""
    for p in [path, *path.parent.glob(f"__pycache__/{path.stem}.*")]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    sys.modules.pop(module_name(path), None)


def module_name(path: Path) -> str:
    return f"flowc_numba_{path.stem[:24]}"


def import_source(path: Path):
    """Import the generated module at ``path`` under a name derived from its key."""
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # Numba's cache rebuilds a program's environment by module name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load(key: str, source: str):
    """The imported module holding ``source``: reused from disk when intact, (re)written otherwise."""
    path = cache_dir() / f"{key}.py"
    if read_source(path) != source:
        write_source(path, source)
    try:
        return path, import_source(path)
    except Exception:       # a file that hashes right yet fails to import: rebuild once
        purge(path)
        write_source(path, source)
        return path, import_source(path)


_KERNELS: dict[str, object] = {}     # kernel name -> its dispatcher, for programs importing it


def load_kernel(name: str, source: str) -> Path:
    """Write (if needed) and import kernel ``name``; programs then fetch it with :func:`kernel`."""
    path, module = load(name, source)
    _KERNELS[name] = getattr(module, name)
    return path


def kernel(name: str):
    """The dispatcher of a kernel loaded by :func:`load_kernel` (called from generated program modules)."""
    return _KERNELS[name]
