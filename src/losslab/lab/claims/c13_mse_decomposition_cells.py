"""The cells of claim 13: five decompositions of the squared error, each computed on both sides.

Every function returns the two sides of one identity and the gap between them
in units of max(1, the largest term), so that rounding of large terms (diabetes
targets are ~150, their squares ~2e4) is not mistaken for a failure. The terms
come from losslab where losslab has them (``mse``, ``brier_score``,
``kl_divergence``, ``brier_decomposition``) and are built by hand on the other
side, so agreement is a check. ``drop`` removes a named term, for the planted
controls: an identity with a term missing must fail.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import losslab

from ..data import load_dataset


def _gap(lhs: np.ndarray, terms: dict[str, np.ndarray], drop: str | None) -> float:
    """max |lhs - sum(terms)| / max(1, the largest |term| or |lhs|), with ``drop`` left out of the sum."""
    if drop is not None and drop not in terms:
        raise ValueError(f"`drop` must be one of {sorted(terms)} or None; got {drop!r}")
    rhs = sum(v for k, v in terms.items() if k != drop)
    scale = max(1.0, float(np.max(np.abs(lhs))), *(float(np.max(np.abs(v))) for v in terms.values()))
    return float(np.max(np.abs(lhs - rhs))) / scale


def analog(q: np.ndarray, p: np.ndarray, drop: str | None = None) -> dict[str, Any]:
    """E_{y~p} sum_k (q_k - [y = k])^2 = (1 - sum_k p_k^2) + sum_k (q_k - p_k)^2, per example.

    The left side is losslab.brier_score of the forecast q against every label, weighted by p: the squared
    error's counterpart of H(p, q) = H(p) + KL(p || q), with the Gini entropy in place of H(p).

    >>> q = np.array([[0.6, 0.4]]); p = np.array([[0.9, 0.1]])
    >>> r = analog(q, p); r["gap"] < 1e-15, round(r["gini"], 2), round(r["divergence"], 2)
    (True, 0.18, 0.18)
    """
    n, k = q.shape
    lhs = sum(p[:, c] * np.asarray(losslab.brier_score(q, np.full(n, c), reduction="none")) for c in range(k))
    terms = {"gini": 1.0 - np.sum(p**2, axis=1), "divergence": np.sum((q - p) ** 2, axis=1)}
    return {"gap": _gap(lhs, terms, drop), "expected_mse": float(lhs.mean()), "gini": float(terms["gini"].mean()),
            "divergence": float(terms["divergence"].mean())}  # fmt: skip


def murphy(P: np.ndarray, y: np.ndarray, n_bins: int, drop: str | None = None) -> dict[str, Any]:
    """The Brier score against its Murphy terms: five terms on the forecasts, three on their bin centres.

    With continuous forecasts Murphy's three terms need the two within-bin terms of Stephenson et al. (2008);
    on forecasts rounded to their bin centres (one-vs-rest per class) the three alone are exact. (Claim 11
    checks the same identities on more models; this cell keeps its own code so that its cache key covers it.)
    """
    from losslab.calibration import brier_decomposition

    d = brier_decomposition(P, y, n_bins=n_bins)
    terms = {"reliability": np.asarray(d.reliability), "resolution": -np.asarray(d.resolution),
             "uncertainty": np.asarray(d.uncertainty), "within_bin_variance": np.asarray(d.within_bin_variance),
             "within_bin_covariance": -np.asarray(d.within_bin_covariance)}  # fmt: skip
    cols = [P] if P.ndim == 1 else [P[:, c] for c in range(P.shape[1])]
    outs = [(y == 1) if P.ndim == 1 else (y == c) for c in range(len(cols))]
    disc = 0.0
    for pc, oc in zip(cols, outs, strict=True):
        centre = (np.clip(np.floor(pc * n_bins), 0, n_bins - 1) + 0.5) / n_bins
        dc = brier_decomposition(centre, oc.astype(np.int64), n_bins=n_bins)
        three = {"reliability": np.asarray(dc.reliability), "resolution": -np.asarray(dc.resolution),
                 "uncertainty": np.asarray(dc.uncertainty)}  # fmt: skip
        disc = max(disc, _gap(np.asarray(dc.brier), three, drop if drop in three else None))
    return {"gap": max(_gap(np.asarray(d.brier), terms, drop), disc), "brier": d.brier,
            "reliability": d.reliability, "resolution": d.resolution, "uncertainty": d.uncertainty,
            "within_bin_variance": d.within_bin_variance, "within_bin_covariance": d.within_bin_covariance}  # fmt: skip


def bias_variance(params: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    """Test MSE of polynomial fits over resampled training sets = bias^2 + variance + noise, per degree.

    The truth is sin(2 pi x) on [0, 1] with Gaussian noise of sd ``noise_sd``; ``n_resamples`` training sets of
    ``n_train`` points each; the test targets at ``n_test`` fixed x carry ``n_noise`` noise draws standardised to
    mean 0 and sd ``noise_sd`` exactly at every x, so the noise cross term vanishes exactly and the identity is
    exact to rounding. Raw (unstandardised) draws are reported too: there the identity holds in expectation only.
    """
    rng = np.random.default_rng(int(params["seed"]))
    sd, n_train, n_test, R = (params[k] for k in ("noise_sd", "n_train", "n_test", "n_resamples"))
    x_test = np.linspace(0.0, 1.0, n_test)
    f_test = np.sin(2 * np.pi * x_test)
    raw = sd * rng.standard_normal((int(params["n_noise"]), n_test))
    e = (raw - raw.mean(axis=0)) / raw.std(axis=0) * sd  # exact mean 0 and sd `sd` at every x
    xs = rng.uniform(0.0, 1.0, (R, n_train))
    ys = np.sin(2 * np.pi * xs) + sd * rng.standard_normal((R, n_train))
    out: dict[str, Any] = {}
    for deg in params["degrees"]:
        F = np.stack([np.polynomial.Polynomial.fit(xs[r], ys[r], deg)(x_test) for r in range(R)])  # (R, n_test)
        err = {}
        for name, noise in (("standardised", e), ("raw", raw)):
            target = (f_test[None, None, :] + noise[None, :, :]) * np.ones((R, 1, 1))
            pred = np.broadcast_to(F[:, None, :], target.shape)
            err[name] = float(losslab.mse(pred.ravel(), target.ravel()))
        fbar = F.mean(axis=0)
        terms = {"bias2": np.asarray(np.mean((f_test - fbar) ** 2)), "variance": np.asarray(np.mean(F.var(axis=0))),
                 "noise": np.asarray(float(np.mean(e**2)))}  # fmt: skip
        out[str(deg)] = {"gap": _gap(np.asarray(err["standardised"]), terms, drop), "mse": err["standardised"],
                         "mse_raw_noise": err["raw"], **{k: float(v) for k, v in terms.items()}}  # fmt: skip
    return out


def bregman(pred: np.ndarray, t: np.ndarray, q: np.ndarray, p: np.ndarray, drop: str | None = None) -> dict[str, Any]:
    """Squared error as the Bregman divergence of phi(x) = x^2, and KL as that of phi(p) = sum p log p.

    D_phi(a, b) = phi(a) - phi(b) - <grad phi(b), a - b>: with x^2 it is (a - b)^2, compared with losslab.mse;
    with the negative entropy it is KL(a || b) on the simplex, compared with losslab.kl_divergence.

    >>> r = bregman(np.array([3.0]), np.array([1.0]), np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]]))
    >>> r["gap"] < 1e-15
    True
    """
    sq = np.asarray(losslab.mse(pred, t, reduction="none"))
    d_sq = {"phi(y)": pred**2, "-phi(t)": -(t**2), "-phi'(t)(y - t)": -2.0 * t * (pred - t)}
    kl = np.asarray(losslab.kl_divergence(p, q, reduction="none"))
    d_kl = {"phi(y)": np.sum(p * np.log(p), axis=1), "-phi(t)": -np.sum(q * np.log(q), axis=1),
            "-phi'(t)(y - t)": -np.sum((np.log(q) + 1.0) * (p - q), axis=1)}  # fmt: skip
    return {"gap": max(_gap(sq, d_sq, drop), _gap(kl, d_kl, drop)), "gap_squared": _gap(sq, d_sq, drop),
            "gap_kl": _gap(kl, d_kl, drop), "mean_squared_error": float(sq.mean()), "mean_kl": float(kl.mean())}


def gaussian_kl(pred: np.ndarray, t: np.ndarray, sigma2: float, drop: str | None = None) -> dict[str, Any]:
    """(y - t)^2 / (2 sigma^2) from losslab.mse against KL(N(t, sigma^2) || N(y, sigma^2)) from torch.distributions."""
    import torch
    from torch.distributions import Normal, kl_divergence

    s = float(np.sqrt(sigma2))
    kl = kl_divergence(Normal(torch.tensor(t), s), Normal(torch.tensor(pred), s)).numpy()
    mapped = {"mse / (2 sigma^2)": np.asarray(losslab.mse(pred, t, reduction="none")) / (2.0 * sigma2)}
    return {"gap": _gap(kl, mapped, drop), "mean_kl": float(kl.mean()), "sigma2": sigma2}


def decomposition_cell(params: dict[str, Any]) -> dict[str, Any]:
    """One seed: fitted models on a resampled split (classification and diabetes) and one bias-variance simulation."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from threadpoolctl import threadpool_limits

    seed = int(params["seed"])
    d = load_dataset(params["dataset"], data_dir=params["data_dir"], seed=seed)
    with threadpool_limits(1):  # small problems: BLAS threads only add overhead
        clf = LogisticRegression(max_iter=2000).fit(d.X_train, d.y_train)
    Q = clf.predict_proba(d.X_test).astype(np.float64)
    Q = Q / Q.sum(axis=1, keepdims=True)
    z = clf.decision_function(d.X_test).astype(np.float64)
    z = np.stack([-z / 2, z / 2], axis=1) if z.ndim == 1 else z  # binary: the two-class logits
    k = Q.shape[1]
    y = d.y_test.astype(np.int64)
    smooth = np.asarray(losslab.smooth_labels(y, k, params["alpha"]), dtype=np.float64)
    teacher = np.exp(z / params["teacher_T"] - (z / params["teacher_T"]).max(axis=1, keepdims=True))
    teacher /= teacher.sum(axis=1, keepdims=True)
    reg = load_dataset("diabetes", seed=seed)
    lin = LinearRegression().fit(reg.X_train, reg.y_train)
    pred, t = lin.predict(reg.X_test).astype(np.float64), reg.y_test.astype(np.float64)
    sigma2 = float(np.mean((lin.predict(reg.X_train) - reg.y_train) ** 2))
    return {
        "analog": {"smoothed": analog(Q, smooth), "teacher": analog(Q, teacher), "one-hot": analog(Q, np.eye(k)[y])},
        "murphy": murphy(Q[:, 1] if k == 2 else Q, y, params["n_bins"]),
        "bias_variance": bias_variance(params),
        "bregman": bregman(pred, t, Q, smooth),
        "gaussian_kl": gaussian_kl(pred, t, sigma2),
        "n_test": int(y.size), "n_regression": int(t.size),
    }
