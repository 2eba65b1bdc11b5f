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

from .data import load_dataset

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
    """A dataset's split as tensors on one device (``y`` int64 for classification, float32 for regression)."""

    name: str
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    n_classes: int | None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


@functools.lru_cache(maxsize=16)
def tensors(name: str, data_dir: str | None = None, device: str = "cpu") -> TensorData:
    """The dataset ``name`` (split with seed 0) as tensors on ``device``, loaded once per process."""
    import torch

    d = load_dataset(name, data_dir=data_dir, seed=0)

    def t(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return TensorData(d.name, t(d.X_train), t(d.y_train), t(d.X_test), t(d.y_test), d.n_classes)


def make_model(kind: str, d_in: int, d_out: int, *, seed: int, hidden: int = 128, device: str = "cpu") -> Any:
    """``"linear"`` (logistic/linear regression) or ``"mlp"`` (one hidden ReLU layer), initialised from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if kind == "linear":
        model = nn.Linear(d_in, d_out)
    elif kind == "mlp":
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    elif kind == "mlp2":
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, d_out))  # fmt: skip
    else:
        raise ValueError(f"`kind` must be 'linear', 'mlp' or 'mlp2'; got {kind!r}")
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
      a symmetric loss).

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
    raise ValueError(f"`name` must be one of {CLASSIFICATION_LOSSES}; got {name!r}")


CLASSIFICATION_LOSSES = ("cross_entropy", "mse_softmax", "mse_logits", "mae_softmax")
