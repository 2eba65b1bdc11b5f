"""Claim 9's measurements: the contenders, the noise rates a dataset allows, the overfitting drop, the controls.

Everything trains through :func:`losslab.lab.protocol.fit_cell`: symmetric
noise on the training and the validation labels (no clean validation set, as
a practitioner with noisy labels has none), clean test labels. Early stopping
on a noisy validation split still picks the right epoch in expectation: with
a fraction eta of the labels moved uniformly to the K - 1 other classes, a
model of clean accuracy a scores eta / (K - 1) + a (1 - eta - eta / (K - 1))
against the noisy labels, increasing in a exactly when eta < (K - 1) / K, the
same bound above which the noisy label is no longer the most likely one and
symmetric noise stops being noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import protocol, train
from ..context import Context
from ..registry import Published
from ..rules import claim_rules
from ..stats import paired_effect
from ..verdicts import Part, decide

RULES = claim_rules("label-noise")
P = RULES.params
OVERFITS, SMOOTHING = RULES.rule("c09.overfits"), RULES.rule("c09.smoothing")

CONTENDERS: dict[str, dict[str, Any]] = {
    "ce": {"loss": "cross_entropy", "loss_options": {}},
    "ls": {"loss": "cross_entropy", "loss_options": {"label_smoothing": float(P["label_smoothing"])}},
    "mae": {"loss": "mae_softmax", "loss_options": {}},
    "gce": {"loss": "gce", "loss_options": {"q": float(P["gce_q"])}},
}
LABELS = {
    "ce": "cross-entropy",
    "ls": f"CE + label smoothing {P['label_smoothing']:g}",
    "mae": "MAE through softmax",
    "gce": f"GCE (q = {P['gce_q']:g})",
}
#: Zhang & Sabuncu (2018), ResNet-34 on CIFAR-10 with uniform noise, test accuracy (%) by noise rate (REFERENCES.md).
ZHANG_SABUNCU = {0.2: {"ce": 86.98, "gce": 89.83}, 0.4: {"ce": 81.88, "gce": 87.13},
                 0.6: {"ce": 74.14, "gce": 82.54}, 0.8: {"ce": 53.82, "gce": 64.07}}  # fmt: skip
ZS_SOURCE = "Zhang & Sabuncu (2018), Generalized Cross Entropy, ResNet-34 on CIFAR-10, uniform noise"

__all__ = ["CONTENDERS", "LABELS", "allowed_rates", "base", "long_epochs", "long_params", "n_classes",
           "overfitting_drop", "overfits_part", "own_controls", "published_zhang_sabuncu"]  # fmt: skip


def base(profile_name: str, noise: float) -> dict[str, Any]:
    """The shared settings of claim 9's comparisons under the profile, at symmetric label noise ``noise``."""
    return {"model": P["model"], "hidden": P["hidden"], "epochs": int(P["epochs"][profile_name]),
            "patience": int(P["patience"]), "batch_size": P["batch_size"], "momentum": P["momentum"],
            "optimizer": "sgd", "weight_decay": 0.0, "val_fraction": P["val_fraction"], "noise": float(noise),
            "keep_test_logits": False}  # fmt: skip


def allowed_rates(rates: Sequence[float], n_classes: int) -> tuple[list[float], list[float]]:
    """The rates below (K - 1) / K, where the given label is still the likeliest one, and those left out.

    >>> allowed_rates([0.2, 0.4, 0.6, 0.8], 2)
    ([0.2, 0.4], [0.6, 0.8])
    >>> allowed_rates([0.2, 0.8], 10)
    ([0.2, 0.8], [])
    """
    cap = (n_classes - 1) / n_classes
    return [r for r in rates if r < cap], [r for r in rates if r >= cap]


def long_params(b: dict[str, Any], contender: str, dataset: str, lr: float, seeds: Sequence[int], *,
                epochs: int) -> list[dict]:  # fmt: skip
    """fit_cell parameters of runs that never stop early: ``epochs`` epochs, the best epoch still recorded."""
    return [{**b, **CONTENDERS[contender], "dataset": dataset, "lr": float(lr), "seed": int(s), "select": "acc",
             "epochs": int(epochs), "patience": int(epochs)} for s in seeds]  # fmt: skip


def long_epochs(profile_name: str) -> int:
    """The budget of the runs without early stopping: ``long.epoch_factor`` times the comparison's."""
    return int(P["long"]["epoch_factor"]) * int(P["epochs"][profile_name])


def overfitting_drop(run: dict[str, Any]) -> float:
    """Clean test accuracy at the best (noisy) validation epoch minus at the last epoch of a run.

    >>> overfitting_drop({"test_acc_curve": [0.1, 0.9, 0.95, 0.8], "best_epoch": 2})
    0.1499999999999999
    """
    curve = run["test_acc_curve"]
    return float(curve[int(run["best_epoch"])] - curve[-1])


def overfits_part(runs: list[dict[str, Any]], *, name: str, detail: str = "") -> Part:
    """Part c09.overfits on the per-seed overfitting drops of runs without early stopping."""
    return decide(OVERFITS, [overfitting_drop(r) for r in runs], name=name, detail=detail)


def own_controls(ctx: Context) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Claim 9's planted controls, through the same long runs and drop measurement as part c09.overfits.

    False by construction: no noise (nothing wrong to memorise), so the last epoch is no worse than
    the best-validation one beyond the margin. True by construction: heavy noise (60% of the labels
    moved, 10 classes) with the whole epoch budget, far past the epoch where cross-entropy starts
    fitting the wrong labels. Both run on ``control.dataset`` with ``control.seeds`` seeds whatever
    the profile, so that the controls decide on 5 seeds even in smoke.
    """
    c = P["control"]
    seeds = range(int(c["seeds"]))
    cases = [(float(c["noise_none"]), "refuted"), (float(c["noise_heavy"]), "supported")]
    params = []
    for noise, _ in cases:
        params += long_params(base("quick", noise), "ce", c["dataset"], float(c["lr"]), seeds, epochs=c["epochs"])
    cells = ctx.map(protocol.fit_cell, params)
    controls, numbers = [], {}
    for i, (noise, expected) in enumerate(cases):
        runs = cells[i * len(seeds) : (i + 1) * len(seeds)]
        what = (f"{c['dataset']}: cross-entropy (lr {c['lr']:g}) for {c['epochs']} epochs without early stopping, "
                f"{noise:.0%} of the labels flipped")  # fmt: skip
        part = overfits_part(runs, name="control")
        controls.append({"rule": OVERFITS.id, "planted": what, "expected": expected, "got": part.verdict})
        numbers[what] = {"estimate": part.estimate, "ci": part.ci, "got": part.verdict,
                         "best_epoch": [r["best_epoch"] for r in runs],
                         "mean_curve": np.mean([r["test_acc_curve"] for r in runs], axis=0).tolist()}  # fmt: skip
    return controls, numbers


def published_zhang_sabuncu(ds: str, noise: float, comp: protocol.Comparison, n_train: int) -> list[Published]:
    """GCE minus CE beside Zhang & Sabuncu's gap at the same noise rate; MAE minus CE beside their direction."""
    gce = paired_effect(comp.test("gce"), comp.test("ce"))
    mae = paired_effect(comp.test("mae"), comp.test("ce"))
    setting = f"{ds}, {noise:.0%} symmetric noise on train and validation"
    scale = (f"Ours: {n_train} noisy training examples, a {P['hidden']}-unit MLP, early stopping on the noisy "
             "validation split; theirs: 50000 CIFAR-10 images and a ResNet-34, so only the direction "
             "compares")  # fmt: skip
    out = []
    pub = ZHANG_SABUNCU.get(round(noise, 2))
    if pub is not None:
        gap = pub["gce"] - pub["ce"]
        lo, hi = 100 * gce.low, 100 * gce.high
        where = "inside" if lo <= gap <= hi else ("above" if gap > hi else "below")
        if where == "inside":
            why = f"their gap lies inside our interval: the same direction and a compatible size. {scale}."
        else:
            why = (f"their gap lies {where} our interval. GCE bounds the loss of a confidently wrong label, which is "
                   "what a network that memorises (a ResNet on images) pays for with cross-entropy; our runs are "
                   f"rolled back to their best validation epoch, before most of the memorising. {scale}.")  # fmt: skip
        out.append(Published(ZS_SOURCE, f"GCE minus CE test accuracy, {setting}", round(gap, 2),
                             100 * gce.estimate, (lo, hi), "accuracy points", why))  # fmt: skip
    if mae.high < 0:
        direction = "MAE below cross-entropy here, the direction they report for harder data"
    elif mae.low > 0:
        direction = "MAE above cross-entropy here: on this easy data its slow start costs nothing"
    else:
        direction = "no difference decided here"
    why = (f"they give a direction, not a number on this data: MAE (Ghosh et al.'s noise-tolerant symmetric loss) "
           f"trains poorly on harder data (CIFAR-100); {direction}. {scale}.")  # fmt: skip
    out.append(Published("Zhang & Sabuncu (2018); Ghosh, Kumar & Sastry (2017)", f"MAE minus CE test accuracy, "
                         f"{setting}", None, 100 * mae.estimate, (100 * mae.low, 100 * mae.high), "accuracy points",
                         why))  # fmt: skip
    return out


def n_classes(ds: str, data_dir: str | None) -> int:
    """The number of classes of ``ds`` (its data loaded once per process)."""
    return train.tensors(ds, data_dir, "cpu").classes()
