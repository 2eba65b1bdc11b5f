"""Where the lab's experiment cells run: in this process, in a local pool of worker processes, or on Dask.

:class:`~losslab.lab.context.Context` sees one interface, an executor: ``submit(fn, params)`` returns a
handle with ``result()`` (the cell's result as JSON text) and ``cancel()``, and ``close(abort=...)``
stops it. Everything else (the cache, submission order, cancellation on error) stays in the context,
so the three executors cannot drift apart.

The local pool's workers must never outlive the ``losslab lab`` process: on Linux each asks the kernel
to SIGKILL it when its parent dies (``PR_SET_PDEATHSIG``), elsewhere a daemon thread polls the
parent's pid. SIGINT is ignored in the workers, so Ctrl-C reaches only the main process, which stops
them itself; :func:`sigterm_as_interrupt` gives SIGTERM the same path, as :class:`Terminated`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

__all__ = ["CONNECT_TIMEOUT_S", "Executor", "Terminated", "make_executor", "sigterm_as_interrupt"]

CellFn = Callable[[dict[str, Any]], dict[str, Any]]

#: How long ``--scheduler`` waits for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 10.0

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that both stop a run the same clean way."""


class Handle(Protocol):
    def result(self) -> str: ...

    def cancel(self) -> bool: ...


class Executor(Protocol):
    def submit(self, fn: CellFn, params: dict[str, Any]) -> Handle: ...

    def close(self, *, abort: bool = False) -> None: ...


def run_cell(fn: CellFn, params: dict[str, Any]) -> str:
    """Run one cell and return its result as JSON text (workers send text back, the parent parses it)."""
    return json.dumps(fn(params), allow_nan=True)


# ------------------------------------------------------------------ in this process
class _Deferred:
    """A cell run on ``result()``: in-process cells then run, and are stored, one at a time."""

    def __init__(self, fn: CellFn, params: dict[str, Any]) -> None:
        self._call: tuple[CellFn, dict[str, Any]] | None = (fn, params)

    def result(self) -> str:
        if self._call is None:
            raise RuntimeError("this cell was cancelled")
        return run_cell(*self._call)

    def cancel(self) -> bool:
        self._call = None
        return True


class InlineExecutor:
    def submit(self, fn: CellFn, params: dict[str, Any]) -> Handle:
        return _Deferred(fn, params)

    def close(self, *, abort: bool = False) -> None:
        pass


# ------------------------------------------------------------------ a local pool of spawned processes
def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            # The kernel sends the signal when the thread that spawned us exits: the pool spawns its workers
            # from the thread that submits, the runner's main thread, so that is the process's death.
            if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
                if os.getppid() != parent:  # the parent died before prctl: no signal will ever come
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass
    # Elsewhere an orphan is re-parented, so its parent pid changes (on Windows it never does: no guarantee).
    threading.Thread(target=_watch_parent, args=(parent,), name="losslab-parent-watch", daemon=True).start()


def _init_worker(threads: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the whole process group; the parent handles it
    _die_with_parent(parent)
    from .train import pin_threads

    pin_threads(threads)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while workers are spawned: they inherit it, so Ctrl-C during their (slow) start-up,
    before the initializer runs, cannot print a traceback from each of them. A Ctrl-C within the few
    milliseconds of a submission is lost: the next one stops the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class PoolExecutor:
    def __init__(self, jobs: int, threads: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: forking a process that has started torch's thread pools can deadlock.
        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads, os.getpid()),
        )

    def submit(self, fn: CellFn, params: dict[str, Any]) -> Handle:
        with _sigint_ignored():  # spawn starts the workers lazily, inside submit
            return self._pool.submit(run_cell, fn, params)

    def close(self, *, abort: bool = False) -> None:
        if abort:  # an interrupted run must not wait for the running cells: they are recomputed on resume
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------ a Dask cluster
_PINNED: dict[str, int] = {}


def _run_on_dask(fn: CellFn, params: dict[str, Any], threads: int, source: str) -> str:
    """Run a cell on a Dask worker: threads pinned once per worker process, like the local pool's initializer."""
    from .context import package_hash

    if source != package_hash():  # other code would compute other numbers under this run's cache keys
        raise RuntimeError("this Dask worker runs other losslab source code than the client: "
                           "install the same losslab on every worker")  # fmt: skip
    if _PINNED.get("threads") != threads:
        from .train import pin_threads

        pin_threads(threads)
        _PINNED["threads"] = threads
    return run_cell(fn, params)


def _probe(address: str, timeout: float) -> None:
    # A Client that fails to connect still tries to close itself when collected, printing a traceback
    # seconds later: ask the address first with a bare connection.
    import asyncio

    from distributed.comm import connect

    async def knock() -> None:
        comm = await connect(address, timeout=timeout)
        await comm.close()

    asyncio.run(knock())


class DaskExecutor:
    def __init__(self, address: str, threads: int, timeout: float, source: str) -> None:
        from distributed import Client

        try:
            _probe(address, timeout)
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(
                f"`--scheduler` {address!r}: no Dask scheduler answered ({e}); start one with `dask scheduler` "
                f"and workers with `dask worker ADDRESS`, or leave --scheduler out to use local worker processes"
            ) from None
        self._source = source
        self._threads = threads
        # Not the default client: losslab's calibration code computes its own Dask arrays in this process.
        self._client = Client(address, timeout=timeout, set_as_default=False)

    def submit(self, fn: CellFn, params: dict[str, Any]) -> Handle:
        return self._client.submit(_run_on_dask, fn, params, self._threads, self._source, pure=False)

    def close(self, *, abort: bool = False) -> None:
        self._client.close()  # the scheduler drops the tasks that no client wants any more


def make_executor(*, scheduler: str | None, jobs: int, threads: int, source: str) -> Executor:
    """The executor of a run: a Dask client when ``scheduler`` is an address, else a local pool of ``jobs``.

    ``source``: the hash of losslab's code that the cache keys use; a Dask worker running other code refuses.
    """
    if scheduler is not None:
        return DaskExecutor(scheduler, threads, CONNECT_TIMEOUT_S, source)
    return PoolExecutor(jobs, threads)


# ------------------------------------------------------------------ signals of the main process
def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within this block SIGTERM raises :class:`Terminated`: the run stops as on Ctrl-C, its cells kept."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
