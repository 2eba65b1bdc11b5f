"""The ``losslab evaluate`` pipeline: read -> interpret -> score (-> calibrate) -> report, in chunks of rows.

A file is read whole, or streamed ``chunk_rows`` rows at a time when it is larger than ``STREAM_BYTES``
(compressed files count ``COMPRESSED_RATIO`` times their size) or when ``chunk_rows`` / ``--chunk-rows`` is
given: at most one chunk of rows is held at once, every chunk goes to the same
:class:`~losslab.evaluation.score.MetricAccumulator` that scores a file read whole, so the numbers are the
same to rounding. Probabilities vs logits is then decided from the first chunk
(:mod:`losslab.evaluation.interpret`). ``--calibrate`` fits the calibrator on the calibration file read
whole (a held-out set, normally small) and applies it to every chunk: every calibrator maps rows
independently. Memory for the sums is planned before anything is allocated
(:func:`~losslab.evaluation.score.plan_memory`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .calibrate import CALIBRATORS, fit_calibrator, transfer_warnings
from .errors import EvaluateError
from .interpret import Interpreter
from .outputs import prepare_out, write_outputs
from .read import STREAMABLE, ReadOptions, Source, file_format, is_compressed, open_source
from .report import print_summary, render_html
from .score import MetricAccumulator, bootstrap_description, plan_memory

STREAM_BYTES = 256 * 2**20  # files larger than this are streamed without --chunk-rows
COMPRESSED_RATIO = 8  # a compressed file counts this many times its size
DEFAULT_CHUNK_ROWS = 65_536
CHUNK_ELEMENTS = 1 << 20  # cells per automatic chunk: wide files (many classes) get fewer rows per chunk
MIN_CHUNK_ROWS = 1_024  # enough rows for the first chunk to decide probabilities vs logits
LARGE_FILE_BYTES = 20 * 2**20  # show a progress bar while reading files larger than this


def auto_chunk_rows(n_columns: int) -> int:
    """Rows per chunk when a large file is streamed without --chunk-rows: ``DEFAULT_CHUNK_ROWS``,
    fewer for wide files so that a chunk and its temporaries stay ~8 MiB per array."""
    return min(DEFAULT_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(1, n_columns)))


def _check_int(option: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EvaluateError(f"{option} {value!r}: must be an integer >= {low}")
    return value


def _layout(src: Source) -> str:
    names, classes = src.score_columns, src.coder.classes
    if src.one:
        return f"one score column ({names[0]}): the score of class 1" + (f" ({classes[1]!r})" if classes else "")
    if classes:
        pairs = ", ".join(f"{n} = {c!r}" for n, c in zip(names[:20], classes[:20], strict=True))
        return f"{len(names)} score columns, one per class: {pairs}{', ...' if len(names) > 20 else ''}"
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"{len(names)} score columns ({shown}): column k is class k"


def _result(src: Source, judge: Interpreter, notes, warnings, metrics, options) -> dict[str, Any]:
    """The JSON-ready result (before calibration)."""
    from .. import __version__

    C, one = src.n_classes, src.one
    task = "binary" if C == 2 else "multiclass"
    brier_note = (
        "Brier score: binary (p - y)^2 on the probability of class 1"
        if one
        else "Brier score: summed over the classes"
        + (" (a two-column binary file scores twice the one-column value)" if C == 2 else "")
    )
    return {
        "losslab_version": __version__,
        "predictions": str(src.path),
        "label_column": src.label_name,
        "score_columns": src.score_columns,
        "n_classes": C,
        "classes": src.coder.classes,
        "assumptions": {
            "input": judge.kind,
            "reason": judge.reason,
            "forced": judge.mode is not None,
            "task": f"{task}, {C} classes",
            "layout": _layout(src),
            "classes": src.coder.classes,
            "class_mapping": src.coder.how or "class indices",
            "accuracy": "argmax of the probabilities (one column: p > 0.5)",
            "warnings": warnings,
            "notes": [*notes, brier_note, bootstrap_description(options["n_resamples"], options["seed"])],
        },
        "options": {"binning": "uniform", "confidence": 0.95, **options},
        "metrics": metrics,
        "calibration": None,
    }


def _calibration_source(calibration_file, opts: ReadOptions, src: Source) -> Source:
    """The calibration file: the same reading options, classes and number of score columns."""
    if src.coder.classes is not None and src.coder.kind == "text":
        opts = dataclasses.replace(opts, classes=src.coder.classes)
    cal = open_source(calibration_file, opts)
    kinds = {"integer": "class indices", "boolean": "booleans", "text": "class names"}
    if cal.coder.kind != src.coder.kind and src.coder.kind != "text":
        raise EvaluateError(f"{cal.path.name}: its labels are {kinds[cal.coder.kind]} but those of {src.path.name} "
                            f"are {kinds[src.coder.kind]}; label both files the same way")  # fmt: skip
    if len(cal.score_columns) != len(src.score_columns):
        raise EvaluateError(f"{cal.path.name}: {len(cal.score_columns)} score columns, but {src.path.name} has "
                            f"{len(src.score_columns)}; the calibration file must score the same classes in the same "
                            f"order")  # fmt: skip
    return cal


def evaluate(
    predictions: str | os.PathLike,
    *,
    label_column: str | None = None,
    mode: str | None = None,
    calibrate_method: str | None = None,
    calibration_file: str | os.PathLike | None = None,
    n_bins: int = 15,
    seed: int = 0,
    n_resamples: int = 1000,
    chunk_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    score_columns=None,
    ignore_columns=None,
    classes=None,
    header: bool | None = None,
    encoding: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, interpret, score (and calibrate). Returns ``(result, curves)``: the JSON-ready result and the
    reliability curves. The reading options are those of :class:`~losslab.evaluation.read.ReadOptions`.

    ``progress(rows_read, rows_expected)`` is called as the rows are read (a progress bar).

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> np.savez(path, scores=np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4]]), labels=np.array([1, 0, 1]))
    >>> result, curves = evaluate(path, n_resamples=10)
    >>> sorted(result)[:3]
    ['assumptions', 'calibration', 'classes']
    """
    if (calibrate_method is None) != (calibration_file is None):
        raise EvaluateError("--calibrate and --calibration-file go together: pass both (or neither)")
    if calibrate_method is not None and calibrate_method not in CALIBRATORS:
        raise EvaluateError(f"--calibrate {calibrate_method!r}: not a calibrator; use one of {', '.join(CALIBRATORS)}")
    if mode not in (None, "probs", "logits"):
        raise EvaluateError(f"mode {mode!r}: use 'probs' (--probs), 'logits' (--logits) or None (detect)")
    n_bins, n_resamples = _check_int("--n-bins", n_bins, 1), _check_int("--n-resamples", n_resamples, 1)
    seed = _check_int("--seed", seed, 0)
    if chunk_rows is not None:
        chunk_rows = _check_int("--chunk-rows", chunk_rows, 1)
    opts = ReadOptions.make(label_column, score_columns, ignore_columns, classes, header, encoding)
    path = Path(predictions)
    src = open_source(path, opts)
    ext = file_format(path)
    if chunk_rows is not None and ext not in STREAMABLE:
        raise EvaluateError(f"{path.name}: --chunk-rows streams {', '.join(STREAMABLE)} files; {ext} is read whole")
    plan = plan_memory(len(src.score_columns), n_bins, n_resamples)
    size = path.stat().st_size * (COMPRESSED_RATIO if is_compressed(path) else 1)
    if chunk_rows is None and ext in STREAMABLE and size > STREAM_BYTES:
        chunk_rows = auto_chunk_rows(src.n_columns)
    options = {"n_bins": n_bins, "n_resamples": n_resamples, "seed": seed, "chunk_rows": chunk_rows}
    judge = Interpreter(path, mode, src.score_columns, chunk_rows)
    before = MetricAccumulator(n_bins, plan=plan)
    after = fitted = cal = cal_judge = None
    expected = src.estimated_rows() if progress is not None else 0
    if chunk_rows is None:
        on_chunk = None if progress is None else (lambda done: progress(done, max(expected, done)))
        chunks = iter([(1, *src.read_all(on_chunk))])
    else:
        chunks = src.chunks(chunk_rows)
    for first_row, scores, y in chunks:
        interp = judge(scores, first_row)
        before.update(interp.probs, y)
        if calibrate_method is not None:
            if fitted is None:
                cal = _calibration_source(calibration_file, opts, src)
                cal_scores, cal_y = cal.read_all()
                cal_judge = Interpreter(cal.path, mode, cal.score_columns)
                cal_interp = cal_judge(cal_scores)
                if cal_interp.kind != interp.kind:
                    raise EvaluateError(
                        f"{cal.path.name} reads as {cal_interp.kind} ({cal_judge.reason}) but {path.name} as "
                        f"{interp.kind}; the calibration file must hold the same kind of scores: pass --logits or "
                        f"--probs to say which they are"
                    )
                fitted = fit_calibrator(calibrate_method, cal_interp, cal_y, n_bins=n_bins, source=cal.path.name)
                fitted.n_rows = int(cal_y.shape[0])
                after = MetricAccumulator(n_bins, plan=plan)
            assert after is not None  # set with fitted, on the first chunk
            after.update(fitted.apply(interp), y)
        if progress is not None and chunk_rows is not None:
            done = first_row - 1 + y.shape[0]
            progress(done, max(expected, done))
    notes = [*src.notes, *plan.notes, *judge.notes]
    warnings = list(judge.warnings)
    if chunk_rows is not None:
        notes.append(f"streamed in chunks of {chunk_rows} rows")
    metrics = before.result(n_resamples=n_resamples, seed=seed)
    result = _result(src, judge, notes, warnings, metrics, options)
    curves: dict[str, Any] = {"before": before.top.reliability_curve()}
    if fitted is not None:
        # fitted, after, cal and cal_judge are set together, and only when calibrate_method is given
        assert after is not None and cal is not None and cal_judge is not None and calibrate_method is not None
        after_metrics = after.result(n_resamples=n_resamples, seed=seed)
        notes.extend(fitted.notes + [f"{cal.path.name}: {n}" for n in cal.notes + cal_judge.notes])
        warnings.extend([f"{cal.path.name}: {w}" for w in cal_judge.warnings] + fitted.warnings
                        + transfer_warnings(calibrate_method, metrics, after_metrics, path.name))  # fmt: skip
        result["calibration"] = {"method": calibrate_method, "calibration_file": str(cal.path),
                                 "n_calibration": fitted.n_rows, "params": fitted.params, "metrics": after_metrics,
                                 "warnings": list(fitted.warnings)}  # fmt: skip
        curves["after"] = after.top.reliability_curve()
        curves["method"] = calibrate_method
    return result, curves


def run(predictions: str, *, out: str, console: Any, err_console: Any, **kwargs: Any) -> dict[str, Any]:
    """The ``losslab evaluate`` command: evaluate, print, write ``metrics.json`` and ``report.html``."""
    prepare_out(out)  # a bad --out fails before the work, not after it
    try:
        return _run(predictions, out, console, err_console, kwargs)
    except MemoryError:
        raise EvaluateError(f"{Path(predictions).name}: out of memory; stream the file in chunks of rows "
                            f"(--chunk-rows 65536)") from None  # fmt: skip
    except OSError as exc:  # the readers name their files; this is the last net (a disk error, a permission)
        where = exc.filename or predictions
        raise EvaluateError(f"{where}: {exc.strerror or exc}; check the file and the disk") from None


def _run(predictions, out, console, err_console, kwargs) -> dict[str, Any]:
    from rich.markup import escape

    try:
        large = os.path.getsize(predictions) > LARGE_FILE_BYTES
    except OSError:
        large = False
    if large:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task(f"reading {escape(Path(predictions).name)}", total=None)

            def progress(done: int, expected: int) -> None:
                bar.update(task, completed=done, total=expected or None)

            result, curves = evaluate(predictions, progress=progress, **kwargs)
            bar.update(task, description="writing the report", total=result["metrics"]["n"])
            report = render_html(result, curves)
    else:
        result, curves = evaluate(predictions, **kwargs)
        report = render_html(result, curves)
    print_summary(result, console, Path(predictions).name)
    written = write_outputs(out, {"metrics.json": json.dumps(result, indent=2, allow_nan=False) + "\n",
                                  "report.html": report})  # fmt: skip
    console.print("Wrote " + ", ".join(escape(str(p)) for p in written))
    return result
