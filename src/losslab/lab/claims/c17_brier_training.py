"""Claim 17: the Brier score is for evaluating calibration, not for training.

Seed 002 grants that the Brier score is a proper scoring rule but says that as
a training loss through a sigmoid it "still has the gradient saturation
problem" and is "useful for evaluating calibration, not for training". Claim 5
measures how fast the squared error through a softmax trains; this claim asks
whether the model it trains is any worse: the multiclass Brier score (the
squared error between the softmax and the one-hot target, summed over
classes) against cross-entropy, each tuned over the same learning-rate grid
with early stopping on validation (:func:`losslab.lab.protocol.compare`), and
judged on the test split by accuracy, NLL and ECE, paired over seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import protocol
from ..context import Context
from ..registry import Claim, Finding, LabFigure, LabTable, Published
from ..rules import claim_rules
from ..stats import paired_effect, t_ci
from ..style import new_figure
from ..verdicts import Part, decide

RULES = claim_rules("brier-training")
P = RULES.params
CONTENDERS = {"cross_entropy": {"loss": "cross_entropy"}, "brier": {"loss": "mse_softmax"}}
LABELS = {"cross_entropy": "cross-entropy", "brier": "Brier (MSE through softmax)"}
METRICS = ("accuracy", "nll", "ece")


def base(profile: str) -> dict[str, Any]:
    """The shared training settings of the comparison (the rules' values)."""
    return {"model": P["model"], "hidden": P["hidden"], "epochs": P["epochs"][profile], "patience": P["patience"],
            "batch_size": P["batch_size"], "momentum": P["momentum"], "optimizer": "sgd", "weight_decay": 0.0,
            "val_fraction": P["val_fraction"], "noise": 0.0, "keep_test_logits": True}  # fmt: skip


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def scores(logits: Any, labels: Any) -> dict[str, float]:
    """Test accuracy, NLL (nats), top-label ECE (the rules' bins) and mean confidence (max probability) of one run."""
    from losslab.calibration import ece

    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    p = softmax(z)
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return {"accuracy": float(np.mean(p.argmax(axis=1) == y)), "nll": float(-np.mean(log_p[np.arange(y.size), y])),
            "ece": float(ece(p, y, n_bins=int(P["n_bins"]), kind="top-label")),
            "confidence": float(np.mean(p.max(axis=1)))}  # fmt: skip


def paired_parts(ce: list[dict[str, float]], brier: list[dict[str, float]], *, name: str) -> list[Part]:
    """The three parts from per-seed scores: CE - Brier accuracy; Brier - CE NLL and ECE (the seed's direction)."""
    parts = []
    for m in METRICS:
        a, b = np.array([s[m] for s in ce]), np.array([s[m] for s in brier])
        diff = a - b if m == "accuracy" else b - a
        parts.append(decide(RULES.rule(f"c17.{m}"), diff, name=name))
    return parts


def run_scores(comp: protocol.Comparison, contender: str) -> list[dict[str, float]]:
    return [scores(r["test_logits"], r["test_labels"]) for r in comp.runs[contender]]


def own_controls(comp: protocol.Comparison) -> list[dict[str, Any]]:
    """Planted 'Brier' predictions built from the cross-entropy runs' own test logits, through the same scoring.

    True by construction: the CE logits with a share of the test predictions moved to a wrong
    class (less accurate), multiplied by the rules' factor (overconfident: worse NLL and ECE).
    False: the CE logits plus small noise that changes no argmax (the same model).
    """
    c = P["control"]
    ce = run_scores(comp, "cross_entropy")
    worse, same = [], []
    for seed, r in enumerate(comp.runs["cross_entropy"]):
        z, y = np.asarray(r["test_logits"], dtype=np.float64), np.asarray(r["test_labels"])
        rng = np.random.default_rng([17, seed])
        bad = z * c["overconfidence"]
        flip = rng.permutation(y.size)[: int(round(c["flip"] * y.size))]
        top = bad[flip].argmax(axis=1)
        swap = (top + 1) % z.shape[1]  # the runner-up becomes the winner: a confident wrong answer
        bad[flip, top], bad[flip, swap] = bad[flip, swap], bad[flip, top]
        worse.append(scores(bad, y))
        jitter = c["jitter"] * rng.standard_normal(z.shape)
        keep = np.where((z + jitter).argmax(axis=1) == z.argmax(axis=1), 1.0, 0.0)[:, None]
        same.append(scores(z + keep * jitter, y))
    out = []
    for planted, expected, what in ((worse, "supported", f"CE logits x{c['overconfidence']:g} with "
                                     f"{c['flip']:.0%} of test answers moved to a wrong class"),
                                    (same, "refuted", f"CE logits + N(0, {c['jitter']:g}^2) noise, argmax kept")):
        for p in paired_parts(ce, planted, name="control"):
            out.append({"rule": p.rule, "planted": f"{comp.dataset}: {what}: {p.note}", "expected": expected,
                        "got": p.verdict})  # fmt: skip
    return out


def _fmt(values: np.ndarray, scale: float = 1.0, fmt: str = ".3f") -> str:
    return t_ci(values).format(fmt, scale) if values.size > 1 else f"{scale * values[0]:{fmt}}"


def run(ctx: Context) -> Finding:
    lrs = tuple(P["lrs"])
    comps = [protocol.compare(ctx, ds, CONTENDERS, lrs=lrs, base=base(ctx.profile.name), select=P["select"])
             for ds in ctx.datasets]  # fmt: skip
    parts, rows, pair_rows, summaries = [], [], [], []
    numbers: dict[str, Any] = {"datasets": {}}
    underconfident: list[str] = []
    published = []
    for comp in comps:
        sc = {c: run_scores(comp, c) for c in CONTENDERS}
        ps = paired_parts(sc["cross_entropy"], sc["brier"], name=comp.dataset)
        parts += ps
        nd: dict[str, Any] = {"comparison": comp.to_dict()}
        for c in CONTENDERS:
            vals = {m: np.array([s[m] for s in sc[c]]) for m in (*METRICS, "confidence")}
            nd[c] = {m: v.tolist() for m, v in vals.items()}
            gap = vals["confidence"] - vals["accuracy"]
            if c == "brier" and gap.mean() < -P["underconfidence"]:  # words for the reason only, not a verdict
                underconfident.append(comp.dataset)
            rows.append((comp.dataset, LABELS[c], f"{comp.chosen[c]:g}",
                         f"{np.mean([r['best_epoch'] for r in comp.runs[c]]):.1f}", _fmt(vals["accuracy"], 100, ".2f"),
                         _fmt(vals["nll"], 1, ".4f"), _fmt(vals["ece"], 1, ".4f"), _fmt(gap, 100, ".2f")))  # fmt: skip
        for p in ps:
            nd[p.rule] = {"estimate": p.estimate, "ci": p.ci, "verdict": p.verdict}
        pair_rows.append((comp.dataset, *(f"{p.note} ({p.verdict})" for p in ps)))
        acc = ps[0]
        summaries.append(f"{comp.dataset}: CE - Brier {100 * acc.value:+.2f} pts")
        numbers["datasets"][comp.dataset] = nd
        brier_minus_ce = paired_effect(nd["brier"]["accuracy"], nd["cross_entropy"]["accuracy"])
        published.append(Published(
            source="Hui & Belkin (ICLR 2021), 28 tasks", setting=f"{comp.dataset}: square loss vs cross-entropy, "
            "test accuracy", value=None, ours=brier_minus_ce.estimate, interval=(brier_minus_ce.low,
            brier_minus_ce.high), unit="accuracy (Brier - CE)",
            why="They report square loss comparable or better (cross-entropy slightly ahead in vision), on raw "
            "outputs with a rescaling for many classes, not through a softmax as here; only the direction compares: "
            "no accuracy lost by training on a squared error."))  # fmt: skip
    with ctx.borrowed(seeds=int(P["control"]["seeds"])) as c_ctx:  # 2 smoke seeds give no usable interval
        c_comp = protocol.compare(c_ctx, comps[0].dataset, CONTENDERS, lrs=lrs, base=base(ctx.profile.name),
                                  select=P["select"])  # fmt: skip
    controls = own_controls(c_comp)
    fig, axes = new_figure(len(comps), width=4.6, height=3.5)
    for ax, comp in zip(np.atleast_1d(axes), comps, strict=True):
        protocol.plot_tuning(ax, comp, LABELS)
    t_cols, t_rows = protocol.tuning_table(comps, LABELS)
    reason = "; ".join(f"{p.rule} on {p.name}: {p.note} ({p.verdict})" for p in parts) + ". "
    n_ref = sum(p.verdict == "refuted" for p in parts)
    reason += (f"{n_ref} of {len(parts)} parts find the Brier-trained network as good as or better than the "
               "cross-entropy one within the declared margins" if n_ref else
               "No part finds the Brier-trained network as good within the margins")  # fmt: skip
    reason += " (verdicts before the run's Holm correction; the parts' list gives the final ones)."
    if underconfident:
        reason += (f" On {' and '.join(underconfident)} the Brier-trained networks are underconfident (mean confidence "
                   "below accuracy): that, not overconfidence, is what their ECE measures.")  # fmt: skip
    return Finding(
        parts=parts,
        reason=reason,
        summary="; ".join(summaries),
        numbers=numbers,
        tables=[
            LabTable(f"Per loss and dataset, at its chosen rate, over {len(ctx.seeds)} seeds (mean [95% "
                     "t-interval]): the early-stopped epoch, test accuracy (%), NLL, ECE (15 bins) and mean "
                     "confidence minus accuracy (negative: underconfident)",
                     ("dataset", "trained with", "lr", "best epoch", "test acc (%)", "test NLL", "test ECE",
                      "confidence - accuracy (pts)"),
                     tuple(rows)),
            LabTable("Paired differences over seeds in the seed's direction (positive = Brier worse), mean [95% "
                     "t-interval], and the parts' verdicts", ("dataset", "accuracy CE - Brier", "NLL Brier - CE",
                     "ECE Brier - CE"), tuple(pair_rows)),
            LabTable("Tuning curves: best validation accuracy (%) per learning rate, mean ± sd over seeds",
                     t_cols, tuple(t_rows)),
        ],  # fmt: skip
        figures=[
            LabFigure("The tuning curve per dataset: mean ± sd over seeds of the best validation accuracy at each "
                      "learning rate, for the network trained with cross-entropy and with the Brier score; the "
                      "star marks each loss's chosen rate, at which the test numbers are read.", fig),
        ],  # fmt: skip
        discussion="The Brier score's gradient through a softmax carries the factor p(1 - p) that cross-entropy's "
        "lacks, so it starts slower from confident mistakes (claim 5 measures how much) and sharpens its "
        "probabilities slowly as they approach 1; with its own tuned rate and early stopping, what matters for use "
        "is where it ends. Being a strictly proper scoring rule (Gneiting & Raftery 2007) its minimiser is the true "
        "conditional distribution, as cross-entropy's is, so it does not push a network towards overconfidence; a "
        "run stopped at its best validation accuracy can still end underconfident, which the confidence column "
        "shows and which temperature scaling (claim 10) repairs without touching accuracy. Being bounded, it also "
        "penalises a confident mistake less, which is why such losses are used against label noise (Ghosh, Kumar "
        "& Sastry 2017 on the related MAE). Hui & Belkin (2021) found the square loss on raw outputs as accurate "
        "as cross-entropy at far larger scale. Our networks are small and the datasets easy, so accuracy has "
        "little room to differ, and with few seeds a part can stay undecided after the run-wide Holm correction.",
        published=published,
        controls=controls,
    )


CLAIM = Claim(
    number=17,
    slug="brier-training",
    title="The Brier score is for evaluating calibration, not for training",
    statement="'Using MSE as a training loss through a sigmoid still has the gradient saturation problem. The "
    "Brier score is useful for evaluating calibration, not for training.'",
    method=f"A one-hidden-layer MLP ({P['hidden']} ReLU units) on each classification dataset of the run, trained "
    "with cross-entropy and with the multiclass Brier score (MSE between softmax and one-hot, summed over classes), "
    f"each over the learning rates {', '.join(f'{lr:g}' for lr in P['lrs'])} (SGD, momentum {P['momentum']}, batch "
    f"{P['batch_size']}) with early stopping on a validation split ({P['val_fraction']:.0%} of the training split, "
    f"patience {P['patience']}); each loss at its rate with the best mean validation accuracy. Test accuracy, NLL "
    f"and ECE ({P['n_bins']} bins) at the chosen rates, paired over seeds (split, initialisation, batch order).",
    source="seed 002, 'MSE on probabilities is not the same as Brier score in all contexts': 'The Brier score is "
    "useful for evaluating calibration, not for training'",
    datasets=("*",),
    references=(
        "Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather Review 78.",
        "Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation. JASA 102.",
        "Contrary: Hui, L. & Belkin, M. (2021). Evaluation of Neural Architectures Trained with Square Loss vs "
        "Cross-Entropy in Classification Tasks. ICLR.",
        "Ghosh, A., Kumar, H. & Sastry, P. S. (2017). Robust loss functions under label noise for deep neural "
        "networks. AAAI.",
    ),
    run=run,
)
