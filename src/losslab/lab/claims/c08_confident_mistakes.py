"""Claim 8: MSE on probabilities treats errors evenly in output space; cross-entropy punishes confident mistakes.

The seeds' example (0.49 vs 0.51 for a true label of 1) is computed exactly,
with losslab's binary Brier score (the MSE of the probability) and log loss.
The part that can be measured on data is the tail: on a trained classifier's
test predictions, how much of the total loss the most confidently wrong
examples carry under each loss. Both losses rank examples the same way (both
grow as p(true class) falls), so the comparison is about how unevenly the
total is spread, not about which examples are worst.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import losslab

from ..context import Context
from ..registry import Claim, Finding, LabFigure, LabTable
from ..stats import combine_verdicts, directional_verdict, mean_ci
from ..style import band, color, new_figure

TAILS = (0.01, 0.05)  # the most confidently wrong 1% and 5% of test examples
HIDDEN = 64


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


def trained_predictions(params: dict[str, Any]) -> dict[str, Any]:
    """Train a softmax MLP with cross-entropy; per test example: p(true class), CE and multiclass Brier."""
    import torch

    from .. import train

    d = train.tensors(params["dataset"], params["data_dir"], params["device"])
    model = train.make_model("mlp", d.n_features, d.n_classes, seed=params["seed"], hidden=HIDDEN,
                             device=params["device"])  # fmt: skip
    train.train(model, train.classification_loss("cross_entropy", d.n_classes), d.X_train, d.y_train,
                epochs=params["epochs"], seed=params["seed"])  # fmt: skip
    z = train.predict_logits(model, d.X_test)
    y = d.y_test.cpu().numpy()
    p = torch.softmax(torch.from_numpy(z), dim=-1).numpy()
    return {
        "p_true": p[np.arange(y.size), y].tolist(),
        "ce": losslab.cross_entropy(z, y, reduction="none").tolist(),
        "brier": losslab.brier_score(p, y, reduction="none").tolist(),
        "accuracy": float(np.mean(p.argmax(1) == y)),
    }


def ratio_verdict(ratios: list[float], *, n_bootstrap: int) -> tuple[str, Any]:
    """Supported when the mean ratio (CE tail share / Brier tail share) has its interval above 1.

    >>> ratio_verdict([1.5, 1.7, 1.6], n_bootstrap=200)[0], ratio_verdict([0.9, 1.2, 1.0], n_bootstrap=200)[0]
    ('supported', 'inconclusive')
    """
    iv = mean_ci(ratios, n_bootstrap=n_bootstrap)
    shifted = type(iv)(iv.estimate - 1.0, iv.low - 1.0, iv.high - 1.0, iv.n, iv.level)
    return directional_verdict(shifted), iv


def run(ctx: Context) -> Finding:
    dataset = ctx.datasets[0]
    epochs = ctx.profile.pick(3, 15, 40)
    cells = ctx.map(trained_predictions, [{"dataset": dataset, "seed": s, "epochs": epochs} for s in ctx.seeds])

    ex = binary_losses([0.49, 0.51, 0.01])
    m49, m51, m01 = ex["mse"]
    c49, c51, c01 = ex["ce"]
    numbers: dict[str, Any] = {
        "example": {
            "mse_0.49": m49, "mse_0.51": m51, "ce_0.49": c49, "ce_0.51": c51, "mse_0.01": m01, "ce_0.01": c01,
            "mse_ratio_0.49_over_0.51": m49 / m51, "ce_ratio_0.49_over_0.51": c49 / c51,
            "mse_diff_0.49_minus_0.51": m49 - m51, "ce_diff_0.49_minus_0.51": c49 - c51,
            "mse_ratio_0.01_over_0.49": m01 / m49, "ce_ratio_0.01_over_0.49": c01 / c49,
            "mse_sup": 1.0, "ce_at_1e-6": -math.log(1e-6),
        },
        "dataset": dataset, "epochs": epochs, "n_test": len(cells[0]["p_true"]),
        "test_accuracy": mean_ci([c["accuracy"] for c in cells], n_bootstrap=ctx.n_bootstrap).to_dict(),
    }  # fmt: skip
    verdicts, rows, summaries = [], [], []
    for frac in TAILS:
        ce_s = [tail_share(c["ce"], c["p_true"], frac) for c in cells]
        br_s = [tail_share(c["brier"], c["p_true"], frac) for c in cells]
        ratios = [a / b for a, b in zip(ce_s, br_s, strict=True)]
        v, iv = ratio_verdict(ratios, n_bootstrap=ctx.n_bootstrap)
        verdicts.append(v)
        ce_iv, br_iv = (mean_ci(x, n_bootstrap=ctx.n_bootstrap) for x in (ce_s, br_s))
        numbers[f"top_{frac:g}"] = {"ce_share": ce_iv.to_dict(), "brier_share": br_iv.to_dict(),
                                    "ratio": iv.to_dict(), "verdict": v, "ce_share_per_seed": ce_s,
                                    "brier_share_per_seed": br_s}  # fmt: skip
        rows.append((f"top {frac:.0%}", ce_iv.format(".3f"), br_iv.format(".3f"), iv.format(".2f"), v))
        summaries.append(f"top {frac:.0%}: CE/Brier tail share {iv.format('.2f')}")
    verdict = combine_verdicts(verdicts)

    fig, axes = new_figure(2, width=4.4, height=3.5)
    ax = axes[0]
    p = np.logspace(-4, 0, 400)
    curves = binary_losses(p)
    ax.plot(p, curves["ce"], color=color(0), label="cross-entropy  -log p")
    ax.plot(p, curves["mse"], color=color(1), linestyle="--", label="MSE  (1 - p)^2")
    for q, m, c, mk in ((0.49, m49, c49, "o"), (0.51, m51, c51, "s"), (0.01, m01, c01, "D")):
        ax.plot([q, q], [m, c], linestyle="none", marker=mk, color="black", markersize=4)
    ax.annotate("p = 0.01", (0.01, c01), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.annotate("p = 0.49 / 0.51", (0.49, c49), textcoords="offset points", xytext=(-30, 10), fontsize=7)
    ax.axvline(0.5, color="grey", linewidth=0.7, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("predicted probability of the true class p (log scale)")
    ax.set_ylabel("loss (nats for CE)")
    ax.set_title("(a) binary loss vs p of the true class", fontsize=10)
    ax.legend(fontsize=8)
    fr = np.logspace(np.log10(1.0 / numbers["n_test"]), 0, 40)
    for i, (key, lab) in enumerate((("ce", "cross-entropy"), ("brier", "Brier (MSE of probabilities)"))):
        band(axes[1], fr, [concentration(c[key], c["p_true"], fr) for c in cells], i=i, label=lab)
    axes[1].plot(fr, fr, color="grey", linewidth=0.8, linestyle=":", label="equal shares")
    for frac in TAILS:
        axes[1].axvline(frac, color="grey", linewidth=0.6, linestyle="--")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("fraction of test examples, most confidently wrong first")
    axes[1].set_ylabel("share of the total test loss")
    axes[1].set_title(f"(b) loss concentration ({dataset}, CE-trained MLP)", fontsize=10)
    axes[1].legend(fontsize=8, loc="lower right")

    t1, t5 = numbers["top_0.01"], numbers["top_0.05"]
    discussion = (
        f"The seeds' example, computed: MSE gives {m49:.4f} at p = 0.49 and {m51:.4f} at 0.51 (ratio "
        f"{m49 / m51:.3f}); cross-entropy gives {c49:.4f} and {c51:.4f} (ratio {c49 / c51:.3f}). So near 0.5 "
        "cross-entropy does not separate the two sides of the boundary any better than MSE does (its relative gap "
        "is even smaller): both losses are smooth there, and neither knows where the decision boundary is. The "
        f"difference is in the tail: from p = 0.49 to p = 0.01 MSE grows {m01 / m49:.2f}x and is bounded by 1, "
        f"cross-entropy grows {c01 / c49:.2f}x and is unbounded. On real predictions that shows up as "
        f"concentration: the 5% most confidently wrong test examples carry {t5['ce_share']['estimate']:.0%} of the "
        f"total cross-entropy against {t5['brier_share']['estimate']:.0%} of the total Brier score, and the 1% "
        f"carry {t1['ce_share']['estimate']:.0%} against {t1['brier_share']['estimate']:.0%}: cross-entropy's extra "
        "weight sits in the extreme tail; once the few misclassified examples are all inside the window, both "
        "totals are dominated by them (the Brier score of a confident mistake is close to its maximum 2). This is the "
        "sense in which cross-entropy 'punishes confident mistakes' (Goodfellow et al. 2016, 6.2.2), and also why "
        "it is sensitive to mislabelled examples (claim 9; Ghosh et al. 2017). No published number to compare "
        "with directly; the shares depend on the model's accuracy (a more accurate model has fewer, more extreme "
        "mistakes)."
    )
    return Finding(
        verdict=verdict,
        reason=f"ratio of CE's to Brier's tail share, mean [95% CI] over {len(cells)} seeds: "
        + "; ".join(f"{r[0]} {r[3]} ({r[4]})" for r in rows)
        + ". Both tails must have the interval above 1 for 'supported'.",
        summary="; ".join(summaries),
        numbers=numbers,
        tables=[
            LabTable(
                "The seeds' example (binary, true label 1)",
                ("p", "MSE (1-p)^2", "CE -log p"),
                tuple(
                    (q, f"{m:.4f}", f"{c:.4f}") for q, m, c in ((0.51, m51, c51), (0.49, m49, c49), (0.01, m01, c01))
                ),
            ),
            LabTable(
                f"Share of total test loss carried by the most confidently wrong examples ({dataset}, "
                "mean [95% CI] over seeds)",
                ("examples", "CE share", "Brier share", "CE / Brier", "verdict"),
                tuple(rows),
            ),
        ],  # fmt: skip
        figures=[
            LabFigure(
                "(a) Loss against the probability of the true class: near p = 0.5 both curves are flat-ish, in the "
                "tail cross-entropy grows without bound while MSE saturates at 1. (b) Share of the total test loss "
                "carried by the most confidently wrong examples (mean, min-max band over seeds); dashed lines at 1% "
                "and 5%.",
                fig,
            )
        ],
        discussion=discussion,
    )


CLAIM = Claim(
    number=8,
    slug="confident-mistakes",
    title="MSE treats errors evenly in output space; cross-entropy punishes confident mistakes",
    statement="MSE on classifier outputs treats all errors equally in output space: a prediction of 0.49 for a "
    "true label of 1 gets almost the same MSE as 0.51, although they are opposite classifications, while "
    "cross-entropy assigns much higher loss to confident mistakes.",
    method="Exact binary losses (losslab.brier_score for (1 - p)^2, losslab.log_loss for -log p) at p = 0.49, 0.51 "
    "and 0.01. On real data: a one-hidden-layer MLP (64 units) trained with cross-entropy on the first dataset "
    "(one run per seed: initialisation and batch order), then on each test example its cross-entropy and its "
    "multiclass Brier score (sum over classes, the MSE of the probabilities); examples sorted by p(true class), "
    "lowest first; the share of each loss's total carried by the top 1% and 5%.",
    rule="For each tail (1% and 5%), the per-seed ratio CE share / Brier share; supported if the 95% bootstrap "
    "interval of its mean over seeds lies above 1, not supported if below 1, inconclusive otherwise; the two "
    "tails combine (agreeing: that verdict; otherwise mixed).",
    references=(
        "Goodfellow, Bengio, Courville (2016). Deep Learning, section 6.2.2.",
        "Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather Review.",
        "Contrary/qualifying: Ghosh, Kumar, Sastry (2017). Robust loss functions under label noise for deep neural "
        "networks. AAAI (the same tail weight makes cross-entropy fit mislabelled examples).",
    ),
    run=run,
)
