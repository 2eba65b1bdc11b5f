"""Delimited text files as people write them: .csv / .tsv, plain or compressed, in UTF-8, UTF-16 or UTF-32.

* Compression: ``.gz``, ``.bz2``, ``.xz`` (:mod:`gzip`, :mod:`bz2`, :mod:`lzma`), decided by the file's first
  bytes; a file whose name promises a compression it does not have is refused, a compressed file named
  plain ``.csv`` is read (and the notes say so).
* Encoding: a byte-order mark decides (UTF-8, UTF-16, UTF-32); without one the file must be UTF-8, or the
  encoding given by ``--encoding``. NUL bytes without a byte-order mark (UTF-16 written without one) and
  bytes that are not UTF-8 (Latin-1, Windows-1252) are refused, naming the line and the byte.
* Delimiter: ``,`` for .csv (``;`` when the first line has semicolons and no comma), a tab for .tsv.
* Rows: :mod:`csv`; a row that spans several lines (a stray quote opened a field) and a field over the
  :mod:`csv` limit (128 KiB) are refused naming the line; a truncated compressed file is refused naming the
  last line read.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import itertools
import lzma
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

from ..errors import EvaluateError

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
COMPRESSIONS = {".gz": ("gzip", b"\x1f\x8b"), ".bz2": ("bzip2", b"BZh"), ".xz": ("xz", b"\xfd7zXZ\x00")}
_Opener = Callable[[Path, Literal["rb"]], io.BufferedIOBase]
_OPENERS: dict[str, _Opener] = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}
_BOMS = [  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]  # fmt: skip
_READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)  # gzip.BadGzipFile is an OSError


def split_suffix(path: Path) -> tuple[str, str | None]:
    """``("x.csv.gz") -> (".csv", ".gz")``: the format's suffix and the compression's (or None)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return (suffixes[-1] if suffixes else ""), None


@dataclass
class TextFile:
    """How to read one delimited text file; :meth:`rows` yields its rows."""

    path: Path
    compression: str | None  # "gzip", "bzip2", "xz" or None
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)

    def open_binary(self) -> IO[bytes]:
        if self.compression:
            # GzipFile, BZ2File and LZMAFile are binary file objects; typeshed types them as BufferedIOBase, not IO
            return cast(IO[bytes], _OPENERS[self.compression](self.path, "rb"))
        return open(self.path, "rb")

    def _what(self) -> str:
        return f"{self.compression}-compressed " if self.compression else ""

    def rows(self) -> Generator[tuple[int, list[str]], None, None]:
        """``(line, cells)`` of every non-empty row, in file order (see :meth:`row_chunks`)."""
        for rows, lines in self.row_chunks(256):
            yield from zip(lines, rows, strict=True)

    def row_chunks(self, chunk_rows: int, skip: int = 0) -> Iterator[tuple[list[list[str]], Sequence[int]]]:
        """``(rows, lines)``: at most ``chunk_rows`` non-empty rows at a time and their line numbers, after the
        first ``skip`` non-empty rows (the header); every read error is an :class:`EvaluateError`. Rows are read
        by :mod:`csv` at C speed: a chunk whose rows span more lines than it holds has a field running over
        lines (a stray quote), found then."""
        name, line = self.path.name, 0
        try:
            with self.open_binary() as raw, io.TextIOWrapper(raw, encoding=self.encoding, newline="") as fh:
                reader = csv.reader(fh, delimiter=self.delimiter)
                while skip:
                    row = next(reader, None)
                    if row is None:
                        return
                    if reader.line_num != line + 1:
                        self._multiline([row], line, reader.line_num)
                    line = reader.line_num
                    skip -= bool(row)
                while True:
                    rows = list(itertools.islice(reader, chunk_rows))
                    if not rows:
                        return
                    if reader.line_num - line != len(rows):
                        self._multiline(rows, line, reader.line_num)
                    lines: Sequence[int] = range(line + 1, reader.line_num + 1)
                    line = reader.line_num
                    if [] in rows:  # blank lines
                        keep = [i for i, r in enumerate(rows) if r]
                        rows, lines = [rows[i] for i in keep], [lines[i] for i in keep]
                    if rows:
                        yield rows, lines
        except PermissionError:
            raise EvaluateError(f"{name}: permission denied; make the file (and its directory) readable") from None
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc, line) from None
        except csv.Error as exc:
            start = self._failing_row_start()
            if "field larger than field limit" in str(exc):
                raise EvaluateError(
                    f"{name}: line {start}: a field is longer than {csv.field_size_limit()} characters; a quote (\") "
                    f"that opens a field and never closes makes the rest of the file one field: remove the stray "
                    f"quote on line {start} (or quote the whole field)"
                ) from None
            raise EvaluateError(f"{name}: line {start}: not readable as delimited text ({exc})") from None
        except _READ_ERRORS as exc:
            raise EvaluateError(
                f"{name}: the {self._what()}file could not be read after line {line} ({exc}); it is probably "
                f"truncated: write it again"
            ) from None

    def _failing_row_start(self) -> int:
        """The line on which the row that :mod:`csv` refuses begins (the file read again, row by row)."""
        line = 0
        try:
            with self.open_binary() as raw, io.TextIOWrapper(raw, encoding=self.encoding, newline="") as fh:
                reader = csv.reader(fh, delimiter=self.delimiter)
                for _ in reader:
                    line = reader.line_num
        except (csv.Error, UnicodeDecodeError, *_READ_ERRORS):
            pass
        return line + 1

    def _multiline(self, rows: list[list[str]], line: int, end: int) -> None:
        """Raise: the first of ``rows`` (the rows after ``line``) that runs over more than one line."""
        for i, r in enumerate(rows):
            breaks = sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in r)
            if breaks:
                start = line + 1 + i
                raise EvaluateError(
                    f"{self.path.name}: line {start}: a quote (\") opens a field that runs on to line "
                    f"{min(start + breaks, end)}; a prediction file has one row per line: remove the stray quote (or "
                    f"quote the whole field) on line {start}"
                )
        raise EvaluateError(f"{self.path.name}: after line {line}: rows and lines do not match; a stray quote (\")?")

    def _decode_error(self, exc: UnicodeDecodeError, after_line: int) -> EvaluateError:
        """The line and byte that is not in the file's encoding (found again, byte by byte, from the start)."""
        name = self.path.name
        if exc.encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8"):
            try:
                with self.open_binary() as fh:
                    for i, raw in enumerate(fh, start=1):
                        try:
                            raw.decode("utf-8")
                        except UnicodeDecodeError as e:
                            b = raw[e.start]
                            return EvaluateError(
                                f"{name}: line {i}: byte 0x{b:02x} (position {e.start + 1} of the line) is not "
                                f"UTF-8; the file is in another encoding (Latin-1 or Windows-1252 if it came from "
                                f"Excel): save it as UTF-8, or pass --encoding latin-1 (or the file's encoding)"
                            )
            except _READ_ERRORS:
                pass
        return EvaluateError(
            f"{name}: after line {after_line}: the text cannot be decoded as {self.encoding} ({exc.reason}); pass "
            f"--encoding with the file's encoding, or save it as UTF-8"
        )


def text_file(path: Path, encoding: str | None = None) -> TextFile:
    """The checked :class:`TextFile` of a .csv / .tsv file (optionally compressed)."""
    ext, comp = split_suffix(path)
    name = path.name
    with open(path, "rb") as fh:
        magic = fh.read(6)
    found = next((c for c, (_, m) in COMPRESSIONS.items() if magic.startswith(m)), None)
    notes = []
    if comp is not None and found != comp:
        raise EvaluateError(
            f"{name}: the name ends in {comp} but the file is not {COMPRESSIONS[comp][0]}-compressed "
            f"(it begins {magic!r}); rename it to end in {ext} if it is plain text"
            + (f", or to {ext}{found} (it is {COMPRESSIONS[found][0]}-compressed)" if found else "")
        )
    if comp is None and found is not None:
        notes.append(f"the file is {COMPRESSIONS[found][0]}-compressed (its name does not say so); read decompressed")
    compression = None if found is None else COMPRESSIONS[found][0]
    tf = TextFile(path, compression, "utf-8", TEXT_SUFFIXES[ext], notes)
    try:
        with tf.open_binary() as fh:
            head = fh.read(1 << 16)
    except PermissionError:
        raise EvaluateError(f"{name}: permission denied; make the file (and its directory) readable") from None
    except _READ_ERRORS as exc:
        raise EvaluateError(f"{name}: not a readable {tf._what()}file ({exc}); it may be truncated: write it again"
                            ) from None  # fmt: skip
    if encoding is not None:
        try:
            tf.encoding = codecs.lookup(encoding).name
        except LookupError:
            raise EvaluateError(f"--encoding {encoding!r}: not an encoding Python knows; use e.g. utf-8, latin-1, "
                                f"cp1252 or utf-16") from None  # fmt: skip
        tf.notes.append(f"read as {tf.encoding} (--encoding)")
    else:
        bom = next((enc for mark, enc in _BOMS if head.startswith(mark)), None)
        if bom is not None:
            tf.encoding = bom
            if bom != "utf-8-sig":
                tf.notes.append(f"read as {bom.upper()} (the file begins with its byte-order mark)")
        elif b"\x00" in head:
            at = head.index(b"\x00")
            line = head[:at].count(b"\n") + 1
            raise EvaluateError(
                f"{name}: line {line} holds a NUL byte (0x00) and the file has no byte-order mark: it is probably "
                f"UTF-16 or UTF-32 written without one. Save it as UTF-8, or pass --encoding utf-16-le (or utf-16-be)"
            )
        else:
            tf.encoding = "utf-8-sig"
    first = head.decode(tf.encoding, errors="ignore").split("\n", 1)[0]
    if tf.delimiter not in first:
        other = next((d for d in (",", "\t", ";") if d in first), None)
        if other is not None:
            shown = {",": "','", "\t": "a tab", ";": "';'"}
            tf.notes.append(f"delimiter {shown[other]}: line 1 has no {shown[tf.delimiter]} but {shown[other]}")
            tf.delimiter = other
    return tf
