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
partial output. Streaming evaluation of files larger than memory is not implemented
(:class:`losslab.calibration.CalibrationState` provides the mergeable accumulator).
"""

from __future__ import annotations

import csv
import functools
import html
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import array_api_compat.numpy as xnp
import click
import numpy as np

from ._array import sigmoid, softmax
from ._validation import row_sum_tolerance
from .calibration import (
    DirichletCalibration,
    HistogramBinning,
    IsotonicCalibration,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
    bootstrap_ci,
    brier_decomposition,
    ece,
    reliability_curve,
)
from .losses import brier_score, log_loss

__all__ = ["CALIBRATORS", "EvaluateError", "Predictions", "evaluate", "read_predictions", "write_outputs"]

PROB_ROW_TOL = 1e-3  # probability rows may sum to 1 +- this (probabilities written with few decimals)
LARGE_FILE_BYTES = 20 * 2**20  # show a spinner while reading/computing files larger than this
CONFIDENCE = 0.95

# name -> (class, input it needs: "logits" or "probs")
CALIBRATORS: dict[str, tuple[type, str]] = {
    "temperature": (TemperatureScaling, "logits"),
    "platt": (PlattScaling, "logits"),
    "vector": (VectorScaling, "logits"),
    "matrix": (MatrixScaling, "logits"),
    "dirichlet": (DirichletCalibration, "probs"),
    "isotonic": (IsotonicCalibration, "probs"),
    "histogram": (HistogramBinning, "probs"),
}


class EvaluateError(click.ClickException):
    """A bad input file or option: printed as ``Error: ...``, exit code 2."""

    exit_code = 2


# ------------------------------------------------------------------ reading
@dataclass
class Predictions:
    """Scores (n,) for one column or (n, C), integer labels (n,), and where they came from."""

    path: Path
    scores: np.ndarray
    labels: np.ndarray
    score_columns: list[str]
    label_column: str

    @property
    def n_classes(self) -> int:
        return 2 if self.scores.ndim == 1 else self.scores.shape[1]


def _number(path: Path, value: str, row: int, column: str, line: int | None = None) -> float:
    where = f"{path.name}: row {row}" + (f" (line {line})" if line is not None else "") + f", column {column!r}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        shown = "an empty cell" if str(value).strip() == "" else repr(value)
        raise EvaluateError(f"{where}: {shown} is not a number; every score and label cell must be numeric") from None
    if not math.isfinite(x):
        raise EvaluateError(f"{where}: {value!r} is not finite; scores and labels must be finite numbers")
    return x


def _read_csv(path: Path, label_column: str | None) -> tuple[list[str], np.ndarray]:
    """Header and a float64 (n, k) table; cells checked with file/row/line/column in the message."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise EvaluateError(f"{path.name}: the file is empty; expected a header row, then one row per sample")
        header = [h.strip() for h in header]
        _check_label_column(path, header, label_column)
        rows: list[list[float]] = []
        for row in reader:
            if not row:
                continue
            i = len(rows) + 1
            if len(row) != len(header):
                raise EvaluateError(
                    f"{path.name}: row {i} (line {reader.line_num}) has {len(row)} fields but the header has "
                    f"{len(header)}; the file is truncated or malformed"
                )
            rows.append([_number(path, v, i, c, reader.line_num) for v, c in zip(row, header, strict=True)])
    if not rows:
        raise EvaluateError(f"{path.name}: no data rows after the header; the file holds no predictions")
    return header, np.asarray(rows, dtype=np.float64)


def _check_label_column(path: Path, header: list[str], label_column: str | None) -> None:
    if label_column is None:
        raise EvaluateError(f"{path.name}: pass --label-column to name the column of true labels")
    if label_column not in header:
        raise EvaluateError(
            f"{path.name}: label column {label_column!r} not found; the columns are "
            f"{', '.join(repr(h) for h in header)}. Pass --label-column with one of them"
        )
    if len(header) < 2:
        raise EvaluateError(f"{path.name}: only the label column {label_column!r}; expected score columns as well")


def _read_parquet(path: Path, label_column: str | None) -> tuple[list[str], np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise EvaluateError(
            f"{path.name}: reading .parquet files needs pyarrow, which is not installed; "
            f"install it (pip install pyarrow) or convert the file to .csv, .npy or .npz"
        ) from None
    table = pq.read_table(path)
    header = list(table.column_names)
    _check_label_column(path, header, label_column)
    if table.num_rows == 0:
        raise EvaluateError(f"{path.name}: no data rows; the file holds no predictions")
    cols = []
    for name in header:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(np.asarray(col.is_null()))[0]) + 1
            raise EvaluateError(f"{path.name}: row {row}, column {name!r}: missing value; every cell must be numeric")
        values = col.to_numpy(zero_copy_only=False)
        if values.dtype.kind not in "biuf":
            raise EvaluateError(f"{path.name}: column {name!r} has type {col.type}; every column must be numeric")
        cols.append(np.asarray(values, dtype=np.float64))
    return header, np.stack(cols, axis=1)


def _check_finite(path: Path, a: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise EvaluateError(
            f"{path.name}: row {r + 1}, column {names[c]!r}: {float(a[r, c])!r} is not finite; "
            f"scores and labels must be finite numbers"
        )


def _labels(path: Path, y: np.ndarray, n_classes: int, column: str) -> np.ndarray:
    """Float labels -> int64 class indices in [0, n_classes - 1], or an error naming the first bad row."""
    non_int = y != np.round(y)
    if non_int.any():
        r = int(np.flatnonzero(non_int)[0])
        raise EvaluateError(
            f"{path.name}: row {r + 1}, column {column!r}: label {float(y[r])!r} is not an integer; "
            f"labels must be class indices 0..{n_classes - 1}"
        )
    out = y.astype(np.int64)
    bad = (out < 0) | (out >= n_classes)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise EvaluateError(
            f"{path.name}: row {r + 1}, column {column!r}: label {out[r]} is outside the classes 0..{n_classes - 1} "
            f"(one class per score column; 0 or 1 for a single column)"
        )
    return out


def read_predictions(path: str | os.PathLike, label_column: str | None = None) -> Predictions:
    """Read scores and labels from .csv, .npy, .npz or .parquet (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"{path}: no such file")
    ext = path.suffix.lower()
    if ext in (".csv", ".parquet"):
        header, table = (_read_csv if ext == ".csv" else _read_parquet)(path, label_column)
        _check_finite(path, table, header)
        j = header.index(label_column)
        names = [h for k, h in enumerate(header) if k != j]
        scores, y, label_name = np.delete(table, j, axis=1), table[:, j], label_column
    elif ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise EvaluateError(f"{path.name}: not a readable .npy file ({exc}); it may be truncated") from None
        if a.ndim != 2 or a.shape[1] < 2:
            raise EvaluateError(
                f"{path.name}: a .npy file must hold a 2-d array (scores..., label) with the label in the LAST "
                f"column; got shape {a.shape}"
            )
        if a.shape[0] == 0:
            raise EvaluateError(f"{path.name}: the array has no rows; the file holds no predictions")
        if a.dtype.kind not in "biuf":
            raise EvaluateError(f"{path.name}: the array has dtype {a.dtype}; it must be numeric")
        a = a.astype(np.float64)
        names = [f"score_{k}" for k in range(a.shape[1] - 1)]
        _check_finite(path, a, names + ["label (last column)"])
        scores, y, label_name = a[:, :-1], a[:, -1], "label (last column)"
    elif ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError) as exc:
            raise EvaluateError(f"{path.name}: not a readable .npz file ({exc}); it may be truncated") from None
        label_name = label_column if label_column in arrays else "labels"
        for key in ("scores", label_name):
            if key not in arrays:
                raise EvaluateError(
                    f"{path.name}: no array {key!r}; a .npz file needs arrays 'scores' (n, C) or (n,) and "
                    f"'labels' (n,); it holds {sorted(arrays) or 'nothing'}"
                )
        s, y = arrays["scores"], arrays[label_name]
        if s.ndim not in (1, 2) or y.ndim != 1 or s.shape[0] != y.shape[0]:
            raise EvaluateError(
                f"{path.name}: 'scores' must have shape (n, C) or (n,) and {label_name!r} shape (n,); got "
                f"{s.shape} and {y.shape}"
            )
        if s.shape[0] == 0:
            raise EvaluateError(f"{path.name}: the arrays have no rows; the file holds no predictions")
        for key, arr in (("scores", s), (label_name, y)):
            if arr.dtype.kind not in "biuf":
                raise EvaluateError(f"{path.name}: array {key!r} has dtype {arr.dtype}; it must be numeric")
        s2 = s.reshape(s.shape[0], -1).astype(np.float64)
        names = [f"scores[:, {k}]" for k in range(s2.shape[1])]
        _check_finite(path, np.column_stack([s2, y.astype(np.float64)]), names + [label_name])
        scores, y = s2, y.astype(np.float64)
    else:
        raise EvaluateError(f"{path.name}: unknown file type {ext or '(none)'!r}; use .csv, .npy, .npz or .parquet")
    if scores.shape[1] == 1:
        scores = scores[:, 0]
    n_classes = 2 if scores.ndim == 1 else scores.shape[1]
    labels = _labels(path, y, n_classes, label_name)
    return Predictions(path, scores, labels, names, label_name)


# ---------------------------------------------------------------- detection
@dataclass
class Interpretation:
    kind: str  # "probabilities" or "logits"
    reason: str
    forced: bool
    probs: np.ndarray  # same layout as the scores
    logits: np.ndarray | None  # the given logits; None when the input is probabilities
    notes: list[str] = field(default_factory=list)


def _prob_problem(s: np.ndarray) -> str | None:
    """Why ``s`` is not probabilities (None when it is)."""
    out = (s < 0) | (s > 1)
    if out.any():
        pos = np.argwhere(out)[0] if s.ndim == 2 else (int(np.flatnonzero(out)[0]),)
        where = f"row {pos[0] + 1}" + (f", column {pos[1] + 1}" if s.ndim == 2 else "")
        return f"a value outside [0, 1] ({float(s[tuple(pos)])!r} at {where})"
    if s.ndim == 2:
        sums = s.sum(axis=1)
        bad = ~(np.abs(sums - 1.0) <= PROB_ROW_TOL)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            return f"rows that do not sum to 1 (row {r + 1} sums to {float(sums[r])!r}; tolerance {PROB_ROW_TOL:g})"
    return None


def interpret(pred: Predictions, mode: str | None = None) -> Interpretation:
    """Decide probabilities vs logits (``mode`` "probs"/"logits" forces it) and compute probabilities."""
    s = pred.scores
    problem = _prob_problem(s)
    one = s.ndim == 1
    if mode == "probs" and problem is not None:
        raise EvaluateError(
            f"{pred.path.name}: --probs was given but the scores are not probabilities: {problem}. "
            f"Drop --probs (or pass --logits) if these are logits, or normalise the rows"
        )
    if mode == "logits" or (mode is None and problem is not None):
        reason = "forced by --logits" if mode == "logits" else f"the scores have {problem}"
        P = sigmoid(xnp, s) if one else softmax(xnp, s, axis=-1)
        how = "sigmoid" if one else "softmax"
        return Interpretation("logits", f"{reason}; probabilities are their {how}", mode is not None, P, s)
    if mode == "probs":
        reason = "forced by --probs"
    elif one:
        reason = "one score column with every value in [0, 1]: the probability of class 1"
    else:
        reason = f"every value is in [0, 1] and every row sums to 1 (within {PROB_ROW_TOL:g})"
    notes = []
    P = s
    if not one:
        sums = s.sum(axis=1, keepdims=True)
        if np.max(np.abs(sums - 1.0)) > row_sum_tolerance(xnp, s.dtype, s.shape[1]):
            P = s / sums
            notes.append("rows were renormalised to sum to 1 exactly (they were off by more than rounding)")
    return Interpretation("probabilities", reason, mode is not None, P, None, notes)


# ------------------------------------------------------------------ metrics
def _json_float(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def compute_metrics(P: np.ndarray, y: np.ndarray, *, n_bins: int, n_resamples: int, seed: int) -> dict[str, Any]:
    """Every metric of probabilities ``P`` ((n,) of class 1, or (n, C)) against labels ``y``."""
    pred = (P > 0.5).astype(np.int64) if P.ndim == 1 else np.argmax(P, axis=1)
    d = brier_decomposition(P, y, n_bins=n_bins)
    out: dict[str, Any] = {
        "n": int(y.shape[0]),
        "accuracy": float(np.mean(pred == y)),
        "log_loss": float(log_loss(P, y)),
        "brier": float(brier_score(P, y)),
        "brier_decomposition": {
            k: float(getattr(d, k))
            for k in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance")
        },
    }
    for kind in ("top-label", "classwise"):
        est, lo, hi = bootstrap_ci(
            functools.partial(ece, n_bins=n_bins, kind=kind),
            P,
            y,
            n_resamples=n_resamples,
            confidence=CONFIDENCE,
            seed=seed,
        )
        out[f"ece_{kind.replace('-', '_')}"] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    out["mce"] = float(ece(P, y, n_bins=n_bins, norm="max", kind="top-label"))
    return out


# -------------------------------------------------------------- calibration
def _logit_features(interp: Interpretation) -> np.ndarray:
    """Logits in the input's layout; from probabilities: log p (rows) or log-odds (one column)."""
    if interp.logits is not None:
        return interp.logits
    tiny = np.finfo(np.float64).eps
    P = np.clip(interp.probs, tiny, 1.0 - tiny if interp.probs.ndim == 1 else 1.0)
    return np.log(P) - np.log1p(-P) if P.ndim == 1 else np.log(P)


def _params(cal: Any) -> dict[str, Any]:
    """The calibrator's fitted attributes that are numbers or arrays (JSON-ready)."""
    out: dict[str, Any] = {}
    for k, v in sorted(vars(cal).items()):
        if not k.endswith("_") or k.startswith("_"):
            continue
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[k] = v.item() if hasattr(v, "item") else v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            out[k] = v.tolist()
        elif isinstance(v, list) and all(isinstance(e, np.ndarray) for e in v):
            out[k] = [e.tolist() for e in v]
        elif isinstance(v, list):
            out[k] = f"{len(v)} fitted {type(v[0]).__name__ if v else 'object'} maps (not serialised)"
    return out


def calibrate(method: str, cal: Interpretation, cal_y: np.ndarray, ev: Interpretation, *, n_bins: int):
    """Fit ``method`` on (cal, cal_y); return (calibrated probabilities of ``ev``, fitted params, notes)."""
    cls, needs = CALIBRATORS[method]
    one = ev.probs.ndim == 1
    notes: list[str] = []
    if method == "platt" and not one and ev.probs.shape[1] != 2:
        raise EvaluateError(
            f"--calibrate platt is for binary problems; the predictions have {ev.probs.shape[1]} classes. "
            f"Use temperature, vector, matrix or dirichlet"
        )
    model = cls(n_bins=n_bins) if method == "histogram" else cls()
    if needs == "probs":
        Xc, Xe = cal.probs, ev.probs
        if ev.kind == "logits":
            notes.append(f"{method} calibration works on probabilities: fitted on the softmax/sigmoid of the logits")
    else:
        Xc, Xe = _logit_features(cal), _logit_features(ev)
        if ev.kind == "probabilities":
            notes.append(
                f"{method} scaling works on logits: fitted on "
                + ("the log-odds of the probabilities" if one else "the log-probabilities (softmax(log p) = p)")
            )
        if one and method != "platt":  # sigmoid(z) = softmax([0, z])
            Xc, Xe = (np.column_stack([np.zeros_like(x), x]) for x in (Xc, Xe))
    try:
        model.fit(Xc, cal_y)
        P = model.predict_proba(Xe)
    except (ValueError, TypeError) as exc:
        raise EvaluateError(f"--calibrate {method}: the calibrator could not be fitted or applied: {exc}") from None
    if one and P.ndim == 2:
        P = P[:, 1]
    return np.asarray(P, dtype=np.float64), _params(model), notes


# ------------------------------------------------------------------- report
def _fmt(x: Any) -> str:
    if isinstance(x, dict) and "estimate" in x:
        return f"{x['estimate']:.4f} [{x['ci_low']:.4f}, {x['ci_high']:.4f}]"
    if isinstance(x, float):
        return f"{x:.4f}"
    return str(x)


METRIC_ROWS = [
    ("n", "samples"),
    ("accuracy", "accuracy"),
    ("log_loss", "log loss (NLL)"),
    ("brier", "Brier score"),
    ("brier_decomposition.reliability", "  Brier reliability"),
    ("brier_decomposition.resolution", "  Brier resolution"),
    ("brier_decomposition.uncertainty", "  Brier uncertainty"),
    ("ece_top_label", "ECE top-label [95% CI]"),
    ("ece_classwise", "ECE classwise [95% CI]"),
    ("mce", "MCE (max bin gap)"),
]


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d[part]
    return d


def metric_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column titles and rows of the metrics table (before/after when calibrated)."""
    cal = result.get("calibration")
    cols = ["metric", "uncalibrated" if cal else "value"] + ([f"{cal['method']} calibrated"] if cal else [])
    rows = []
    for key, title in METRIC_ROWS:
        row = [title, _fmt(_get(result["metrics"], key))]
        if cal:
            row.append(_fmt(_get(cal["metrics"], key)))
        rows.append(row)
    return cols, rows


_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
ul.assume li { margin: 0.2em 0; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figure img { max-width: 100%; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; font-size: 0.9em; }
pre { padding: 0.6em; overflow-x: auto; }
"""


def _figures(curves: dict[str, Any]) -> list[tuple[str, str]]:
    """(caption, data URI) of every figure; matplotlib is imported only here."""
    from .plotting import calibration_comparison, figure_to_data_uri, reliability_diagram

    figs = []
    ax, _ = reliability_diagram(curves["before"], title="Reliability (top-label), uncalibrated")
    figs.append(("Reliability diagram with confidence histogram (uncalibrated)", figure_to_data_uri(ax.figure)))
    if "after" in curves:
        ax, _ = reliability_diagram(curves["after"], title=f"Reliability (top-label), {curves['method']}")
        figs.append((f"Reliability diagram after {curves['method']} calibration", figure_to_data_uri(ax.figure)))
        fig = calibration_comparison(
            curves["before"], curves["after"], labels=("uncalibrated", curves["method"]), title="Before / after"
        )
        figs.append(("Before/after overlay", figure_to_data_uri(fig)))
    return figs


def render_html(result: dict[str, Any], curves: dict[str, Any]) -> str:
    """A self-contained HTML page: inline CSS, figures as PNG data URIs, no external resources."""
    e = html.escape
    cols, rows = metric_rows(result)
    table = "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>"
    for r in rows:
        table += f"<tr><td>{e(r[0].strip())}</td>" + "".join(f'<td class="num">{e(v)}</td>' for v in r[1:]) + "</tr>"
    table += "</table>"
    a = result["assumptions"]
    items = [f"input: <b>{e(a['input'])}</b> ({e(a['reason'])})", f"task: {e(a['task'])}; {e(a['layout'])}"] + [
        e(n) for n in a["notes"]
    ]
    assumptions = "<ul class='assume'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    figs = "".join(
        f'<figure><img src="{uri}" alt="{e(cap)}"><figcaption>{e(cap)}</figcaption></figure>'
        for cap, uri in _figures(curves)
    )
    cal = result.get("calibration")
    cal_html = ""
    if cal:
        params = json.dumps(cal["params"], indent=1)
        if len(params) > 4000:
            params = params[:4000] + "\n... (full parameters in metrics.json)"
        cal_html = (
            f"<h2>Calibration</h2><p>{e(cal['method'])} fitted on <code>{e(cal['calibration_file'])}</code> "
            f"({cal['n_calibration']} samples), evaluated on <code>{e(result['predictions'])}</code>.</p>"
            f"<pre>{e(params)}</pre>"
        )
    o = result["options"]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>losslab evaluate: {e(result['predictions'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>losslab evaluate: <code>{e(result['predictions'])}</code></h1>"
        f"<p>losslab {e(result['losslab_version'])}; {o['n_bins']} uniform bins; "
        f"{o['n_resamples']} bootstrap resamples (seed {o['seed']}), {int(CONFIDENCE * 100)}% percentile intervals.</p>"
        f"<h2>Assumptions</h2>{assumptions}<h2>Metrics</h2>{table}{cal_html}<h2>Reliability</h2>{figs}"
        "</body></html>\n"
    )


def write_outputs(out_dir: str | os.PathLike, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (name -> text) into ``out_dir`` atomically: all or nothing.

    Each file goes to a temporary name in ``out_dir`` first; only when every one is
    written are they moved into place with :func:`os.replace`. On failure the
    temporaries (and ``out_dir`` itself, when this call created it) are removed.
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
def evaluate(
    predictions: str | os.PathLike,
    *,
    label_column: str | None,
    mode: str | None = None,
    calibrate_method: str | None = None,
    calibration_file: str | os.PathLike | None = None,
    n_bins: int = 15,
    seed: int = 0,
    n_resamples: int = 200,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, detect, compute. Returns ``(result, curves)``: the JSON-ready result and reliability curves."""
    from . import __version__

    if (calibrate_method is None) != (calibration_file is None):
        raise EvaluateError("--calibrate and --calibration-file go together: pass both (or neither)")
    pred = read_predictions(predictions, label_column)
    interp = interpret(pred, mode)
    C = pred.n_classes
    task = "binary" if C == 2 else "multiclass"
    layout = (
        "one score column: the score of class 1"
        if pred.scores.ndim == 1
        else f"{C} score columns ({', '.join(pred.score_columns)}): column k is class k"
    )
    brier_note = (
        "Brier score: binary (p - y)^2 on the probability of class 1"
        if pred.scores.ndim == 1
        else "Brier score: summed over the classes"
        + (" (a two-column binary file scores twice the one-column value)" if C == 2 else "")
    )
    metrics = compute_metrics(interp.probs, pred.labels, n_bins=n_bins, n_resamples=n_resamples, seed=seed)
    result: dict[str, Any] = {
        "losslab_version": __version__,
        "predictions": str(pred.path),
        "label_column": pred.label_column,
        "n_classes": C,
        "assumptions": {
            "input": interp.kind,
            "reason": interp.reason,
            "forced": interp.forced,
            "task": f"{task}, {C} classes",
            "layout": layout,
            "accuracy": "argmax of the probabilities (one column: p > 0.5)",
            "notes": [*interp.notes, brier_note],
        },
        "options": {
            "n_bins": n_bins,
            "binning": "uniform",
            "n_resamples": n_resamples,
            "seed": seed,
            "confidence": CONFIDENCE,
        },  # fmt: skip
        "metrics": metrics,
        "calibration": None,
    }
    curves: dict[str, Any] = {"before": reliability_curve(interp.probs, pred.labels, n_bins=n_bins)}
    if calibrate_method is not None:
        cal_pred = read_predictions(calibration_file, label_column)
        if cal_pred.scores.shape[1:] != pred.scores.shape[1:]:
            raise EvaluateError(
                f"{cal_pred.path.name}: {1 if cal_pred.scores.ndim == 1 else cal_pred.scores.shape[1]} score "
                f"columns, but {pred.path.name} has {1 if pred.scores.ndim == 1 else pred.scores.shape[1]}; "
                f"the calibration file must score the same classes in the same order"
            )
        cal_interp = interpret(cal_pred, "logits" if interp.kind == "logits" else "probs")
        P_after, params, notes = calibrate(calibrate_method, cal_interp, cal_pred.labels, interp, n_bins=n_bins)
        result["assumptions"]["notes"].extend(notes)
        result["calibration"] = {
            "method": calibrate_method,
            "calibration_file": str(cal_pred.path),
            "n_calibration": int(cal_pred.labels.shape[0]),
            "params": params,
            "metrics": compute_metrics(P_after, pred.labels, n_bins=n_bins, n_resamples=n_resamples, seed=seed),
        }
        curves["after"] = reliability_curve(P_after, pred.labels, n_bins=n_bins)
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
        with err_console.status(f"reading and scoring {escape(str(predictions))} ..."):
            result, curves = evaluate(predictions, **kwargs)
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
