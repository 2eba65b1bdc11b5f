"""A catalogue of bad files and options for ``losslab evaluate`` (issue 11): every one exits with code 2 and
one message that names the file, row, column or option, and no Python traceback reaches the user.

Each case: an id, the files it needs (name -> bytes, or a callable of the directory), the command's
arguments (``{d}`` is the directory), the message it must contain, and optionally a patch to apply.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from losslab.cli import main
from losslab.evaluation import outputs
from losslab.evaluation.read import text as read_text

OK_ROWS = "".join(f"0.{k % 9 + 1},0.{9 - k % 9},{k % 2}\n" for k in range(40))
CSV = ("p0,p1,y\n" + OK_ROWS).encode()
BIG = ("p0,p1,y\n" + OK_ROWS * 400).encode()  # 16,000 rows: more than the first 64 KiB read up front


def _csv(body: str) -> bytes:
    return body.encode()


def _npz(**arrays):
    def make(d: Path, name: str):
        np.savez(d / name, **arrays)

    return make


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _parquet(**cols):
    def make(d: Path, name: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), d / name, row_group_size=8)

    return make


P = np.linspace(0.1, 0.9, 40)
Y = np.arange(40) % 2
GOOD_PARQUET = _parquet(p=P, y=Y)


def _hair(value_row: str) -> bytes:
    lines = CSV.decode().splitlines(keepends=True)
    lines[8] = value_row + "\n"
    return "".join(lines).encode()


def _deny(name):
    def patch(mp, d):
        real = os.access
        mp.setattr(outputs.os, "access", lambda p, mode: False if str(p) == str(d / name) else real(p, mode))

    return patch


def _mkdtemp_denied(mp, d):
    def mkdtemp(*a, **k):
        raise PermissionError(13, "Permission denied", str(d / "out"))

    mp.setattr(outputs.tempfile, "mkdtemp", mkdtemp)


def _open_denied(mp, d):
    real = read_text.TextFile.open_binary

    def open_binary(self):
        if self.path.name == "secret.csv":
            raise PermissionError(13, "Permission denied", str(self.path))
        return real(self)

    mp.setattr(read_text.TextFile, "open_binary", open_binary)


def _stream(mp, d):
    from losslab.evaluation.read import delimited

    mp.setattr(delimited, "SAMPLE_ROWS", 20)


Y_ = ["--label-column", "y"]
CASES = [
    # ---------------------------------------------------------- files and formats
    ("missing file", {}, ["{d}/nope.csv", *Y_], "nope.csv: no such file"),
    ("directory", {}, ["{d}", *Y_], "is a directory"),
    ("unknown suffix", {"a.txt": b"1\n"}, ["{d}/a.txt"], "a.txt: unknown file type '.txt'"),
    ("json", {"a.json": b"{}"}, ["{d}/a.json"], "a.json: unknown file type '.json'"),
    ("compressed npy", {"a.npy.gz": b"x"}, ["{d}/a.npy.gz"], "a.npy.gz: compressed .npy files are not read"),
    ("gz that is not gzip", {"a.csv.gz": CSV}, ["{d}/a.csv.gz", *Y_], "a.csv.gz: the name ends in .gz but the file is "
     "not gzip-compressed"),
    ("truncated gz, small", {"t.csv.gz": gzip.compress(CSV)[:-30]}, ["{d}/t.csv.gz", *Y_],
     "t.csv.gz: not a readable gzip-compressed file"),
    ("truncated gz, big", {"t.csv.gz": gzip.compress(BIG)[:-50]}, ["{d}/t.csv.gz", *Y_],
     "t.csv.gz: the gzip-compressed file could not be read after line"),
    ("truncated xz", {"t.csv.xz": lzma.compress(BIG)[:-50]}, ["{d}/t.csv.xz", *Y_], "t.csv.xz: the xz-compressed file "
     "could not be read after line"),
    ("truncated bz2", {"t.csv.bz2": bz2.compress(BIG)[:-50]}, ["{d}/t.csv.bz2", *Y_], "t.csv.bz2: "),
    ("empty file", {"e.csv": b""}, ["{d}/e.csv", *Y_], "e.csv: the file is empty"),
    ("blank lines only", {"e.csv": b"\n\n\n"}, ["{d}/e.csv", *Y_], "e.csv: the file is empty"),
    ("header only", {"h.csv": b"p,y\n"}, ["{d}/h.csv", *Y_], "h.csv: no data rows after the header"),
    ("latin-1", {"l.csv": "p_é,q,y\n0.2,0.8,1\n".encode("latin-1")}, ["{d}/l.csv", *Y_],
     "l.csv: line 1: byte 0xe9 (position 3 of the line) is not UTF-8"),
    ("latin-1 later", {"l.csv": CSV + "0.2,0.8,1 # café\n".encode("cp1252")}, ["{d}/l.csv", *Y_],
     "l.csv: line 42: byte 0xe9"),
    ("utf-16 without bom", {"u.csv": CSV.decode().encode("utf-16-le")}, ["{d}/u.csv", *Y_],
     "u.csv: line 1 holds a NUL byte (0x00) and the file has no byte-order mark"),
    ("binary garbage", {"g.csv": bytes(range(1, 256)) * 4}, ["{d}/g.csv", *Y_], "g.csv: line "),
    ("field over 128 KiB", {"f.csv": b"p,y\n" + b"1" * 140_000 + b",1\n"}, ["{d}/f.csv", *Y_],
     "f.csv: line 2: a field is longer than 131072 characters"),
    ("stray quote", {"q.csv": b'p0,p1,y\n0.2,"0.8,1\n0.3,0.7,0\n0.4,0.6,1\n'}, ["{d}/q.csv", *Y_],
     "q.csv: line 2: a quote (\") opens a field that runs on to line"),
    ("stray quote, long", {"q.csv": b'p0,p1,y\n0.2,"0.8,1\n' + OK_ROWS.encode() * 1000}, ["{d}/q.csv", *Y_],
     "q.csv: line 2: a field is longer than 131072 characters"),
    ("unknown encoding", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--encoding", "klingon"],
     "--encoding 'klingon': not an encoding Python knows"),
    ("too few fields", {"t.csv": b"p0,p1,y\n0.2,0.8,1\n0.3,0.7\n"}, ["{d}/t.csv", *Y_],
     "t.csv: row 2 (line 3) has 2 fields but the header has 3"),
    # ---------------------------------------------------------- cells and labels
    ("text cell", {"a.csv": b"p0,p1,y\n0.2,0.8,1\n0.3,abc,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 2 (line 3), column 'p1': 'abc' is not a number"),
    ("empty cell", {"a.csv": b"p0,p1,y\n0.2,,1\n0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 1 (line 2), column 'p1': an empty cell is not a number"),
    ("infinite cell", {"a.csv": b"p0,p1,y\n0.2,inf,1\n0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 1 (line 2), column 'p1': 'inf' is not finite"),
    ("decimal comma", {"a.csv": b"p0;p1;y\n0,2;0,8;1\n0,3;0,7;0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'p0' holds numbers written with a decimal comma ('0,2'); write them with a decimal point"),
    ("label out of range", {"a.csv": b"p0,p1,y\n0.2,0.8,1\n0.3,0.7,2\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 2, column 'y': label 2 is outside the classes 0..1"),
    ("label not an integer", {"a.csv": b"p,y\n0.2,1\n0.3,0.5\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 2, column 'y': label 0.5 is not an integer"),
    ("label 1e300", {"a.csv": b"p,y\n0.2,1\n0.3,1e300\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 2, column 'y': label 1e+300 is outside the classes 0..1"),
    ("empty text label", {"a.csv": b"cat,dog,y\n0.2,0.8,dog\n0.3,0.7,\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 2 (line 3), column 'y': an empty label"),
    ("boolean then text", {"a.csv": b"p,y\n" + b"0.2,True\n0.3,False\n" * 15 + b"0.4,maybe\n"}, ["{d}/a.csv", *Y_],
     "a.csv: row 31 (line 32), column 'y': label 'maybe' is not True or False", _stream),
    ("numbers and booleans", {"a.csv": b"p,y\n0.2,True\n0.3,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' mixes numbers ('0') and text ('True') in its first rows"),
    ("a header line repeated", {"a.csv": CSV + CSV}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' mixes numbers ('0') and text ('y') in its first rows"),
    ("three booleans", {"a.csv": b"p,y\n0.2,True\n0.3,False\n0.4,maybe\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' holds more than 2 distinct labels ('False', 'True', 'maybe') but there is one score column"),
    ("booleans for 3 classes", {"a.csv": b"a,b,c,y\n0.2,0.7,0.1,True\n0.3,0.6,0.1,False\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' holds booleans (True/False), which label two classes, but there are 3 score columns"),
    ("fewer names than classes", {"a.csv": b"a,b,c,y\n0.2,0.7,0.1,cat\n0.3,0.6,0.1,dog\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' holds 2 distinct label(s) ('cat', 'dog') for 3 classes"),
    ("more names than classes", {"a.csv": b"a,b,y\n0.2,0.8,cat\n0.3,0.7,dog\n0.4,0.6,emu\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' holds more than 2 distinct labels ('cat', 'dog', 'emu')"),
    ("three names, one column", {"a.csv": b"p_dog,y\n0.2,cat\n0.3,dog\n0.4,emu\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'y' holds more than two labels ('cat', 'emu', 'dog') for one score column"),
    ("names match some columns", {"a.csv": b"cat,emu,y\n0.2,0.8,cat\n0.3,0.7,dog\n"}, ["{d}/a.csv", *Y_],
     "a.csv: some labels name score columns ('cat') and some do not ('dog')"),
    ("unknown name, streamed", {"a.csv": (b"cat,dog,y\n" + b"0.2,0.8,cat\n0.3,0.7,dog\n" * 20 + b"0.5,0.5,emu\n")},
     ["{d}/a.csv", *Y_, "--chunk-rows", "7"], "a.csv: row 41 (line 42), column 'y': label 'emu' is none of the 2 "
     "classes ('cat', 'dog'; mapped to the score columns by name)", _stream),
    ("label not in --classes", {"a.csv": b"a,b,y\n0.2,0.8,cat\n0.3,0.7,dog\n"}, ["{d}/a.csv", *Y_, "--classes",
     "cat,emu"], "a.csv: row 2 (line 3), column 'y': label 'dog' is none of the 2 classes ('cat', 'emu'; as given by "
     "--classes)"),
    ("--classes count", {"a.csv": b"a,b,y\n0.2,0.8,cat\n0.3,0.7,dog\n"}, ["{d}/a.csv", *Y_, "--classes", "a,b,c"],
     "--classes: 3 names ('a', 'b', 'c') for 2 classes"),
    # ---------------------------------------------------------- columns and header
    ("label column not found", {"a.csv": b"p0,p1,target\n0.2,0.8,1\n"}, ["{d}/a.csv", *Y_],
     "a.csv: label column 'y' not found; the columns are 'p0', 'p1', 'target'"),
    ("no --label-column", {"a.csv": CSV}, ["{d}/a.csv"],
     "a.csv: pass --label-column to name the column of true labels"),
    ("duplicated header name", {"a.csv": b"y,p0,p1,y\n0,0.2,0.8,1\n1,0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: the header names column 'y' 2 times (columns 1, 4)"),
    ("unnamed middle column", {"a.csv": b"p0,,y\n0.2,0.8,1\n0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 2 (unnamed) has no name, so it is not clear it is a score column"),
    ("unnamed fractional first column", {"a.csv": b",p0,p1,y\n0.5,0.2,0.8,1\n1.5,0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 1 (unnamed) has no name, and holds fractional numbers"),
    ("fractional ID", {"a.csv": b"id,p0,p1,y\n0.5,0.2,0.8,1\n1.5,0.3,0.7,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'id' is named like an ID but holds fractional numbers (0.5 in the first rows)"),
    ("text column", {"a.csv": b"p0,p1,f,y\n0.2,0.8,a.png,1\n0.3,0.7,b.png,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: column 'f' holds text ('a.png'), so it is not a score column: pass --ignore-columns 'f'"),
    ("row numbers, no header", {"a.csv": b"0,0.2,0.8,1\n1,0.3,0.7,0\n2,0.4,0.6,1\n"}, ["{d}/a.csv", "--label-column",
     "4"], "a.csv: column '1' holds the row numbers 0, 1, 2, ..."),
    ("label column only", {"a.csv": b"y\n1\n0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: no score columns besides the label column 'y'"),
    ("--score-columns unknown", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--score-columns", "p0,q"],
     "a.csv: --score-columns: no column 'q'; the columns are 'p0', 'p1', 'y'"),
    ("--score-columns has the label", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--score-columns", "p0,y"],
     "a.csv: --score-columns names the label column 'y'"),
    ("--score-columns twice", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--score-columns", "p0,p0"],
     "a.csv: --score-columns names 'p0' twice"),
    ("--score-columns empty name", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--score-columns", "p0,,p1"],
     "--score-columns 'p0,,p1': an empty name"),
    ("--ignore-columns unknown", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--ignore-columns", "zz"],
     "a.csv: --ignore-columns: no column 'zz'"),
    ("--ignore-columns has the label", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--ignore-columns", "y"],
     "a.csv: --ignore-columns names the label column 'y'"),
    ("both lists", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--score-columns", "p0,p1", "--ignore-columns", "p1"],
     "a.csv: column 'p1' is in both --score-columns and --ignore-columns"),
    ("no header, named label", {"a.csv": OK_ROWS.encode()}, ["{d}/a.csv", *Y_],
     "a.csv: --label-column 'y' names no column: the file has no header row (line 1 is data)"),
    ("no header, no label", {"a.csv": OK_ROWS.encode()}, ["{d}/a.csv"],
     "a.csv: the file has no header row, so its columns are numbered 1..3"),
    ("ambiguous first row", {"a.csv": b"0,1,1\n" + OK_ROWS.encode()}, ["{d}/a.csv", "--label-column", "3"],
     "a.csv: the first row (0, 1, 1) holds integers above fractional numbers"),
    ("--score-columns on .npy", {"a.npy": _npy(np.ones((4, 3)))}, ["{d}/a.npy", "--score-columns", "a"],
     "a.npy: --score-columns is for .csv, .tsv and .parquet files"),
    ("--header on parquet", {"a.parquet": GOOD_PARQUET}, ["{d}/a.parquet", *Y_, "--header"],
     "a.parquet: --header, --no-header and --encoding are for .csv and .tsv files"),
    # ---------------------------------------------------------- probabilities or logits
    ("a hair above 1", {"a.csv": _hair("0.2,1.0000001,0")}, ["{d}/a.csv", *Y_],
     "a.csv: the scores look like probabilities (39 of 40 rows are in [0, 1] and sum to 1) but 1 row is not: a value "
     "outside [0, 1] (1.0000001 at row 8, column 'p1')"),
    ("a row summing to 0.5", {"a.csv": _hair("0.25,0.25,0")}, ["{d}/a.csv", *Y_], "row 8 sums to 0.5"),
    ("a row summing to 1.0011", {"a.csv": _hair("0.3011,0.7,0")}, ["{d}/a.csv", *Y_], "row 8 sums to 1.001"),
    ("a negative entry", {"a.csv": _hair("-0.004,1.004,0")}, ["{d}/a.csv", *Y_],
     "(-0.004 at row 8, column 'p0')"),
    ("in [0, 1], rows not summing to 1", {"a.csv": b"a,b,y\n0.1,0.2,1\n0.3,0.3,0\n"}, ["{d}/a.csv", *Y_],
     "a.csv: every score is in [0, 1] but 2 of 2 rows do not sum to 1"),
    ("--probs, 1.5", {"a.csv": b"p,y\n0.2,1\n1.5,0\n"}, ["{d}/a.csv", *Y_, "--probs"],
     "a.csv: --probs was given but the scores are not probabilities: a value outside [0, 1] (1.5 at row 2)"),
    ("--probs, a row of zeros", {"a.csv": b"a,b,y\n0.2,0.8,1\n0,0,0\n"}, ["{d}/a.csv", *Y_, "--probs"],
     "a.csv: --probs was given but row 2 sums to 0"),
    ("later chunk not probabilities", {"a.csv": CSV + b"2.5,-1.0,0\n"}, ["{d}/a.csv", *Y_, "--chunk-rows", "5"],
     "a.csv: the first chunk was read as probabilities but a later chunk is not probabilities"),
    # ---------------------------------------------------------- .npz, .npy, .parquet
    ("truncated npz", {"t.npz": _npz_bytes(scores=np.ones((50, 3)), labels=np.zeros(50))[:300]}, ["{d}/t.npz"],
     "t.npz: not a readable .npz file"),
    ("npz of garbage", {"g.npz": b"PK\x03\x04garbage"}, ["{d}/g.npz"], "g.npz: not a readable .npz file"),
    ("npz without scores", {"a.npz": _npz_bytes(preds=np.zeros(3), labels=np.zeros(3))}, ["{d}/a.npz"],
     "a.npz: no array 'scores'"),
    ("npz shapes", {"a.npz": _npz_bytes(scores=np.zeros((3, 2)), labels=np.zeros(4))}, ["{d}/a.npz"],
     "a.npz: 'scores' must have shape (n, C) or (n,) and 'labels' shape (n,)"),
    ("npz object array", {"a.npz": _npz(scores=np.array([[0.5, 0.5]], dtype=object), labels=np.zeros(1))},
     ["{d}/a.npz"], "a.npz: not a readable .npz file (Object arrays cannot be loaded"),
    ("npz no rows", {"a.npz": _npz_bytes(scores=np.zeros((0, 2)), labels=np.zeros(0))}, ["{d}/a.npz"],
     "a.npz: the arrays have no rows"),
    ("npz nan", {"a.npz": _npz_bytes(scores=np.array([[0.5, np.nan]]), labels=np.zeros(1))}, ["{d}/a.npz"],
     "a.npz: row 1, column 'scores[:, 1]': nan is not finite"),
    ("truncated npy", {"t.npy": _npy(np.ones((50, 3)))[:200]}, ["{d}/t.npy"], "t.npy: not a readable .npy file"),
    ("1-d npy", {"v.npy": _npy(np.zeros(4))}, ["{d}/v.npy"], "v.npy: a .npy file must hold a 2-d array"),
    ("object npy", {"o.npy": _npy(np.array([[0.5, 1]], dtype=object))}, ["{d}/o.npy"],
     "o.npy: not a readable .npy file"),
    ("truncated parquet", {"c.parquet": lambda d, n: (GOOD_PARQUET(d, "full.parquet"), (d / n).write_bytes(
        (d / "full.parquet").read_bytes()[:-40]))}, ["{d}/c.parquet", *Y_], "c.parquet: not a readable .parquet file"),
    ("parquet text scores", {"s.parquet": _parquet(p=[str(v) for v in P], y=Y)}, ["{d}/s.parquet", *Y_],
     "s.parquet: column 'p' has type string; every column must be numeric"),
    ("parquet missing value", {"n.parquet": lambda d, n: __import__("pyarrow.parquet").parquet.write_table(
        __import__("pyarrow").table({"p": [0.1, None, 0.3], "y": [0, 1, 0]}), d / n)}, ["{d}/n.parquet", *Y_],
     "n.parquet: row 2, column 'p': missing value"),
    # ---------------------------------------------------------- options
    ("--seed -1", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--seed", "-1"], "Invalid value for '--seed': -1 is not in the "
     "range x>=0"),
    ("--n-bins 0", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--n-bins", "0"], "Invalid value for '--n-bins'"),
    ("--n-bins 100000000", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--n-bins", "100000000"],
     "--n-bins 100000000: the per-bin sums for 2 score columns x 100000000 bins would take about"),
    ("--n-resamples 100000000", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--n-resamples", "100000000"],
     "--n-resamples 100000000: the bootstrap's draws would take about"),
    ("--chunk-rows 0", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--chunk-rows", "0"], "Invalid value for '--chunk-rows'"),
    ("--chunk-rows on npz", {"a.npz": _npz_bytes(scores=np.zeros(3), labels=np.zeros(3))},
     ["{d}/a.npz", "--chunk-rows", "5"], "a.npz: --chunk-rows streams .csv, .tsv, .parquet, .npy files"),
    ("--calibrate alone", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--calibrate", "temperature"],
     "--calibrate and --calibration-file go together"),
    ("--calibrate unknown", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--calibrate", "magic"],
     "Invalid value for '--calibrate'"),
    ("calibration file missing", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--calibrate", "isotonic", "--calibration-file",
     "{d}/val.csv"], "val.csv: no such file"),
    ("calibration file columns", {"a.csv": CSV, "v.csv": b"a,b,c,y\n0.2,0.7,0.1,1\n"}, ["{d}/a.csv", *Y_,
     "--calibrate", "isotonic", "--calibration-file", "{d}/v.csv"], "v.csv: 3 score columns, but a.csv has 2"),
    ("calibration file kind", {"a.csv": CSV, "v.csv": b"a,b,y\n2.0,-1.0,1\n-3.0,1.5,0\n"}, ["{d}/a.csv", *Y_,
     "--calibrate", "isotonic", "--calibration-file", "{d}/v.csv"],
     "v.csv reads as logits (2 of 2 rows are not probabilities"),
    ("platt, 3 classes", {"a.csv": b"a,b,c,y\n0.2,0.7,0.1,1\n0.3,0.6,0.1,2\n0.6,0.3,0.1,0\n"}, ["{d}/a.csv", *Y_,
     "--calibrate", "platt", "--calibration-file", "{d}/a.csv"], "--calibrate platt is for binary problems"),
    # ---------------------------------------------------------- --out and permissions
    ("--out is a file", {"a.csv": CSV, "f": b"x"}, ["{d}/a.csv", *Y_, "--out", "{d}/f"], "Invalid value for '--out'"),
    ("--out holds other files", {"a.csv": CSV, "o/thesis.tex": b"x"}, ["{d}/a.csv", *Y_, "--out", "{d}/o"],
     "the directory holds files that losslab evaluate did not write (thesis.tex)"),
    ("--out not writable", {"a.csv": CSV, "ro/keep": b""}, ["{d}/a.csv", *Y_, "--out", "{d}/ro/out"],
     "is not writable; pass a directory you can write to", _deny("ro")),
    ("--out permission denied", {"a.csv": CSV}, ["{d}/a.csv", *Y_, "--out", "{d}/out"],
     "could not write the outputs to", _mkdtemp_denied),
    ("predictions not readable", {"secret.csv": CSV}, ["{d}/secret.csv", *Y_], "secret.csv: permission denied",
     _open_denied),
]  # fmt: skip


def _ids():
    return [c[0] for c in CASES]


def test_the_catalogue_counts_its_cases():
    assert len(CASES) == len(set(_ids())) == 101


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_bad_input_is_exit_2_with_one_message_and_no_traceback(tmp_path, monkeypatch, case):
    name, files, args, expected, *patch = case
    for fname, content in files.items():
        p = tmp_path / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        content(tmp_path, fname) if callable(content) else p.write_bytes(content)
    if patch:
        patch[0](monkeypatch, tmp_path)
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    r = CliRunner().invoke(main, ["evaluate", *argv, "--n-resamples", "5"] if "--n-resamples" not in argv
                           else ["evaluate", *argv], env={"COLUMNS": "300"})  # fmt: skip
    msg = " ".join(r.output.split())
    assert r.exit_code == 2, (name, r.output, r.exception)
    assert isinstance(r.exception, SystemExit), (name, repr(r.exception))
    assert "Traceback" not in r.output and msg.count("Error:") == 1, msg
    assert expected in msg, msg
    assert not (tmp_path / "out").exists()  # nothing written
