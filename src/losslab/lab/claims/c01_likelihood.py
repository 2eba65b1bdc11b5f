"""Claim 1: MSE is the Gaussian negative log-likelihood, cross-entropy the Bernoulli/Categorical one.

The check is independent of losslab's own likelihood module: fitted models'
predictions on real data go through losslab's losses and through SciPy's
log-densities (``scipy.stats``), and the two must agree after the stated
affine map, per example, to float64 rounding.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

import losslab

from ..context import Context
from ..data import load_dataset
from ..registry import Claim, Finding, LabFigure, LabTable
from ..rules import claim_rules
from ..style import color, new_figure
from ..verdicts import decide

MAX_FIT, MAX_CHECK = 5000, 2000  # rows of a large (IDX) dataset used to fit and to check
RULES = claim_rules("likelihood")
#: absolute, per example, in nats: float64 rounding of sums of a few terms of size ~10 (declared in lab.rules)
TOLERANCE = RULES.rule("c01.gaussian").tolerance


def identities(params: dict[str, Any]) -> dict[str, Any]:
    """Per-example losslab loss and SciPy NLL for a regression, a binary and a multiclass model."""
    from scipy import stats
    from sklearn.linear_model import LinearRegression, LogisticRegression

    out: dict[str, Any] = {}
    reg = load_dataset("diabetes", seed=params["seed"])
    fit = LinearRegression().fit(reg.X_train, reg.y_train)
    pred = fit.predict(reg.X_test).astype(np.float64)
    t = reg.y_test.astype(np.float64)
    sigma2 = float(np.mean((fit.predict(reg.X_train) - reg.y_train) ** 2))  # the Gaussian MLE of the variance
    loss = losslab.mse(pred, t, reduction="none")
    nll = -stats.norm.logpdf(t, loc=pred, scale=math.sqrt(sigma2))
    mapped = loss / (2 * sigma2) + 0.5 * math.log(2 * math.pi * sigma2)
    out["gaussian"] = {"loss": loss.tolist(), "nll": nll.tolist(), "mapped": mapped.tolist(), "sigma2": sigma2}

    for key, name in (("bernoulli", "breast_cancer"), ("categorical", params["dataset"])):
        d = load_dataset(name, data_dir=params["data_dir"], seed=params["seed"])
        # An identity needs examples, not all of MNIST's 60000: cap the fit and the check.
        n_fit, n_check = min(len(d.y_train), MAX_FIT), min(len(d.y_test), MAX_CHECK)
        clf = LogisticRegression(max_iter=2000).fit(d.X_train[:n_fit], d.y_train[:n_fit])
        d = replace(d, X_test=d.X_test[:n_check], y_test=d.y_test[:n_check])
        z = clf.decision_function(d.X_test).astype(np.float64)
        if key == "bernoulli":
            loss = losslab.binary_cross_entropy_with_logits(z, d.y_test.astype(np.float64), reduction="none")
            p1 = 1.0 / (1.0 + np.exp(-z))
            nll = -stats.bernoulli.logpmf(d.y_test, p1)
        else:
            loss = losslab.cross_entropy(z, d.y_test, reduction="none")
            probs = np.exp(z - z.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            onehot = np.eye(d.n_classes)[d.y_test]
            nll = -stats.multinomial.logpmf(onehot, 1, probs)
        out[key] = {"loss": loss.tolist(), "nll": nll.tolist(), "mapped": loss.tolist(), "dataset": name}
    return out


def run(ctx: Context) -> Finding:
    dataset = ctx.datasets[0] if ctx.datasets[0] != "breast_cancer" else "digits"
    cell = ctx.cell(identities, {"seed": 0, "dataset": dataset})
    labels = {
        "gaussian": "MSE vs Gaussian NLL (diabetes, linear regression)",
        "bernoulli": "BCE vs Bernoulli NLL (breast_cancer, logistic regression)",
        "categorical": f"cross-entropy vs Categorical NLL ({cell['categorical']['dataset']}, softmax regression)",
    }
    maps = {
        "gaussian": "nll = mse / (2 sigma^2) + log(2 pi sigma^2) / 2",
        "bernoulli": "nll = bce (scale 1, offset 0)",
        "categorical": "nll = cross_entropy (scale 1, offset 0)",
    }
    rows, errors, numbers, parts = [], {}, {}, []
    for key, title in labels.items():
        c = cell[key]
        err = float(np.max(np.abs(np.asarray(c["mapped"]) - np.asarray(c["nll"]))))
        errors[key] = err
        numbers[key] = {"max_abs_error": err, "n": len(c["nll"]), "mean_nll": float(np.mean(c["nll"]))}
        rows.append((title, maps[key], len(c["nll"]), f"{np.mean(c['nll']):.4f}", f"{err:.2e}"))
        parts.append(decide(RULES.rule(f"c01.{key}"), err, name=title))
    numbers["gaussian"]["sigma2"] = cell["gaussian"]["sigma2"]
    numbers["tolerance"] = TOLERANCE
    worst = max(errors.values())

    fig, axes = new_figure(3, width=3.6, height=3.4)
    for i, (ax, key) in enumerate(zip(axes, labels, strict=True)):
        c = cell[key]
        ax.scatter(c["nll"], c["mapped"], s=9, color=color(i), alpha=0.7, label="test examples")
        lim = [min(c["nll"]), max(c["nll"])]
        ax.plot(lim, lim, color="black", linewidth=0.8, linestyle="--", label="y = x")
        ax.set_xlabel("NLL from scipy.stats (nats)")
        ax.set_ylabel("losslab loss, mapped (nats)")
        ax.set_title(key.capitalize(), fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    return Finding(
        parts=parts,
        reason=f"the largest per-example gap over {sum(n['n'] for n in numbers.values() if isinstance(n, dict))} "
        f"test examples is {worst:.2e} nats, against a tolerance of {TOLERANCE:.0e}.",
        summary=f"max |loss - NLL| = {worst:.1e} nats",
        numbers=numbers,
        tables=[
            LabTable(
                "Per-example agreement on the test split", ("pair", "map", "n", "mean NLL", "max |gap|"), tuple(rows)
            )
        ],  # fmt: skip
        figures=[
            LabFigure(
                "Every test example's losslab loss (after the stated map) against SciPy's negative "
                "log-likelihood: all points lie on y = x.",
                fig,
            )
        ],  # fmt: skip
        discussion="The identity is exact, as every seed says; what it leaves out is the variance. MSE is the "
        "Gaussian NLL only up to the scale 1/(2 sigma^2) and the offset log(2 pi sigma^2)/2, so minimising MSE "
        "is maximum likelihood for the mean whatever sigma is, but the MSE value is not a likelihood until sigma "
        "is fixed (here its MLE, the training MSE). Cross-entropy needs no such map: with one-hot targets it is "
        "the Bernoulli or Categorical NLL itself (Bishop 2006, 4.3.2; Murphy 2022, 5.4).",
    )


CLAIM = Claim(
    number=1,
    slug="likelihood",
    title="MSE is the Gaussian NLL; cross-entropy is the Bernoulli/Categorical NLL",
    statement="Use MSE loss if the target variable is from a Gaussian distribution and categorical cross-entropy "
    "loss if it is from a Multinomial distribution: both are negative log-likelihoods (up to constants).",
    method="Fit linear regression on diabetes, logistic regression on breast_cancer and softmax regression on a "
    "multiclass dataset; on each test example compare losslab's mse, binary_cross_entropy_with_logits and "
    "cross_entropy, after the stated affine map, with the negative log-density from scipy.stats (norm with "
    "sigma^2 = the training MSE, bernoulli, multinomial with n = 1).",
    source="seed 000 (TL;DR and the MSE / binary / categorical sections); seed 002 (Probabilistic Interpretations)",
    datasets=("diabetes", "breast_cancer", "*"),
    references=(
        "Bishop, C. M. (2006). Pattern Recognition and Machine Learning, sections 1.2.5 and 4.3.2.",
        "Murphy, K. P. (2022). Probabilistic Machine Learning: An Introduction, section 5.4.",
    ),
    run=run,
)
