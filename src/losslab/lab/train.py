"""Training small PyTorch models for the lab: data as tensors, models, a seeded loop, the losses.

Everything runs on the CPU unless a cell asks for ``"cuda"``; a run is a pure
function of its seed (model initialisation and batch order both come from it),
and torch is pinned to a fixed number of threads, so a cell gives the same
numbers every time on the same machine.

The losses are losslab's own, called on torch tensors: the lab trains with the
library it tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import losslab

from .data import IDX_DATASETS, _check_seed, load_dataset, train_val_split

__all__ = [
    "CLASSIFICATION_LOSSES",
    "TensorData",
    "accuracy",
    "classification_loss",
    "make_model",
    "pin_threads",
    "predict_logits",
    "tensors",
    "train",
]


def pin_threads(n: int = 1) -> None:
    """Pin torch, and the BLAS/OpenMP pools that NumPy and scikit-learn use, to ``n`` threads.

    Small models run fastest on one thread, and parallelism comes from worker
    processes instead; oversubscribed BLAS threads tripled scikit-learn fits' CPU time.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process: it can only be set before any parallel work
        pass


@dataclass(frozen=True, eq=False)
class TensorData:
    """A dataset's splits as tensors on one device (``y`` int64 for classification, float32 for regression).

    ``X_val``/``y_val`` are carved out of the training split (0 rows when no validation was asked for).
    """

    name: str
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    n_classes: int | None
    X_val: Any = None
    y_val: Any = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def classes(self) -> int:
        """``n_classes`` of a classification dataset; a ValueError for a regression one (``n_classes`` is None)."""
        if self.n_classes is None:
            raise ValueError(f"dataset {self.name!r} is a regression dataset: it has no classes")
        return int(self.n_classes)


def tensors(
    name: str, data_dir: str | None = None, device: str = "cpu", seed: int = 0, val_fraction: float = 0.0
) -> TensorData:
    """The dataset ``name`` as tensors on ``device``, loaded once per process.

    ``seed`` resamples the train/test split where the dataset allows it (see
    :func:`~losslab.lab.data.load_dataset`; the IDX datasets keep their
    official one) and seeds the validation carve-out: ``val_fraction`` of the
    training split, stratified for classification (see
    :func:`~losslab.lab.data.train_val_split`). The features were standardised
    on the whole training split, validation rows included: no label is
    involved, and the test set stays untouched. ``tensors(name, data_dir,
    device)`` is the seed-0 split with no validation, as it always was.
    """
    seed = _check_seed(seed)
    if name in IDX_DATASETS and not val_fraction:
        seed = 0  # the seed changes nothing here: one cache entry (MNIST is ~200 MB) instead of one per seed
    return _tensors(name, data_dir, device, seed, val_fraction)  # 0 and 0.0 are one lru_cache key


# Bounded: every seed of a resampled dataset is another entry, and one MNIST entry holds ~200 MB.
@functools.lru_cache(maxsize=8)
def _tensors(name: str, data_dir: str | None, device: str, seed: int, val_fraction: float) -> TensorData:
    import torch

    d = load_dataset(name, data_dir=data_dir, seed=seed)
    X_fit, X_val, y_fit, y_val = train_val_split(
        d.X_train, d.y_train, seed=seed, fraction=val_fraction, stratify=d.task == "classification"
    )

    def t(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return TensorData(d.name, t(X_fit), t(y_fit), t(d.X_test), t(d.y_test), d.n_classes, t(X_val), t(y_val))


def make_model(kind: str, d_in: int, d_out: int, *, seed: int, hidden: int = 128, device: str = "cpu") -> Any:
    """``"linear"`` (logistic/linear regression) or ``"mlp"`` (one hidden ReLU layer), initialised from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model: nn.Module
    if kind == "linear":
        model = nn.Linear(d_in, d_out)
    elif kind == "mlp":
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    elif kind == "mlp_sigmoid":  # Nielsen's 784-30-10 network: one sigmoid hidden layer
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.Sigmoid(), nn.Linear(hidden, d_out))
    elif kind == "mlp2":
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, d_out))  # fmt: skip
    else:
        raise ValueError(f"`kind` must be 'linear', 'mlp', 'mlp_sigmoid' or 'mlp2'; got {kind!r}")
    return model.to(device)


def train(
    model: Any,
    loss_fn: Callable[[Any, Any], Any],
    X: Any,
    Y: Any,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    on_epoch: Callable[[int, Any], None] | None = None,
) -> list[float]:
    """Minibatch training of ``model`` on ``loss_fn(outputs, Y[batch])``; returns the mean train loss per epoch.

    Batch order comes from a generator seeded with ``seed``. ``on_epoch(epoch, model)``
    runs after each epoch (epoch counted from 1), and once before training with epoch 0,
    in eval mode and without gradients, to record learning curves.
    """
    import torch

    opt: torch.optim.Optimizer
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"`optimizer` must be 'sgd' or 'adam'; got {optimizer!r}")
    gen = torch.Generator().manual_seed(seed)
    n = int(X.shape[0])

    def callback(epoch: int) -> None:
        if on_epoch is not None:
            model.eval()
            with torch.no_grad():
                on_epoch(epoch, model)
            model.train()

    callback(0)
    losses = []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=gen).to(X.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = loss_fn(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(idx.shape[0])
        losses.append(total / n)
        callback(epoch)
    return losses


def predict_logits(model: Any, X: Any) -> np.ndarray:
    """The model's outputs on ``X`` as a float64 NumPy array (eval mode, no gradients)."""
    import torch

    model.eval()
    with torch.no_grad():
        out = model(X).detach().cpu().double().numpy()
    model.train()
    return out


def accuracy(logits: Any, y: Any) -> float:
    """Top-1 accuracy of ``logits`` (tensor or array) against integer labels."""
    lg = logits.detach().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits)
    yy = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    return float(np.mean(lg.argmax(axis=-1) == yy))


def _one_hot(y: Any, n_classes: int) -> Any:
    import torch

    return torch.nn.functional.one_hot(y, n_classes).to(torch.float32)


def classification_loss(name: str, n_classes: int, **options: Any) -> Callable[[Any, Any], Any]:
    """A training loss ``(logits, labels) -> scalar`` by name, built on losslab's losses.

    - ``"cross_entropy"``: softmax cross-entropy on the logits (``label_smoothing=`` optional);
    - ``"mse_softmax"``: squared error between softmax probabilities and the one-hot target,
      summed over classes, averaged over samples (the seeds' "MSE through softmax");
    - ``"mse_logits"``: the same on the raw outputs, no softmax (Hui & Belkin 2021's square loss);
    - ``"mae_softmax"``: absolute error between probabilities and one-hot (Ghosh et al. 2017's MAE,
      a symmetric loss);
    - ``"gce"``: generalized cross-entropy (Zhang & Sabuncu 2018), ``q=`` (default 0.7);
    - ``"square_rescaled"``: Hui & Belkin (2021)'s square loss for many classes, ``k=`` and ``M=``
      (the true class's term weighted by k, its target M); k = M = 1 is ``"mse_logits"``.

    Per-sample losses sum over classes so that each has the scale of one example's error.
    """
    import torch

    if name == "cross_entropy":
        smoothing = float(options.get("label_smoothing", 0.0))
        return lambda z, y: losslab.cross_entropy(z, y, label_smoothing=smoothing)
    if name == "mse_softmax":
        return lambda z, y: losslab.mse(torch.softmax(z, dim=-1), _one_hot(y, n_classes)) * n_classes
    if name == "mse_logits":
        return lambda z, y: losslab.mse(z, _one_hot(y, n_classes)) * n_classes
    if name == "mae_softmax":
        return lambda z, y: losslab.mae(torch.softmax(z, dim=-1), _one_hot(y, n_classes)) * n_classes
    if name == "gce":  # Zhang & Sabuncu (2018); q -> 0 is cross-entropy, q = 1 is MAE / 2
        q = float(options.get("q", 0.7))
        return lambda z, y: losslab.generalized_cross_entropy(z, y, q=q)
    if name == "square_rescaled":
        # Hui & Belkin (2021): (1/C) [k (f_c - M)^2 + sum_{i != c} f_i^2] on raw outputs; k = M = 1 is plain MSE.
        k, m = float(options.get("k", 1.0)), float(options.get("M", 1.0))

        def rescaled(z: Any, y: Any) -> Any:
            onehot = _one_hot(y, n_classes)
            weight = 1.0 + (k - 1.0) * onehot
            return losslab.mse(z * weight.sqrt(), m * onehot * weight.sqrt()) * n_classes

        return rescaled
    raise ValueError(f"`name` must be one of {CLASSIFICATION_LOSSES}; got {name!r}")


CLASSIFICATION_LOSSES = ("cross_entropy", "mse_softmax", "mse_logits", "mae_softmax", "gce", "square_rescaled")
