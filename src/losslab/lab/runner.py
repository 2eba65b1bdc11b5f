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
from .data import BUNDLED, DATASETS, IDX_DATASETS
from .profiles import Profile
from .registry import Claim
from .report import jsonable, render_html, render_markdown

__all__ = ["SCHEMA_VERSION", "resolve_datasets", "resolve_device", "run_lab", "versions"]

#: Bumped whenever results.json changes shape.
SCHEMA_VERSION = 1


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

    >>> from losslab.lab.profiles import PROFILES
    >>> resolve_datasets(PROFILES["quick"], None, None)
    ('digits', 'breast_cancer')
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
        "method": claim.method,
        "rule": claim.rule,
        "references": list(claim.references),
    }


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _run_claim(claim: Claim, ctx: Context, figures: dict[str, bytes]) -> dict[str, Any]:
    """Run one claim; its record for results.json (figures go into ``figures`` as PNG bytes)."""
    t0 = time.perf_counter()
    record = _claim_record(claim)
    try:
        finding = claim.run(ctx)
    except Exception:  # a broken claim must not sink the report of the others
        record.update(status="error", verdict="error", reason="", summary="the claim's code raised an error",
                      numbers={}, tables=[], figures=[], discussion="", error=traceback.format_exc())  # fmt: skip
    else:
        figs = []
        for k, f in enumerate(finding.figures, start=1):
            name = f"claim{claim.number:02d}-{claim.slug}-{k}.png"
            figures[name] = _png(f.figure)
            figs.append({"caption": f.caption, "file": name})
        record.update(
            status="ok",
            verdict=finding.verdict,
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
) -> dict[str, Any]:
    """Run ``claims`` under ``profile`` and write the report into ``out``; returns the results dict.

    A claim that raises is reported with status ``"error"`` and its traceback, and
    the others still run (the CLI then exits non-zero). KeyboardInterrupt propagates:
    the cells finished so far stay cached for the next run.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[cell]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("claims", total=len(claims), cell="")
        counts = {"computed": 0, "cached": 0}

        def on_cell(key: str, cached: bool) -> None:
            counts["cached" if cached else "computed"] += 1
            progress.update(task, cell=f"cells: {counts['computed']} run, {counts['cached']} reused ({key})")

        base = Context(
            profile=profile,
            datasets=chosen,
            cache_dir=out / "cells",
            device=device,
            data_dir=data_dir,
            jobs=jobs,
            threads=threads,
            on_cell=on_cell,
        )
        try:
            for claim in claims:
                progress.update(task, description=f"claim {claim.number}: {claim.slug}")
                records.append(_run_claim(claim, base.for_claim(claim.slug), figures))
                progress.advance(task)
        finally:
            base.close()

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
            },
            "versions": versions(),
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
