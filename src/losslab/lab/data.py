"""The lab's data layer: IDX files (MNIST, Fashion-MNIST) and scikit-learn's bundled datasets.

Nothing here downloads. MNIST-style data is read from a directory the user
filled (``--data-dir DIR``), with the published MD5 checksums verified for the
``.gz`` files; the bundled datasets ship with scikit-learn.

Every loader returns a :class:`Dataset`: X float32, y int64 (classification)
or float32 (regression), a fixed train/test split.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_open_unit

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------ IDX format
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


__all__ = [
    "BUNDLED",
    "DATASETS",
    "IDX_DATASETS",
    "IDX_DTYPES",
    "KNOWN_FILES",
    "Dataset",
    "load_bundled",
    "load_dataset",
    "load_idx_dataset",
    "md5sum",
    "read_idx",
    "verify_checksum",
]


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
_IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: Published MD5 checksums of the official ``.gz`` files (as listed in torchvision's datasets/mnist.py).
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
    """Raise ValueError when the file's MD5 differs from ``expected_md5``.

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


# ------------------------------------------------------------------ datasets
@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset with a fixed train/test split.

    X is float32 of shape (n, d); y is int64 class indices in
    ``[0, n_classes)`` for classification, float32 for regression
    (``n_classes`` is None then).

    >>> d = load_bundled("iris")
    >>> d.task, d.n_classes, d.X_train.shape[1]
    ('classification', 3, 4)
    """

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None
    feature_names: tuple[str, ...] | None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


def _check_name(name: Any, choices: tuple[str, ...]) -> str:
    if name not in choices:
        raise ValueError(f"`name` must be one of {', '.join(map(repr, choices))}; got {name!r}")
    return name


def _find_idx_files(data_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for stem in _IDX_STEMS:
        for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
            if candidate.is_file():
                found[stem] = candidate
                break
    missing = [s for s in _IDX_STEMS if s not in found]
    if missing:
        where = str(data_dir) + ("" if data_dir.is_dir() else " (the directory does not exist)")
        looked = "; ".join(f"{s}.gz or {s}" for s in missing)
        raise FileNotFoundError(
            f"missing IDX files in {where}: looked for {looked}. "
            f"Put the four official files (gzipped or decompressed) in that directory"
        )
    return found


def load_idx_dataset(data_dir: str | os.PathLike[str], name: str = "mnist", *, verify: bool = True) -> Dataset:
    """MNIST or Fashion-MNIST from the four official IDX files in ``data_dir``.

    Each file is looked for as ``<name>.gz``, then decompressed as ``<name>``.
    With ``verify=True`` the ``.gz`` files are checked against the published
    MD5 in :data:`KNOWN_FILES`; decompressed files cannot be, which is logged.
    Images are flattened to float32 in [0, 1]; the split is the official one.

    >>> import tempfile
    >>> try:
    ...     load_idx_dataset(tempfile.mkdtemp(), "mnist")
    ... except FileNotFoundError as e:
    ...     print(str(e)[:20])
    missing IDX files in
    """
    name = _check_name(name, IDX_DATASETS)
    files = _find_idx_files(Path(data_dir))
    if verify:
        table = KNOWN_FILES[name]
        for path in files.values():
            if path.suffix == ".gz":
                verify_checksum(path, table[path.name])
            else:
                logger.info("checksum not verified for %s: published checksums are for the .gz files", path)

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
    return Dataset(name, "classification", X_train, y_train, X_test, y_test, 10, None)


#: Bundled scikit-learn datasets: name -> (loader name, task).
BUNDLED: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "iris": ("load_iris", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; got {seed!r}")
    return int(seed)


def load_bundled(name: str, *, test_size: float = 0.25, seed: int = 0) -> Dataset:
    """One of scikit-learn's bundled datasets, split and standardised.

    The split is deterministic in ``seed`` and stratified for classification.
    Features are standardised with the train mean and standard deviation
    (a constant feature is only centred).

    >>> d = load_bundled("wine", seed=0)
    >>> d.X_train.dtype.name, d.y_train.dtype.name, d.n_classes
    ('float32', 'int64', 3)
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    name = _check_name(name, tuple(BUNDLED))
    test_size = check_open_unit("test_size", test_size)
    seed = _check_seed(seed)
    loader, task = BUNDLED[name]
    bunch = getattr(datasets, loader)()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    classification = task == "classification"
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y if classification else None
    )
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std[std == 0] = 1.0
    X_tr = ((X_tr - mean) / std).astype(np.float32)
    X_te = ((X_te - mean) / std).astype(np.float32)
    y_dtype = np.int64 if classification else np.float32
    names = getattr(bunch, "feature_names", None)
    return Dataset(
        name,
        task,
        X_tr,
        y_tr.astype(y_dtype),
        X_te,
        y_te.astype(y_dtype),
        int(np.unique(y).size) if classification else None,
        tuple(str(n) for n in names) if names is not None else None,
    )


DATASETS = tuple(BUNDLED) + IDX_DATASETS


def load_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0, test_size: float = 0.25
) -> Dataset:
    """Any lab dataset by name: a bundled one, or ``"mnist"`` / ``"fashion-mnist"`` from ``data_dir``.

    ``seed`` and ``test_size`` apply to the bundled datasets; the IDX datasets
    keep their official train/test split.

    >>> load_dataset("diabetes").task
    'regression'
    """
    name = _check_name(name, DATASETS)
    if name in BUNDLED:
        return load_bundled(name, test_size=test_size, seed=seed)
    if data_dir is None:
        raise ValueError(f"`data_dir` is required for {name}: pass --data-dir DIR holding the IDX files")
    return load_idx_dataset(data_dir, name)
