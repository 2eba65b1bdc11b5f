"""Claim 7's cells: linear models fitted full-batch, many configurations at once, with losslab's gradients.

Every configuration of a cell (a loss, its learning rate, Huber's delta) is
one row of a weight matrix, trained together by one hand-written Adam whose
learning rate differs per row: one call of each of losslab's closed-form
gradients (``losslab.grad``) per step serves every configuration of that loss,
so the tuning grid costs hardly more than one fit (a call costs ~0.1-0.5 ms
whatever the size of the array here). The rows never interact: the gradient of
row k depends only on row k's predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import grad
from ..data import load_dataset, train_val_split

__all__ = ["adam_fit", "classification_cell", "corrupt", "far_flips", "fit_regression", "regression_cell",
           "regression_grads"]  # fmt: skip

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def corrupt(y: np.ndarray, fraction: float, seed: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with ``round(fraction * n)`` entries, drawn with ``seed``, moved by ``+offset``; and their indices.

    >>> y, idx = corrupt(np.zeros(10), 0.2, seed=0, offset=5.0)
    >>> len(idx), float(y.sum())
    (2, 10.0)
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`fraction` must be in [0, 1); got {fraction}")
    rng = np.random.default_rng(seed)
    k = int(round(fraction * y.size))
    idx = np.sort(rng.choice(y.size, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    out = y.astype(np.float64).copy()
    out[idx] += offset
    return out, idx


def _design(X: np.ndarray) -> np.ndarray:
    return np.c_[np.asarray(X, dtype=np.float64), np.ones(len(X))]


def adam_fit(
    grad_z: Callable[[np.ndarray], np.ndarray], A: np.ndarray, lrs: Sequence[float], *, steps: int, seed: int,
    weight_decay: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """Weights ``W`` (K, d) of K linear models ``A @ W.T`` trained by full-batch Adam, row k at rate ``lrs[k]``.

    ``grad_z(Z)`` returns d(loss)/dZ per element for the predictions ``Z = A @ W.T`` (n, K), not yet
    averaged over the n rows; the rate decays linearly to 0 over ``steps``; ``weight_decay``
    adds ``weight_decay * w`` to every weight's gradient except the last column (the intercept).
    Rows start from a seeded uniform(-1/sqrt(d), 1/sqrt(d)) draw, as torch's ``nn.Linear``.

    >>> A = _design(np.linspace(-1, 1, 50)[:, None]); t = 3 * A[:, 0] + 1
    >>> W = adam_fit(lambda Z: 2 * (Z - t[:, None]), A, [0.1, 0.3], steps=500, seed=0)
    >>> np.round(W, 2).tolist()
    [[3.0, 1.0], [3.0, 1.0]]
    """
    lr = np.asarray(lrs, dtype=np.float64)[:, None]
    n, d = A.shape
    W = np.random.default_rng(seed).uniform(-1, 1, size=(lr.shape[0], d)) / np.sqrt(d)
    m, v = np.zeros_like(W), np.zeros_like(W)
    b1, b2 = ADAM_BETAS
    decay = np.ones(d)
    decay[-1] = 0.0
    for t in range(1, steps + 1):
        g = grad_z(A @ W.T).T @ A / n + weight_decay * W * decay
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step_lr = lr * (1.0 - (t - 1) / steps)
        W = W - step_lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + ADAM_EPS)
    return W


def regression_grads(configs: Sequence[dict[str, Any]]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``g(Z, t)``: the per-element derivative of each configuration's loss (column k: ``configs[k]``).

    Huber configurations with different deltas share one call through the identity
    huber_delta(r) = delta^2 huber_1(r / delta), whose derivative is delta huber_1'(r / delta).
    """
    cols: dict[str, np.ndarray] = {}
    for name in ("mse", "huber", "mae", "pinball"):
        cols[name] = np.array([k for k, c in enumerate(configs) if c["loss"] == name], dtype=np.int64)
    unknown = {c["loss"] for c in configs} - set(cols)
    if unknown:
        raise ValueError(f"`configs` has unknown losses {sorted(unknown)}; use mse, huber, mae or pinball")
    deltas = np.array([float(configs[k]["delta"]) for k in cols["huber"]])

    def g(Z: np.ndarray, t: np.ndarray) -> np.ndarray:
        T = np.broadcast_to(t[:, None], Z.shape)
        G = np.empty_like(Z)
        if cols["mse"].size:
            G[:, cols["mse"]] = grad.mse(Z[:, cols["mse"]], T[:, cols["mse"]], reduction="none")
        if cols["huber"].size:
            h = cols["huber"]
            G[:, h] = deltas * grad.huber(Z[:, h] / deltas, T[:, h] / deltas, delta=1.0, reduction="none")
        if cols["mae"].size:
            G[:, cols["mae"]] = grad.mae(Z[:, cols["mae"]], T[:, cols["mae"]], reduction="none")
        if cols["pinball"].size:
            p = cols["pinball"]
            G[:, p] = grad.pinball(Z[:, p], T[:, p], quantile=0.5, reduction="none")
        return G

    return g


def fit_regression(
    X_fit: np.ndarray, y_fit: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, X_test: np.ndarray,
    y_test: np.ndarray, *, configs: Sequence[dict[str, Any]], steps: int, seed: int,
) -> list[dict[str, float]]:  # fmt: skip
    """Fit every configuration on (X_fit, y_fit); score it on the (observed) validation and the clean test split.

    Targets are standardised with the median and 1.4826 x MAD of the observed fitting targets,
    which a minority of outliers barely moves, so a delta means the same number of robust
    standard deviations at every contamination; scores are in the target's own units.
    """
    center = float(np.median(y_fit))
    scale = 1.4826 * float(np.median(np.abs(y_fit - center)))
    if not scale > 0:
        raise ValueError(f"the fitting targets have MAD 0 (scale {scale}); they need spread to standardise")
    t = (np.asarray(y_fit, dtype=np.float64) - center) / scale
    g = regression_grads(configs)
    A = _design(X_fit)
    W = adam_fit(lambda Z: g(Z, t), A, [c["lr"] for c in configs], steps=steps, seed=seed)
    pv = _design(X_val) @ W.T * scale + center
    pt = _design(X_test) @ W.T * scale + center
    out = []
    for k in range(len(configs)):
        ev, et = pv[:, k] - y_val, pt[:, k] - y_test
        out.append({"val_mae": float(np.mean(np.abs(ev))), "val_rmse": float(np.sqrt(np.mean(ev**2))),
                    "rmse": float(np.sqrt(np.mean(et**2))), "mae": float(np.mean(np.abs(et))),
                    "bias": float(np.mean(et))})  # fmt: skip
    return out


def regression_cell(params: dict[str, Any]) -> dict[str, Any]:
    """Diabetes, one seed (split, validation carve-out, corrupted targets, initialisation) x one contamination.

    A seeded ``fraction`` of the fitting and of the validation targets is moved up by
    ``offset_sd`` clean training standard deviations (the analyst cannot tell which: validation
    is contaminated too); the test split stays clean. Every configuration of ``configs`` is fitted.
    """
    seed = int(params["seed"])
    d = load_dataset("diabetes", seed=seed)
    X_fit, X_val, y_fit, y_val = train_val_split(d.X_train, d.y_train.astype(np.float64), seed=seed,
                                                 fraction=params["val_fraction"], stratify=False)  # fmt: skip
    offset = float(params["offset_sd"]) * float(np.std(d.y_train))
    y_fit_obs, idx = corrupt(y_fit, params["fraction"], seed, offset)
    y_val_obs, idx_val = corrupt(y_val, params["fraction"], seed + 7919, offset)
    scores = fit_regression(X_fit, y_fit_obs, X_val, y_val_obs, d.X_test, d.y_test.astype(np.float64),
                            configs=params["configs"], steps=int(params["steps"]), seed=seed)  # fmt: skip
    return {"configs": scores, "n_corrupted": int(idx.size), "n_corrupted_val": int(idx_val.size), "offset": offset,
            "n_fit": int(y_fit.size), "n_val": int(y_val.size), "n_test": int(d.y_test.size)}  # fmt: skip


def far_flips(X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` training points farthest on their own class's side of a clean logistic fit.

    The reference is scikit-learn's L2 logistic regression (C = 1), fitted independently of the
    losses compared, so neither loss chooses the points it is then hurt by.
    """
    from sklearn.linear_model import LogisticRegression

    if k == 0:
        return np.zeros(0, dtype=np.int64)
    ref = LogisticRegression(C=1.0, max_iter=5000).fit(X, y)
    margin = ref.decision_function(X) * (2 * np.asarray(y) - 1)
    return np.sort(np.argsort(-margin, kind="stable")[:k])


#: The binary models of :func:`classification_cell`, in column order (loss, labels).
BINARY_MODELS = (("ce", "clean"), ("ce", "flipped"), ("brier", "clean"), ("brier", "flipped"),
                 ("mse_logits", "clean"), ("mse_logits", "flipped"))  # fmt: skip


def fit_binary(X: np.ndarray, y: np.ndarray, flip: np.ndarray, *, lr: float, steps: int, weight_decay: float,
               seed: int) -> np.ndarray:  # fmt: skip
    """Weights (6, d + 1) of the :data:`BINARY_MODELS`: CE, Brier (MSE of sigmoid) and MSE on the raw output.

    Each loss is fitted on the clean labels and on the labels with ``flip`` flipped, from the
    same initialisation, rate and weight decay, so each loss's change is its own sensitivity.
    """
    y = np.asarray(y, dtype=np.float64)
    yf = y.copy()
    yf[flip] = 1.0 - yf[flip]
    T = np.stack([y, yf] * 3, axis=1)
    ce, br, ml = np.array([0, 1]), np.array([2, 3]), np.array([4, 5])

    def g(Z: np.ndarray) -> np.ndarray:
        G = np.empty_like(Z)
        G[:, ce] = grad.binary_cross_entropy_with_logits(Z[:, ce], T[:, ce], reduction="none")
        s = 1.0 / (1.0 + np.exp(-Z[:, br]))
        G[:, br] = grad.mse(s, T[:, br], reduction="none") * s * (1.0 - s)  # chain rule through the sigmoid
        G[:, ml] = grad.mse(Z[:, ml], T[:, ml], reduction="none")
        return G

    return adam_fit(g, _design(X), [lr] * len(BINARY_MODELS), steps=steps, seed=seed, weight_decay=weight_decay)


def classification_cell(params: dict[str, Any]) -> dict[str, Any]:
    """breast_cancer, one seed: flip ``n_flip`` far-from-boundary training labels; each model's test accuracy.

    The models are logistic (one linear score); CE's per-example loss on a flipped point grows
    without bound in its margin, the Brier score's is at most 1 (binary, (y - p)^2), MSE on
    the raw score grows quadratically. Returns accuracy and weight norm per model, and the
    relative change of each loss's weights when the labels are flipped.
    """
    seed = int(params["seed"])
    d = load_dataset(params.get("dataset", "breast_cancer"), seed=seed)
    X, y = d.X_train.astype(np.float64), np.asarray(d.y_train)
    flip = far_flips(X, y, int(params["n_flip"]))
    W = fit_binary(X, y, flip, lr=params["lr"], steps=int(params["steps"]), weight_decay=params["weight_decay"],
                   seed=seed)  # fmt: skip
    threshold = {"ce": 0.0, "brier": 0.0, "mse_logits": 0.5}  # MSE on the raw score regresses 0/1: cut at 1/2
    Zt = _design(d.X_test) @ W.T
    out: dict[str, Any] = {"n_flip": int(flip.size), "n_train": int(y.size), "n_test": int(d.y_test.size)}
    for k, (loss, labels) in enumerate(BINARY_MODELS):
        acc = float(np.mean((Zt[:, k] > threshold[loss]) == d.y_test))
        out[f"{loss}/{labels}"] = {"acc": acc, "w_norm": float(np.linalg.norm(W[k, :-1]))}
    for k, loss in zip((0, 2, 4), ("ce", "brier", "mse_logits"), strict=True):
        out[f"{loss}/weight_change"] = float(np.linalg.norm(W[k + 1, :-1] - W[k, :-1]) / np.linalg.norm(W[k, :-1]))
    return out
