"""A program's kernels compile in parallel: forked worker processes compile them into the disk cache.

Numba compiles one function at a time (a process-wide lock), and most of a cold compile is kernels: W4's
nine took 1.18 of its 2.36 s, the program (typing, lowering, linking by symbol) the rest.  A kernel whose
result type is declared (``returns`` on ``link.linked``: nothing for one that writes into its arguments,
fresh C arrays otherwise; ``runtime.returns`` for hand-written ones) lets the program be typed and lowered
against it before it exists: its call is a call of the symbol :func:`link.symbol` names.  Those kernels
are only *deferred* while the program is lowered (:func:`defer`), then compiled all at once before the
program's machine code is linked (:func:`drain`, from the compiler's hook on the program's final module),
and checked against the declaration.

The second deferred kernel with no disk-cache entry forks ``FLOWC_COMPILE_JOBS - 1`` workers (default:
the cores this process may use, at most 4), so they compile while the parent still types and lowers the
program; each later one is sent to them down a pipe.  A worker takes every kernel nobody has claimed yet
(an ``O_EXCL`` file per kernel), compiles it into Numba's disk cache, and exits at the end of the list.  At
the drain the parent claims what is left, newest first, waits for the workers, then loads their kernels
from the cache.  Whatever a worker did not leave there (it failed, crashed or ran past :data:`WAIT_S`) the
parent compiles itself, so an error is raised where it would have been without workers.  A worker only
compiles, never runs a kernel or calls BLAS, so the threads it did not inherit (Numba's pool, OpenBLAS's)
are never missed; it ends with ``os._exit``.

Without ``os.fork`` (workers run on Linux only), in a process that has loaded JAX or TensorFlow
(:data:`THREADED_RUNTIMES`), or with ``FLOWC_COMPILE_JOBS=1`` the parent compiles
everything itself, as it would without this module; a cache Numba cannot write loses the workers' work,
and the parent compiles it again.
"""
from __future__ import annotations

import os
import pickle
import select
import shutil
import signal
import sys
import tempfile
import time
import warnings


JOBS_ENV = "FLOWC_COMPILE_JOBS"
MAX_DEFAULT_JOBS = 4
# A worker claims one kernel at a time, so when the parent's share ends each worker has at most one
# kernel in hand (0.05-2 s here); one still busy this long after that is stuck, and is killed.
WAIT_S = 30.0
_STATE: dict = {"open": False, "pool": None, "misses": []}     # misses: queued before the pool starts
_PENDING: dict[str, tuple] = {}     # symbol -> (kernel name, signature, declared result), in deferral order


def jobs() -> int:
    """Processes compiling a program's kernels, the caller included (``$FLOWC_COMPILE_JOBS``)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            from flowc.ir.types import FlowcError
            raise FlowcError(f"{JOBS_ENV} must be a positive integer, got {raw!r}")
        return n
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_JOBS, cores))


class session:
    """While open, kernels with a declared result may be deferred (the compiler opens one around a program
    whose final module calls :func:`drain`); closing stops the workers and forgets what was not drained."""

    def __enter__(self):
        _reset()
        _STATE["open"] = True
        return self

    def __exit__(self, *exc):
        _STATE["open"] = False
        pool = _reset()
        if pool is not None:
            pool.stop()


def _reset():
    """Forget the deferred kernels; returns the pool, if one was started, for the caller to end."""
    _PENDING.clear()
    _STATE["misses"] = []
    pool, _STATE["pool"] = _STATE["pool"], None
    return pool


def deferring() -> bool:
    return _STATE["open"]


def defer(name: str, sig: tuple, restype):
    """Compile kernel ``name`` for ``sig`` before the program's code is linked (at once outside a session);
    the program calls it as returning ``restype``."""
    from . import link
    sym = link.symbol(name, sig)
    if link.is_live(sym) or sym in _PENDING:
        _check_abi(name, sig, restype)
        return
    if not _STATE["open"]:
        link.register(name, sig)
        _check_abi(name, sig, restype)
        return
    _PENDING[sym] = (name, sig, restype)
    if _maybe_cached(name) or not _can_fork() or jobs() < 2:
        return
    if _STATE["pool"] is not None:
        _STATE["pool"].submit(name, sig)
        return
    _STATE["misses"].append((name, sig))
    if len(_STATE["misses"]) >= 2:      # one kernel to compile is the parent's: a fork would only wait on it
        _STATE["pool"] = _Pool(jobs() - 1)
        for job in _STATE["misses"]:
            _STATE["pool"].submit(*job)


def drain():
    """Compile every deferred kernel (with the workers), then register them all (:mod:`.link`)."""
    from . import link
    work = [job for sym, job in _PENDING.items() if not link.is_live(sym)]
    pool = _reset()
    if pool is not None:
        pool.finish()
    for name, sig, restype in work:     # workers' kernels load from the cache; the rest compile here
        link.register(name, sig)
        _check_abi(name, sig, restype)


def _check_abi(name: str, sig: tuple, restype):
    """The compiled kernel takes and returns what the program was lowered calling it with."""
    from . import link
    cres = link.compiled(name, sig)
    if cres is not None and (cres.signature.return_type != restype or tuple(cres.fndesc.argtypes) != tuple(sig)):
        raise TypeError(f"kernel {name} was called as {sig} -> {restype} (the ABI the program was lowered "
                        f"against) but compiled as {cres.signature}")


def _maybe_cached(name: str) -> bool:
    """True unless the kernel certainly has no disk-cache entry (no index file): only then can a worker
    help.  A kernel whose cache is not the shape this expects counts as cached (the parent handles it)."""
    from . import link
    cache_file = getattr(getattr(link.dispatcher(name), "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return not index or os.path.exists(index)


# Runtimes that run threads of their own in the caller's process (XLA's pools): a fork copies their locks
# in whatever state those threads hold them, and JAX warns on every fork that the child may deadlock.
# Where one is loaded, the parent compiles everything itself (a cold compile as without workers).
THREADED_RUNTIMES = ("jax", "jaxlib", "tensorflow")


def _can_fork() -> bool:
    return (hasattr(os, "fork") and sys.platform.startswith("linux")
            and not any(name in sys.modules for name in THREADED_RUNTIMES))


class _Pool:
    """Forked workers fed kernels down a pipe each; claims are files in a private directory."""

    def __init__(self, n: int):
        self.claims = tempfile.mkdtemp(prefix="flowc-claims-")
        self.jobs: list[tuple[str, tuple]] = []
        self.pipes: list[int] = []
        self.pids: list[int] = []
        for _ in range(n):
            r, w = os.pipe()
            with warnings.catch_warnings():     # Python 3.12+ warns on fork in a threaded process
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:                        # the worker: compile, never return into the caller
                code = 1
                try:
                    for fd in self.pipes:
                        os.close(fd)
                    os.close(w)
                    _serve(r, self.claims)
                    code = 0
                finally:
                    os._exit(code)
            os.close(r)
            self.pipes.append(w)
            self.pids.append(pid)

    def submit(self, name: str, sig: tuple):
        i = len(self.jobs)
        self.jobs.append((name, sig))
        data = pickle.dumps((i, name, sig))
        record = len(data).to_bytes(4, "little") + data
        for fd in list(self.pipes):
            try:
                os.write(fd, record)        # a few hundred bytes: the worker empties the pipe between kernels
            except OSError:                 # the worker is gone: the parent compiles what it would have
                self.pipes.remove(fd)
                os.close(fd)

    def finish(self):
        """Close the queue, compile what no worker claimed (newest first), wait for the workers."""
        from . import link
        for fd in self.pipes:
            os.close(fd)
        self.pipes = []
        for i in reversed(range(len(self.jobs))):
            if _claim(self.claims, i):
                link.register(*self.jobs[i])
        deadline = time.monotonic() + WAIT_S
        while self.pids and time.monotonic() < deadline:
            for pid in list(self.pids):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    self.pids.remove(pid)
            if self.pids:
                time.sleep(0.002)
        self.stop()

    def stop(self):
        for fd in self.pipes:
            os.close(fd)
        self.pipes = []
        for pid in self.pids:                   # interrupted, failed, or past the deadline
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.pids = []
        shutil.rmtree(self.claims, ignore_errors=True)


def _claim(claims: str, i: int) -> bool:
    try:
        os.close(os.open(os.path.join(claims, str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _serve(fd: int, claims: str):
    """A worker's loop: read every record the pipe holds, compile the first unclaimed kernel, repeat; stop
    at the end of the pipe with nothing left to claim."""
    from . import link
    os.set_blocking(fd, False)
    buf, queue, closed = b"", [], False
    while True:
        while True:                     # empty the pipe, so the parent's writes never block
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            buf += chunk
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "little"):
            n = int.from_bytes(buf[:4], "little")
            queue.append(pickle.loads(buf[4:4 + n]))
            buf = buf[4 + n:]
        if queue:
            i, name, sig = queue.pop(0)
            if _claim(claims, i):
                try:
                    link.dispatcher(name).compile(sig)      # cache=True: saved to disk for the parent
                except Exception:       # the parent compiles it again and reports the error where it belongs
                    pass
        elif closed:
            return
        else:
            select.select([fd], [], [])
