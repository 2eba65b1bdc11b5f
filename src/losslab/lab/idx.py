"""IDX files (MNIST, Fashion-MNIST, KMNIST): the format, the published checksums, a folder of the four files.

Nothing here downloads and nothing refuses a valid file for its checksum: the
official MD5s are compared and the outcome is *recorded* (see
:func:`idx_provenance`), so a re-compressed copy, a subset or a
home-made file in the same format loads, and a report can say whether its
numbers come from the official files. Format errors (bad magic, truncation,
images and labels that do not belong together) still raise.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "IDX_DATASETS",
    "IDX_DTYPES",
    "IDX_STEMS",
    "KNOWN_FILES",
    "find_idx_files",
    "idx_provenance",
    "md5sum",
    "read_idx",
    "read_idx_folder",
    "verify_checksum",
]

#: IDX type code (third magic byte) -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{str(path)!r} starts like a gzip file but does not decompress ({exc}); "
            f"the download is probably incomplete: re-download it"
        ) from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into an array of its shape and type.

    The magic number is two zero bytes, a type code (0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number of
    dimensions; then one big-endian uint32 per dimension, then the data,
    big-endian, in C order. Compression is detected from the content, not the
    file name. The result is in native byte order and writable.

    >>> import os, struct, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + bytes([7, 8, 9]))
    >>> read_idx(path).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    buf = _read_bytes(path)
    head = buf[:4]
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(
            f"{str(path)!r} is not an IDX file: its magic bytes are {head.hex(' ') or '(empty file)'}; "
            f"an IDX file starts with 00 00, a type code ({codes}) and the number of dimensions. "
            f"Check that the path names an MNIST-style IDX file"
        )
    dtype = IDX_DTYPES[head[2]]
    ndim = head[3]
    header_len = 4 + 4 * ndim
    if len(buf) < header_len:
        raise ValueError(
            f"{str(path)!r} is truncated: its header declares {ndim} dimensions and needs {header_len} bytes; "
            f"got {len(buf)} bytes in all: re-download the file"
        )
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    actual = len(buf) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise ValueError(
            f"{str(path)!r} is {what}: shape {shape} of {dtype.newbyteorder('=').name} needs {expected} data bytes; "
            f"got {actual}: re-download the file"
        )
    data = np.frombuffer(buf, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native order, a writable copy


# ------------------------------------------------------------------ checksums
#: The four files of an MNIST-style release, without the ``.gz``; MNIST, Fashion-MNIST and KMNIST share them.
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: Published MD5 checksums of the official ``.gz`` files, as listed in torchvision's datasets/mnist.py
#: (KMNIST: the ROIS-CODH release, Clanuwat et al. 2018). A dataset with an empty table loads as
#: "checksum unknown".
KNOWN_FILES: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
    },
}

IDX_DATASETS = tuple(KNOWN_FILES)


def md5sum(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> md5sum(path)
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str | os.PathLike[str], expected_md5: str) -> None:
    """Raise ValueError when the file's MD5 differs from ``expected_md5`` (the loaders record, never raise).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> verify_checksum(path, "d41d8cd98f00b204e9800998ecf8427e")  # silent when it matches
    """
    actual = md5sum(path)
    if actual != expected_md5.strip().lower():
        raise ValueError(
            f"checksum mismatch for {str(path)!r}: expected MD5 {expected_md5}, got {actual}; "
            f"the file is corrupt or not the official one: delete it and re-download it"
        )


# ------------------------------------------------------------------ a folder of IDX files
def find_idx_files(data_dir: Path) -> dict[str, Path]:
    """The four files in ``data_dir``, each as ``<stem>.gz`` or, failing that, ``<stem>``."""
    found: dict[str, Path] = {}
    for stem in IDX_STEMS:
        for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
            if candidate.is_file():
                found[stem] = candidate
                break
    missing = [s for s in IDX_STEMS if s not in found]
    if missing:
        where = str(data_dir) + ("" if data_dir.is_dir() else " (the directory does not exist)")
        looked = "; ".join(f"{s}.gz or {s}" for s in missing)
        raise FileNotFoundError(
            f"missing IDX files in {where}: looked for {looked}. "
            f"Put the four official files (gzipped or decompressed) in that directory"
        )
    return found


def idx_provenance(files: dict[str, Path], name: str, *, verify: bool = True) -> dict[str, Any]:
    """Where the data came from: ``source`` (the folder), ``md5`` per file, ``status`` and the files that ``differ``.

    ``status`` is ``"official"`` when every file's MD5 is the published one,
    ``"not the official files"`` otherwise (``differs`` names them; a
    decompressed file always differs, the published MD5s being those of the
    ``.gz`` files), ``"checksum unknown"`` for a dataset without a table, and
    ``"not verified"`` with ``verify=False`` (no MD5 computed then).
    """
    folder = str(next(iter(files.values())).parent.resolve())
    if not verify:
        return {"source": folder, "md5": {}, "status": "not verified", "differs": []}
    md5 = {path.name: md5sum(path) for path in files.values()}
    table = KNOWN_FILES.get(name) or {}
    if not table:
        return {"source": folder, "md5": md5, "status": "checksum unknown", "differs": []}
    # compared by stem, whatever the file is called: a gzip file without the .gz suffix can still be the official one
    differs = [files[stem].name for stem in IDX_STEMS if md5[files[stem].name] != table.get(f"{stem}.gz", "").lower()]
    if differs:
        logger.info("%s in %s: not the official files (%s differ from the published MD5)", name, folder,
                    ", ".join(differs))  # fmt: skip
    return {"source": folder, "md5": md5, "status": "not the official files" if differs else "official",
            "differs": differs}  # fmt: skip


def read_idx_folder(
    data_dir: str | os.PathLike[str], name: str, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """``(X_train, y_train, X_test, y_test, provenance)`` from the four IDX files in ``data_dir``.

    Images are flattened to float32 in [0, 1], labels int64 in [0, 9]; the
    split is the official one. See :func:`idx_provenance` for the checksum record.
    """
    files = find_idx_files(Path(data_dir))

    def images(stem: str) -> np.ndarray:
        arr = read_idx(files[stem])
        if arr.dtype != np.uint8 or arr.ndim < 2:
            raise ValueError(
                f"{str(files[stem])!r} must hold uint8 images of shape (n, rows, cols); "
                f"got {arr.dtype} of shape {arr.shape}: check the file names"
            )
        return (arr.reshape(arr.shape[0], -1).astype(np.float32) / np.float32(255.0)).astype(np.float32)

    def labels(stem: str, n: int) -> np.ndarray:
        arr = read_idx(files[stem])
        if arr.ndim != 1 or arr.shape[0] != n or arr.dtype.kind not in "iu":
            raise ValueError(
                f"{str(files[stem])!r} must hold {n} integer labels, one per image; "
                f"got {arr.dtype} of shape {arr.shape}: check that images and labels belong together"
            )
        if arr.size and (arr.min() < 0 or arr.max() > 9):
            raise ValueError(f"{str(files[stem])!r} must hold labels in [0, 9]; got {arr.min()}..{arr.max()}")
        return arr.astype(np.int64)

    X_train = images("train-images-idx3-ubyte")
    X_test = images("t10k-images-idx3-ubyte")
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"train and test images differ in size: {X_train.shape[1]} vs {X_test.shape[1]} pixels")
    y_train = labels("train-labels-idx1-ubyte", X_train.shape[0])
    y_test = labels("t10k-labels-idx1-ubyte", X_test.shape[0])
    return X_train, y_train, X_test, y_test, idx_provenance(files, name, verify=verify)
