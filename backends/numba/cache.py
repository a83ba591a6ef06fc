"""The on-disk compile cache: generated sources as real files, so Numba's own ``cache=True`` can persist machine code.

Layout under ``$FLOWC_CACHE_DIR`` (default ``~/.cache/flowc``)::

    numba/<key>.py              generated program, first line "# flowc-sha256: <hash of the rest>"
    numba/k_<hash>.py           a kernel (one op or fusion region), named by the hash of its text and
                                shared by every program that calls it
    numba/<key>.links           the kernels (name, signature) a program's object code calls by symbol
    numba/__pycache__/<stem>.*  Numba's index and object code (its in-tree cache, beside the source)

``key`` is the sha256 of (function text, flowc version, numba version, codegen
version), so any change to the IR or to the tools gives a new entry.  Files are
written to a temporary name and renamed (atomic on POSIX), and a file whose
hash header does not match its body — truncated, edited, half written — is
deleted and regenerated instead of trusted.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import numba

from .runtime import GENERATED_HEADER, hand_written_digest

CACHE_ENV = "FLOWC_CACHE_DIR"
CODEGEN_VERSION = "6"   # bump when generated code changes for the same IR
_HEADER = GENERATED_HEADER


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "flowc")
    return Path(root) / "numba"


@functools.lru_cache(maxsize=None)
def kernels_digest() -> str:
    """Programs are typed against the hand-written kernels (their signatures, the ABI of the calls they make
    by symbol) and generated kernels inline the scalar ones: a change to them must miss the cache."""
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
    body = _read_checked(path)
    if body is None and path.exists():
        purge(path)
    return body


def _read_checked(path: Path) -> str | None:
    try:
        text = path.read_text()
    except (FileNotFoundError, UnicodeDecodeError, OSError):
        return None
    first, _, body = text.partition("\n")
    return body if first.startswith(_HEADER) and first[len(_HEADER):] == _digest(body) else None


def write_source(path: Path, source: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{_HEADER}{_digest(source)}\n{source}")
    os.replace(tmp, path)


def purge(path: Path):
    """Delete a cache entry: the source and Numba's files for it."""
    purge_compiled(path)
    _unlink(path)
    sys.modules.pop(module_name(path), None)


def purge_compiled(path: Path):
    """Delete Numba's object code for ``path`` and its links list, so the next compile starts afresh."""
    for p in [links_path(path), *path.parent.glob(f"__pycache__/{path.stem}.*")]:
        _unlink(p)


def _unlink(p: Path):
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def links_path(path: Path) -> Path:
    return path.with_suffix(".links")


def read_links(path: Path) -> list | None:
    """The (kernel name, signature) list saved for a program, or None if missing or damaged."""
    body = _read_checked(links_path(path))
    try:
        entries = pickle.loads(base64.b64decode(body)) if body is not None else None
    except Exception:
        entries = None
    return entries if isinstance(entries, list) else None


def write_links(path: Path, entries: list):
    write_source(links_path(path), base64.b64encode(pickle.dumps(entries)).decode())


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
    """Write (if needed) and import kernel ``name``; programs then fetch it with :func:`kernel`.  A kernel
    already imported from this file is kept: programs calling it hold its compiled code (link.py)."""
    path = cache_dir() / f"{name}.py"
    loaded = sys.modules.get(module_name(path))
    if (name in _KERNELS and getattr(loaded, "__file__", None) == str(path)
            and getattr(loaded, name, None) is _KERNELS[name] and read_source(path) == source):
        return path
    path, module = load(name, source)
    _KERNELS[name] = getattr(module, name)
    return path


def kernel(name: str):
    """The dispatcher of a kernel loaded by :func:`load_kernel` (called from generated program modules)."""
    return _KERNELS[name]


def load_without_refresh(dispatcher):
    """Let a disk-cache hit (a program or a kernel it calls) skip the target context's ``refresh()``.

    Numba refreshes before every cache load; the first refresh in a process imports and installs every
    registry it has (linalg, random generators, typed containers, jitclass ...): 0.17-0.20 s of the 0.31 s
    a warm W4 compile took.  Rebuilding cached machine code needs only the runtime (NRT) initialised; a
    miss falls through to Numba's compiler, which refreshes the contexts itself before typing.  If
    Numba's cache object is not the shape this expects, nothing is patched and the load just refreshes."""
    cache_obj = getattr(dispatcher, "_cache", None)
    load, guard = (getattr(cache_obj, n, None) for n in ("_load_overload", "_guard_against_spurious_io_errors"))
    try:
        from numba.core.runtime import rtsys
    except ImportError:        # pragma: no cover
        return
    if load is None or guard is None or getattr(cache_obj, "_flowc_no_refresh", False):
        return

    def load_overload(sig, target_context):
        rtsys.initialize(target_context)
        with guard():
            return load(sig, target_context)
    cache_obj.load_overload = load_overload
    cache_obj._flowc_no_refresh = True
