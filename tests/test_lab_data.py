"""The lab's data layer: IDX reading, checksums, MNIST-style folders, bundled datasets."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import struct

import numpy as np
import pytest

from losslab.lab import data
from losslab.lab.data import Dataset, load_bundled, load_dataset, load_idx_dataset, read_idx, verify_checksum

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX encoding written independently of the reader: struct header, big-endian data."""
    code = _CODES[arr.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, payload: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


IMAGES = np.arange(60, dtype=np.uint8).reshape(3, 4, 5) * 4
LABELS = np.array([3, 0, 9], dtype=np.uint8)


# ------------------------------------------------------------------ read_idx
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "arr",
    [
        IMAGES,
        LABELS,
        np.array([[1.5, -2.25], [np.pi, 1e30]], dtype=np.float32),
        np.array([-32768, -1, 0, 258, 32767], dtype=np.int16),
        np.array([[-7, 100000]], dtype=np.int32),
        np.array([-128, 127], dtype=np.int8),
        np.array([1e-300, -2.5], dtype=np.float64),
    ],
    ids=["uint8-3d", "uint8-labels", "float32", "int16", "int32", "int8", "float64"],
)
def test_read_idx_round_trip(tmp_path, arr, gz):
    # the extension says nothing: compression is detected from the content
    path = write(tmp_path / "file.idx", idx_bytes(arr), gz=gz)
    out = read_idx(path)
    assert out.shape == arr.shape
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    out[...] = 0  # writable


def test_read_idx_gzip_detected_despite_plain_name(tmp_path):
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(LABELS), gz=True)
    np.testing.assert_array_equal(read_idx(str(path)), LABELS)


def test_read_idx_truncated(tmp_path):
    path = write(tmp_path / "t.idx", idx_bytes(IMAGES)[:-7])
    msg = f"{str(path)!r} is truncated: shape (3, 4, 5) of uint8 needs 60 data bytes; got 53: re-download the file"
    with pytest.raises(ValueError, match=re.escape(msg)):
        read_idx(path)


def test_read_idx_too_long(tmp_path):
    arr = np.array([1, 2, 3], dtype=np.int16)
    path = write(tmp_path / "t.idx", idx_bytes(arr) + b"\x00\x01", gz=True)
    msg = "is longer than its header says: shape (3,) of int16 needs 6 data bytes; got 8: re-download the file"
    with pytest.raises(ValueError, match=re.escape(msg)):
        read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = write(tmp_path / "t.idx", bytes([0, 0, 8, 3, 0, 0, 0, 3]))
    with pytest.raises(ValueError, match=r"declares 3 dimensions and needs 16 bytes; got 8 bytes"):
        read_idx(path)


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x00", "01 00 08 01"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x00", "00 00 07 01"),
        (b"PK\x03\x04rest", "50 4b 03 04"),
        (b"", "(empty file)"),
    ],
)
def test_read_idx_bad_magic(tmp_path, payload, shown):
    path = write(tmp_path / "bad.idx", payload)
    with pytest.raises(ValueError, match=re.escape(f"{str(path)!r} is not an IDX file: its magic bytes are {shown};")):
        read_idx(path)


def test_read_idx_broken_gzip(tmp_path):
    path = write(tmp_path / "b.gz", gzip.compress(idx_bytes(IMAGES))[:20])
    with pytest.raises(ValueError, match=r"starts like a gzip file but does not decompress .*re-download it"):
        read_idx(path)


# ------------------------------------------------------------------ checksums
def test_published_checksums_table():
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    for name in ("mnist", "fashion-mnist"):
        assert sorted(data.KNOWN_FILES[name]) == sorted(f"{s}.gz" for s in stems)
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in data.KNOWN_FILES[name].values())
    assert data.KNOWN_FILES["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.KNOWN_FILES["fashion-mnist"]["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"


def test_verify_checksum(tmp_path):
    path = write(tmp_path / "x.gz", idx_bytes(IMAGES), gz=True)
    good = hashlib.md5(path.read_bytes()).hexdigest()
    assert data.md5sum(path, chunk_size=7) == good  # chunked reading agrees
    verify_checksum(path, good)
    verify_checksum(path, good.upper())
    bad = "0" * 32
    msg = f"checksum mismatch for {str(path)!r}: expected MD5 {bad}, got {good}; "
    with pytest.raises(ValueError, match=re.escape(msg) + ".*re-download it"):
        verify_checksum(path, bad)


# ------------------------------------------------------------------ MNIST-style folders
def make_mnist_dir(directory, gz=True):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": IMAGES,
        "train-labels-idx1-ubyte": LABELS,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(2, 4, 5), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([1, 7], dtype=np.uint8),
    }
    paths = {}
    for stem, arr in arrays.items():
        paths[stem] = write(directory / (f"{stem}.gz" if gz else stem), idx_bytes(arr), gz=gz)
    return arrays, paths


def check_mnist(ds: Dataset, arrays, name="mnist"):
    assert ds.name == name and ds.task == "classification" and ds.n_classes == 10 and ds.feature_names is None
    assert ds.X_train.shape == (3, 20) and ds.X_test.shape == (2, 20)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    np.testing.assert_allclose(ds.X_train, arrays["train-images-idx3-ubyte"].reshape(3, 20) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, [3, 0, 9])
    np.testing.assert_array_equal(ds.y_test, [1, 7])


def test_load_idx_dataset_unverified(tmp_path):
    arrays, _ = make_mnist_dir(tmp_path)
    # the real published checksums cannot match these tiny files
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_idx_dataset(tmp_path, "mnist")
    check_mnist(load_idx_dataset(tmp_path, "mnist", verify=False), arrays)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_idx_dataset_verified(tmp_path, monkeypatch, name):
    arrays, paths = make_mnist_dir(tmp_path)
    table = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths.values()}
    monkeypatch.setattr(data, "KNOWN_FILES", {name: table})
    check_mnist(load_idx_dataset(tmp_path, name), arrays, name)
    check_mnist(load_dataset(name, data_dir=str(tmp_path)), arrays, name)

    monkeypatch.setattr(data, "KNOWN_FILES", {name: {**table, "t10k-labels-idx1-ubyte.gz": "1" * 32}})
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz'.*expected MD5 1{32}"):
        load_idx_dataset(tmp_path, name)


def test_load_idx_dataset_decompressed_skips_checksum(tmp_path, caplog):
    arrays, _ = make_mnist_dir(tmp_path, gz=False)
    with caplog.at_level(logging.INFO, logger="losslab.lab.data"):
        ds = load_idx_dataset(tmp_path)  # verify=True, yet nothing to verify against
    check_mnist(ds, arrays)
    assert sum("checksum not verified" in r.getMessage() for r in caplog.records) == 4


def test_load_idx_dataset_missing_files(tmp_path):
    make_mnist_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    msg = f"missing IDX files in {tmp_path}: looked for t10k-images-idx3-ubyte.gz or t10k-images-idx3-ubyte."
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        load_idx_dataset(tmp_path, verify=False)
    with pytest.raises(FileNotFoundError, match=r"\(the directory does not exist\): looked for train-images"):
        load_idx_dataset(tmp_path / "nope")


def test_load_idx_dataset_mismatched_labels(tmp_path):
    make_mnist_dir(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.array([1, 2], dtype=np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"must hold 3 integer labels, one per image; got uint8 of shape \(2,\)"):
        load_idx_dataset(tmp_path, verify=False)


def test_load_idx_dataset_bad_name(tmp_path):
    with pytest.raises(ValueError, match=r"`name` must be one of 'mnist', 'fashion-mnist'; got 'kmnist'"):
        load_idx_dataset(tmp_path, "kmnist")


# ------------------------------------------------------------------ bundled datasets
BUNDLED_SHAPES = {
    "digits": (1797, 64, 10),
    "breast_cancer": (569, 30, 2),
    "wine": (178, 13, 3),
    "iris": (150, 4, 3),
    "diabetes": (442, 10, None),
}


@pytest.mark.parametrize("name", sorted(BUNDLED_SHAPES))
def test_load_bundled(name):
    n, d, k = BUNDLED_SHAPES[name]
    ds = load_bundled(name)
    assert ds.name == name and ds.n_classes == k and ds.n_features == d
    assert ds.task == ("regression" if k is None else "classification")
    assert ds.X_train.shape[0] + ds.X_test.shape[0] == n
    assert ds.X_test.shape == (int(np.ceil(0.25 * n)), d)
    assert ds.X_train.dtype == ds.X_test.dtype == np.float32
    y_dtype = np.float32 if k is None else np.int64
    assert ds.y_train.dtype == ds.y_test.dtype == y_dtype
    assert ds.y_train.shape == (ds.X_train.shape[0],) and ds.y_test.shape == (ds.X_test.shape[0],)
    assert len(ds.feature_names) == d and all(isinstance(f, str) for f in ds.feature_names)
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.X_test).all()
    # standardised with the train statistics
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)
    std = ds.X_train.std(axis=0)
    assert np.all((np.abs(std - 1.0) < 1e-4) | (std == 0.0))  # constant features stay 0
    if k is not None:
        # stratified: every class in both splits, in proportion
        assert set(np.unique(ds.y_train)) == set(np.unique(ds.y_test)) == set(range(k))
        frac_tr = np.bincount(ds.y_train, minlength=k) / ds.y_train.size
        frac_te = np.bincount(ds.y_test, minlength=k) / ds.y_test.size
        np.testing.assert_allclose(frac_tr, frac_te, atol=0.03)
    # deterministic across calls, different under another seed
    again = load_bundled(name)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(ds, field), getattr(again, field))
    other = load_dataset(name, seed=1)
    assert not np.array_equal(other.y_test, ds.y_test) or not np.array_equal(other.X_test, ds.X_test)


def test_digits_constant_features_are_safe():
    ds = load_bundled("digits")
    const = ds.X_train.std(axis=0) == 0
    assert const.any()  # pixel_0_0 is always 0
    np.testing.assert_array_equal(ds.X_train[:, const], 0.0)


def test_load_bundled_options():
    ds = load_dataset("iris", test_size=0.5, seed=3)
    assert ds.X_test.shape == (75, 4)
    with pytest.raises(ValueError, match=r"`test_size` must be in \(0, 1\); got 1.5"):
        load_bundled("iris", test_size=1.5)
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer; got -1"):
        load_bundled("iris", seed=-1)
    with pytest.raises(TypeError):
        load_bundled("iris", 0.3)  # keyword-only


def test_dataset_is_frozen():
    ds = load_bundled("iris")
    with pytest.raises(AttributeError):
        ds.name = "other"


def test_unknown_names():
    choices = "'digits', 'breast_cancer', 'wine', 'iris', 'diabetes'"
    with pytest.raises(ValueError, match=re.escape(f"`name` must be one of {choices}; got 'cifar10'")):
        load_bundled("cifar10")
    all_choices = f"{choices}, 'mnist', 'fashion-mnist'"
    with pytest.raises(ValueError, match=re.escape(f"`name` must be one of {all_choices}; got 'x'")):
        load_dataset("x")
    with pytest.raises(ValueError, match=re.escape(f"`name` must be one of {choices}")):
        load_bundled("mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_dataset_requires_data_dir(name):
    msg = f"`data_dir` is required for {name}: pass --data-dir DIR holding the IDX files"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_dataset(name)
