"""What a claim runs in: the profile, the datasets, and cached experiment cells.

An experiment cell is one call ``fn(params) -> dict`` of a top-level function
with JSON-able parameters (a dataset, a loss, a seed...). Its result is written
to ``OUT/cells/<claim>/`` atomically as soon as it exists, keyed by a hash of
the function, the parameters, the module's source and the losslab version; an interrupted run,
started again, reads the cells it finished instead of recomputing them. The
result is round-tripped through JSON even when fresh, so a resumed report is
the same, to the bit, as an uninterrupted one.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .. import __version__
from .profiles import Profile

__all__ = ["Context", "atomic_write", "cell_key"]

CellFn = Callable[[dict[str, Any]], dict[str, Any]]


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and :func:`os.replace`.

    A reader (or a run that was killed half-way) sees the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=64)
def _code_hash(module_name: str) -> str:
    """A hash of the source of the cell's module and of the training helpers it may call."""
    h = hashlib.sha256()
    for name in (module_name, "losslab.lab.train"):
        try:
            h.update(inspect.getsource(importlib.import_module(name)).encode())
        except (OSError, TypeError, ImportError):  # no source (frozen, interactive): the version must do
            h.update(name.encode())
    return h.hexdigest()


def cell_key(fn: CellFn, params: dict[str, Any]) -> str:
    """The cache key of one cell: its function's name and a hash of its parameters, its code and the version.

    Editing a claim's module (or the training helpers) therefore invalidates its cached cells.

    >>> def f(p): return p
    >>> cell_key(f, {"seed": 0}) == cell_key(f, {"seed": 0}) != cell_key(f, {"seed": 1})
    True
    """
    blob = json.dumps({"fn": f"{fn.__module__}.{fn.__qualname__}", "params": params, "version": __version__,
                       "code": _code_hash(fn.__module__)}, sort_keys=True)  # fmt: skip
    return f"{fn.__name__}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _run_cell(fn: CellFn, params: dict[str, Any]) -> str:
    """Run one cell and return its result as JSON text (workers send text back, parents parse it)."""
    return json.dumps(fn(params), allow_nan=True)


def _init_worker(threads: int) -> None:
    from .train import pin_threads

    pin_threads(threads)


class Context:
    """The run-wide settings plus the cell cache of one claim.

    ``datasets``: the classification datasets this run uses; ``device``:
    ``"cpu"`` or ``"cuda"``; ``data_dir``: where IDX files live (or None).
    ``map`` adds ``device`` and ``data_dir`` to every cell's parameters, so a cell
    run on another device or other data is another cell.
    """

    def __init__(
        self,
        *,
        profile: Profile,
        datasets: Sequence[str],
        cache_dir: Path,
        device: str = "cpu",
        data_dir: str | None = None,
        jobs: int = 1,
        threads: int = 1,
        on_cell: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.profile = profile
        self.datasets = tuple(datasets)
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.data_dir = data_dir
        self.jobs = jobs
        self.threads = threads
        self.on_cell = on_cell
        self.slug = "_"
        self.computed = 0
        self.cached = 0
        self._shared: dict[str, Any] = {"pool": None}  # one worker pool for every claim of a run

    def for_claim(self, slug: str) -> Context:
        """This context with its cell cache in ``cells/<slug>`` and fresh counters."""
        ctx = Context(
            profile=self.profile,
            datasets=self.datasets,
            cache_dir=self.cache_dir,
            device=self.device,
            data_dir=self.data_dir,
            jobs=self.jobs,
            threads=self.threads,
            on_cell=self.on_cell,
        )
        ctx.slug = slug
        ctx._shared = self._shared
        return ctx

    def _pool(self) -> ProcessPoolExecutor:
        if self._shared["pool"] is None:
            import multiprocessing as mp

            # spawn, not fork: forking a process that has started torch's thread pools can deadlock.
            self._shared["pool"] = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads,),
            )
        return self._shared["pool"]

    def close(self) -> None:
        """Shut the worker processes down (the runner calls this once, at the end of a run)."""
        pool, self._shared["pool"] = self._shared["pool"], None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def seeds(self) -> list[int]:
        """The seeds of every cell that is repeated: ``0 .. profile.seeds - 1``."""
        return list(range(self.profile.seeds))

    @property
    def n_bootstrap(self) -> int:
        return self.profile.n_bootstrap

    def _path(self, key: str) -> Path:
        return self.cache_dir / self.slug / f"{key}.json"

    def _load(self, path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())["result"]
        except (OSError, ValueError, KeyError):  # missing, or unreadable: compute it again
            return None

    def map(self, fn: CellFn, params_list: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``[fn(p) for p in params_list]``, each result read from the cache when it is there.

        Uncached cells run in ``jobs`` worker processes when there are several.
        """
        full = [{**p, "device": self.device, "data_dir": self.data_dir} for p in params_list]
        paths = [self._path(cell_key(fn, p)) for p in full]
        results: list[dict[str, Any] | None] = [self._load(path) for path in paths]
        todo = [i for i, r in enumerate(results) if r is None]
        for i, r in enumerate(results):
            if r is not None:
                self.cached += 1
                if self.on_cell:
                    self.on_cell(paths[i].stem, True)

        def store(i: int, text: str) -> None:
            atomic_write(paths[i], json.dumps({"params": full[i], "result": json.loads(text)}, allow_nan=True))
            results[i] = json.loads(text)
            self.computed += 1
            if self.on_cell:
                self.on_cell(paths[i].stem, False)

        if self.jobs > 1 and len(todo) > 1:
            pool = self._pool()
            futures = [(i, pool.submit(_run_cell, fn, full[i])) for i in todo]
            try:
                for i, fut in futures:  # in submission order: deterministic progress and files
                    store(i, fut.result())
            except BaseException:
                for _, fut in futures:
                    fut.cancel()
                raise
        else:
            for i in todo:
                store(i, _run_cell(fn, full[i]))
        return results  # type: ignore[return-value]

    def cell(self, fn: CellFn, params: dict[str, Any]) -> dict[str, Any]:
        """One cached cell: ``fn(params)``."""
        return self.map(fn, [params])[0]
