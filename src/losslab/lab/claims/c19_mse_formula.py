"""Claim 19: seed 001's recipe for the MSE ("divide this number by y") and its "normalised" RMSE.

Seed 001 computes the MSE by squaring the differences, adding them up and
"finally divide this number by y again", and calls the RMSE "normalized
between 0 and infinity". Both are checked as written, on a real fit
(linear regression on diabetes, resampled per seed): the recipe read
literally, and the only scale-free reading of "normalised" (the value does
not change when the target's unit does), against the definitions that
losslab, scikit-learn and every textbook use.
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

RULES = claim_rules("mse-formula")


def formula_cell(params: dict[str, Any]) -> dict[str, Any]:
    """Squared errors of a linear fit on diabetes, and the seed's and the textbook's MSE and RMSE of them."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error

    d = load_dataset("diabetes", seed=params["seed"])
    pred = LinearRegression().fit(d.X_train, d.y_train).predict(d.X_test).astype(np.float64)
    t = d.y_test.astype(np.float64)
    sse = float(np.sum((pred - t) ** 2))
    n = int(t.size)
    unit = float(RULES.rule("c19.rmse_normalised").params["unit_change"])
    return {
        "n": n,
        "sse": sse,
        "mse_definition": sse / n,
        "mse_losslab": float(losslab.mse(pred, t)),
        "mse_sklearn": float(mean_squared_error(t, pred)),
        # "divide this number by y": y is a vector; the two scalar readings are its sum and its mean
        "seed_over_sum_y": sse / float(np.sum(t)),
        "seed_over_mean_y": sse / float(np.mean(t)),
        "rmse": float(losslab.rmse(pred, t)),
        "rmse_rescaled": float(losslab.rmse(pred * unit, t * unit)),
        "unit_change": unit,
    }


def run(ctx: Context) -> Finding:
    cells = ctx.map(formula_cell, [{"seed": s} for s in ctx.seeds])
    r_div, r_norm = RULES.rule("c19.divide_by_y"), RULES.rule("c19.rmse_normalised")
    rel = r_div.params["relative_tolerance"]

    def same(a: float, b: float) -> bool:
        return abs(a - b) <= rel * abs(b)

    seed_ok = all(same(c["seed_over_sum_y"], c["mse_definition"]) or same(c["seed_over_mean_y"], c["mse_definition"])
                  for c in cells)  # fmt: skip
    def_err = max(max(abs(c["mse_losslab"] - c["mse_definition"]), abs(c["mse_sklearn"] - c["mse_definition"]))
                  / c["mse_definition"] for c in cells)  # fmt: skip
    norm_ok = all(same(c["rmse_rescaled"], c["rmse"]) for c in cells)
    c0 = cells[0]
    # the definition is the yardstick, not part of the seed's statement: it must hold, or the check itself is broken
    if def_err > RULES.params["definition_tolerance"]:
        raise RuntimeError(f"losslab.mse or scikit-learn's mean_squared_error is not SSE / n here: relative gap "
                           f"{def_err:.1e}; the comparison would be meaningless")  # fmt: skip
    parts = [
        decide(r_div, seed_ok, name="the seed's recipe: sum of squares / y",
               detail=f"seed 0: sum of squares {c0['sse']:.4g} / sum(y) = {c0['seed_over_sum_y']:.4g}, / mean(y) = "
                      f"{c0['seed_over_mean_y']:.4g}, against the MSE (divided by n = {c0['n']}) "
                      f"{c0['mse_definition']:.4g}; losslab and scikit-learn give SSE / n to {def_err:.0e}"),
        decide(r_norm, norm_ok, name="RMSE is normalised (unit-free)",
               detail=f"seed 0: RMSE {c0['rmse']:.4g}; with the target in units {c0['unit_change']:g}x smaller "
                      f"{c0['rmse_rescaled']:.4g}: the RMSE carries the target's unit"),
    ]  # fmt: skip
    # own controls: the same comparison fed the textbook's recipe (true) and the sample variance's n - 1 (false)
    controls = [
        {"rule": r_div.id, "planted": "the recipe SSE / n", "expected": "supported",
         "got": decide(r_div, all(same(c["sse"] / c["n"], c["mse_definition"]) for c in cells), name="c").verdict},
        {"rule": r_div.id, "planted": "the recipe SSE / (n - 1)", "expected": "refuted",
         "got": decide(r_div, all(same(c["sse"] / (c["n"] - 1), c["mse_definition"]) for c in cells),
                       name="c").verdict},
        {"rule": r_norm.id, "planted": "the rescaled RMSE converted back to the first unit (equal by construction)",
         "expected": "supported",
         "got": decide(r_norm, all(same(c["rmse_rescaled"] / c["unit_change"], c["rmse"]) for c in cells),
                       name="c").verdict},
    ]  # fmt: skip
    rows = [(s, c["n"], f"{c['mse_definition']:.2f}", f"{c['seed_over_sum_y']:.3f}", f"{c['seed_over_mean_y']:.1f}",
             f"{c['rmse']:.2f}", f"{c['rmse_rescaled']:.1f}")
            for s, c in zip(ctx.seeds, cells, strict=True)]  # fmt: skip
    fig, ax = new_figure(width=5.4, height=3.4)
    x = np.arange(len(cells))
    for i, (key, label) in enumerate((("mse_definition", "MSE (sum / n)"), ("seed_over_mean_y", "seed: sum / mean(y)"),
                                      ("seed_over_sum_y", "seed: sum / sum(y)"))):  # fmt: skip
        ax.plot(x, [c[key] for c in cells], marker="os^"[i], color=color(i), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("seed (train/test split)")
    ax.set_ylabel("value (target units squared, log scale)")
    ax.legend(fontsize=8)
    return Finding(
        parts=parts,
        controls=controls,
        reason=f"On {len(cells)} splits of diabetes (linear regression), the summed squared error divided by the "
        "target, in either scalar reading of 'y', is not the MSE; dividing by the number of examples is, to "
        f"rounding, in losslab and scikit-learn alike. The RMSE changes by the factor {c0['unit_change']:g} when the "
        "target's unit does: it is in the target's units, not normalised.",
        summary=f"seed's recipe {c0['seed_over_mean_y']:.3g} vs MSE {c0['mse_definition']:.3g}; RMSE scales with "
        "the unit",
        numbers={"cells": cells},
        tables=[LabTable("Per split: the MSE by definition and by the seed's recipe, and the RMSE in two units",
                         ("seed", "n", "MSE = SSE / n", "SSE / sum(y)", "SSE / mean(y)", "RMSE",
                          f"RMSE, unit / {c0['unit_change']:g}"), tuple(rows))],  # fmt: skip
        figures=[LabFigure("The MSE and the seed's recipe for it on each split (log scale): the recipe is off by the "
                           "size of the target, not by rounding.", fig)],  # fmt: skip
        discussion="A mean divides by the count; 'divide by y' is a slip of the seed's text, but a reader who follows "
        "it gets a number that depends on the target's level (diabetes' targets average about 150). The RMSE is "
        "preferred to the MSE because it is in the target's units, which is the opposite of normalised; a "
        "normalised error divides by a scale of the target (the standard deviation: NRMSE, or 1 - R^2).",
    )


CLAIM = Claim(
    number=19,
    slug="mse-formula",
    title="The MSE is the sum of squares divided by y; the RMSE is normalised",
    statement="Mean squared error (MSE) loss is calculated by squaring the difference between true value y and the "
    "predicted value. We take these new numbers (square them), add all of that together to get a final value, "
    "finally divide this number by y again. [...] Root mean square error (RMSE) is a mean square error loss "
    "function that is normalized between 0 and infinity.",
    method="Linear regression on diabetes, one resampled train/test split per seed; on the test split, the summed "
    "squared error divided by y (as its sum and as its mean, the two scalar readings), by n, by losslab.mse and "
    "by scikit-learn's mean_squared_error; the RMSE with the target in its unit and in a unit 100 times smaller.",
    source="seed 001, 'How do you calculate mean squared error loss?' and the RMSE paragraph",
    datasets=("diabetes",),
    references=("Any statistics text, e.g. Hastie, Tibshirani & Friedman (2009), The Elements of Statistical "
                "Learning, section 2.4 (squared error loss, its expectation and sample mean).",),  # fmt: skip
    run=run,
)
