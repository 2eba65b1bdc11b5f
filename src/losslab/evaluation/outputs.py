"""All-or-nothing outputs: ``--out`` holds a complete output set, the new one or the previous one.

The files are written into a temporary directory beside ``--out`` (``.NAME.new-PID-XXXX``), flushed to disk,
and the directory is moved into place by one :func:`os.rename`. A previous output set is first moved aside
(``.NAME.old-PID-XXXX``) and removed only once the new one is in place; if the last rename fails it is moved
back. A run killed at any point leaves either the old set or the new one at ``--out``, and temporary
directories that the next run cleans up: a temporary directory of a process that no longer runs is
removed, and a set moved aside by one is moved back when ``--out`` is missing.

``--out`` must be a new or empty directory or one that holds only what ``losslab evaluate`` writes: a
directory with other files is refused rather than replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import EvaluateError

OUTPUTS = ("metrics.json", "report.html")
_OLD_TEMP = re.compile(r"^\.(metrics\.json|report\.html)\..+\.tmp$")  # an earlier version's temporary files


def _temp(out: Path, what: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(out.name)}\.{what}-(\d+)-[^/]+$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _resolve(out: str | os.PathLike) -> Path:
    return Path(os.path.realpath(out))


def _clean_stale(out: Path) -> None:
    """Remove the temporary directories of dead runs; move back a set a dead run moved aside."""
    parent = out.parent
    if not parent.is_dir():
        return
    new, old = _temp(out, "new"), _temp(out, "old")
    asides = []
    for p in parent.iterdir():
        for pattern in (new, old):
            m = pattern.match(p.name)
            if m and not _alive(int(m.group(1))):
                (asides.append(p) if pattern is old else shutil.rmtree(p, ignore_errors=True))
    for p in asides:
        if not out.exists():
            os.rename(p, out)  # the dead run moved the previous set aside and did not put the new one in place
        else:
            shutil.rmtree(p, ignore_errors=True)


def _foreign(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS and not _OLD_TEMP.match(p.name))


def prepare_out(out: str | os.PathLike) -> Path:
    """Check ``--out`` before any work is done (and clean up after killed runs); returns its real path."""
    path = _resolve(out)
    try:
        if path.exists() and not path.is_dir():
            raise EvaluateError(f"--out {out}: a file is in the way; --out names a directory for "
                                f"{' and '.join(OUTPUTS)}")  # fmt: skip
        _clean_stale(path)
        if path.is_dir():
            foreign = _foreign(path)
            if foreign:
                shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
                raise EvaluateError(
                    f"--out {out}: the directory holds files that losslab evaluate did not write ({shown}); it "
                    f"replaces its output directory whole, so pass a new or empty directory, or one of its earlier "
                    f"outputs"
                )
    except OSError as exc:
        raise EvaluateError(f"--out {out}: {exc.strerror or exc}; pass a directory you can write to") from None
    base = path.parent
    while not base.exists():
        base = base.parent
    if not os.access(base, os.W_OK | os.X_OK):
        raise EvaluateError(f"--out {out}: {base} is not writable; pass a directory you can write to")
    return path


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o644)


def write_outputs(out_dir: str | os.PathLike, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (name -> text) as the directory ``out_dir``, all or nothing (see the module docstring).

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "out")
    >>> [p.name for p in write_outputs(out, {"a.txt": "hello"})]
    ['a.txt']
    """
    shown, out = Path(out_dir), _resolve(out_dir)
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-{os.getpid()}-", dir=out.parent))
        for name, text in files.items():
            _write(tmp / name, text)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        if out.exists():
            if not out.is_dir() or _foreign(out):
                raise EvaluateError(f"--out {shown}: something other than an earlier output appeared there; the new "
                                    f"outputs were not written")  # fmt: skip
            aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
            os.rename(out, aside)  # onto the empty directory mkdtemp reserved (POSIX rename replaces it)
            try:
                os.rename(tmp, out)
            except OSError:
                os.rename(aside, out)
                raise
            tmp = None
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, out)
            tmp = None
    except OSError as exc:
        raise EvaluateError(f"could not write the outputs to {shown}: {exc}; the previous outputs (if any) are "
                            f"unchanged") from None  # fmt: skip
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return [shown / name for name in files]
