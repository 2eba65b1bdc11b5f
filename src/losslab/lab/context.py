"""What a claim runs in: the profile, the datasets, and cached experiment cells.

An experiment cell is one call ``fn(params) -> dict`` of a top-level function
with JSON-able parameters (a dataset, a loss, a seed...). Its result is written
to ``OUT/cells/<claim>/`` atomically as soon as it exists, keyed by a hash of
the function, the parameters, the code it may run (see :func:`package_hash`)
and the losslab version; an interrupted run, started again, reads the cells it
finished instead of recomputing them. The result is round-tripped through JSON
even when fresh, so a resumed report is the same, to the bit, as an
uninterrupted one. Where the cells run (this process, local worker processes,
a Dask cluster) is :mod:`losslab.lab.scheduler`'s business.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from .profiles import Profile
from .scheduler import Executor, InlineExecutor, make_executor

__all__ = ["Context", "atomic_write", "cell_key", "package_hash"]

CellFn = Callable[[dict[str, Any]], dict[str, Any]]

#: Modules of ``losslab.lab`` that only present results or move cells around, never compute one: editing
#: them keeps the cache. Every other module of the package counts (a cell may call any of them, directly
#: or through the losses; verdict helpers count too: a wasted recomputation beats a stale cell); of
#: ``losslab/lab/claims`` only the cell's own module and those it imports do (:func:`_claim_modules`).
NOT_CELL_CODE = frozenset({"report", "runner", "style", "scheduler"})

_log = logging.getLogger("losslab.lab")


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


def _hashed_files() -> dict[str, Path]:
    """losslab's source files that a cell may run, by path in the package, sorted: ``.py`` and the C
    kernels' ``.c`` (not the built extension, whose bytes differ from one build to the next)."""
    root = Path(__file__).resolve().parent.parent
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if path.suffix not in (".py", ".c") or "__pycache__" in rel or not path.is_file():
            continue
        if rel[0] == "lab" and (len(rel) > 2 or path.stem in NOT_CELL_CODE):
            continue
        files["/".join(rel)] = path
    return files


def _digest(h: Any, name: str, path: Path | None) -> None:
    try:
        data = path.read_bytes() if path is not None else None
    except OSError:
        data = None
    h.update(name.encode() + b"\0")
    h.update(b"-" if data is None else str(len(data)).encode() + b"\0" + data)  # no source: the name must do


@functools.lru_cache(maxsize=1)
def package_hash() -> str:
    """A hash of the bytes of every file of :func:`_hashed_files`, computed once per process."""
    h = hashlib.sha256()
    for name, path in _hashed_files().items():
        _digest(h, name, path)
    return h.hexdigest()


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # __main__, or a name that is not a module
        spec = None
    file = getattr(sys.modules.get(name), "__file__", None) or (spec.origin if spec is not None else None)
    return Path(file) if file and Path(file).is_file() else None


def _claim_modules(module_name: str) -> list[str]:
    """``module_name`` and the modules of ``losslab.lab.claims`` it imports, anywhere in its code, transitively.

    Claim modules stay out of :func:`package_hash` (editing one claim keeps the others' cells), so the
    cells of a claim that borrows another's helpers must still see that module's edits.
    """
    prefix = f"{__package__}.claims."
    found, todo = [module_name], [module_name]
    while todo:
        name = todo.pop()
        file = _module_file(name)
        try:
            tree = ast.parse(file.read_bytes()) if file is not None else None
        except (OSError, SyntaxError, ValueError):
            tree = None
        package = name if file is not None and file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                try:
                    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                except (ImportError, ValueError):
                    continue
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for imported in names:
                if imported.startswith(prefix) and imported not in found and _module_file(imported) is not None:
                    found.append(imported)
                    todo.append(imported)
    return found


@functools.lru_cache(maxsize=64)
def _code_hash(module_name: str) -> str:
    """A hash of :func:`package_hash`, the cell's own module and the claim modules that it imports."""
    h = hashlib.sha256(package_hash().encode())
    for name in _claim_modules(module_name):
        _digest(h, name, _module_file(name))
    return h.hexdigest()


def cell_key(fn: CellFn, params: dict[str, Any]) -> str:
    """The cache key of one cell: its function's name and a hash of its parameters, its code and the version.

    Editing the cell's module, or any losslab module it may run (a loss, the training helpers),
    therefore invalidates its cached cells.

    >>> def f(p): return p
    >>> cell_key(f, {"seed": 0}) == cell_key(f, {"seed": 0}) != cell_key(f, {"seed": 1})
    True
    """
    blob = json.dumps({"fn": f"{fn.__module__}.{fn.__qualname__}", "params": params, "version": __version__,
                       "code": _code_hash(fn.__module__)}, sort_keys=True)  # fmt: skip
    return f"{fn.__name__}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _canonical(params: Any) -> str:
    return json.dumps(params, sort_keys=True, allow_nan=True)


_JSON_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}  # fmt: skip


def _misfit(stored: Any) -> str | None:
    """How a parsed cell file departs from ``{"params": {...}, "result": {...}}`` (extra keys allowed), or None."""
    if not isinstance(stored, dict):
        return f"the file holds {_JSON_KINDS.get(type(stored), type(stored).__name__)}"
    for key in ("params", "result"):
        if key not in stored:
            return f'no "{key}" key'
        if not isinstance(stored[key], dict):
            return f'"{key}" is {_JSON_KINDS.get(type(stored[key]), type(stored[key]).__name__)}'
    return None


class Context:
    """The run-wide settings plus the cell cache of one claim.

    ``datasets``: the classification datasets this run uses; ``device``:
    ``"cpu"`` or ``"cuda"``; ``data_dir``: where IDX files live (or None).
    ``map`` adds ``device`` and ``data_dir`` to every cell's parameters, so a cell
    run on another device or other data is another cell. Cells run in ``jobs``
    local worker processes, or on the Dask cluster whose scheduler is at
    ``scheduler``. ``on_batch(n_cells, n_cached)`` is called as ``map`` starts,
    ``on_cell()`` as each computed cell is stored, ``on_note(line)`` for a cell
    file that had to be recomputed (default: a logging warning).
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
        scheduler: str | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        on_cell: Callable[[], None] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.profile = profile
        self.datasets = tuple(datasets)
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.data_dir = data_dir
        self.jobs = jobs
        self.threads = threads
        self.scheduler = scheduler
        self.on_batch = on_batch
        self.on_cell = on_cell
        self.on_note = on_note or _log.warning
        self.slug = "_"
        self.computed = 0
        self.cached = 0
        self._shared: dict[str, Any] = {"executor": None}  # one executor for every claim of a run

    def for_claim(self, slug: str) -> Context:
        """This context with its cell cache in ``cells/<slug>`` and fresh counters (the executor is shared)."""
        ctx = copy.copy(self)
        ctx.slug, ctx.computed, ctx.cached = slug, 0, 0
        return ctx

    @contextlib.contextmanager
    def borrowed(self, *, slug: str | None = None, seeds: int | None = None) -> Iterator[Context]:
        """This context with another claim's cell cache (``slug``) or exactly ``seeds`` seeds, for one block.

        Claims that measure the same comparison read each other's cells (the same cells, computed once).
        A planted control is a fixed experiment: it runs on seeds 0..n-1 in every profile, so its answer
        cannot change with the profile (with 12 seeds, one seed in which a planted run misses its target
        made claim 5's control inconclusive), and the seeds the profile shares with it come from the cache.
        Whatever the block computes or reads counts in this context.
        """
        out = copy.copy(self)
        out.computed = out.cached = 0
        if slug is not None:
            out.slug = slug
        if seeds is not None:
            out.profile = dataclasses.replace(self.profile, seeds=seeds)
        try:
            yield out
        finally:
            self.computed += out.computed
            self.cached += out.cached

    def start(self) -> None:
        """Connect to ``scheduler`` now, so that a bad address fails before any claim runs (ValueError).

        The local pool needs no such check: it starts with the first cells that need it.
        """
        if self.scheduler is not None:
            self._executor(2)

    def _executor(self, n_cells: int) -> Executor:
        if self.scheduler is None and (self.jobs <= 1 or n_cells <= 1):
            return InlineExecutor()  # one job, or a single cell: no worker is worth its start-up
        if self._shared["executor"] is None:
            self._shared["executor"] = make_executor(
                scheduler=self.scheduler, jobs=self.jobs, threads=self.threads, source=package_hash()
            )
        return self._shared["executor"]

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers (the runner calls this once, at the end of a run); ``abort``: without waiting."""
        executor, self._shared["executor"] = self._shared["executor"], None
        if executor is not None:
            executor.close(abort=abort)

    @property
    def seeds(self) -> list[int]:
        """The seeds of every cell that is repeated: ``0 .. profile.seeds - 1``."""
        return list(range(self.profile.seeds))

    @property
    def n_bootstrap(self) -> int:
        return self.profile.n_bootstrap

    def _path(self, key: str) -> Path:
        return self.cache_dir / self.slug / f"{key}.json"

    def _load(self, path: Path, params: dict[str, Any]) -> dict[str, Any] | None:
        """The cached result in ``path``, or None to compute it (saying why, unless the file is just missing).

        A cell file must fit the schema that :meth:`map` writes, ``{"params": <these params>, "result":
        {...}}``; one that does not (unreadable, not JSON, JSON of another shape, another cell's) is named
        in one note and computed again, never handed to the claim, which would fail on it on every rerun.
        """
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as e:  # RecursionError: JSON nested thousands deep
            problem = f"is unreadable ({type(e).__name__}: {e})"
        else:
            misfit = _misfit(stored)
            if misfit is not None:
                problem = (f'did not fit the schema: is not a JSON object with a "result" object and a "params" '
                           f"object ({misfit})")  # fmt: skip
            elif _canonical(stored["params"]) != _canonical(params):
                problem = "holds the result of other parameters"
            else:
                return stored["result"]
        self.on_note(f"cell file {path} {problem}: computing the cell again")
        return None

    def map(self, fn: CellFn, params_list: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``[fn(p) for p in params_list]``, each result read from the cache when it is there.

        Uncached cells run in ``jobs`` worker processes when there are several, or on ``scheduler``.
        """
        full = [{**p, "device": self.device, "data_dir": self.data_dir} for p in params_list]
        paths = [self._path(cell_key(fn, p)) for p in full]
        results: list[dict[str, Any] | None] = [self._load(path, p) for path, p in zip(paths, full, strict=True)]
        todo = [i for i, r in enumerate(results) if r is None]
        self.cached += len(full) - len(todo)
        if self.on_batch:
            self.on_batch(len(full), len(full) - len(todo))
        executor = self._executor(len(todo))
        handles: list[tuple[int, Any]] = []
        try:
            for i in todo:  # one by one: a submission that fails still cancels those before it
                handles.append((i, executor.submit(fn, full[i])))
            for i, handle in handles:  # in submission order: deterministic progress and files
                text = handle.result()
                atomic_write(paths[i], json.dumps({"params": full[i], "result": json.loads(text)}, allow_nan=True))
                results[i] = json.loads(text)
                self.computed += 1
                if self.on_cell:
                    self.on_cell()
        except BaseException:
            for _, handle in handles:
                handle.cancel()
            raise
        return results  # type: ignore[return-value]

    def cell(self, fn: CellFn, params: dict[str, Any]) -> dict[str, Any]:
        """One cached cell: ``fn(params)``."""
        return self.map(fn, [params])[0]
