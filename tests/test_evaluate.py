"""``losslab evaluate``: real models' predictions in, metrics.json and report.html out."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import losslab
from conftest import render_in_chromium
from losslab import evaluation as ev
from losslab.calibration import CalibrationState, TemperatureScaling, bootstrap_ci, brier_decomposition, ece
from losslab.cli import main
from losslab.evaluation import pipeline


# ------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    m = LogisticRegression(max_iter=1000).fit(sc.transform(Xtr), ytr)
    Xte = sc.transform(Xte)
    return m.predict_proba(Xte), m.decision_function(Xte), yte


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.6, random_state=0, stratify=y)
    Xcal, Xte, ycal, yte = train_test_split(Xrest, yrest, test_size=0.5, random_state=1, stratify=yrest)
    m = LogisticRegression(max_iter=3000, C=10.0).fit(Xtr, ytr)  # weakly regularised: overconfident
    return {"cal": (m.decision_function(Xcal), ycal), "test": (m.decision_function(Xte), yte)}


def write_csv(path, scores, y, label="y", names=None):
    scores = np.asarray(scores)
    scores = scores[:, None] if scores.ndim == 1 else scores
    names = names or [f"s{k}" for k in range(scores.shape[1])]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*names, label])
        for row, t in zip(scores, y, strict=True):
            w.writerow([repr(float(v)) for v in row] + [int(t)])
    return path


def write_table(path, scores, y, label="y"):
    """The same table as .csv, .parquet (score columns s0.. and ``label``) or .npy (label last)."""
    path = Path(path)
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    if path.suffix == ".csv":
        return write_csv(path, scores, y, label)
    if path.suffix == ".npy":
        np.save(path, np.column_stack([scores, y]))
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {f"s{k}": scores[:, k] for k in range(scores.shape[1])} | {label: np.asarray(y, dtype=np.int64)}
    pq.write_table(pa.table(cols), path, row_group_size=100)
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)], env={"COLUMNS": "160"})


def ok(*args):
    r = invoke(*args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def load(out):
    return json.loads((out / "metrics.json").read_text())


# --------------------------------------------------------------- the values
def test_binary_probs_csv_matches_sklearn_and_losslab(tmp_path, cancer):
    P, _, y = cancer
    f = write_csv(tmp_path / "cancer.csv", P, y)
    out = tmp_path / "out"
    r = ok(f, "--label-column", "y", "--out", out, "--n-resamples", 50, "--seed", 3)
    assert "Assumed probabilities" in r.output
    res = load(out)
    m = res["metrics"]
    assert res["assumptions"]["input"] == "probabilities" and not res["assumptions"]["forced"]
    assert res["n_classes"] == 2 and res["losslab_version"] == losslab.__version__
    assert res["predictions"].endswith("cancer.csv") and res["label_column"] == "y"
    assert m["n"] == len(y)
    assert m["accuracy"]["estimate"] == pytest.approx(accuracy_score(y, P.argmax(1)), abs=1e-12)
    assert m["log_loss"]["estimate"] == pytest.approx(sk_log_loss(y, P), rel=1e-9)
    assert m["brier"]["estimate"] == pytest.approx(np.sum((P - np.eye(2)[y]) ** 2, axis=1).mean(), rel=1e-9)
    d = brier_decomposition(P, y, n_bins=15)
    assert m["brier_decomposition"]["reliability"] == pytest.approx(d.reliability, rel=1e-9)
    ci = CalibrationState(15, bootstrap_groups=2048).update(P, y).bootstrap_ci(n_resamples=50, seed=3)
    assert [m["ece_top_label"][k] for k in ("estimate", "ci_low", "ci_high")] == pytest.approx(ci, rel=1e-9)
    assert m["ece_classwise"]["estimate"] == pytest.approx(ece(P, y, kind="classwise"), rel=1e-9)
    assert m["mce"] == pytest.approx(ece(P, y, norm="max"), rel=1e-9)
    assert res["calibration"] is None


def test_binary_single_column_logits_npz(tmp_path, cancer):
    P, z, y = cancer
    np.savez(tmp_path / "c.npz", scores=z, labels=y)
    out = tmp_path / "out"
    r = ok(tmp_path / "c.npz", "--out", out, "--n-resamples", 20)
    assert "Assumed logits" in r.output and "sigmoid" in r.output
    m = load(out)["metrics"]
    assert m["log_loss"]["estimate"] == pytest.approx(sk_log_loss(y, P), rel=1e-7)  # sigmoid(decision) = predict_proba
    assert m["accuracy"]["estimate"] == pytest.approx(accuracy_score(y, (z > 0).astype(int)))
    assert m["brier"]["estimate"] == pytest.approx(np.mean((P[:, 1] - y) ** 2), rel=1e-7)  # binary Brier for one column


def test_multiclass_npy_probs_vs_logits_detection(tmp_path, digits):
    z, y = digits["test"]
    P = losslab.calibration.TemperatureScaling().fit(z, y)._uncalibrated(z)  # softmax of the logits
    np.save(tmp_path / "p.npy", np.column_stack([P, y]))
    np.save(tmp_path / "z.npy", np.column_stack([z, y]))
    ok(tmp_path / "p.npy", "--out", tmp_path / "po", "--n-resamples", 10)
    ok(tmp_path / "z.npy", "--out", tmp_path / "zo", "--n-resamples", 10)
    po, zo = load(tmp_path / "po"), load(tmp_path / "zo")
    assert po["assumptions"]["input"] == "probabilities" and zo["assumptions"]["input"] == "logits"
    assert "outside [0, 1]" in zo["assumptions"]["reason"]
    assert po["metrics"]["log_loss"]["estimate"] == pytest.approx(zo["metrics"]["log_loss"]["estimate"], rel=1e-9)
    assert po["metrics"]["log_loss"]["estimate"] == pytest.approx(sk_log_loss(y, P, labels=range(10)), rel=1e-9)
    # forced: logits that happen to look like probabilities are read as logits
    ok(tmp_path / "p.npy", "--logits", "--out", tmp_path / "forced", "--n-resamples", 10)
    f = load(tmp_path / "forced")
    assert f["assumptions"]["input"] == "logits" and f["assumptions"]["forced"]
    assert (
        f["metrics"]["log_loss"]["estimate"] > po["metrics"]["log_loss"]["estimate"]
    )  # softmax of probabilities is flatter


def test_calibrate_temperature_digits(tmp_path, digits):
    (zc, yc), (zt, yt) = digits["cal"], digits["test"]
    write_csv(tmp_path / "val.csv", zc, yc, label="label")
    write_csv(tmp_path / "test.csv", zt, yt, label="label")
    out = tmp_path / "out"
    r = ok(tmp_path / "test.csv", "--label-column", "label", "--calibrate", "temperature",
           "--calibration-file", tmp_path / "val.csv", "--out", out, "--n-resamples", 20)  # fmt: skip
    assert "temperature_" in r.output
    res = load(out)
    before, after = res["metrics"], res["calibration"]["metrics"]
    assert after["log_loss"]["estimate"] < before["log_loss"]["estimate"]
    assert after["accuracy"]["estimate"] == before["accuracy"]["estimate"]
    T = TemperatureScaling().fit(zc, yc).temperature_
    assert res["calibration"]["params"]["temperature_"] == pytest.approx(T, rel=1e-9)
    assert res["calibration"]["n_calibration"] == len(yc)
    html = (out / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 3  # before, after, overlay
    assert not re.search(r"https?://|src=\"(?!data:)|<link", html)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.html"]
    seen = render_in_chromium(out / "report.html", tmp_path)
    assert seen["images"] == seen["decoded"] == 3
    assert seen["external"] == [] and seen["errors"] == []


def test_a_calibrator_at_its_bound_is_a_warning_in_the_report(tmp_path, digits):
    (zc, yc), (zt, yt) = digits["cal"], digits["test"]
    right = zc.argmax(axis=1) == yc
    write_csv(tmp_path / "val.csv", zc[right], yc[right], label="label")  # no mistake left to calibrate on
    write_csv(tmp_path / "test.csv", zt, yt, label="label")
    out = tmp_path / "out"
    r = ok(tmp_path / "test.csv", "--label-column", "label", "--calibrate", "temperature",
           "--calibration-file", tmp_path / "val.csv", "--out", out, "--n-resamples", 20)  # fmt: skip
    res = load(out)
    warnings = res["assumptions"]["warnings"]
    assert any(w.startswith("TemperatureScaling: the fitted temperature") for w in warnings), warnings
    assert res["calibration"]["warnings"][0] == warnings[0]
    # the overconfident temperature makes the test set's log loss worse: a second warning, with both numbers
    before, after = res["metrics"]["log_loss"]["estimate"], res["calibration"]["metrics"]["log_loss"]["estimate"]
    assert after > before
    assert f"temperature calibration raised the log loss of test.csv from {before:.4f} to {after:.4f}" in warnings[-1]
    assert "lower bound" in r.output and "Warning:" in r.output
    html = (out / "report.html").read_text()
    assert html.index("<div class='warn'>") < html.index("<h2>Assumptions</h2>") and "lower bound" in html


@pytest.mark.parametrize("method", ["platt", "vector", "matrix", "dirichlet", "isotonic", "histogram"])
def test_every_calibrator_binary(tmp_path, cancer, method):
    P, z, y = cancer
    half = len(y) // 2
    np.savez(tmp_path / "cal.npz", scores=P[:half, 1], labels=y[:half])
    np.savez(tmp_path / "ev.npz", scores=P[half:, 1], labels=y[half:])
    out = tmp_path / "o"
    ok(tmp_path / "ev.npz", "--calibrate", method, "--calibration-file", tmp_path / "cal.npz", "--out", out,
       "--n-resamples", 10)  # fmt: skip
    res = load(out)
    assert res["calibration"]["method"] == method and res["calibration"]["params"]
    assert 0 <= res["calibration"]["metrics"]["log_loss"]["estimate"] < 1.0


def test_report_without_calibration_has_one_figure(tmp_path, cancer, monkeypatch):
    P, _, y = cancer
    monkeypatch.setattr(pipeline, "LARGE_FILE_BYTES", 0)  # exercise the spinner path
    write_csv(tmp_path / "c.csv", P[:, 1], y)
    ok(tmp_path / "c.csv", "--label-column", "y", "--out", tmp_path / "o", "--n-resamples", 10)
    html = (tmp_path / "o" / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 1 and "<style>" in html
    assert "http" not in html.replace("data:image", "")


# ---------------------------------------------------------------- bad input
def _bad(tmp_path, *args):
    out = tmp_path / "out"
    r = invoke(*args, "--out", out, "--n-resamples", 5)
    assert r.exit_code == 2, r.output
    assert not out.exists() or not any(out.iterdir())
    return r.output


def _text(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bad_missing_label_column(tmp_path):
    f = _text(tmp_path, "a.csv", "p0,p1,target\n0.2,0.8,1\n")
    msg = _bad(tmp_path, f, "--label-column", "y")
    assert "a.csv: label column 'y' not found; the columns are 'p0', 'p1', 'target'" in msg


def test_bad_non_numeric_cell(tmp_path):
    f = _text(tmp_path, "a.csv", "p0,p1,y\n0.2,0.8,1\n0.3,abc,0\n")
    assert "a.csv: row 2 (line 3), column 'p1': 'abc' is not a number" in _bad(tmp_path, f, "--label-column", "y")
    f = _text(tmp_path, "b.csv", "p0,p1,y\n0.2,,1\n")
    assert "b.csv: row 1 (line 2), column 'p1': an empty cell is not a number" in _bad(
        tmp_path, f, "--label-column", "y"
    )


def test_bad_labels(tmp_path):
    f = _text(tmp_path, "a.csv", "p0,p1,y\n0.2,0.8,1\n0.3,0.7,2\n")
    assert "a.csv: row 2, column 'y': label 2 is outside the classes 0..1" in _bad(tmp_path, f, "--label-column", "y")
    f = _text(tmp_path, "b.csv", "p,y\n0.2,1\n0.3,0.5\n")
    assert "b.csv: row 2, column 'y': label 0.5 is not an integer" in _bad(tmp_path, f, "--label-column", "y")
    f = _text(tmp_path, "c.csv", "p,y\n0.2,-1\n")
    assert "label -1 is outside the classes 0..1" in _bad(tmp_path, f, "--label-column", "y")


def test_bad_forced_probs(tmp_path):
    f = _text(tmp_path, "b.csv", "p,y\n0.2,1\n1.5,0\n")
    msg = _bad(tmp_path, f, "--label-column", "y", "--probs")
    assert "b.csv: --probs was given but the scores are not probabilities: a value outside [0, 1] (1.5 at row 2)" in msg
    assert "by more than the 0.01 that --probs clips as rounding" in msg
    f = _text(tmp_path, "z.csv", "p0,p1,y\n0.2,0.8,1\n0,0,0\n")
    assert "z.csv: --probs was given but row 2 sums to 0" in _bad(tmp_path, f, "--label-column", "y", "--probs")


def test_bad_empty_and_truncated(tmp_path):
    assert "e.csv: the file is empty" in _bad(tmp_path, _text(tmp_path, "e.csv", ""), "--label-column", "y")
    assert "h.csv: no data rows after the header" in _bad(
        tmp_path, _text(tmp_path, "h.csv", "p,y\n"), "--label-column", "y"
    )
    f = _text(tmp_path, "t.csv", "p0,p1,y\n0.2,0.8,1\n0.3,0.7")
    msg = _bad(tmp_path, f, "--label-column", "y")
    assert "t.csv: row 2 (line 3) has 2 fields but the header has 3; the file is truncated or malformed" in msg
    full = tmp_path / "full.npy"
    np.save(full, np.ones((50, 3)))
    (tmp_path / "cut.npy").write_bytes(full.read_bytes()[:200])
    assert "cut.npy: not a readable .npy file" in _bad(tmp_path, tmp_path / "cut.npy")


def test_bad_formats_and_options(tmp_path, monkeypatch):
    np.savez(tmp_path / "a.npz", preds=np.zeros(3), labels=np.zeros(3))
    assert "a.npz: no array 'scores'" in _bad(tmp_path, tmp_path / "a.npz")
    np.save(tmp_path / "v.npy", np.zeros(4))
    assert "LAST column" in _bad(tmp_path, tmp_path / "v.npy")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
    assert "needs pyarrow" in _bad(tmp_path, tmp_path / "x.parquet", "--label-column", "y")
    f = _text(tmp_path, "a.csv", "p,y\n0.2,1\n0.7,0\n")
    assert "--calibrate and --calibration-file go together" in _bad(
        tmp_path, f, "--label-column", "y", "--calibrate", "temperature"
    )
    assert "pass --label-column" in _bad(tmp_path, f)
    assert "unknown file type '.txt'" in _bad(tmp_path, _text(tmp_path, "a.txt", "1"))


def test_bad_calibration_file(tmp_path, digits):
    (zc, yc), (zt, yt) = digits["cal"], digits["test"]
    np.savez(tmp_path / "t.npz", scores=zt, labels=yt)
    np.savez(tmp_path / "c.npz", scores=zc[:, :5], labels=yc % 5)
    msg = _bad(tmp_path, tmp_path / "t.npz", "--calibrate", "temperature", "--calibration-file", tmp_path / "c.npz")
    assert "c.npz: 5 score columns, but t.npz has 10" in msg
    np.savez(tmp_path / "c2.npz", scores=zc, labels=yc)
    msg = _bad(tmp_path, tmp_path / "t.npz", "--calibrate", "platt", "--calibration-file", tmp_path / "c2.npz")
    assert "--calibrate platt is for binary problems; the predictions have 10 classes" in msg


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    from losslab.evaluation import outputs

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.os, "rename", boom)
    out = tmp_path / "o"
    with pytest.raises(ev.EvaluateError, match="disk full"):
        ev.write_outputs(out, {"metrics.json": "{}", "report.html": "x"})
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no temporary directory left either


# ---------------------------------------------------------------- streaming
def _flat(m, prefix=""):
    """Every metric as (dotted name, value), interval ends included."""
    for k, v in m.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield prefix + k, v


def _assert_same_metrics(streamed, memory):
    a, b = dict(_flat(streamed)), dict(_flat(memory))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == (b[k] if isinstance(b[k], str) else pytest.approx(b[k], rel=1e-10, abs=1e-10)), k


@pytest.mark.parametrize(
    "case, calibrate",
    [("digits-logits", None), ("digits-logits", "temperature"), ("cancer-probs-2col", None),
     ("cancer-probs-1col", "isotonic"), ("cancer-logits-1col", "platt")],
)  # fmt: skip
def test_streaming_equals_in_memory(tmp_path, cancer, digits, case, calibrate):
    P, z, y = cancer
    (zc, yc), (zt, yt) = digits["cal"], digits["test"]
    scores, labels, cal = {
        "digits-logits": (zt, yt, (zc, yc)),
        "cancer-probs-2col": (P, y, (P[:100], y[:100])),
        "cancer-probs-1col": (P[:, 1], y, (P[:100, 1], y[:100])),
        "cancer-logits-1col": (z, y, (z[:100], y[:100])),
    }[case]
    f = write_csv(tmp_path / "p.csv", scores, labels)
    extra = []
    if calibrate:
        extra = ["--calibrate", calibrate, "--calibration-file", write_csv(tmp_path / "cal.csv", *cal)]
    ok(f, "--label-column", "y", "--out", tmp_path / "mem", "--n-resamples", 5, *extra)
    r = ok(f, "--label-column", "y", "--out", tmp_path / "str", "--n-resamples", 5, "--chunk-rows", 7, *extra)
    mem, st = load(tmp_path / "mem"), load(tmp_path / "str")
    assert st["options"]["chunk_rows"] == 7 and mem["options"]["chunk_rows"] is None
    assert st["assumptions"]["input"] == mem["assumptions"]["input"]
    _assert_same_metrics(st["metrics"], mem["metrics"])
    for k in ("accuracy", "log_loss", "brier", "ece_top_label", "ece_classwise"):
        e = st["metrics"][k]
        assert e["ci_low"] < e["ci_high"], k  # streamed intervals, equal to the in-memory ones above
    if calibrate:
        _assert_same_metrics(st["calibration"]["metrics"], mem["calibration"]["metrics"])
        assert st["calibration"]["params"] == mem["calibration"]["params"]
        assert st["calibration"]["n_calibration"] == mem["calibration"]["n_calibration"]
    assert "streamed in chunks of 7 rows" in r.output
    assert "streamed in chunks of 7 rows" in (tmp_path / "str" / "report.html").read_text()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_streaming_holds_one_chunk_at_a_time(tmp_path, digits, monkeypatch, fmt):
    z, y = digits["test"]
    f = write_table(tmp_path / f"p.{fmt}", z, y)
    seen = []
    real_open, real_update = ev.open_source, ev.MetricAccumulator.update

    def open_source(path, label_column):
        src = real_open(path, label_column)
        real_chunks = src.chunks

        def chunks(n):
            for first, scores, labels in real_chunks(n):
                seen.append((first, labels.shape[0]))
                yield first, scores, labels

        src.chunks = chunks
        return src

    def update(self, P, labels):
        assert P.shape[0] <= 7 and labels.shape[0] <= 7
        return real_update(self, P, labels)

    monkeypatch.setattr(pipeline, "open_source", open_source)
    monkeypatch.setattr(ev.MetricAccumulator, "update", update)
    ok(f, "--label-column", "y", "--out", tmp_path / "o", "--chunk-rows", 7)
    assert max(k for _, k in seen) == 7 and sum(k for _, k in seen) == len(y)
    assert [first for first, _ in seen] == list(range(1, len(y) + 1, 7))
    monkeypatch.undo()
    ok(f, "--label-column", "y", "--out", tmp_path / "whole")
    _assert_same_metrics(load(tmp_path / "o")["metrics"], load(tmp_path / "whole")["metrics"])


def test_streaming_is_automatic_for_large_csv(tmp_path, cancer, monkeypatch):
    P, _, y = cancer
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 0)
    ok(write_csv(tmp_path / "p.csv", P, y), "--label-column", "y", "--out", tmp_path / "o")
    res = load(tmp_path / "o")
    assert res["options"]["chunk_rows"] == ev.DEFAULT_CHUNK_ROWS and res["metrics"]["ece_top_label"]["ci_low"] > 0
    assert any("streamed in chunks" in n for n in res["assumptions"]["notes"])


def test_streaming_bad_input_names_absolute_rows(tmp_path):
    rows = "".join(f"0.{k % 9 + 1},0.{9 - k % 9},{k % 2}\n" for k in range(12))
    f = _text(tmp_path, "a.csv", "p0,p1,y\n" + rows + "0.3,abc,0\n")
    msg = _bad(tmp_path, f, "--label-column", "y", "--chunk-rows", 5)
    assert "a.csv: row 13 (line 14), column 'p1': 'abc' is not a number" in msg
    f = _text(tmp_path, "b.csv", "p0,p1,y\n" + rows + "0.3,0.7,2\n")
    assert "b.csv: row 13, column 'y': label 2 is outside the classes 0..1" in _bad(
        tmp_path, f, "--label-column", "y", "--chunk-rows", 5
    )
    f = _text(tmp_path, "t.csv", "p0,p1,y\n" + rows + "0.3,0.7\n")
    assert "t.csv: row 13 (line 14) has 2 fields" in _bad(tmp_path, f, "--label-column", "y", "--chunk-rows", 5)
    assert "h.csv: no data rows after the header" in _bad(
        tmp_path, _text(tmp_path, "h.csv", "p,y\n"), "--label-column", "y", "--chunk-rows", 5
    )
    assert "e.csv: the file is empty" in _bad(
        tmp_path, _text(tmp_path, "e.csv", ""), "--label-column", "y", "--chunk-rows", 5
    )
    np.savez(tmp_path / "a.npz", scores=np.zeros(3), labels=np.zeros(3))
    assert "a.npz: --chunk-rows streams .csv, .tsv, .parquet, .npy files; .npz is read whole" in _bad(
        tmp_path, tmp_path / "a.npz", "--chunk-rows", 5
    )


def test_streaming_later_chunk_contradicts_kind(tmp_path):
    rows = "".join(f"0.{k % 9 + 1},0.{9 - k % 9},{k % 2}\n" for k in range(12))
    f = _text(tmp_path, "a.csv", "p0,p1,y\n" + rows + "2.5,-1.0,0\n")
    msg = _bad(tmp_path, f, "--label-column", "y", "--chunk-rows", 5)
    assert "a.csv: the first chunk was read as probabilities but a later chunk is not probabilities" in msg
    assert "(2.5 at row 13, column 'p0')" in msg and "Pass --logits" in msg
    # in memory, 12 probability rows and 1 that is not: almost a probability file, refused (not read as logits)
    msg = _bad(tmp_path, f, "--label-column", "y")
    assert "a.csv: the scores look like probabilities (12 of 13 rows are in [0, 1] and sum to 1) but 1 row is " in msg
    # --probs: 2.5 is no rounding error, in any chunk
    msg = _bad(tmp_path, f, "--label-column", "y", "--chunk-rows", 5, "--probs")
    assert "a.csv: --probs was given but the scores are not probabilities: a value outside [0, 1] (2.5 at row 13" in msg
    lines = rows.splitlines(keepends=True)
    lines[8] = "0.9,0.5,0\n"  # row 9, in the second chunk: --probs renormalises it, and warns
    f2 = _text(tmp_path, "b.csv", "p0,p1,y\n" + "".join(lines))
    r = ok(f2, "--label-column", "y", "--chunk-rows", 5, "--probs", "--out", tmp_path / "b")
    assert load(tmp_path / "b")["assumptions"]["warnings"] == [
        "--probs: 1 row renormalised to sum to 1 (the farthest: row 9 summed to 1.4); the metrics are of the "
        "renormalised rows"
    ]
    assert "Warning:" in r.output
    ok(f2, "--label-column", "y", "--probs", "--out", tmp_path / "b2")  # the same in memory
    _assert_same_metrics(load(tmp_path / "b")["metrics"], load(tmp_path / "b2")["metrics"])
    # forced logits never contradict
    ok(f, "--label-column", "y", "--chunk-rows", 5, "--logits", "--out", tmp_path / "o")


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_parquet_and_npy_equal_csv_in_memory_and_streamed(tmp_path, digits, monkeypatch, fmt):
    (zc, yc), (zt, yt) = digits["cal"], digits["test"]
    cal = ["--calibrate", "temperature", "--calibration-file", write_csv(tmp_path / "cal.csv", zc, yc)]
    ok(write_csv(tmp_path / "p.csv", zt, yt), "--label-column", "y", "--out", tmp_path / "csv", *cal)
    f = write_table(tmp_path / f"p.{fmt}", zt, yt)
    ok(f, "--label-column", "y", "--out", tmp_path / "mem", *cal)
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 0)  # streamed automatically, as a file over 256 MiB would be
    ok(f, "--label-column", "y", "--out", tmp_path / "str", *cal)
    ref, mem, st = load(tmp_path / "csv"), load(tmp_path / "mem"), load(tmp_path / "str")
    assert mem["options"]["chunk_rows"] is None and st["options"]["chunk_rows"] == ev.DEFAULT_CHUNK_ROWS
    for res in (mem, st):
        assert res["assumptions"]["input"] == "logits" and res["n_classes"] == 10
        _assert_same_metrics(res["metrics"], ref["metrics"])
        _assert_same_metrics(res["calibration"]["metrics"], ref["calibration"]["metrics"])
    assert mem["label_column"] == st["label_column"] == ("y" if fmt == "parquet" else "label (last column)")


def test_bad_parquet_names_file_row_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(name, **cols):
        pq.write_table(pa.table(cols), tmp_path / name, row_group_size=4)
        return tmp_path / name

    p = np.linspace(0.1, 0.9, 10)
    y = np.arange(10) % 2
    f = write("ok.parquet", p=p, y=y)
    assert "ok.parquet: label column 'label' not found; the columns are 'p', 'y'" in _bad(
        tmp_path, f, "--label-column", "label"
    )
    f = write("s.parquet", p=[str(v) for v in p], y=y)
    assert "s.parquet: column 'p' has type string; every column must be numeric" in _bad(
        tmp_path, f, "--label-column", "y"
    )
    for args in ([], ["--chunk-rows", 3]):  # row 7 is in the second row group and the third chunk
        f = write("n.parquet", p=pa.array([*p[:6], None, *p[7:]]), y=y)
        assert "n.parquet: row 7, column 'p': missing value" in _bad(tmp_path, f, "--label-column", "y", *args)
        f = write("i.parquet", p=[*p[:6], np.inf, *p[7:]], y=y)
        assert "i.parquet: row 7, column 'p': inf is not finite" in _bad(tmp_path, f, "--label-column", "y", *args)
        f = write("l.parquet", p=p, y=[*y[:6], 3, *y[7:]])
        assert "l.parquet: row 7, column 'y': label 3 is outside the classes 0..1" in _bad(
            tmp_path, f, "--label-column", "y", *args
        )
    f = write("e.parquet", p=pa.array([], pa.float64()), y=pa.array([], pa.int64()))
    assert "e.parquet: no data rows" in _bad(tmp_path, f, "--label-column", "y")
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "ok.parquet").read_bytes()[:-40])
    assert "cut.parquet: not a readable .parquet file" in _bad(
        tmp_path, tmp_path / "cut.parquet", "--label-column", "y"
    )


def test_bad_npy_streamed_names_absolute_rows(tmp_path):
    a = np.column_stack([np.linspace(0.1, 0.9, 12), np.arange(12) % 2])
    a[9, 0] = np.nan
    np.save(tmp_path / "n.npy", a)
    msg = _bad(tmp_path, tmp_path / "n.npy", "--chunk-rows", 4)
    assert "n.npy: row 10, column 'score_0': nan is not finite" in msg
    a[9, 0], a[10, 1] = 0.5, 2.0
    np.save(tmp_path / "l.npy", a)
    assert "l.npy: row 11, column 'label (last column)': label 2 is outside the classes 0..1" in _bad(
        tmp_path, tmp_path / "l.npy", "--chunk-rows", 4
    )


@pytest.mark.parametrize("fmt, chunk_rows", [("csv", None), ("csv", 50), ("npy", 50), ("parquet", 50)])
def test_progress_reports_rows_read(tmp_path, digits, fmt, chunk_rows):
    z, y = digits["test"]
    f = write_table(tmp_path / f"p.{fmt}", z, y)
    calls = []
    result, _ = ev.evaluate(f, label_column="y", n_resamples=5, chunk_rows=chunk_rows,
                            progress=lambda done, expected: calls.append((done, expected)))  # fmt: skip
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == len(y) == result["metrics"]["n"]
    assert all(d <= e for d, e in calls)
    if chunk_rows:
        assert done == [min(k, len(y)) for k in range(50, len(y) + 50, 50)]
    if fmt != "csv":
        assert {e for _, e in calls} == {len(y)}  # known up front
    else:
        assert abs(calls[0][1] - len(y)) <= 0.02 * len(y)  # estimated from the first MiB of lines


def test_progress_bar_on_large_files(tmp_path, digits, monkeypatch):
    z, y = digits["test"]
    monkeypatch.setattr(pipeline, "LARGE_FILE_BYTES", 0)
    seen = []
    real = ev.evaluate

    def spy(*args, **kwargs):
        seen.append(kwargs.get("progress"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate", spy)
    ok(write_csv(tmp_path / "p.csv", z, y), "--label-column", "y", "--out", tmp_path / "o", "--chunk-rows", 100)
    assert len(seen) == 1 and callable(seen[0])


def test_score_intervals_match_the_row_bootstrap():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(4, 0.5), 5_000)
    y = (P.cumsum(1) > rng.random((5_000, 1))).argmax(1)
    m = ev.compute_metrics(P, y, n_bins=15, n_resamples=1000, seed=0)
    rows = {
        "accuracy": lambda p, t: np.mean(p.argmax(1) == t),
        "log_loss": lambda p, t: losslab.log_loss(p, t),
        "brier": lambda p, t: losslab.brier_score(p, t),
    }
    for name, f in rows.items():
        est, lo, hi = bootstrap_ci(f, P, y, n_resamples=1000, seed=1)
        got = m[name]
        assert got["estimate"] == pytest.approx(est, rel=1e-12), name
        width = hi - lo
        assert abs(got["ci_low"] - lo) < 0.08 * width and abs(got["ci_high"] - hi) < 0.08 * width, (name, got, lo, hi)
    a = m["accuracy"]["estimate"]
    wald = 1.96 * np.sqrt(a * (1 - a) / 5_000)
    assert m["accuracy"]["ci_high"] - m["accuracy"]["ci_low"] == pytest.approx(2 * wald, rel=0.1)


def test_wide_files_stream_in_smaller_chunks_with_the_same_result(tmp_path, monkeypatch):
    from losslab.evaluation import score as em
    from losslab.evaluation.pipeline import auto_chunk_rows

    assert auto_chunk_rows(11) == ev.DEFAULT_CHUNK_ROWS and auto_chunk_rows(1001) == 1047
    assert auto_chunk_rows(10**7) == 1024  # never fewer rows than the first-chunk detection needs
    rng = np.random.default_rng(0)
    z, y = rng.normal(0.0, 2.0, (3000, 300)), rng.integers(0, 300, 3000)
    np.save(tmp_path / "w.npy", np.column_stack([z, y]))
    whole = ev.compute_metrics(np.exp(z) / np.exp(z).sum(1, keepdims=True), y, n_bins=15, n_resamples=50, seed=0)
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 0)
    monkeypatch.setattr(em, "UPDATE_ELEMENTS", 7 * 300)  # internal batches of 7 rows
    result, _ = ev.evaluate(tmp_path / "w.npy", label_column=None, n_resamples=50)
    assert result["options"]["chunk_rows"] == auto_chunk_rows(301) == 2**20 // 301  # 300 scores + the label
    _assert_same_metrics(result["metrics"], whole)
