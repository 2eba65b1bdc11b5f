"""The lab's data layer: IDX reading, checksums and provenance, MNIST-style folders, bundled datasets, MNIST-1D,
splits, tensors."""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
import re
import socket
import struct

import numpy as np
import pytest

from losslab.lab import data, idx
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
    assert data.IDX_DATASETS == ("mnist", "fashion-mnist", "kmnist") and data.KNOWN_FILES is idx.KNOWN_FILES
    for name in data.IDX_DATASETS:
        assert sorted(data.KNOWN_FILES[name]) == sorted(f"{s}.gz" for s in stems)
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in data.KNOWN_FILES[name].values())
    assert data.KNOWN_FILES["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.KNOWN_FILES["fashion-mnist"]["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert data.KNOWN_FILES["kmnist"]["train-images-idx3-ubyte.gz"] == "bdb82020997e1d708af4cf47b453dcf7"
    assert len({v for t in data.KNOWN_FILES.values() for v in t.values()}) == 12  # no copy-paste between datasets


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


def md5_table(paths) -> dict[str, str]:
    """A checksum table that makes the files in ``paths`` "official" (keyed as the published .gz names)."""
    return {f"{stem}.gz": hashlib.md5(p.read_bytes()).hexdigest() for stem, p in paths.items()}


def test_load_idx_dataset_loads_files_that_are_not_the_official_ones(tmp_path):
    arrays, paths = make_mnist_dir(tmp_path)
    # the real published checksums cannot match these tiny files: they load all the same, and say so
    ds = load_idx_dataset(tmp_path, "mnist")
    check_mnist(ds, arrays)
    prov = ds.provenance
    assert prov["status"] == "not the official files" and prov["source"] == str(tmp_path.resolve())
    assert prov["differs"] == [p.name for p in paths.values()]
    assert prov["md5"] == {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths.values()}
    unverified = load_idx_dataset(tmp_path, "mnist", verify=False)
    check_mnist(unverified, arrays)
    assert unverified.provenance == {"source": str(tmp_path.resolve()), "md5": {}, "status": "not verified",
                                     "differs": []}  # fmt: skip


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_load_idx_dataset_official_and_one_file_differing(tmp_path, monkeypatch, name):
    arrays, paths = make_mnist_dir(tmp_path)
    table = md5_table(paths)
    monkeypatch.setattr(idx, "KNOWN_FILES", {name: table})
    ds = load_idx_dataset(tmp_path, name)
    check_mnist(ds, arrays, name)
    assert ds.provenance["status"] == "official" and ds.provenance["differs"] == []
    check_mnist(load_dataset(name, data_dir=str(tmp_path)), arrays, name)

    monkeypatch.setattr(idx, "KNOWN_FILES", {name: {**table, "t10k-labels-idx1-ubyte.gz": "1" * 32}})
    ds = load_idx_dataset(tmp_path, name)  # never refused for its checksum
    check_mnist(ds, arrays, name)
    assert ds.provenance["status"] == "not the official files"
    assert ds.provenance["differs"] == ["t10k-labels-idx1-ubyte.gz"]


def test_load_idx_dataset_recompressed_and_subset_files_load(tmp_path, monkeypatch):
    arrays, paths = make_mnist_dir(tmp_path)
    monkeypatch.setattr(idx, "KNOWN_FILES", {"mnist": md5_table(paths)})
    # the same content, compressed again at another level: other bytes, other MD5, the same arrays
    stem = "train-images-idx3-ubyte"
    paths[stem].write_bytes(gzip.compress(idx_bytes(arrays[stem]), compresslevel=1, mtime=12345))
    ds = load_idx_dataset(tmp_path)
    check_mnist(ds, arrays)
    assert ds.provenance["status"] == "not the official files" and ds.provenance["differs"] == [f"{stem}.gz"]
    # a subset: the first two training images and their labels
    write(paths[stem], idx_bytes(arrays[stem][:2]), gz=True)
    write(paths["train-labels-idx1-ubyte"], idx_bytes(LABELS[:2]), gz=True)
    sub = load_idx_dataset(tmp_path)
    assert sub.X_train.shape == (2, 20) and sub.y_train.tolist() == [3, 0]
    assert sub.provenance["differs"] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_load_idx_dataset_decompressed_files_load_and_differ(tmp_path, caplog):
    arrays, paths = make_mnist_dir(tmp_path, gz=False)
    with caplog.at_level(logging.INFO, logger="losslab.lab.idx"):
        ds = load_idx_dataset(tmp_path)  # the published MD5s are the .gz files': a decompressed file differs
    check_mnist(ds, arrays)
    assert ds.provenance["status"] == "not the official files" and len(ds.provenance["differs"]) == 4
    assert any("not the official files" in r.getMessage() for r in caplog.records)


def test_load_idx_dataset_compares_by_content_not_name(tmp_path, monkeypatch):
    # gzip files saved without the .gz suffix: still the official bytes, so still "official"
    arrays, paths = make_mnist_dir(tmp_path, gz=False)
    for stem, arr in arrays.items():
        write(paths[stem], idx_bytes(arr), gz=True)
    monkeypatch.setattr(idx, "KNOWN_FILES", {"mnist": md5_table(paths)})
    ds = load_idx_dataset(tmp_path)
    check_mnist(ds, arrays)
    assert ds.provenance["status"] == "official" and sorted(ds.provenance["md5"]) == sorted(arrays)


def test_load_idx_dataset_checksum_unknown(tmp_path, monkeypatch):
    arrays, _ = make_mnist_dir(tmp_path)
    monkeypatch.setattr(idx, "KNOWN_FILES", {"kmnist": {}})
    ds = load_idx_dataset(tmp_path, "kmnist")
    check_mnist(ds, arrays, "kmnist")
    assert ds.provenance["status"] == "checksum unknown" and len(ds.provenance["md5"]) == 4


def test_load_dataset_idx_keeps_the_official_split(tmp_path):
    make_mnist_dir(tmp_path)
    a = load_dataset("kmnist", data_dir=tmp_path, seed=0)
    b = load_dataset("kmnist", data_dir=tmp_path, seed=7, test_size=0.5)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer; got -1"):
        load_dataset("kmnist", data_dir=tmp_path, seed=-1)


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
    with pytest.raises(ValueError, match=r"`name` must be one of 'mnist', 'fashion-mnist', 'kmnist'; got 'emnist'"):
        load_idx_dataset(tmp_path, "emnist")


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
    all_choices = f"{choices}, 'mnist1d', 'mnist', 'fashion-mnist', 'kmnist'"
    with pytest.raises(ValueError, match=re.escape(f"`name` must be one of {all_choices}; got 'x'")):
        load_dataset("x")
    with pytest.raises(ValueError, match=re.escape(f"`name` must be one of {choices}")):
        load_bundled("mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_load_dataset_requires_data_dir(name):
    msg = f"`data_dir` is required for {name}: pass --data-dir DIR holding the IDX files"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_dataset(name)


# ------------------------------------------------------------------ MNIST-1D
@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """The real package generating MNIST-1D once, into a cache of this module's own, with the network blocked."""
    pytest.importorskip("mnist1d")
    cache = tmp_path_factory.mktemp("cache")

    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D generation tried to open a network connection")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOSSLAB_CACHE_DIR", str(cache))
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        data._mnist1d_arrays.cache_clear()
        np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (what make_dataset seeds)
        ds = load_dataset("mnist1d")
        after_np, after_py = np.random.get_state(), random.getstate()  # noqa: NPY002
    data._mnist1d_arrays.cache_clear()
    # make_dataset seeds the global generators: the loader must leave them as it found them
    assert after_py == py_state and after_np[0] == np_state[0] and np.array_equal(after_np[1], np_state[1])
    files = sorted(p.name for p in cache.iterdir())
    x, y = np.load(cache / files[0])["x"], np.load(cache / files[0])["y"]
    return cache, files, ds, x, y


@pytest.fixture
def in_cache(mnist1d_cache, monkeypatch):
    """LOSSLAB_CACHE_DIR set to the module's cache; the per-process cache cleared before and after."""
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(mnist1d_cache[0]))
    data._mnist1d_arrays.cache_clear()
    yield mnist1d_cache
    data._mnist1d_arrays.cache_clear()


def test_mnist1d_args_are_the_published_ones():
    mnist1d_data = pytest.importorskip("mnist1d.data")
    published = mnist1d_data.get_dataset_args(as_dict=True)
    assert data.MNIST1D_ARGS == {k: v for k, v in published.items() if k != "url"}
    assert data.MNIST1D_TEST_FRACTION == pytest.approx(0.2)


def test_mnist1d_generated_standardised_and_cached(mnist1d_cache):
    cache, files, ds, x, y = mnist1d_cache
    version = pytest.importorskip("importlib.metadata").version("mnist1d")
    assert len(files) == 1 and re.fullmatch(rf"mnist1d-{re.escape(version)}-[0-9a-f]{{16}}\.npz", files[0])  # no tmp
    assert ds.name == "mnist1d" and ds.task == "classification" and ds.n_classes == 10 and ds.n_features == 40
    assert ds.X_train.shape == (4000, 40) and ds.X_test.shape == (1000, 40)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, atol=1e-4)
    # seed 0 is the published split: the package's first 4000 sequences train, its last 1000 test
    assert x.shape == (5000, 40) and np.bincount(y).tolist() == [500] * 10
    np.testing.assert_array_equal(ds.y_train, y[:4000])
    np.testing.assert_array_equal(ds.y_test, y[4000:])
    assert ds.provenance["status"] == "generated" and ds.provenance["cache"] == str(cache / files[0])


def test_mnist1d_reproduces_the_published_linear_baseline(in_cache):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    ds = load_dataset("mnist1d")
    with threadpool_limits(limits=1):  # a fraction of a second on one thread, ten seconds oversubscribed on two cores
        acc = LogisticRegression(max_iter=1000).fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test)
    assert 0.27 <= acc <= 0.38  # Greydanus & Kobak: 32%; far from MNIST's 92%, so the data are MNIST-1D's


def test_mnist1d_read_from_disk_without_generating(in_cache, monkeypatch):
    _, _, first, _, _ = in_cache
    monkeypatch.setattr(data, "_generate_mnist1d", lambda: pytest.fail("generated although the cache is valid"))
    again = load_dataset("mnist1d")
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
    assert load_dataset("mnist1d") is not again and data.check_dataset("mnist1d") is None  # per process: one read


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong key", "wrong shape"])
def test_mnist1d_corrupt_cache_is_regenerated(in_cache, tmp_path, monkeypatch, damage):
    _, files, first, x, y = in_cache
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(tmp_path))
    path = tmp_path / files[0]
    good = (in_cache[0] / files[0]).read_bytes()
    key = str(np.load(in_cache[0] / files[0])["key"])
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "wrong key":
        np.savez(path, x=x, y=y, key=np.array("0" * 16))
    else:
        np.savez(path, x=x[:, :20], y=y, key=np.array(key))
    calls = []
    monkeypatch.setattr(data, "_generate_mnist1d", lambda: calls.append(1) or (x.copy(), y.copy()))
    ds = load_dataset("mnist1d")
    assert calls == [1]
    np.testing.assert_array_equal(ds.X_test, first.X_test)
    assert path.read_bytes() != b"not a zip file at all" and str(np.load(path)["key"]) == key  # rewritten


def test_mnist1d_unwritable_cache_still_loads(in_cache, tmp_path, monkeypatch, caplog):
    _, _, first, x, y = in_cache
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(blocker / "cache"))  # a directory under a file cannot exist
    monkeypatch.setattr(data, "_generate_mnist1d", lambda: (x.copy(), y.copy()))
    with caplog.at_level(logging.WARNING, logger="losslab.lab.data"):
        ds = load_dataset("mnist1d")
    np.testing.assert_array_equal(ds.y_train, first.y_train)
    assert any("could not cache MNIST-1D" in r.getMessage() for r in caplog.records)


def test_mnist1d_seeds_resample_a_stratified_split(in_cache):
    _, _, published, _, _ = in_cache
    a, b, a2 = load_dataset("mnist1d", seed=1), load_dataset("mnist1d", seed=2), load_dataset("mnist1d", seed=1)
    for ds in (a, b):
        assert ds.X_train.shape == (4000, 40) and ds.X_test.shape == (1000, 40)
        assert np.bincount(ds.y_test).tolist() == [100] * 10  # stratified: the published split is not exactly
        np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_array_equal(a.X_test, a2.X_test)
    assert not np.array_equal(a.y_test, b.y_test) and not np.array_equal(a.y_test, published.y_test)
    half = load_dataset("mnist1d", seed=0, test_size=0.5)  # another fraction: a resample even with seed 0
    assert half.X_test.shape == (2500, 40) and np.bincount(half.y_test).tolist() == [250] * 10
    ds = data.load_mnist1d(seed=0, test_size=0.2)
    np.testing.assert_array_equal(ds.y_test, published.y_test)


def test_mnist1d_without_the_package(monkeypatch):
    real = data.metadata.version

    def version(dist):
        if dist == "mnist1d":
            raise data.metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(data.metadata, "version", version)
    with pytest.raises(ImportError, match=r"needs the mnist1d package, which is not installed: pip install"):
        load_dataset("mnist1d")
    assert data.check_dataset("mnist1d").startswith("ImportError: the dataset 'mnist1d' needs the mnist1d package")


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(tmp_path))
    assert data.cache_dir() == tmp_path
    monkeypatch.delenv("LOSSLAB_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "losslab"


# ------------------------------------------------------------------ train/validation splits
def test_train_val_split_stratified_disjoint_seeded():
    y = np.repeat(np.arange(4), [40, 30, 20, 10])
    X = np.arange(y.size, dtype=np.float32)[:, None] * np.ones(3, dtype=np.float32)  # row i holds i
    X_fit, X_val, y_fit, y_val = data.train_val_split(X, y, seed=3, fraction=0.2)
    assert X_fit.shape == (80, 3) and X_val.shape == (20, 3) and X_val.dtype == np.float32
    rows_fit, rows_val = X_fit[:, 0].astype(int), X_val[:, 0].astype(int)
    assert not set(rows_fit) & set(rows_val) and sorted([*rows_fit, *rows_val]) == list(range(100))  # a partition
    np.testing.assert_array_equal(y[rows_fit], y_fit)  # rows keep their labels
    np.testing.assert_array_equal(y[rows_val], y_val)
    assert np.bincount(y_val).tolist() == [8, 6, 4, 2]  # every class in proportion
    again = data.train_val_split(X, y, seed=3, fraction=0.2)
    np.testing.assert_array_equal(again[1], X_val)
    other = data.train_val_split(X, y, seed=4, fraction=0.2)
    assert not np.array_equal(other[1], X_val)


def test_train_val_split_zero_and_regression():
    X, y = np.ones((10, 2), dtype=np.float32), np.linspace(0, 1, 10).astype(np.float32)
    X_fit, X_val, y_fit, y_val = data.train_val_split(X, y, seed=0, fraction=0.0, stratify=False)
    assert X_fit.shape == (10, 2) and X_val.shape == (0, 2) and y_val.shape == (0,) and y_val.dtype == np.float32
    _, X_val, _, y_val = data.train_val_split(X, y, seed=0, fraction=0.3, stratify=False)
    assert X_val.shape == (3, 2) and y_val.shape == (3,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 1.0}, r"`fraction` must be a number in [0, 1); got 1.0"),
        ({"fraction": -0.1}, r"`fraction` must be a number in [0, 1); got -0.1"),
        ({"fraction": True}, r"`fraction` must be a number in [0, 1); got True"),
        ({"fraction": 0.2, "seed": -1}, r"`seed` must be a non-negative integer; got -1"),
        ({"fraction": 0.2, "y": np.zeros(6, dtype=np.float32)},
         r"`stratify=True` needs integer class labels; got y of dtype float32: pass stratify=False"),
        ({"fraction": 0.2, "y": np.zeros(5, dtype=np.int64)}, r"`X` and `y` must have one row per sample"),
        ({"fraction": 0.2, "y": np.array([0, 0, 0, 0, 0, 1])}, r"cannot carve `fraction` 0.2 of 6 samples into a "
                                                                r"validation split: .*; change `fraction` or pass "),
    ],
)  # fmt: skip
def test_train_val_split_errors(kwargs, message):
    args = {"seed": 0, "y": np.array([0, 1] * 3)} | kwargs
    with pytest.raises(ValueError, match=re.escape(message) if "carve" not in message else message):
        data.train_val_split(np.zeros((6, 2)), args.pop("y"), **args)


# ------------------------------------------------------------------ tensors
def test_tensors_default_is_the_seed_0_split_without_validation():
    pytest.importorskip("torch")
    from losslab.lab.train import tensors

    t = tensors("iris", None, "cpu")  # the positional call of the lab's claims
    d = load_dataset("iris", seed=0)
    np.testing.assert_array_equal(t.X_train.numpy(), d.X_train)
    np.testing.assert_array_equal(t.y_test.numpy(), d.y_test)
    assert tuple(t.X_val.shape) == (0, 4) and tuple(t.y_val.shape) == (0,) and t.n_features == 4
    assert tensors("iris") is t and tensors("iris", seed=0, val_fraction=0) is t  # one cached entry


def test_tensors_seed_and_validation_carve_out():
    pytest.importorskip("torch")
    from losslab.lab.train import tensors

    d = load_dataset("digits", seed=2)
    t = tensors("digits", seed=2, val_fraction=0.25)
    assert t.X_val.shape[0] == int(np.ceil(0.25 * d.X_train.shape[0]))
    assert t.X_train.shape[0] + t.X_val.shape[0] == d.X_train.shape[0]
    np.testing.assert_array_equal(t.X_test.numpy(), d.X_test)  # the test set is untouched
    # train + validation are the training split's rows, redistributed
    both = np.concatenate([t.X_train.numpy(), t.X_val.numpy()])
    np.testing.assert_array_equal(np.unique(both, axis=0), np.unique(d.X_train, axis=0))
    frac_val = np.bincount(t.y_val.numpy(), minlength=10) / t.y_val.shape[0]
    frac_fit = np.bincount(t.y_train.numpy(), minlength=10) / t.y_train.shape[0]
    np.testing.assert_allclose(frac_val, frac_fit, atol=0.03)  # stratified
    other = tensors("digits", seed=3, val_fraction=0.25)
    assert not np.array_equal(other.y_test.numpy(), t.y_test.numpy())
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer; got -2"):
        tensors("digits", seed=-2)
    with pytest.raises(ValueError, match=re.escape("`fraction` must be a number in [0, 1); got 1.5")):
        tensors("digits", val_fraction=1.5)


def test_tensors_idx_seed_shares_the_official_split(tmp_path):
    pytest.importorskip("torch")
    from losslab.lab.train import tensors

    make_mnist_dir(tmp_path)
    a = tensors("mnist", str(tmp_path), "cpu")
    assert tensors("mnist", str(tmp_path), "cpu", seed=5) is a  # the seed changes nothing without validation


# ------------------------------------------------------------------ check_dataset, resolve_datasets
def test_check_dataset_reports_instead_of_raising(tmp_path):
    assert data.check_dataset("wine") is None
    make_mnist_dir(tmp_path)
    assert data.check_dataset("fashion-mnist", tmp_path) is None
    write(tmp_path / "t10k-images-idx3-ubyte.gz", b"PK\x03\x04 not idx")
    reason = data.check_dataset("fashion-mnist", tmp_path)
    assert reason.startswith("ValueError: ") and "is not an IDX file: its magic bytes are 50 4b 03 04" in reason
    assert data.check_dataset("mnist", tmp_path / "nope").startswith("FileNotFoundError: missing IDX files in")
    assert data.check_dataset("cifar10").startswith("ValueError: `name` must be one of")


def test_resolve_datasets_validates_names_without_loading(tmp_path):
    from losslab.lab.profiles import PROFILES
    from losslab.lab.runner import resolve_datasets

    quick = PROFILES["quick"]
    assert resolve_datasets(quick, ["mnist1d", "kmnist"], str(tmp_path / "empty")) == ("mnist1d", "kmnist")
    with pytest.raises(ValueError, match=r"`--dataset kmnist` needs --data-dir DIR"):
        resolve_datasets(quick, ["kmnist"], None)
    with pytest.raises(ValueError, match=r"`--dataset` must be among .*mnist1d.*; got 'cifar10'"):
        resolve_datasets(quick, ["cifar10"], None)
