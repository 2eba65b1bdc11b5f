"""The lab's data layer: scikit-learn's bundled datasets, MNIST-1D, and IDX folders (MNIST, Fashion-MNIST, KMNIST).

Nothing here downloads. The bundled datasets ship with scikit-learn; MNIST-1D
is generated on this machine by the ``mnist1d`` package from its templates,
with its published parameters and seed, and cached on disk; MNIST-style data
are read from a directory the user filled (``--data-dir DIR``, see
:mod:`losslab.lab.idx`), whose checksums are compared and recorded in
:attr:`Dataset.provenance`, never used to refuse a valid file.

Every loader returns a :class:`Dataset`: X float32, y int64 (classification)
or float32 (regression), a train/test split. ``seed`` resamples the stratified
split of the bundled datasets and of MNIST-1D; the IDX datasets keep their
official test set, which published comparisons use.

References
----------
- Greydanus, S. & Kobak, D. (2024). Scaling down deep learning with MNIST-1D.
  ICML 2024 (arXiv:2011.14439). 4000 train / 1000 test sequences of 40
  features, 10 classes; published test accuracies: logistic regression 32%,
  MLP 68%, CNN 94% (a GRU 91%), so it separates linear, fully connected and
  convolutional models as MNIST no longer does.
- LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based
  learning applied to document recognition (MNIST).
- Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST. arXiv:1708.07747.
- Clanuwat, T. et al. (2018). Deep learning for classical Japanese literature
  (KMNIST). arXiv:1812.01718.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import logging
import math
import os
import random
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._validation import check_open_unit
from .context import atomic_write
from .idx import IDX_DATASETS, IDX_DTYPES, KNOWN_FILES, md5sum, read_idx, read_idx_folder, verify_checksum

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLED",
    "DATASETS",
    "IDX_DATASETS",
    "IDX_DTYPES",
    "KNOWN_FILES",
    "MNIST1D_ARGS",
    "Dataset",
    "cache_dir",
    "check_dataset",
    "load_bundled",
    "load_dataset",
    "load_idx_dataset",
    "load_mnist1d",
    "md5sum",
    "read_idx",
    "train_val_split",
    "verify_checksum",
]


# ------------------------------------------------------------------ datasets
@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset with a train/test split.

    X is float32 of shape (n, d); y is int64 class indices in
    ``[0, n_classes)`` for classification, float32 for regression
    (``n_classes`` is None then). ``provenance`` says where the data came
    from: a small dict with at least ``source`` and ``status`` (for IDX
    folders also ``md5`` per file and the files that ``differ`` from the
    official ones).

    >>> d = load_bundled("iris")
    >>> d.task, d.n_classes, d.X_train.shape[1], d.provenance["status"]
    ('classification', 3, 4, 'bundled')
    """

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None
    feature_names: tuple[str, ...] | None
    provenance: dict[str, Any] | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def classes(self) -> int:
        """``n_classes`` of a classification dataset; a ValueError for a regression one (``n_classes`` is None)."""
        if self.n_classes is None:
            raise ValueError(f"dataset {self.name!r} is a regression dataset: it has no classes")
        return int(self.n_classes)


def _check_name(name: Any, choices: tuple[str, ...]) -> str:
    if name not in choices:
        raise ValueError(f"`name` must be one of {', '.join(map(repr, choices))}; got {name!r}")
    return name


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; got {seed!r}")
    return int(seed)


def _standardise(X_tr: np.ndarray, X_te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled with the train mean and standard deviation (a constant feature is only centred), as float32."""
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std[std == 0] = 1.0
    return ((X_tr - mean) / std).astype(np.float32), ((X_te - mean) / std).astype(np.float32)


def load_idx_dataset(data_dir: str | os.PathLike[str], name: str = "mnist", *, verify: bool = True) -> Dataset:
    """MNIST, Fashion-MNIST or KMNIST from the four IDX files in ``data_dir``.

    Each file is looked for as ``<name>.gz``, then decompressed as ``<name>``.
    Any valid IDX files load; with ``verify=True`` their MD5s are compared with
    the published ones and the outcome recorded in ``provenance["status"]``
    (``"official"``, ``"not the official files"``, ``"checksum unknown"``).
    Images are flattened to float32 in [0, 1]; the split is the official one.

    >>> import tempfile
    >>> try:
    ...     load_idx_dataset(tempfile.mkdtemp(), "mnist")
    ... except FileNotFoundError as e:
    ...     print(str(e)[:20])
    missing IDX files in
    """
    name = _check_name(name, IDX_DATASETS)
    X_train, y_train, X_test, y_test, prov = read_idx_folder(data_dir, name, verify=verify)
    return Dataset(name, "classification", X_train, y_train, X_test, y_test, 10, None, prov)


#: Bundled scikit-learn datasets: name -> (loader name, task).
BUNDLED: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "iris": ("load_iris", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


def load_bundled(name: str, *, test_size: float = 0.25, seed: int = 0) -> Dataset:
    """One of scikit-learn's bundled datasets, split and standardised.

    The split is deterministic in ``seed`` (each seed another resample) and
    stratified for classification. Features are standardised with the train
    mean and standard deviation (a constant feature is only centred).

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
    X_tr, X_te = _standardise(X_tr, X_te)
    y_dtype = np.int64 if classification else np.float32
    names = getattr(bunch, "feature_names", None)
    prov = {"source": f"scikit-learn {metadata.version('scikit-learn')} sklearn.datasets.{loader}", "status": "bundled"}
    n_classes = int(np.unique(y).size) if classification else None
    features = tuple(str(n) for n in names) if names is not None else None
    return Dataset(name, task, X_tr, y_tr.astype(y_dtype), X_te, y_te.astype(y_dtype), n_classes, features, prov)


# ------------------------------------------------------------------ MNIST-1D
#: MNIST-1D's published generation parameters: ``mnist1d.data.get_dataset_args()`` without its download URL,
#: written out so that a cache hit needs neither the package's import (requests, pyplot: about a second) nor a run.
MNIST1D_ARGS: dict[str, Any] = {
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": [36, 60], "scale_coeff": 0.4,
    "max_translation": 48, "corr_noise_scale": 0.25, "iid_noise_scale": 0.02, "shear_scale": 0.75,
    "shuffle_seq": False, "final_seq_length": 40, "seed": 42,
}  # fmt: skip

#: The published test fraction, 1000 of 5000.
MNIST1D_TEST_FRACTION = 1.0 - MNIST1D_ARGS["train_split"]


def cache_dir() -> Path:
    """Where generated data are cached: ``$LOSSLAB_CACHE_DIR``, else ``~/.cache/losslab``."""
    return Path(os.environ.get("LOSSLAB_CACHE_DIR") or Path.home() / ".cache" / "losslab").expanduser()


def _mnist1d_version() -> str:
    try:
        return metadata.version("mnist1d")
    except metadata.PackageNotFoundError as exc:
        raise ImportError(
            "the dataset 'mnist1d' needs the mnist1d package, which is not installed: "
            "pip install 'losslab[torch]' (or pip install mnist1d)"
        ) from exc


def _mnist1d_key(version: str) -> str:
    # numpy's legacy RandomState and scipy's interpolation and filters make the data: their versions key it too
    versions = {d: metadata.version(d) for d in ("numpy", "scipy")}
    payload = json.dumps({"args": MNIST1D_ARGS, "mnist1d": version, **versions}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _generate_mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """All 5000 sequences in the package's order (its train split first) from ``make_dataset``: no download."""
    from mnist1d.data import make_dataset  # the package's __init__ imports requests and pyplot: only on a cache miss

    # make_dataset seeds the global NumPy and `random` generators: restore them so the caller's streams are untouched
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (the package's legacy state)
    try:
        d = make_dataset(SimpleNamespace(**copy.deepcopy(MNIST1D_ARGS)))
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float64)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    return x, y


def _read_mnist1d_cache(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or not what ``key`` names."""
    if not path.is_file():
        return None
    n, d = MNIST1D_ARGS["num_samples"], MNIST1D_ARGS["final_seq_length"]
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y, stored = z["x"], z["y"], str(z["key"])
    except Exception as exc:  # whatever is wrong with the file (not a zip, no such array...), generating fixes it
        logger.warning("regenerating MNIST-1D: the cache %s is unreadable (%s)", path, exc)
        return None
    ok = (stored == key and x.shape == (n, d) and x.dtype == np.float64 and np.isfinite(x).all()
          and y.shape == (n,) and y.dtype == np.int64 and y.min() >= 0 and y.max() <= 9)  # fmt: skip
    if not ok:
        logger.warning("regenerating MNIST-1D: the cache %s does not hold the expected arrays", path)
        return None
    return x, y


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(directory: str, version: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, cache path)``, read-only, once per process and cache directory (the key is in the file name)."""
    key = _mnist1d_key(version)
    path = Path(directory) / f"mnist1d-{version}-{key}.npz"
    cached = _read_mnist1d_cache(path, key)
    if cached is None:
        x, y = _generate_mnist1d()
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y, key=np.array(key))
        try:
            atomic_write(path, buf.getvalue())  # a concurrent reader sees the old file or the new one, never half
        except OSError as exc:  # a read-only home must not stop the run: the data are in memory
            logger.warning("could not cache MNIST-1D in %s (%s): it will be generated again next time", path, exc)
    else:
        x, y = cached
    x.flags.writeable = False  # shared by every call in the process: nobody may modify them in place
    y.flags.writeable = False
    return x, y, str(path)


def load_mnist1d(*, seed: int = 0, test_size: float | None = None) -> Dataset:
    """MNIST-1D (Greydanus & Kobak 2024): 5000 sequences of 40 features, 10 classes, standardised.

    Generated locally by ``mnist1d.data.make_dataset`` with the published
    parameters and seed (:data:`MNIST1D_ARGS`), then cached per process and
    in :func:`cache_dir`. Seed 0 with the published test fraction (0.2) is
    the published split, its first 4000 sequences for training; any other
    seed or ``test_size`` is a stratified resample of all 5000. Features are
    standardised with the train mean and standard deviation.
    """
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    test_size = MNIST1D_TEST_FRACTION if test_size is None else check_open_unit("test_size", test_size)
    version = _mnist1d_version()
    x, y, path = _mnist1d_arrays(str(cache_dir()), version)
    if seed == 0 and math.isclose(test_size, MNIST1D_TEST_FRACTION):
        n_train = int(len(y) * MNIST1D_ARGS["train_split"])  # make_dataset's own rule
        X_tr, X_te, y_tr, y_te = x[:n_train], x[n_train:], y[:n_train], y[n_train:]
    else:
        X_tr, X_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    X_tr, X_te = _standardise(X_tr, X_te)
    prov = {"source": f"mnist1d {version} make_dataset, published parameters (seed {MNIST1D_ARGS['seed']})",
            "cache": path, "status": "generated"}  # fmt: skip
    return Dataset("mnist1d", "classification", X_tr, y_tr.copy(), X_te, y_te.copy(), 10, None, prov)


# ------------------------------------------------------------------ splits
def train_val_split(
    X: Any, y: Any, *, seed: int, fraction: float, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_fit, X_val, y_fit, y_val)``: ``fraction`` of the rows carved out for validation (sklearn's order).

    Deterministic in ``seed``; stratified by the integer labels ``y`` unless
    ``stratify=False`` (regression targets). The validation part has
    ``ceil(fraction * n)`` rows; ``fraction=0`` gives empty (0-row) arrays of
    the same dtypes and trailing shape.

    >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> X_fit, X_val, y_fit, y_val = train_val_split(X, y, seed=0, fraction=0.4)
    >>> X_fit.shape, X_val.shape, np.bincount(y_val).tolist()
    ((6, 2), (4, 2), [2, 2])
    """
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction < 1:
        raise ValueError(f"`fraction` must be a number in [0, 1); got {fraction!r}")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"`X` and `y` must have one row per sample, the same number; got shapes {X.shape} and {y.shape}"
        )
    if fraction == 0:
        return X, X[:0], y, y[:0]
    if stratify and y.dtype.kind not in "iub":
        raise ValueError(
            f"`stratify=True` needs integer class labels; got y of dtype {y.dtype}: pass stratify=False for "
            f"regression targets"
        )
    try:
        X_fit, X_val, y_fit, y_val = train_test_split(
            X, y, test_size=float(fraction), random_state=seed, stratify=y if stratify else None
        )
    except ValueError as exc:  # sklearn's reasons (too few samples per class...) with the parameter to change
        raise ValueError(
            f"cannot carve `fraction` {fraction!r} of {y.shape[0]} samples into a validation split: {exc}; "
            f"change `fraction` or pass stratify=False"
        ) from exc
    return X_fit, X_val, y_fit, y_val


# ------------------------------------------------------------------ by name
DATASETS = (*BUNDLED, "mnist1d", *IDX_DATASETS)


def load_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0, test_size: float | None = None
) -> Dataset:
    """Any lab dataset by name: a bundled one, ``"mnist1d"``, or an IDX dataset from ``data_dir``.

    ``seed`` resamples the stratified train/test split of the bundled datasets
    and of MNIST-1D; ``test_size`` is their test fraction (default 0.25, and
    MNIST-1D's published 0.2). The IDX datasets keep their official test set
    whatever ``seed`` and ``test_size`` are.

    >>> load_dataset("diabetes").task
    'regression'
    """
    name = _check_name(name, DATASETS)
    if name in BUNDLED:
        return load_bundled(name, test_size=0.25 if test_size is None else test_size, seed=seed)
    if name == "mnist1d":
        return load_mnist1d(seed=seed, test_size=test_size)
    _check_seed(seed)
    if data_dir is None:
        raise ValueError(f"`data_dir` is required for {name}: pass --data-dir DIR holding the IDX files")
    return load_idx_dataset(data_dir, name)


def check_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """None when ``load_dataset(name, data_dir=data_dir)`` works, else why not (the exception, as text).

    Loads the dataset once (seconds for MNIST), so a runner can mark only the
    claims that use a broken dataset instead of letting each of them fail.

    >>> check_dataset("iris") is None
    True
    >>> check_dataset("mnist")
    'ValueError: `data_dir` is required for mnist: pass --data-dir DIR holding the IDX files'
    """
    try:
        load_dataset(name, data_dir=data_dir)
    except Exception as exc:  # every failure is a reason to report, not a crash
        return f"{type(exc).__name__}: {exc}"
    return None
