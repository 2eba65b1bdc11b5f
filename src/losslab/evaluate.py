"""``losslab evaluate``: score a file of model predictions (and optionally calibrate them).

Input formats (chosen by the file's extension):

* ``.csv``: a header row; the label column is named by ``label_column``;
  every other column is a score column, in header order. Blank lines are skipped.
* ``.npy``: a 2-d array whose LAST column is the label; the other columns are scores.
* ``.npz``: arrays ``"scores"`` (n, C) or (n,) and ``"labels"`` (n,) (or the array
  named by ``label_column`` when the archive holds one of that name).
* ``.parquet``: as CSV, read with pyarrow (needed only for this format).

One score column is a binary problem (the probability or logit of class 1); C >= 2
columns are C classes. Labels are integer class indices (``0..C-1``; ``0/1`` for one
column). Scores are probabilities when every value is in [0, 1] and (for C >= 2) every
row sums to 1 within ``PROB_ROW_TOL``; otherwise they are logits (softmax, or the
sigmoid for one column). Rows off by more than the library's rounding tolerance but
within ``PROB_ROW_TOL`` are renormalised (and the assumptions say so).

Row numbers in messages are 1-based data rows (the CSV header is not a data row;
CSV messages also give the file's line number).

Everything is read and computed in memory before anything is written; the outputs
(``metrics.json``, ``report.html``) are written to temporary files in the output
directory and then moved into place with :func:`os.replace`, so a failure leaves no
partial output. .csv, .parquet and .npy files larger than ``STREAM_BYTES`` (or any of them, with
``chunk_rows`` / ``--chunk-rows``) are instead streamed in bounded memory: see :mod:`losslab.evaluation.streaming`
(the same metrics and intervals; probabilities vs logits decided from the first chunk).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import reliability_curve
from .evaluation._checks import _labels
from .evaluation.calibrate import CALIBRATORS, calibrate, fit_calibrator
from .evaluation.interpret import PROB_ROW_TOL as PROB_ROW_TOL
from .evaluation.interpret import Interpretation as Interpretation
from .evaluation.interpret import interpret
from .evaluation.metrics import CONFIDENCE, MetricAccumulator, bootstrap_description, compute_metrics
from .evaluation.reading import EvaluateError, Predictions, read_predictions
from .evaluation.report import METRIC_ROWS as METRIC_ROWS
from .evaluation.report import metric_rows, render_html
from .evaluation.sources import STREAMABLE, open_source
from .evaluation.streaming import DEFAULT_CHUNK_ROWS as DEFAULT_CHUNK_ROWS
from .evaluation.streaming import STREAM_BYTES, ChunkInterpreter, auto_chunk_rows

__all__ = ["CALIBRATORS", "EvaluateError", "Predictions", "evaluate", "read_predictions", "write_outputs"]
# also re-exported for callers of the former single module: PROB_ROW_TOL, CONFIDENCE, Interpretation, interpret,
# compute_metrics, calibrate, metric_rows, METRIC_ROWS, render_html

LARGE_FILE_BYTES = 20 * 2**20  # show a spinner while reading/computing files larger than this


def write_outputs(out_dir: str | os.PathLike, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (name -> text) into ``out_dir`` atomically: all or nothing.

    Each file goes to a temporary name in ``out_dir`` first; only when every one is
    written are they moved into place with :func:`os.replace`. On failure the
    temporaries (and ``out_dir`` itself, when this call created it) are removed.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "out")
    >>> [p.name for p in write_outputs(out, {"a.txt": "hello"})]
    ['a.txt']
    """
    out = Path(out_dir)
    created = not out.exists()
    temps: list[tuple[str, Path]] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
            temps.append((name, Path(tmp)))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600
        done = []
        for name, tmp in temps:
            os.replace(tmp, out / name)
            done.append(out / name)
        return done
    except OSError as exc:
        for _, tmp in temps:
            tmp.unlink(missing_ok=True)
        if created and out.exists() and not any(out.iterdir()):
            out.rmdir()
        raise EvaluateError(f"could not write the outputs to {out}: {exc}") from None


# --------------------------------------------------------------------- main
def _result(path, label_column, score_columns, one, interp, notes, metrics, options) -> dict[str, Any]:
    """The JSON-ready result (before calibration) shared by the in-memory and streaming paths."""
    from . import __version__

    C = 2 if one else len(score_columns)
    task = "binary" if C == 2 else "multiclass"
    layout = (
        "one score column: the score of class 1"
        if one
        else f"{C} score columns ({', '.join(score_columns)}): column k is class k"
    )
    brier_note = (
        "Brier score: binary (p - y)^2 on the probability of class 1"
        if one
        else "Brier score: summed over the classes"
        + (" (a two-column binary file scores twice the one-column value)" if C == 2 else "")
    )
    return {
        "losslab_version": __version__,
        "predictions": str(path),
        "label_column": label_column,
        "n_classes": C,
        "assumptions": {
            "input": interp.kind,
            "reason": interp.reason,
            "forced": interp.forced,
            "task": f"{task}, {C} classes",
            "layout": layout,
            "accuracy": "argmax of the probabilities (one column: p > 0.5)",
            "notes": [*notes, brier_note, bootstrap_description(options["n_resamples"], options["seed"])],
        },
        "options": {"binning": "uniform", "confidence": CONFIDENCE, **options},
        "metrics": metrics,
        "calibration": None,
    }


def _read_calibration(calibration_file, label_column, path: Path, n_cols: int) -> Predictions:
    """The calibration file, read whole; it must score the same classes as the evaluated file."""
    cal_pred = read_predictions(calibration_file, label_column)
    cal_cols = 1 if cal_pred.scores.ndim == 1 else cal_pred.scores.shape[1]
    if cal_cols != n_cols:
        raise EvaluateError(
            f"{cal_pred.path.name}: {cal_cols} score columns, but {path.name} has {n_cols}; "
            f"the calibration file must score the same classes in the same order"
        )
    return cal_pred


def _calibration_entry(method: str, cal_pred: Predictions, params: dict, metrics: dict) -> dict[str, Any]:
    return {
        "method": method,
        "calibration_file": str(cal_pred.path),
        "n_calibration": int(cal_pred.labels.shape[0]),
        "params": params,
        "metrics": metrics,
    }


def evaluate(
    predictions: str | os.PathLike,
    *,
    label_column: str | None,
    mode: str | None = None,
    calibrate_method: str | None = None,
    calibration_file: str | os.PathLike | None = None,
    n_bins: int = 15,
    seed: int = 0,
    n_resamples: int = 1000,
    chunk_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, detect, compute. Returns ``(result, curves)``: the JSON-ready result and reliability curves.

    ``chunk_rows``: stream a CSV file ``chunk_rows`` rows at a time (see :mod:`losslab.evaluation.streaming`);
    None streams .csv/.parquet/.npy files larger than ``STREAM_BYTES`` in chunks of ``DEFAULT_CHUNK_ROWS`` rows
    (fewer for files with many columns: :func:`~losslab.evaluation.streaming.auto_chunk_rows`).
    ``progress(rows_read, rows_expected)`` is called as the rows are read (a progress bar).

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> np.savez(path, scores=np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4]]), labels=np.array([1, 0, 1]))
    >>> result, curves = evaluate(path, label_column=None, n_resamples=10)
    >>> sorted(result)[:3]
    ['assumptions', 'calibration', 'label_column']
    """
    if (calibrate_method is None) != (calibration_file is None):
        raise EvaluateError("--calibrate and --calibration-file go together: pass both (or neither)")
    path = Path(predictions)
    ext = path.suffix.lower()
    if chunk_rows is not None and ext not in STREAMABLE:
        raise EvaluateError(
            f"{path.name}: --chunk-rows streams {', '.join(STREAMABLE)} files; {ext or 'this file'} is read whole"
        )
    if chunk_rows is None and ext in STREAMABLE and path.is_file() and path.stat().st_size > STREAM_BYTES:
        chunk_rows = auto_chunk_rows(len(open_source(path, label_column).header))
    options = {"n_bins": n_bins, "n_resamples": n_resamples, "seed": seed, "chunk_rows": chunk_rows}
    if chunk_rows is not None:
        return _evaluate_streaming(path, label_column, mode, calibrate_method, calibration_file, options, progress)
    pred = read_predictions(predictions, label_column, progress=progress)
    interp = interpret(pred, mode)
    one = pred.scores.ndim == 1
    metrics = compute_metrics(interp.probs, pred.labels, n_bins=n_bins, n_resamples=n_resamples, seed=seed)
    result = _result(pred.path, pred.label_column, pred.score_columns, one, interp, interp.notes, metrics, options)
    curves: dict[str, Any] = {"before": reliability_curve(interp.probs, pred.labels, n_bins=n_bins)}
    if calibrate_method is not None:
        cal_pred = _read_calibration(calibration_file, label_column, pred.path, 1 if one else pred.scores.shape[1])
        cal_interp = interpret(cal_pred, "logits" if interp.kind == "logits" else "probs")
        P_after, params, notes = calibrate(calibrate_method, cal_interp, cal_pred.labels, interp, n_bins=n_bins)
        result["assumptions"]["notes"].extend(notes)
        after = compute_metrics(P_after, pred.labels, n_bins=n_bins, n_resamples=n_resamples, seed=seed)
        result["calibration"] = _calibration_entry(calibrate_method, cal_pred, params, after)
        curves["after"] = reliability_curve(P_after, pred.labels, n_bins=n_bins)
        curves["method"] = calibrate_method
    return result, curves


def _evaluate_streaming(path: Path, label_column, mode, calibrate_method, calibration_file, options, progress=None):
    """:func:`evaluate` of a file read ``options["chunk_rows"]`` rows at a time (bounded memory)."""
    n_bins, chunk_rows = options["n_bins"], options["chunk_rows"]
    source = open_source(path, label_column)
    j, names, label_name = source.label, source.score_columns, source.label_name
    expected = source.estimated_rows() if progress is not None else 0
    one = len(names) == 1
    C = 2 if one else len(names)
    judge = ChunkInterpreter(path, mode, chunk_rows)
    before = MetricAccumulator(n_bins)
    after = fitted = cal_pred = None
    interp = None
    for first_row, table in source.chunks(chunk_rows):
        scores = np.delete(table, j, axis=1)
        scores = scores[:, 0] if one else scores
        y = _labels(path, table[:, j], C, label_name, first_row)
        interp = judge(scores, first_row)
        before.update(interp.probs, y)
        if calibrate_method is not None:
            if fitted is None:
                cal_pred = _read_calibration(calibration_file, label_column, path, len(names))
                cal_interp = interpret(cal_pred, "logits" if interp.kind == "logits" else "probs")
                fitted = fit_calibrator(calibrate_method, cal_interp, cal_pred.labels, n_bins=n_bins)
                after = MetricAccumulator(n_bins)
            after.update(fitted.apply(interp), y)
        if progress is not None:
            done = first_row - 1 + y.shape[0]
            progress(done, max(expected, done))
    n_resamples, seed = options["n_resamples"], options["seed"]
    notes = [*judge.notes, f"streamed in chunks of {chunk_rows} rows"]
    result = _result(path, label_name, names, one, interp, notes, before.result(n_resamples=n_resamples, seed=seed),
                     options)  # fmt: skip
    curves: dict[str, Any] = {"before": before.top.reliability_curve()}
    if fitted is not None:
        result["assumptions"]["notes"].extend(fitted.notes)
        after_metrics = after.result(n_resamples=n_resamples, seed=seed)
        result["calibration"] = _calibration_entry(calibrate_method, cal_pred, fitted.params, after_metrics)
        curves["after"] = after.top.reliability_curve()
        curves["method"] = calibrate_method
    return result, curves


def run(
    predictions: str,
    *,
    out: str,
    console: Any,
    err_console: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """The ``losslab evaluate`` command: evaluate, print, write ``metrics.json`` and ``report.html``."""
    from rich.markup import escape
    from rich.table import Table

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
                bar.update(task, completed=done, total=expected)

            result, curves = evaluate(predictions, progress=progress, **kwargs)
            bar.update(task, description="writing the report", total=result["metrics"]["n"])
            report = render_html(result, curves)
    else:
        result, curves = evaluate(predictions, **kwargs)
        report = render_html(result, curves)
    a = result["assumptions"]
    console.print(f"Assumed {escape(a['input'])}: {escape(a['reason'])}.")
    for note in a["notes"]:
        console.print(f"Note: {escape(note)}.")
    cols, rows = metric_rows(result)
    table = Table(title=escape(f"losslab evaluate: {Path(predictions).name} ({a['task']})"))
    for i, c in enumerate(cols):
        table.add_column(escape(c), justify="left" if i == 0 else "right", no_wrap=i > 0)
    for r in rows:
        table.add_row(*(escape(v) for v in r))
    console.print(table)
    cal = result["calibration"]
    if cal:
        shown = {k: v for k, v in cal["params"].items() if not isinstance(v, (list, str)) or len(str(v)) < 80}
        console.print(f"{escape(cal['method'])} calibrator fitted parameters: {escape(json.dumps(shown))}")
    written = write_outputs(out, {"metrics.json": json.dumps(result, indent=2, allow_nan=False) + "\n",
                                  "report.html": report})  # fmt: skip
    console.print("Wrote " + ", ".join(escape(str(p)) for p in written))
    return result
