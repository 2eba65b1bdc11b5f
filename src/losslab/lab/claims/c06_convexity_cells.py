"""The cells of claim 6 (convexity): curvature of the losses in the logits, by torch autograd in float64.

Top-level functions, so worker processes can run them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import losslab

from ..data import load_dataset
from ..rules import claim_rules

RULES = claim_rules("convexity")
#: Curvature counts as negative below -TOL (float64 rounding of second derivatives of O(1) losses is ~1e-15).
TOL = RULES.rule("c06.ce_convex").tolerance
N_CLASSES_RANDOM = RULES.params["n_classes_random"]
RANDOM_SCALES = tuple(RULES.params["random_scales"])  # standard deviations of the random logit vectors
GRID = tuple(RULES.params["grid"])


def _expit(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def curvature(loss: Callable[[Any], Any], z: np.ndarray) -> np.ndarray:
    """d2/dz2 of an elementwise ``loss`` (torch in, torch out, one value per logit) by autograd, in float64.

    >>> curvature(lambda a: a**3, np.array([1.0, -2.0])).tolist()
    [6.0, -12.0]
    """
    import torch

    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(loss(zt).sum(), zt, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), zt)  # examples are independent: the Hessian is diagonal
    return h.detach().numpy()


def binary_losses(y: float) -> dict[str, Callable[[Any], Any]]:
    """BCE-with-logits and (sigmoid(z) - y)^2 through losslab, per logit."""
    import torch

    def target(a: Any) -> Any:
        return torch.full_like(a, float(y))

    return {
        "bce": lambda a: losslab.binary_cross_entropy_with_logits(a, target(a), reduction="none"),
        "mse_sigmoid": lambda a: losslab.mse(torch.sigmoid(a), target(a), reduction="none"),
    }


def closed_forms(z: np.ndarray, y: float) -> dict[str, np.ndarray]:
    """The second derivatives in closed form: s (1 - s) and 2 s (1 - s) [s (1 - s) + (s - y)(1 - 2 s)]."""
    s = _expit(z)
    return {"bce": s * (1 - s), "mse_sigmoid": 2 * s * (1 - s) * (s * (1 - s) + (s - y) * (1 - 2 * s))}


def binary_second_derivatives(z: np.ndarray, y: float) -> dict[str, list[float]]:
    """d2/dz2 of BCE-with-logits and of (sigmoid(z) - y)^2 by autograd (float64), with the closed forms.

    >>> d = binary_second_derivatives(np.array([0.5, -3.0]), 1.0)
    >>> round(d["bce"][0], 6), d["mse_sigmoid"][1] < 0
    (0.235004, True)
    """
    out: dict[str, list[float]] = {k: curvature(f, z).tolist() for k, f in binary_losses(y).items()}
    for k, v in closed_forms(z, y).items():
        out[f"{k}_closed"] = v.tolist()
    return out


def logit_hessians(z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example Hessians (n, K, K) w.r.t. the logits of softmax CE and of MSE through softmax, by autograd."""
    import torch

    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    yt = torch.as_tensor(y)
    k = z.shape[1]
    onehot = torch.nn.functional.one_hot(yt, k).to(torch.float64)
    losses = {
        "ce": lambda a: losslab.cross_entropy(a, yt, reduction="sum"),
        "mse_softmax": lambda a: losslab.mse(torch.softmax(a, dim=-1), onehot, reduction="sum"),
    }
    out = {}
    for name, f in losses.items():
        (g,) = torch.autograd.grad(f(zt), zt, create_graph=True)
        rows = [torch.autograd.grad(g[:, c].sum(), zt, retain_graph=True)[0] for c in range(k)]
        out[name] = torch.stack(rows, dim=1).detach().numpy()  # H[i, c, :] = d g[i, c] / d z[i, :]
    return out


def hessian_summary(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Smallest eigenvalue per example for both losses, and the gap of CE's Hessian to diag(p) - p p^T.

    >>> s = hessian_summary(np.array([[0.0, 0.0, 0.0], [3.0, -2.0, 1.0]]), np.array([0, 1]))
    >>> min(s["ce_min_eig"]) > -1e-12, s["ce_closed_form_gap"] < 1e-12
    (True, True)
    """
    h = logit_hessians(z, y)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    closed = np.einsum("ij,jk->ijk", p, np.eye(z.shape[1])) - p[:, :, None] * p[:, None, :]
    return {
        "ce_min_eig": np.linalg.eigvalsh(h["ce"]).min(axis=1).tolist(),
        "mse_min_eig": np.linalg.eigvalsh(h["mse_softmax"]).min(axis=1).tolist(),
        "ce_closed_form_gap": float(np.max(np.abs(h["ce"] - closed))),
        "ce_symmetry_gap": float(np.max(np.abs(h["ce"] - h["ce"].transpose(0, 2, 1)))),
    }


def second_differences(f: np.ndarray) -> np.ndarray:
    """f[i-1] - 2 f[i] + f[i+1] on an evenly spaced line (>= 0 everywhere for a convex function).

    >>> second_differences(np.array([4.0, 1.0, 0.0, 1.0, 4.0])).tolist()
    [2.0, 2.0, 2.0]
    """
    f = np.asarray(f, dtype=np.float64)
    return f[:-2] - 2 * f[1:-1] + f[2:]


def line_losses(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean BCE and mean (sigmoid - y)^2 of logistic regression for each weight row of ``w`` (last entry: bias)."""
    z = X @ w[:, :-1].T + w[:, -1]  # (n, points)
    yy = np.broadcast_to(y[:, None], z.shape)
    ce = np.asarray(losslab.binary_cross_entropy_with_logits(z.T, yy.T, reduction="none")).mean(axis=1)
    mse = np.asarray(losslab.mse(_expit(z.T), yy.T, reduction="none")).mean(axis=1)
    return ce, mse


def convexity_cell(params: dict[str, Any]) -> dict[str, Any]:
    """One seed: Hessians at random and trained-model logits; loss along lines through logistic-regression weights."""
    from sklearn.linear_model import LogisticRegression

    from .. import train as tr

    seed = int(params["seed"])
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}

    n = int(params["n_random"])
    scales = np.repeat(RANDOM_SCALES, -(-n // len(RANDOM_SCALES)))[:n]
    z = rng.standard_normal((n, N_CLASSES_RANDOM)) * scales[:, None]
    out["random"] = hessian_summary(z, rng.integers(0, N_CLASSES_RANDOM, size=n))
    out["random"]["scale"] = scales.tolist()

    data = tr.tensors(params["dataset"], params["data_dir"], params["device"], seed=seed)
    k = data.classes()
    model = tr.make_model("linear", data.n_features, k, seed=seed, device=params["device"])
    tr.train(model, tr.classification_loss("cross_entropy", k), data.X_train, data.y_train,
             epochs=params["epochs"], seed=seed, lr=0.05)  # fmt: skip
    out["real"] = hessian_summary(tr.predict_logits(model, data.X_train), data.y_train.cpu().numpy())

    bc = load_dataset("breast_cancer", seed=seed)
    X, yb = bc.X_train.astype(np.float64), bc.y_train.astype(np.float64)
    fit = LogisticRegression(max_iter=2000).fit(X, yb)
    w1 = np.concatenate([fit.coef_.ravel(), fit.intercept_])
    w0 = rng.standard_normal(w1.size) / np.sqrt(X.shape[1])
    t = np.linspace(-1.0, 3.0, int(params["line_points"]))
    lines = {"interpolation": w0[None, :] + t[:, None] * (w1 - w0)[None, :]}
    s = np.linspace(-2.0, 2.0, int(params["line_points"]))
    for j in range(int(params["n_directions"])):
        d = rng.standard_normal(w1.size)
        d *= np.linalg.norm(w1) / np.linalg.norm(d)
        lines[f"random direction {j + 1}"] = w1[None, :] + s[:, None] * d[None, :]
    out["lines"] = {}
    for name, w in lines.items():
        ce, mse = line_losses(X, yb, w)
        out["lines"][name] = {
            "t": (t if name == "interpolation" else s).tolist(),
            "ce": ce.tolist(),
            "mse_sigmoid": mse.tolist(),
            "ce_min_second_difference": float(second_differences(ce).min()),
            "mse_min_second_difference": float(second_differences(mse).min()),
        }
    return out
