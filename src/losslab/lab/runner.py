"""Run the selected claims and write the report: ``OUT/index.html``, ``results.json``, ``summary.md``.

Every experiment cell is cached under ``OUT/cells`` the moment it finishes
(see :mod:`losslab.lab.context`), so an interrupted run resumes where it
stopped. The report files are written atomically at the end, together.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import platform
import shutil
import time
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from .context import Context, atomic_write
from .data import BUNDLED, DATASETS, IDX_DATASETS, check_dataset
from .judge import finding_record, judge
from .profiles import Profile
from .registry import Claim
from .report import jsonable, render_html, render_markdown
from .rules import rules_sha256
from .scheduler import sigterm_as_interrupt
from .seeds import statement_records

__all__ = ["SCHEMA_VERSION", "resolve_datasets", "resolve_device", "run_lab", "versions"]

#: Bumped whenever results.json changes shape.
SCHEMA_VERSION = 2  # 2: parts, kinds, controls, published, rules_sha256, Holm


def versions() -> dict[str, str]:
    """The versions that a result depends on: Python, the platform, and the libraries."""
    out = {"python": platform.python_version(), "platform": platform.platform(), "cpus": str(os.cpu_count())}
    for dist in ("losslab", "numpy", "scipy", "torch", "scikit-learn", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; ``"cuda"`` without one is an error."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but torch sees no GPU: use --device cpu or auto")
    return device


def resolve_datasets(profile: Profile, datasets: Sequence[str] | None, data_dir: str | None) -> tuple[str, ...]:
    """The classification datasets of the run: ``datasets`` if given, else the profile's.

    Only the names are checked, and that the IDX datasets have ``--data-dir``:
    nothing is loaded here, so a dataset that fails to load fails only the
    claims that use it (:func:`losslab.lab.data.check_dataset` says why).

    >>> from losslab.lab.profiles import PROFILES
    >>> resolve_datasets(PROFILES["quick"], None, None)
    ('digits', 'breast_cancer', 'mnist1d')
    >>> resolve_datasets(PROFILES["quick"], ["mnist1d", "kmnist"], "/no/such/dir")  # not loaded: no error yet
    ('mnist1d', 'kmnist')
    """
    chosen = tuple(datasets) if datasets else profile.datasets
    for name in chosen:
        if name not in DATASETS:
            raise ValueError(f"`--dataset` must be among {', '.join(DATASETS)}; got {name!r}")
        if name in BUNDLED and BUNDLED[name][1] != "classification":
            raise ValueError(f"`--dataset` {name!r} is a regression dataset; the lab's regression claim always uses it")
        if name in IDX_DATASETS and data_dir is None:
            raise ValueError(f"`--dataset {name}` needs --data-dir DIR holding its IDX files")
    return chosen


def _claim_record(claim: Claim) -> dict[str, Any]:
    return {
        "number": claim.number,
        "slug": claim.slug,
        "title": claim.title,
        "statement": claim.statement,
        "source": claim.source,
        "method": claim.method,
        "kind": claim.kind,
        "logic": claim.rules.logic,
        "rule": claim.rule,
        "rules": [r.id for r in claim.rules.rules],
        "references": list(claim.references),
    }


class _DatasetUnavailable(RuntimeError):
    """A dataset a claim needs could not be loaded (the message says why)."""


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _dataset_failure(claim: Claim, ctx: Context) -> str | None:
    """Why a dataset the claim uses does not load (None when all load); each dataset is tried once per run."""
    checks = ctx._shared.setdefault("dataset_checks", {})
    needed = [d for name in claim.datasets for d in (ctx.datasets if name == "*" else (name,))]
    for name in dict.fromkeys(needed):
        if name not in checks:
            checks[name] = check_dataset(name, ctx.data_dir)
        if checks[name] is not None:
            return f"dataset {name!r} did not load: {checks[name]}"
    return None


def _run_claim(claim: Claim, ctx: Context, figures: dict[str, bytes]) -> dict[str, Any]:
    """Run one claim; its record for results.json (figures go into ``figures`` as PNG bytes).

    A claim whose dataset does not load fails alone, with the reason; the others run.
    """
    t0 = time.perf_counter()
    record = _claim_record(claim)
    failure = _dataset_failure(claim, ctx)
    try:
        if failure is not None:
            raise _DatasetUnavailable(failure)
        finding = claim.run(ctx)
    except Exception as exc:  # a broken claim must not sink the report of the others
        error = str(exc) if isinstance(exc, _DatasetUnavailable) else traceback.format_exc()
        if ctx.cached and failure is None:  # the cell files fit their schema; their contents may still not
            error += (
                f"\n{ctx.cached} of the claim's cells were read from the cache in {ctx.cache_dir}: if one "
                f"of those files was edited by hand, delete it (or run with --fresh) to compute it again\n"
            )
        record.update(status="error", verdict="error", reason="", summary="the claim's code raised an error"
                      if failure is None else failure, numbers={}, tables=[], figures=[], discussion="", parts=[],
                      controls=[], published=[], controls_ok=None, error=error)  # fmt: skip
    else:
        figs = []
        for k, f in enumerate(finding.figures, start=1):
            name = f"claim{claim.number:02d}-{claim.slug}-{k}.png"
            figures[name] = _png(f.figure)
            figs.append({"caption": f.caption, "file": name})
        record.update(finding_record(claim, finding))
        record.update(
            status="ok",
            verdict=None,  # set by judge() once every claim's parts are in
            reason=finding.reason,
            summary=finding.summary,
            numbers=finding.numbers,
            tables=[
                {"caption": t.caption, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
                for t in finding.tables
            ],  # fmt: skip
            figures=figs,
            discussion=finding.discussion,
            error=None,
        )
    record["elapsed_s"] = time.perf_counter() - t0
    record["cells"] = {"computed": ctx.computed, "cached": ctx.cached}
    return record


def run_lab(
    *,
    out: str | os.PathLike[str],
    profile: Profile,
    claims: Sequence[Claim],
    datasets: Sequence[str] | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    jobs: int = 1,
    threads: int = 1,
    fresh: bool = False,
    console: Any = None,
    command: str = "losslab lab",
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Run ``claims`` under ``profile`` and write the report into ``out``; returns the results dict.

    A claim that raises is reported with status ``"error"`` and its traceback, and
    the others still run (the CLI then exits non-zero). ``scheduler``: the address of a
    Dask scheduler to run the cells on instead of ``jobs`` local worker processes (an
    unreachable one is a ValueError). KeyboardInterrupt, and SIGTERM as its subclass
    :class:`~losslab.lab.scheduler.Terminated`, propagate once the workers are stopped:
    the cells finished so far stay cached for the next run.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    from .train import pin_threads

    console = console or Console()
    out = Path(out)
    device = resolve_device(device)
    chosen = resolve_datasets(profile, datasets, data_dir)
    data_dir = None if data_dir is None else str(Path(data_dir).resolve())
    if fresh and (out / "cells").exists():
        shutil.rmtree(out / "cells")
    pin_threads(threads)
    started = time.perf_counter()

    records: list[dict[str, Any]] = []
    figures: dict[str, bytes] = {}

    class Clock(ProgressColumn):  # the run's elapsed time on the claims' row, the time left on the cells' row
        elapsed, left = TimeElapsedColumn(), TimeRemainingColumn()

        def render(self, task: Any) -> Any:
            which = task.fields["clock"]
            return Text.assemble(getattr(self, which).render(task), f" {which:<7}")

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), Clock(), TextColumn("{task.fields[detail]}"),
        console=console,
    )  # fmt: skip
    room = max(20, console.width - 48)  # a row wider than the terminal would wrap, and rich loses count of lines
    claims_row = progress.add_task(f"claim 0/{len(claims)}", total=len(claims), detail="", clock="elapsed")
    # The cells' row counts the cells to compute (reused ones take no time and would fool the estimate);
    # its total grows as each claim submits its batches: no claim knows its cells before it runs, so the
    # estimate covers the batches submitted so far.
    cells_row = progress.add_task("cells", total=0, detail="", clock="left")
    batch = {"n": 0, "done": 0, "cached": 0}

    def show_batch() -> None:
        reused = f", {batch['cached']} reused" if batch["cached"] else ""
        progress.update(cells_row, detail=f"{batch['done']}/{batch['n']} cells of this batch{reused}")

    def on_batch(n: int, cached: int) -> None:
        batch.update(n=n, done=cached, cached=cached)
        progress.update(cells_row, total=(progress.tasks[cells_row].total or 0) + n - cached)
        show_batch()

    def on_cell() -> None:
        batch["done"] += 1
        progress.advance(cells_row)
        show_batch()

    base = Context(
        profile=profile,
        datasets=chosen,
        cache_dir=out / "cells",
        device=device,
        data_dir=data_dir,
        jobs=jobs,
        threads=threads,
        scheduler=scheduler,
        on_batch=on_batch,
        on_cell=on_cell,
        on_note=lambda line: progress.console.print(line, markup=False, highlight=False),
    )
    with sigterm_as_interrupt():
        try:
            base.start()  # before the progress shows: a bad --scheduler is a one-line error
            with progress:
                try:
                    for k, claim in enumerate(claims, start=1):
                        title = claim.title if len(claim.title) <= room else claim.title[: room - 1] + "…"
                        progress.update(claims_row, description=f"claim {k}/{len(claims)}", detail=escape(title))
                        records.append(_run_claim(claim, base.for_claim(claim.slug), figures))
                        progress.advance(claims_row)
                except KeyboardInterrupt:
                    for row in (claims_row, cells_row):  # the caller says in one line what is kept
                        progress.update(row, visible=False)
                    raise
        except BaseException:
            base.close(abort=True)  # running cells are lost, finished ones are cached
            raise
        base.close()

    judged = judge(records)
    results = jsonable(
        {
            "schema_version": SCHEMA_VERSION,
            "losslab_version": __version__,
            "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "elapsed_s": time.perf_counter() - started,
            "config": {
                "profile": profile.to_dict(),
                "claims": [c.number for c in claims],
                "datasets": list(chosen),
                "data_dir": data_dir,
                "device": device,
                "jobs": jobs,
                "threads": threads,
                "command": command,
                "scheduler": scheduler,
            },
            "versions": versions(),
            "rules_sha256": rules_sha256(),
            "alpha": judged["alpha"],
            "holm_tests": judged["holm_tests"],
            "tally": judged["tally"],
            "statements": statement_records(records),
            "claims": records,
        }
    )
    uris = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii") for name, png in figures.items()}
    for name, png in figures.items():
        atomic_write(out / "figures" / name, png)
    atomic_write(out / "results.json", json.dumps(results, indent=1, allow_nan=False))
    atomic_write(out / "summary.md", render_markdown(results))
    atomic_write(out / "index.html", render_html(results, uris))
    return results
