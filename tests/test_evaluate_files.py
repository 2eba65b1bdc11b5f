"""``losslab evaluate`` reads files as people write them (issue 11): pandas CSVs, ID columns, string and
boolean labels, .tsv and compressed CSV, UTF-16, header-less files, almost-probability files; and its
outputs are all or nothing."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from losslab.cli import main
from losslab.evaluation import outputs


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    m = LogisticRegression(max_iter=1000).fit(sc.transform(Xtr), ytr)
    return m.predict_proba(sc.transform(Xte)), m.decision_function(sc.transform(Xte)), yte


def invoke(*args):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)], env={"COLUMNS": "200"})


def ok(*args):
    r = invoke(*args, *(() if "--n-resamples" in args else ("--n-resamples", 20)))
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def bad(tmp_path, *args):
    out = tmp_path / "bad-out"
    r = invoke(*args, "--out", out, "--n-resamples", 5)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and not out.exists()
    return " ".join(r.output.split())  # rich folds long lines: compare with single spaces


def load(out):
    return json.loads((Path(out) / "metrics.json").read_text())


def text(path, lines):
    Path(path).write_text("".join(line + "\n" for line in lines))
    return path


def rows(P, y, fmt=repr):
    return [",".join([*(fmt(float(v)) for v in p), str(t)]) for p, t in zip(P, y, strict=True)]


def metrics_of(out):
    m = load(out)["metrics"]
    return m["accuracy"]["estimate"], m["log_loss"]["estimate"], m["ece_top_label"]["estimate"]


@pytest.fixture(scope="module")
def plain(cancer, tmp_path_factory):
    """The reference: a plain CSV with a header, its metrics, and sklearn's."""
    P, _, y = cancer
    d = tmp_path_factory.mktemp("plain")
    text(d / "p.csv", ["p0,p1,y", *rows(P, y)])
    ok(d / "p.csv", "--label-column", "y", "--out", d / "o")
    got = metrics_of(d / "o")
    assert got[0] == pytest.approx(accuracy_score(y, P.argmax(1))) and got[1] == pytest.approx(sk_log_loss(y, P))
    return got


# ------------------------------------------------------------- columns
def test_pandas_to_csv_index_column_is_left_out(tmp_path, cancer, plain):
    P, _, y = cancer
    # byte for byte what pandas.DataFrame({"p0": P[:, 0], "p1": P[:, 1], "y": y}).to_csv(path) writes:
    # an unnamed index column first, floats as repr, "\n" line ends
    lines = [",p0,p1,y"] + [f"{i},{r}" for i, r in enumerate(rows(P, y))]
    r = ok(text(tmp_path / "df.csv", lines), "--label-column", "y", "--out", tmp_path / "o")
    assert metrics_of(tmp_path / "o") == pytest.approx(plain)  # before: accuracy 0.368, log loss 21.4 (a 3rd class)
    res = load(tmp_path / "o")
    assert res["n_classes"] == 2 and res["score_columns"] == ["p0", "p1"]
    assert any("column 1 has no name and holds the row numbers 0, 1, 2, ...: the index pandas writes" in n
               for n in res["assumptions"]["notes"])  # fmt: skip
    assert "index pandas writes" in " ".join(r.output.split())
    # the same file read back by pandas and written again: "Unnamed: 0", an ID-like name
    text(tmp_path / "again.csv", ["Unnamed: 0,p0,p1,y"] + [f"{i},{r}" for i, r in enumerate(rows(P, y))])
    ok(tmp_path / "again.csv", "--label-column", "y", "--out", tmp_path / "o2")
    assert metrics_of(tmp_path / "o2") == pytest.approx(plain)
    # a filtered frame's index (not 0..n-1) is still integers: left out
    text(tmp_path / "filtered.csv", [",p0,p1,y"] + [f"{3 * i + 7},{r}" for i, r in enumerate(rows(P, y))])
    ok(tmp_path / "filtered.csv", "--label-column", "y", "--out", tmp_path / "o3")
    assert metrics_of(tmp_path / "o3") == pytest.approx(plain)


def test_id_columns_are_left_out_and_ambiguous_ones_refused(tmp_path, cancer, plain):
    P, _, y = cancer
    body = rows(P, y)
    text(tmp_path / "sid.csv", ["sample_id,p0,p1,y"] + [f"{1000 + i},{r}" for i, r in enumerate(body)])
    ok(tmp_path / "sid.csv", "--label-column", "y", "--out", tmp_path / "o")
    assert metrics_of(tmp_path / "o") == pytest.approx(plain)  # before: accuracy 0.373, log loss 22.6
    assert "column 'sample_id' is named like an ID and holds integers: left out" in load(tmp_path / "o")[
        "assumptions"]["notes"]  # fmt: skip
    pairs = list(enumerate(zip(body, y, strict=True)))
    text(tmp_path / "names.csv", ["p0,p1,image_id,y"] + [f"{r.rsplit(',', 1)[0]},i{i}.png,{t}" for i, (r, t) in pairs])
    ok(tmp_path / "names.csv", "--label-column", "y", "--out", tmp_path / "o2")
    assert metrics_of(tmp_path / "o2") == pytest.approx(plain)
    text(tmp_path / "fid.csv", ["id,p0,p1,y"] + [f"{i + 0.5},{r}" for i, r in enumerate(body)])
    msg = bad(tmp_path, tmp_path / "fid.csv", "--label-column", "y")
    assert "fid.csv: column 'id' is named like an ID but holds fractional numbers (0.5 in the first rows)" in msg
    assert "pass --ignore-columns 'id' to leave it out, or --score-columns" in msg
    ok(tmp_path / "fid.csv", "--label-column", "y", "--ignore-columns", "id", "--out", tmp_path / "o3")
    assert metrics_of(tmp_path / "o3") == pytest.approx(plain)
    text(tmp_path / "u.csv", [",p0,p1,y"] + [f"{0.25 + i},{r}" for i, r in enumerate(body)])
    msg = bad(tmp_path, tmp_path / "u.csv", "--label-column", "y")
    assert "u.csv: column 1 (unnamed) has no name, and holds fractional numbers" in msg
    assert "--ignore-columns 'Unnamed: 0'" in msg
    ok(tmp_path / "u.csv", "--label-column", "y", "--ignore-columns", "Unnamed: 0", "--out", tmp_path / "o4")
    text(tmp_path / "f.csv", ["p0,p1,file,y"] + [f"{r.rsplit(',', 1)[0]},a{i}.png,{t}" for i, (r, t) in pairs])
    msg = bad(tmp_path, tmp_path / "f.csv", "--label-column", "y")
    assert "f.csv: column 'file' holds text ('a0.png'), so it is not a score column: pass --ignore-columns 'file'" \
        in msg


def test_score_columns_select_and_order(tmp_path, cancer, plain):
    P, _, y = cancer
    text(tmp_path / "s.csv", ["junk,p1,y,p0"] + [f"0.5,{float(p[1])!r},{t},{float(p[0])!r}"
                                                 for p, t in zip(P, y, strict=True)])  # fmt: skip
    msg = bad(tmp_path, tmp_path / "s.csv", "--label-column", "y")  # 'junk' (0.5 everywhere) is a score column
    assert "s.csv: every score is in [0, 1] but 228 of 228 rows do not sum to 1" in msg
    ok(tmp_path / "s.csv", "--label-column", "y", "--score-columns", "p0,p1", "--out", tmp_path / "o")
    res = load(tmp_path / "o")
    assert metrics_of(tmp_path / "o") == pytest.approx(plain) and res["score_columns"] == ["p0", "p1"]
    assert "columns left out (not in --score-columns): 'junk'" in res["assumptions"]["notes"]
    msg = bad(tmp_path, tmp_path / "s.csv", "--label-column", "y", "--score-columns", "p0,p2")
    assert "s.csv: --score-columns: no column 'p2'; the columns are 'junk', 'p1', 'y', 'p0'" in msg


def test_duplicated_header_names_are_refused(tmp_path, cancer):
    P, _, y = cancer
    text(tmp_path / "d.csv", ["y,p0,p1,y"] + [f"0,{r}" for r in rows(P, y)])
    msg = bad(tmp_path, tmp_path / "d.csv", "--label-column", "y")  # before: the first y, accuracy 0.36
    assert "d.csv: the header names column 'y' 2 times (columns 1, 4); column names must be unique" in msg
    text(tmp_path / "d2.csv", ["p,p,y"] + rows(P, y))
    assert "d2.csv: the header names column 'p' 2 times (columns 1, 2)" in bad(tmp_path, tmp_path / "d2.csv",
                                                                               "--label-column", "y")  # fmt: skip


# ------------------------------------------------------------- labels
def test_string_labels_by_column_name_sorted_order_and_classes(tmp_path, cancer, plain):
    P, _, y = cancer
    names = np.array(["cat", "dog"])[y]
    for header in ("cat,dog,label", "p_cat,p_dog,label", "cat_prob,dog_prob,label"):
        f = text(tmp_path / "s.csv", [header, *rows(P, names, fmt=repr)])
        ok(f, "--label-column", "label", "--out", tmp_path / "o")
        res = load(tmp_path / "o")
        assert metrics_of(tmp_path / "o") == pytest.approx(plain), header
        assert res["classes"] == ["cat", "dog"] and res["assumptions"]["class_mapping"] == "mapped to the score " \
            "columns by name"  # fmt: skip
    # columns named by class in the other order: mapped by name, not by position
    f = text(tmp_path / "rev.csv", ["dog,cat,label"] + [f"{float(p[1])!r},{float(p[0])!r},{n}"
                                                        for p, n in zip(P, names, strict=True)])  # fmt: skip
    ok(f, "--label-column", "label", "--out", tmp_path / "rev")
    assert metrics_of(tmp_path / "rev") == pytest.approx(plain) and load(tmp_path / "rev")["classes"] == ["dog", "cat"]
    # columns not named by class: sorted order, as sklearn's classes_ (benign < malignant)
    f = text(tmp_path / "srt.csv", ["s0,s1,label", *rows(P, np.array(["benign", "malignant"])[y])])
    r = ok(f, "--label-column", "label", "--out", tmp_path / "srt")
    assert metrics_of(tmp_path / "srt") == pytest.approx(plain)
    html = (tmp_path / "srt" / "report.html").read_text()
    assert "classes: benign, malignant (in sorted order" in html and "Classes: benign, malignant" in r.output
    # one score column named by its class: that class is class 1
    f = text(tmp_path / "one.csv", ["p_cat,label"] + [f"{float(p[0])!r},{n}" for p, n in zip(P, names, strict=True)])
    ok(f, "--label-column", "label", "--out", tmp_path / "one")
    res = load(tmp_path / "one")
    assert res["classes"] == ["dog", "cat"] and res["metrics"]["log_loss"]["estimate"] == pytest.approx(plain[1])
    # a class missing from the labels: sorted order cannot place the columns
    three = np.column_stack([P * 0.9, np.full(len(y), 0.1)])
    f = text(tmp_path / "miss.csv", ["s0,s1,s2,label", *rows(three, names)])
    msg = bad(tmp_path, f, "--label-column", "label")
    assert "miss.csv: column 'label' holds 2 distinct label(s) ('cat', 'dog') for 3 classes" in msg
    assert "pass --classes" in msg
    ok(f, "--label-column", "label", "--classes", "cat,dog,bird", "--out", tmp_path / "cls")
    assert load(tmp_path / "cls")["classes"] == ["cat", "dog", "bird"]
    assert "--classes: 2 names ('cat', 'dog') for 3 classes" in bad(tmp_path, f, "--label-column", "label",
                                                                     "--classes", "cat,dog")  # fmt: skip
    f = text(tmp_path / "more.csv", ["s0,s1,label", *rows(P, np.array(["cat", "dog", "emu"])[np.arange(len(y)) % 3])])
    assert "more.csv: column 'label' holds more than 2 distinct labels ('cat', 'dog', 'emu')" in bad(
        tmp_path, f, "--label-column", "label")  # fmt: skip
    f = text(tmp_path / "part.csv", ["cat,bird,label", *rows(P, names)])
    assert "part.csv: some labels name score columns ('cat') and some do not ('dog')" in bad(
        tmp_path, f, "--label-column", "label")  # fmt: skip


def test_string_labels_streamed_when_the_first_chunk_lacks_a_class(tmp_path, cancer, plain):
    P, _, y = cancer
    order = np.argsort(y, kind="stable")  # every 0 first: the detection sample of 30 rows sees one class
    names = np.array(["benign", "malignant"])[y[order]]
    f = text(tmp_path / "s.csv", ["s0,s1,label", *rows(P[order], names)])
    from losslab.evaluation.read import delimited

    mp = pytest.MonkeyPatch()
    mp.setattr(delimited, "SAMPLE_ROWS", 30)
    try:
        ok(f, "--label-column", "label", "--out", tmp_path / "mem")
        ok(f, "--label-column", "label", "--out", tmp_path / "str", "--chunk-rows", 16)
    finally:
        mp.undo()
    assert metrics_of(tmp_path / "mem")[:2] == pytest.approx(plain[:2])
    assert metrics_of(tmp_path / "str")[:2] == pytest.approx(plain[:2])


@pytest.mark.parametrize("spell", [("True", "False"), ("TRUE", "FALSE"), ("true", "false")])
def test_boolean_labels(tmp_path, cancer, plain, spell):
    P, _, y = cancer
    f = text(tmp_path / "b.csv", ["p0,p1,y", *rows(P, np.array([spell[1], spell[0]])[y])])
    ok(f, "--label-column", "y", "--out", tmp_path / "o")  # before: "'False' is not a number"
    assert metrics_of(tmp_path / "o") == pytest.approx(plain) and load(tmp_path / "o")["classes"] == ["False", "True"]


def test_string_and_boolean_labels_in_npz_and_parquet(tmp_path, cancer, plain):
    import pyarrow as pa
    import pyarrow.parquet as pq

    P, _, y = cancer
    np.savez(tmp_path / "s.npz", scores=P, labels=np.array(["benign", "malignant"])[y])
    ok(tmp_path / "s.npz", "--out", tmp_path / "o")
    assert metrics_of(tmp_path / "o") == pytest.approx(plain) and load(tmp_path / "o")["classes"][0] == "benign"
    np.savez(tmp_path / "b.npz", scores=P[:, 1], labels=y.astype(bool))
    ok(tmp_path / "b.npz", "--out", tmp_path / "o2")
    assert metrics_of(tmp_path / "o2")[:2] == pytest.approx(plain[:2])
    # what pandas' df.to_parquet() writes for a frame with a non-default index: __index_level_0__
    t = pa.table({"p0": P[:, 0], "p1": P[:, 1], "y": np.array(["cat", "dog"])[y],
                  "__index_level_0__": np.arange(len(y)) * 2})  # fmt: skip
    pq.write_table(t, tmp_path / "p.parquet")
    ok(tmp_path / "p.parquet", "--label-column", "y", "--out", tmp_path / "o3")
    assert metrics_of(tmp_path / "o3") == pytest.approx(plain) and load(tmp_path / "o3")["classes"] == ["cat", "dog"]
    pq.write_table(pa.table({"p": P[:, 1], "y": y.astype(bool)}), tmp_path / "b.parquet", row_group_size=50)
    ok(tmp_path / "b.parquet", "--label-column", "y", "--out", tmp_path / "o4", "--chunk-rows", 40)
    assert metrics_of(tmp_path / "o4")[:2] == pytest.approx(plain[:2])


# ------------------------------------------------------------- formats and encodings
def test_tsv_and_compressed_csv(tmp_path, cancer, plain):
    P, _, y = cancer
    body = "".join(line + "\n" for line in ["p0,p1,y", *rows(P, y)])
    (tmp_path / "p.tsv").write_text(body.replace(",", "\t"))
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(body.encode()))
    (tmp_path / "p.csv.bz2").write_bytes(bz2.compress(body.encode()))
    (tmp_path / "p.csv.xz").write_bytes(lzma.compress(body.encode()))
    (tmp_path / "p.tsv.gz").write_bytes(gzip.compress(body.replace(",", "\t").encode()))
    (tmp_path / "semi.csv").write_text(body.replace(",", ";"))
    (tmp_path / "tabs.csv").write_text(body.replace(",", "\t"))  # a tab-separated file named .csv
    (tmp_path / "trail.csv").write_text(body.replace("\n", ",\n"))  # a delimiter at the end of every line
    for name in ("p.tsv", "p.csv.gz", "p.csv.bz2", "p.csv.xz", "p.tsv.gz", "semi.csv", "tabs.csv", "trail.csv"):
        ok(tmp_path / name, "--label-column", "y", "--out", tmp_path / name.replace(".", "-"))
        assert metrics_of(tmp_path / name.replace(".", "-")) == pytest.approx(plain), name
    ok(tmp_path / "p.csv.gz", "--label-column", "y", "--out", tmp_path / "gz-streamed", "--chunk-rows", 50)
    assert metrics_of(tmp_path / "gz-streamed") == pytest.approx(plain)
    (tmp_path / "hidden.csv").write_bytes(gzip.compress(body.encode()))  # gzip named plain .csv: read, and noted
    ok(tmp_path / "hidden.csv", "--label-column", "y", "--out", tmp_path / "hidden")
    notes = load(tmp_path / "hidden")["assumptions"]["notes"]
    assert any("gzip-compressed (its name does not say so)" in n for n in notes)
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(body.encode())[:-200])
    msg = bad(tmp_path, tmp_path / "cut.csv.gz", "--label-column", "y")
    assert "cut.csv.gz: not a readable gzip-compressed file (Compressed file ended before the end-of-stream " in msg
    assert "it may be truncated: write it again" in msg
    big = "".join(line + "\n" for line in ["p0,p1,y", *rows(np.tile(P, (40, 1)), np.tile(y, 40))])
    (tmp_path / "cut2.csv.gz").write_bytes(gzip.compress(big.encode())[:-200])  # cut after the first 64 KiB
    msg = bad(tmp_path, tmp_path / "cut2.csv.gz", "--label-column", "y")
    assert "cut2.csv.gz: the gzip-compressed file could not be read after line " in msg and "truncated" in msg


def test_encodings(tmp_path, cancer, plain):
    P, _, y = cancer
    body = "".join(line + "\n" for line in ["prob_é0,prob_é1,y", *rows(P, y)])
    for enc in ("utf-16", "utf-8-sig", "utf-32"):
        (tmp_path / "u.csv").write_bytes(body.encode(enc))  # with its byte-order mark
        ok(tmp_path / "u.csv", "--label-column", "y", "--out", tmp_path / "o")
        assert metrics_of(tmp_path / "o") == pytest.approx(plain), enc
    (tmp_path / "l1.csv").write_bytes(body.encode("latin-1"))
    msg = bad(tmp_path, tmp_path / "l1.csv", "--label-column", "y")  # before: UnicodeDecodeError, a traceback
    assert "l1.csv: line 1: byte 0xe9 (position 6 of the line) is not UTF-8" in msg and "--encoding latin-1" in msg
    ok(tmp_path / "l1.csv", "--label-column", "y", "--encoding", "latin-1", "--out", tmp_path / "o2")
    assert metrics_of(tmp_path / "o2") == pytest.approx(plain)
    (tmp_path / "nobom.csv").write_bytes(body.encode("utf-16-le"))
    msg = bad(tmp_path, tmp_path / "nobom.csv", "--label-column", "y")
    assert "nobom.csv: line 1 holds a NUL byte (0x00) and the file has no byte-order mark" in msg
    ok(tmp_path / "nobom.csv", "--label-column", "y", "--encoding", "utf-16-le", "--out", tmp_path / "o3")


def test_header_detection(tmp_path, cancer, plain):
    P, _, y = cancer
    f = text(tmp_path / "nh.csv", rows(P, y))  # np.savetxt without a header
    msg = bad(tmp_path, f, "--label-column", "y")  # before: line 1 silently taken as the header
    assert "nh.csv: --label-column 'y' names no column: the file has no header row (line 1 is data)" in msg
    r = ok(f, "--label-column", "3", "--out", tmp_path / "o")
    assert metrics_of(tmp_path / "o") == pytest.approx(plain) and "no header row" in " ".join(r.output.split())
    assert "nh.csv: the file has no header row, so its columns are numbered 1..3" in bad(tmp_path, f)
    # integers above fractional numbers: a header of class numbers, or data?
    f = text(tmp_path / "amb.csv", ["0,1,1", *rows(P, y)])
    msg = bad(tmp_path, f, "--label-column", "3")
    assert "amb.csv: the first row (0, 1, 1) holds integers above fractional numbers" in msg
    assert "Pass --header if line 1 names the columns, --no-header if it is data" in msg
    ok(f, "--label-column", "3", "--no-header", "--out", tmp_path / "o2")  # line 1 is a row of data
    assert load(tmp_path / "o2")["metrics"]["n"] == len(y) + 1
    f = text(tmp_path / "amb2.csv", ["0,1,2", *rows(P, y)])
    ok(f, "--label-column", "2", "--header", "--out", tmp_path / "o4")  # line 1 names the columns 0, 1 and 2
    assert metrics_of(tmp_path / "o4") == pytest.approx(plain)
    # pandas' default integer column names over the probabilities, index=False: a header (the label is named)
    f = text(tmp_path / "int.csv", ["0,1,y", *rows(P, y)])
    ok(f, "--label-column", "y", "--out", tmp_path / "o3")
    assert metrics_of(tmp_path / "o3") == pytest.approx(plain)


# ------------------------------------------------------------- almost probabilities
@pytest.mark.parametrize(
    "name, row, value, message",
    [
        ("hair", [0.2, 1.0000001], None, "a value outside [0, 1] (1.0000001 at row 8, column 'p1')"),
        ("half", [0.25, 0.25], None, "row 8 sums to 0.5 (tolerance 0.001)"),
        ("over", [0.3011, 0.7], None, f"row 8 sums to {0.3011 + 0.7!r} (tolerance 0.001)"),
        ("negative", [-0.004, 1.004], None, "a value outside [0, 1] (-0.004 at row 8, column 'p0')"),
    ],
)  # fmt: skip
def test_almost_probabilities_are_refused_or_repaired_with_probs(tmp_path, cancer, plain, name, row, value, message):
    P, _, y = cancer
    Q = P.copy()
    Q[7] = row
    f = text(tmp_path / f"{name}.csv", ["p0,p1,y", *rows(Q, y)])
    msg = bad(tmp_path, f, "--label-column", "y")  # before: the whole file read as logits (ECE 0.26)
    assert f"{name}.csv: the scores look like probabilities (227 of 228 rows are in [0, 1] and sum to 1) but 1 row " \
           f"is not: {message}" in msg  # fmt: skip
    assert "pass --probs to read it as probabilities anyway" in msg
    r = ok(f, "--label-column", "y", "--probs", "--out", tmp_path / "o")
    res = load(tmp_path / "o")
    assert res["assumptions"]["input"] == "probabilities" and res["assumptions"]["forced"]
    w = res["assumptions"]["warnings"]
    assert w and all(x.startswith("--probs: ") for x in w) and "Warning: --probs" in r.output
    fixed = np.clip(Q, 0, 1)
    fixed /= fixed.sum(1, keepdims=True)
    assert res["metrics"]["log_loss"]["estimate"] == pytest.approx(sk_log_loss(y, fixed), rel=1e-9)


def test_probs_policy_and_logit_reasons(tmp_path, cancer):
    P, z, y = cancer
    # every value in [0, 1], no row sums to 1: refused; --probs renormalises every row
    f = text(tmp_path / "ovr.csv", ["a,b,y", *rows(P * 0.5, y)])
    msg = bad(tmp_path, f, "--label-column", "y")
    assert "ovr.csv: every score is in [0, 1] but 228 of 228 rows do not sum to 1 (row 1 sums to 0.5" in msg
    ok(f, "--label-column", "y", "--probs", "--out", tmp_path / "o")
    res = load(tmp_path / "o")
    assert res["metrics"]["log_loss"]["estimate"] == pytest.approx(sk_log_loss(y, P), rel=1e-9)
    assert "--probs: 228 rows renormalised to sum to 1 (the farthest: row " in res["assumptions"]["warnings"][0]
    # unambiguous logits: the reason says how many rows are not probabilities, and the first
    Z = np.column_stack([np.zeros_like(z), z])
    ok(text(tmp_path / "z.csv", ["a,b,y", *rows(Z, y)]), "--label-column", "y", "--out", tmp_path / "z")
    reason = load(tmp_path / "z")["assumptions"]["reason"]
    assert reason.startswith("228 of 228 rows are not probabilities (a value outside [0, 1] (") and "softmax" in reason
    # a probability file whose rows are within the tolerance: still probabilities, renormalised with a note
    R = np.round(P, 4)
    ok(text(tmp_path / "r.csv", ["a,b,y", *rows(R, y)]), "--label-column", "y", "--out", tmp_path / "r")
    res = load(tmp_path / "r")
    assert res["assumptions"]["input"] == "probabilities" and not res["assumptions"]["warnings"]


# ------------------------------------------------------------- calibration
def test_calibration_file_of_another_kind_names_both_files(tmp_path, cancer):
    P, z, y = cancer
    text(tmp_path / "test.csv", ["p0,p1,y", *rows(P, y)])
    text(tmp_path / "val.csv", ["p0,p1,y", *rows(np.column_stack([-z, z]), y)])
    msg = bad(tmp_path, tmp_path / "test.csv", "--label-column", "y", "--calibrate", "isotonic",
              "--calibration-file", tmp_path / "val.csv")  # fmt: skip
    assert "--probs was given" not in msg  # before: "val.csv: --probs was given but ..." without --probs
    assert "val.csv reads as logits (228 of 228 rows are not probabilities" in msg
    assert "but test.csv as probabilities; the calibration file must hold the same kind of scores" in msg


def test_a_calibrator_that_raises_the_log_loss_is_a_warning(tmp_path, cancer):
    P, _, y = cancer
    text(tmp_path / "test.csv", ["p,y", *rows(P[:, 1:], y)])
    text(tmp_path / "val.csv", ["p,y", *rows(P[:12, 1:], y[:12])])  # 12 rows: isotonic steps to 0 and 1
    r = ok(tmp_path / "test.csv", "--label-column", "y", "--calibrate", "isotonic", "--calibration-file",
           tmp_path / "val.csv", "--out", tmp_path / "o")  # fmt: skip
    res = load(tmp_path / "o")
    b, a = res["metrics"]["log_loss"]["estimate"], res["calibration"]["metrics"]["log_loss"]["estimate"]
    assert a > b
    assert res["assumptions"]["warnings"][-1].startswith(f"isotonic calibration raised the log loss of test.csv from "
                                                         f"{b:.4f} to {a:.4f}")  # fmt: skip
    assert "Warning: isotonic calibration raised" in " ".join(r.output.split())


# ------------------------------------------------------------- all or nothing
def _previous(tmp_path, cancer):
    P, _, y = cancer
    f = text(tmp_path / "p.csv", ["p0,p1,y", *rows(P, y)])
    out = tmp_path / "out"
    ok(f, "--label-column", "y", "--out", out)
    return f, out, {p.name: p.read_bytes() for p in out.iterdir()}


def test_a_failure_inside_the_report_writer_leaves_the_previous_outputs(tmp_path, cancer, monkeypatch):
    f, out, before = _previous(tmp_path, cancer)
    real = outputs._write

    def write(path, text):
        if path.name == "report.html":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(outputs, "_write", write)
    r = invoke(f, "--label-column", "y", "--out", out, "--n-resamples", 7)
    assert r.exit_code == 2 and "could not write the outputs to" in r.output and "Traceback" not in r.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old set, complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.csv"]  # no temporary directory left
    monkeypatch.undo()
    ok(f, "--label-column", "y", "--out", out, "--n-resamples", 7)
    assert load(out)["options"]["n_resamples"] == 7 and (out / "report.html").read_bytes() != before["report.html"]


_KILL = """
import os, signal, sys
from losslab.evaluation import outputs
real = outputs.os.rename
def rename(src, dst):
    real(src, dst)
    if ".old-" in os.path.basename(str(dst)):  # the previous set is aside, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
outputs.os.rename = rename
from losslab.cli import main
sys.argv = ["losslab", "evaluate", *sys.argv[1:]]
main()
"""


def test_a_run_killed_between_the_renames_is_recovered_by_the_next(tmp_path, cancer):
    f, out, before = _previous(tmp_path, cancer)
    cmd = [sys.executable, "-c", textwrap.dedent(_KILL), str(f), "--label-column", "y", "--out", str(out),
           "--n-resamples", "7"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert not out.exists()  # killed at the worst moment: the old set aside, the new one beside it
    stray = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out."))
    assert len(stray) == 2 and any(".old-" in s for s in stray) and any(".new-" in s for s in stray)
    # the next run (even one that fails) puts the previous set back and removes the rest
    r = invoke(tmp_path / "missing.csv", "--label-column", "y", "--out", out)
    assert r.exit_code == 2 and {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.csv"]
    ok(f, "--label-column", "y", "--out", out, "--n-resamples", 7)
    assert load(out)["options"]["n_resamples"] == 7


def test_out_holding_other_files_is_refused_before_any_work(tmp_path, cancer):
    P, _, y = cancer
    f = text(tmp_path / "p.csv", ["p0,p1,y", *rows(P, y)])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    r = invoke(f, "--label-column", "y", "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "the directory holds files that losslab evaluate did not write (thesis.tex)" in r.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    r = invoke(f, "--label-column", "y", "--out", tmp_path / "file")
    assert r.exit_code == 2 and "Invalid value for '--out'" in r.output and "is a file" in r.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_unwritable_out(tmp_path, cancer):
    P, _, y = cancer
    f = text(tmp_path / "p.csv", ["p0,p1,y", *rows(P, y)])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = invoke(f, "--label-column", "y", "--out", ro / "out")
    finally:
        ro.chmod(0o700)
    assert r.exit_code == 2 and "is not writable; pass a directory you can write to" in r.output


# ------------------------------------------------------------- memory
def test_wide_file_memory_is_planned_before_allocating(tmp_path):
    import tracemalloc

    from losslab.evaluation import evaluate

    C = 60_000
    z = np.random.default_rng(0).normal(size=(3, C))
    text(tmp_path / "w.csv", [",".join([*(f"c{k}" for k in range(C)), "y"])]
         + [",".join([*map(repr, r.tolist()), str(t)]) for r, t in zip(z, [0, 5, 7], strict=True)])  # fmt: skip
    tracemalloc.start()
    try:
        res, _ = evaluate(tmp_path / "w.csv", label_column="y", n_resamples=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20, peak / 2**20  # before: 2.9 GB for 3 rows
    assert res["metrics"]["ece_classwise"]["ci_low"] is None and res["metrics"]["ece_top_label"]["ci_low"] is not None
    assert any("the classwise ECE has no interval" in n for n in res["assumptions"]["notes"])
