"""Claim 8: MSE on probabilities treats errors evenly in output space; cross-entropy punishes confident mistakes.

The seed's example (0.49 vs 0.51 for a true label of 1) is computed exactly,
with losslab's binary Brier score (the MSE of the probability) and log loss;
the two losses are in different units, so they are compared by the ratio of
their values at the two points. The part that can be measured on data is the
tail: on a trained classifier's test predictions, how much of the total loss
the most confidently wrong examples carry under each loss. Both losses rank
examples the same way (both grow as p(true class) falls), so the comparison is
about how unevenly the total is spread, not about which examples are worst.
The predictions are those of claim 14's tuned, early-stopped cross-entropy
MLP (the same cells), so no model is trained for this claim alone.

The seed's lead sentence, "MSE treats all errors equally in output space", is
not a part of its own: read literally (every unit of output error costs the
same) it is false of MSE, whose loss is quadratic in the error, and read as
the seed uses it (the loss sees only the size of the error, not which side of
the decision boundary the prediction falls on) it is just as true of
cross-entropy. Its testable content is the 0.49 / 0.51 contrast, c08.example.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import losslab

from ..context import Context
from ..registry import Claim, Finding, LabFigure, LabTable
from ..rules import claim_rules
from ..stats import t_ci
from ..style import band, color, new_figure
from ..verdicts import decide
from .c14_calibration_ce_vs_mse import comparison

__all__ = ["CLAIM", "binary_losses", "concentration", "planted_controls", "run", "tail_effects", "tail_share"]

RULES = claim_rules("confident-mistakes")
TAIL = RULES.rule("c08.tail")
EXAMPLE = RULES.rule("c08.example")


def binary_losses(p: Any) -> dict[str, list[float]]:
    """Binary MSE (1 - p)^2 and CE -log p of predictions ``p`` of the true class 1, through losslab.

    >>> out = binary_losses([0.49, 0.51])
    >>> [round(v, 4) for v in out["mse"]], [round(v, 4) for v in out["ce"]]
    ([0.2601, 0.2401], [0.7133, 0.6733])
    """
    q = np.asarray(p, dtype=np.float64)
    y = np.ones(q.shape, dtype=np.int64)
    return {
        "mse": losslab.brier_score(q, y, reduction="none").tolist(),
        "ce": losslab.log_loss(q, y, reduction="none").tolist(),
    }


def example() -> dict[str, float]:
    """The seed's example, exact: losses at p = 0.49, 0.51 and in the tail, their ratios and the slopes."""
    lo, hi = EXAMPLE.params["p"]
    tail = EXAMPLE.params["tail_p"]
    ex = binary_losses([lo, hi, tail])
    (m_lo, m_hi, m_t), (c_lo, c_hi, c_t) = ex["mse"], ex["ce"]
    return {"p_low": lo, "p_high": hi, "p_tail": tail, "mse_low": m_lo, "mse_high": m_hi, "mse_tail": m_t,
            "ce_low": c_lo, "ce_high": c_hi, "ce_tail": c_t, "mse_ratio": m_lo / m_hi, "ce_ratio": c_lo / c_hi,
            "mse_diff": m_lo - m_hi, "ce_diff": c_lo - c_hi, "mse_tail_ratio": m_t / m_lo, "ce_tail_ratio": c_t / c_lo,
            "mse_slope_low": 2 * (1 - lo), "mse_slope_tail": 2 * (1 - tail), "ce_slope_low": 1 / lo,
            "ce_slope_tail": 1 / tail}  # fmt: skip


def tail_share(loss: Any, p_true: Any, frac: float) -> float:
    """Share of the total loss carried by the ``ceil(frac * n)`` examples with the lowest p(true class).

    >>> tail_share([1.0, 1.0, 2.0, 4.0], [0.9, 0.8, 0.3, 0.1], 0.25)
    0.5
    """
    loss, p_true = np.asarray(loss, dtype=np.float64), np.asarray(p_true, dtype=np.float64)
    k = max(1, math.ceil(frac * loss.size))
    order = np.argsort(p_true, kind="stable")
    return float(loss[order[:k]].sum() / loss.sum())


def concentration(loss: Any, p_true: Any, fracs: Any) -> list[float]:
    """``tail_share`` at each fraction in ``fracs`` (a Lorenz-style curve from the worst examples up)."""
    return [tail_share(loss, p_true, float(f)) for f in fracs]


def per_example(logits: Any, y: Any) -> dict[str, np.ndarray]:
    """Per test example: p(true class), cross-entropy and the multiclass Brier score (sum over classes)."""
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(y)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return {"p_true": p[np.arange(y.size), y], "ce": np.asarray(losslab.cross_entropy(z, y, reduction="none")),
            "brier": np.asarray(losslab.brier_score(p, y, reduction="none"))}  # fmt: skip


def tail_effects(logits: Any, y: Any) -> dict[float, tuple[float, float]]:
    """Per tail of the rule: (cross-entropy's share, the Brier score's share) of the total test loss."""
    e = per_example(logits, y)
    return {t: (tail_share(e["ce"], e["p_true"], t), tail_share(e["brier"], e["p_true"], t))
            for t in TAIL.params["tails"]}  # fmt: skip


def _planted(seed: int, confident: bool, n: int = 1000, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Logits of n predictions, 10% of them mistakes.

    ``confident``: the mistakes' p(true) log-uniform in [1e-4, 0.45] (a confident tail) and the correct
    predictions at 0.999-0.99999, where both losses are ~0 (the claim true by construction); else every
    mistake borderline (0.3-0.45) and the correct ones at 0.8-0.99 (no confident mistake to punish).
    """
    rng = np.random.default_rng(seed)
    wrong = rng.random(n) < 0.1
    if confident:
        p_true = np.where(wrong, np.exp(rng.uniform(np.log(1e-4), np.log(0.45), n)), rng.uniform(0.999, 0.99999, n))
    else:
        p_true = np.where(wrong, rng.uniform(0.3, 0.45, n), rng.uniform(0.8, 0.99, n))
    y = rng.integers(0, k, n)
    other = (y + 1 + rng.integers(0, k - 1, n)) % k  # a wrong class: it takes 90% of the rest on a mistake
    rest = 1.0 - p_true
    P = np.repeat((rest / (k - 1))[:, None], k, axis=1)
    P[wrong] = (0.1 * rest[wrong] / (k - 2))[:, None]
    P[np.flatnonzero(wrong), other[wrong]] = 0.9 * rest[wrong]
    P[np.arange(n), y] = p_true
    return np.log(P / P.sum(axis=1, keepdims=True)), y


def planted_controls(n_seeds: int = 5) -> list[dict[str, Any]]:
    """Planted predictions through :func:`tail_effects`: confident mistakes (true) vs only borderline ones (false)."""
    out = []
    for confident, expected in ((True, "supported"), (False, "refuted")):
        eff: dict[Any, list[float]] = {t: [] for t in TAIL.params["tails"]}
        for s in range(n_seeds):
            for t, (ce, br) in tail_effects(*_planted(s, confident)).items():
                eff[t].append(ce - br)
        what = "10% mistakes, p(true) log-uniform 1e-4-0.45, correct ones at 0.999+ (confident mistakes)" \
            if confident else "10% mistakes, all at p(true) 0.3-0.45, correct ones at 0.8-0.99 (none confident)"
        for t, v in eff.items():
            out.append({"rule": TAIL.id, "planted": f"{what}; top {t:.0%}", "expected": expected,
                        "got": decide(TAIL, v, name="control").verdict})  # fmt: skip
    return out


def run(ctx: Context) -> Finding:
    dataset = ctx.datasets[0]
    comp = comparison(ctx, dataset)
    ex = example()
    holds = ex["ce_ratio"] > ex["mse_ratio"]
    parts = [decide(EXAMPLE, bool(holds), name="p = 0.49 vs 0.51, true label 1",
                    detail=f"CE ratio {ex['ce_ratio']:.3f} {'>' if holds else '<'} MSE ratio {ex['mse_ratio']:.3f}")]
    numbers: dict[str, Any] = {"example": ex, "dataset": dataset, "chosen_lr": comp.chosen, "tails": {}}
    rows = []
    for c, lab in (("ce", "cross-entropy-trained"), ("mse", "MSE-trained")):
        runs = comp.runs[c]
        shares = [tail_effects(r["test_logits"], r["test_labels"]) for r in runs]
        for t in TAIL.params["tails"]:
            ce_s, br_s = np.array([s[t][0] for s in shares]), np.array([s[t][1] for s in shares])
            if c == RULES.params["contender"]:
                parts.append(decide(TAIL, ce_s - br_s, name=f"top {t:.0%}, {lab} MLP, {dataset}",
                                    detail=f"CE share {t_ci(ce_s).format('.3f')}, Brier share "
                                           f"{t_ci(br_s).format('.3f')}"))  # fmt: skip
            numbers["tails"][f"{c}/{t:g}"] = {"ce_share": t_ci(ce_s).to_dict(), "brier_share": t_ci(br_s).to_dict(),
                                              "difference_per_seed": (ce_s - br_s).tolist()}  # fmt: skip
            rows.append((f"{lab} MLP", f"top {t:.0%}", t_ci(ce_s).format(".3f"), t_ci(br_s).format(".3f"),
                         t_ci(ce_s - br_s).format("+.3f")))  # fmt: skip
    numbers["n_test"] = len(comp.runs["ce"][0]["test_labels"])
    numbers["test_accuracy_ce"] = t_ci(comp.test("ce", "acc")).to_dict()
    return _finding(parts, ex, numbers, rows, comp, dataset)


def _figure(ex: dict[str, float], comp: Any, dataset: str, n_test: int) -> Any:
    fig, axes = new_figure(2, width=4.4, height=3.5)
    ax = axes[0]
    p = np.logspace(-4, 0, 400)
    curves = binary_losses(p)
    ax.plot(p, curves["ce"], color=color(0), label="cross-entropy  -log p")
    ax.plot(p, curves["mse"], color=color(1), linestyle="--", label="MSE  (1 - p)^2")
    for key, mk in (("low", "o"), ("high", "s"), ("tail", "D")):
        ax.plot([ex[f"p_{key}"]] * 2, [ex[f"mse_{key}"], ex[f"ce_{key}"]], linestyle="none", marker=mk,
                color="black", markersize=4)  # fmt: skip
    ax.axvline(0.5, color="grey", linewidth=0.7, linestyle=":")
    ax.set(xscale="log", xlabel="predicted probability of the true class p (log scale)", ylabel="loss",
           title="(a) binary loss vs p of the true class")  # fmt: skip
    ax.legend(fontsize=8)
    fr = np.logspace(np.log10(1.0 / n_test), 0, 40)
    for i, (key, lab) in enumerate((("ce", "cross-entropy"), ("brier", "Brier (MSE of probabilities)"))):
        runs = [per_example(r["test_logits"], r["test_labels"]) for r in comp.runs["ce"]]
        band(axes[1], fr, [concentration(e[key], e["p_true"], fr) for e in runs], i=i, label=lab)
    axes[1].plot(fr, fr, color="grey", linewidth=0.8, linestyle=":", label="equal shares")
    for t in TAIL.params["tails"]:
        axes[1].axvline(t, color="grey", linewidth=0.6, linestyle="--")
    axes[1].set(xscale="log", xlabel="fraction of test examples, most confidently wrong first",
                ylabel="share of the total test loss", title=f"(b) loss concentration ({dataset}, CE-trained MLP)")
    axes[1].legend(fontsize=8, loc="lower right")
    return fig


def _finding(parts, ex, numbers, rows, comp, dataset) -> Finding:
    t = numbers["tails"]
    c = RULES.params["contender"]
    tails = TAIL.params["tails"]
    tail_words = "; ".join(f"top {x:.0%}: CE share {t[f'{c}/{x:g}']['ce_share']['estimate']:.3f} vs Brier "
                           f"{t[f'{c}/{x:g}']['brier_share']['estimate']:.3f}" for x in tails)  # fmt: skip
    reason = (
        f"The seed's example does not hold: with a true label of 1, cross-entropy gives {ex['ce_low']:.4f} at p = "
        f"{ex['p_low']} and {ex['ce_high']:.4f} at {ex['p_high']} (ratio {ex['ce_ratio']:.3f}), MSE "
        f"{ex['mse_low']:.4f} and {ex['mse_high']:.4f} (ratio {ex['mse_ratio']:.3f}): {ex['ce_ratio']:.3f} < "
        f"{ex['mse_ratio']:.3f}, so "
        "cross-entropy does not assign 'much higher loss' to 0.49 than to 0.51, and relatively it separates them "
        f"less than MSE (in absolute terms its gap {ex['ce_diff']:.3f} is twice MSE's {ex['mse_diff']:.3f}, but "
        f"the losses have different units: at p = {ex['p_high']} cross-entropy is "
        f"{ex['ce_high'] / ex['mse_high']:.1f} times MSE). Cross-entropy's extra weight "
        f"is in the tail (from p = 0.49 to {ex['p_tail']}: MSE x {ex['mse_tail_ratio']:.2f}, cross-entropy x "
        f"{ex['ce_tail_ratio']:.2f}); on the test predictions ({tail_words}) the difference CE minus Brier is "
        + "; ".join(f"{p.name} {p.note}" for p in parts[1:]) + ". 'MSE treats all errors equally' is not a part of "
        f"its own: MSE is quadratic (its slope 2(1 - p) is {ex['mse_slope_low']:.2f} at 0.49 and "
        f"{ex['mse_slope_tail']:.2f} at {ex['p_tail']}), so read literally it is false; read as the seed uses it "
        "(blind to the decision boundary) it is as true of cross-entropy, which is what c08.example tests."
    )  # fmt: skip
    discussion = (
        "Near p = 0.5 both losses are smooth and neither knows where the decision boundary is. The difference is "
        f"in the tail: MSE is bounded by 1 (binary) and its slope there is {ex['mse_slope_tail']:.2f}, cross-entropy "
        f"is unbounded with slope 1/p ({ex['ce_slope_tail']:.0f} at p = {ex['p_tail']}). On real predictions that "
        "shows up as concentration in the extreme tail; once the window holds every misclassified example and some "
        "correct ones, the Brier score's share can be the larger: cross-entropy also charges confident *correct* "
        "predictions relatively more (-log p ~ 1 - p against (1 - p)^2 as p -> 1), so its total is less dominated "
        "by the mistakes. This is the sense in which cross-entropy 'punishes confident mistakes' (Goodfellow et al. "
        "2016, 6.2.2), and also why it is sensitive to mislabelled examples (claims 7 and 9; Ghosh et al. 2017). "
        "The predictions come from early-stopped models (claim 14's tuned runs), which make few and mostly "
        "moderate mistakes; no published number to compare with directly."
    )
    return Finding(
        parts=parts, reason=reason, numbers=numbers, discussion=discussion, controls=planted_controls(),
        summary=f"CE ratio {ex['ce_ratio']:.3f} < MSE ratio {ex['mse_ratio']:.3f}; " + tail_words,
        tables=[
            LabTable("The seed's example (binary, true label 1), computed with losslab",
                     ("p", "MSE (1-p)^2", "CE -log p"),
                     tuple((ex[f"p_{k}"], f"{ex[f'mse_{k}']:.4f}", f"{ex[f'ce_{k}']:.4f}")
                           for k in ("high", "low", "tail"))),
            LabTable(f"Share of total test loss carried by the most confidently wrong examples ({dataset}, each "
                     "model at its tuned rate; mean [95% t-interval] over seeds)",
                     ("predictions of", "examples", "CE share", "Brier share", "CE - Brier"), tuple(rows)),
        ],
        figures=[LabFigure(
            "(a) Loss against the probability of the true class: near p = 0.5 both curves are smooth; in the tail "
            "cross-entropy grows without bound while MSE saturates at 1. (b) Share of the total test loss carried by "
            "the most confidently wrong examples (mean, min-max band over seeds); dashed lines at the rule's tails.",
            _figure(ex, comp, dataset, numbers["n_test"]))],
    )  # fmt: skip


CLAIM = Claim(
    number=8,
    slug="confident-mistakes",
    title="MSE treats errors evenly in output space; cross-entropy punishes confident mistakes",
    statement="'Beyond gradient saturation, MSE treats all errors equally in output space. A prediction of 0.49 for "
    "a true label of 1 gets almost the same MSE loss as 0.51, but these correspond to opposite classifications. "
    "Cross-entropy correctly assigns much higher loss to 0.49 than to 0.51.'",
    method="Exact binary losses (losslab.brier_score for (1 - p)^2, losslab.log_loss for -log p) at p = 0.49, 0.51 "
    "and 0.01. On data: the test predictions of claim 14's tuned, early-stopped one-hidden-layer MLPs on the first "
    "dataset of the run (one run per seed: each resamples the split and the initialisation); per test example its "
    "cross-entropy and its multiclass Brier score; examples sorted by p(true class), lowest first; the share of "
    "each loss's total carried by the lowest 1% and 5%.",
    source="seed 002, 'Where Each Fails / MSE fails at classification'",
    datasets=("*",),
    references=(
        "Goodfellow, Bengio, Courville (2016). Deep Learning, section 6.2.2.",
        "Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather Review.",
        "Contrary/qualifying: Ghosh, Kumar, Sastry (2017). Robust loss functions under label noise for deep neural "
        "networks. AAAI (the same tail weight makes cross-entropy fit mislabelled examples).",
    ),
    run=run,
)
