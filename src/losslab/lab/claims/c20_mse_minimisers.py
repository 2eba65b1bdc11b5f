"""Claim 20: linear regression and regression trees minimise the MSE (seed 001's list of models).

Seed 001 says linear regression "tries to fit a straight line that minimizes
the MSE" and that decision trees and random forests "can be trained to
minimize the MSE at each node". Both are checked by computation on diabetes:
scikit-learn's least-squares fit against a direct minimisation of
``losslab.mse`` with SciPy's optimiser, and a depth-one regression tree's
split against an exhaustive search over every feature and threshold for the
split with the least summed squared error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import losslab

from ..context import Context
from ..data import load_dataset
from ..registry import Claim, Finding, LabFigure, LabTable
from ..rules import claim_rules
from ..style import color, new_figure
from ..verdicts import decide

RULES = claim_rules("mse-minimisers")


def best_split(X: np.ndarray, y: np.ndarray) -> tuple[int, float, float]:
    """The (feature, threshold, summed squared error) of the single split with the least SSE, by exhaustive search.

    Thresholds are midpoints between consecutive distinct values, as scikit-learn's trees use.

    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 0.0, 5.0, 5.0])
    >>> best_split(X, y)
    (0, 1.5, 0.0)
    """
    best = (-1, np.nan, np.inf)
    for j in range(X.shape[1]):
        order = np.argsort(X[:, j], kind="stable")
        xs, ys = X[order, j], y[order]
        n = ys.size
        c1, c2 = np.cumsum(ys), np.cumsum(ys**2)
        k = np.arange(1, n)  # left sizes
        left = c2[:-1] - c1[:-1] ** 2 / k
        right = (c2[-1] - c2[:-1]) - (c1[-1] - c1[:-1]) ** 2 / (n - k)
        sse = left + right
        valid = xs[1:] > xs[:-1]  # a threshold must separate distinct values
        if not valid.any():
            continue
        i = int(np.argmin(np.where(valid, sse, np.inf)))
        if sse[i] < best[2] - 1e-9 * max(1.0, abs(best[2]) if np.isfinite(best[2]) else 1.0):
            best = (j, float((xs[i] + xs[i + 1]) / 2), float(sse[i]))
    return best


def minimiser_cell(params: dict[str, Any]) -> dict[str, Any]:
    """OLS vs a direct minimisation of losslab.mse; a depth-1 tree's split vs the exhaustive best split."""
    from scipy.optimize import minimize
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeRegressor

    d = load_dataset("diabetes", seed=params["seed"])
    X, y = d.X_train.astype(np.float64), d.y_train.astype(np.float64)
    ols = LinearRegression().fit(X, y)
    A = np.column_stack([X, np.ones(len(y))])

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        pred = A @ w
        return float(losslab.mse(pred, y)), A.T @ np.asarray(losslab.grad.mse(pred, y))

    res = minimize(f, np.zeros(A.shape[1]), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                                                   "maxiter": 10_000})  # fmt: skip
    w_ols = np.concatenate([ols.coef_, [ols.intercept_]])
    mse_ols = float(losslab.mse(A @ w_ols, y))
    # a planted non-minimiser for the control: the OLS coefficients shrunk by 5% (ridge-like)
    mse_shrunk = float(losslab.mse(A @ np.concatenate([0.95 * ols.coef_, [ols.intercept_]]), y))
    mae_tree = DecisionTreeRegressor(max_depth=1, criterion="absolute_error").fit(X, y)
    tree = DecisionTreeRegressor(max_depth=1, criterion="squared_error").fit(X, y)
    j, thr, sse = best_split(X, y)
    tree_pred = tree.predict(X)
    return {
        "mse_ols": mse_ols,
        "mse_direct": float(res.fun),
        "mse_shrunk": mse_shrunk,
        "mae_tree_sse": float(np.sum((mae_tree.predict(X) - y) ** 2)),
        "coef_gap": float(np.max(np.abs(res.x - w_ols)) / np.max(np.abs(w_ols))),
        "tree_feature": int(tree.tree_.feature[0]),
        "tree_threshold": float(tree.tree_.threshold[0]),
        "tree_sse": float(np.sum((tree_pred - y) ** 2)),
        "search_feature": j,
        "search_threshold": thr,
        "search_sse": sse,
    }


def run(ctx: Context) -> Finding:
    cells = ctx.map(minimiser_cell, [{"seed": s} for s in ctx.seeds])
    r_ols, r_tree = RULES.rule("c20.ols"), RULES.rule("c20.tree")
    ols_err = max(abs(c["mse_ols"] - c["mse_direct"]) / c["mse_ols"] for c in cells)
    tree_err = max(abs(c["tree_sse"] - c["search_sse"]) / c["search_sse"] for c in cells)
    same_feature = all(c["tree_feature"] == c["search_feature"] for c in cells)
    parts = [
        decide(r_ols, ols_err, name="OLS = the minimiser of losslab.mse",
               detail=f"largest relative MSE gap {ols_err:.1e}; coefficients agree to "
                      f"{max(c['coef_gap'] for c in cells):.1e} (relative)"),
        decide(r_tree, tree_err, name="a regression tree's split = the least-SSE split",
               detail=f"largest relative SSE gap {tree_err:.1e}; the same feature on "
                      f"{sum(c['tree_feature'] == c['search_feature'] for c in cells)}/{len(cells)} splits"),
    ]  # fmt: skip
    controls = [
        {"rule": r_ols.id, "planted": "coefficients shrunk by 5% (not the minimiser)", "expected": "refuted",
         "got": decide(r_ols, max(abs(c["mse_shrunk"] - c["mse_direct"]) / c["mse_direct"] for c in cells),
                       name="c").verdict},
        {"rule": r_tree.id, "planted": "a tree split by absolute error (minimises another loss)", "expected": "refuted",
         "got": decide(r_tree, max(abs(c["mae_tree_sse"] - c["search_sse"]) / c["search_sse"] for c in cells),
                       name="c").verdict},
    ]  # fmt: skip
    rows = [(s, f"{c['mse_ols']:.4f}", f"{c['mse_direct']:.4f}", c["tree_feature"], c["search_feature"],
             f"{c['tree_threshold']:.4f}", f"{c['search_threshold']:.4f}", f"{c['tree_sse']:.1f}",
             f"{c['search_sse']:.1f}") for s, c in zip(ctx.seeds, cells, strict=True)]  # fmt: skip
    fig, ax = new_figure(width=5.0, height=3.4)
    ax.scatter([c["search_sse"] for c in cells], [c["tree_sse"] for c in cells], color=color(0), label="tree split")
    lim = [min(c["search_sse"] for c in cells), max(c["search_sse"] for c in cells)]
    ax.plot(lim, lim, color="black", linestyle="--", linewidth=0.8, label="y = x")
    ax.set_xlabel("least SSE of any single split (search)")
    ax.set_ylabel("SSE of scikit-learn's depth-1 tree")
    ax.legend(fontsize=8)
    return Finding(
        parts=parts,
        controls=controls,
        reason=f"On {len(cells)} splits of diabetes, scikit-learn's least-squares coefficients reach the same MSE as "
        f"a direct L-BFGS minimisation of losslab.mse (relative gap {ols_err:.1e}), and a depth-one regression tree "
        f"with the squared-error criterion picks the split whose summed squared error is the least of all "
        f"(relative gap {tree_err:.1e}{'' if same_feature else '; ties may pick another feature at equal SSE'}).",
        summary=f"OLS gap {ols_err:.0e}; tree split gap {tree_err:.0e}",
        numbers={"cells": cells},
        tables=[LabTable("Per split: training MSE of OLS and of the direct minimiser; the tree's split and the "
                         "exhaustive search's", ("seed", "MSE OLS", "MSE direct", "tree feature", "search feature",
                                                 "tree threshold", "search threshold", "tree SSE", "search SSE"),
                         tuple(rows))],  # fmt: skip
        figures=[LabFigure("The summed squared error of the tree's first split against the least achievable by any "
                           "single split: they coincide.", fig)],  # fmt: skip
        discussion="Both are true as stated. A random forest's trees are grown the same way on bootstrap samples, "
        "so each tree minimises the squared error greedily, node by node; the forest as a whole minimises nothing "
        "(it averages), which the seed's wording does not claim either.",
    )


CLAIM = Claim(
    number=20,
    slug="mse-minimisers",
    title="Linear regression and regression trees minimise the MSE",
    statement="Linear Regression: [...] It assumes a linear relationship and tries to fit a straight line that "
    "minimizes the MSE between the predicted values and the actual target values. [...] Decision Trees and Random "
    "Forests: For regression tasks, decision trees and random forests can be trained to minimize the MSE at each "
    "node.",
    method="Diabetes, one resampled split per seed: scikit-learn's LinearRegression against SciPy's L-BFGS-B on "
    "losslab.mse with losslab.grad.mse; a depth-one DecisionTreeRegressor (criterion 'squared_error') against an "
    "exhaustive search over every feature and midpoint threshold.",
    source="seed 001, 'Machine learning models that often use MSE for training' (items 1 and 3)",
    datasets=("diabetes",),
    references=("Breiman, L., Friedman, J., Olshen, R. & Stone, C. (1984). Classification and Regression Trees.",),
    run=run,
)
