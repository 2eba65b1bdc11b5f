"""Claim 12: KL on softened teacher outputs is the right distillation loss; MSE on logits only approximates it.

Per seed a teacher is trained on the training split (minus a validation
split) and students see only a small transfer set drawn from the teacher's
training data: hard labels, KL on the teacher's softened outputs, MSE on the
teacher's logits (:mod:`.c12_distillation_cells` trains them side by side,
paired). Every student gets the same budget, five configurations chosen on
validation: the temperature for KL, the learning rate for the others. (An
earlier version gave KL five temperatures to choose from and the others one
configuration each, and its chosen T sat at the edge of its grid.)

Two parts per dataset: KL beats hard labels (Hinton et al.'s finding), and
KL beats MSE on logits (the seed's sentence; Kim et al. 2021 found the
opposite). Both have a 1-point margin, so "no practical difference" refutes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..registry import Claim, Finding, LabFigure, LabTable, Published
from ..rules import claim_rules
from ..stats import paired_effect, t_ci
from ..style import color, new_figure
from ..verdicts import decide
from .c12_distillation_cells import distil

RULES = claim_rules("distillation")
P = RULES.params
KL_HARD, KL_MSE = RULES.rule("c12.kl_vs_hard"), RULES.rule("c12.kl_vs_mse")
LABELS = {"hard": "hard labels (CE)", "kl": "KL on soft targets", "mse": "MSE on logits"}
AXIS = {"hard": "lr", "kl": "T", "mse": "lr", "onehot_kl": "T", "small_hard": "lr", "small_kl": "T"}

__all__ = ["CLAIM", "choose", "distil"]


def choose(val_acc: np.ndarray, val_nll: np.ndarray) -> int:
    """Index of the configuration with the best mean validation accuracy over seeds (ties: lower mean NLL).

    ``val_acc`` and ``val_nll`` have shape (seeds, configurations).

    >>> choose(np.array([[0.9, 0.95], [0.9, 0.93]]), np.ones((2, 2)))
    1
    >>> choose(np.array([[0.9, 0.9]]), np.array([[0.3, 0.2]]))
    1
    """
    acc = np.round(np.asarray(val_acc, dtype=np.float64).mean(axis=0), 12)
    nll = np.asarray(val_nll, dtype=np.float64).mean(axis=0)
    return int(sorted(range(acc.size), key=lambda j: (-acc[j], nll[j], j))[0])


def _sd(a: np.ndarray) -> np.ndarray:
    """Per-column sd over seeds (rows); 0 for a single seed."""
    return a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])


def cell_params(profile: str, dataset: str, seed: int, controls: bool) -> dict[str, Any]:
    t = P["teacher"]
    return {"dataset": dataset, "seed": int(seed), "val_fraction": P["val_fraction"],
            "teacher": {"hidden": t["hidden"], "epochs": t["epochs"][profile], "lr": t["lr"],
                        "batch_size": t["batch_size"]},
            "student_hidden": P["student_hidden"], "n_transfer": P["n_transfer"], "n_small": P["n_small"],
            "lrs": list(P["lrs"]), "temperatures": list(P["temperatures"]), "kl_lr": P["kl_lr"],
            "max_steps": P["max_steps"][profile], "patience": P["patience"], "eval_every": P["eval_every"],
            "controls": bool(controls)}  # fmt: skip


class Tuned:
    """One contender over seeds: its grid, the tuning curve, the chosen configuration and the test scores there."""

    def __init__(self, cells: list[dict[str, Any]], group: str) -> None:
        rows = [c["students"][group] for c in cells]
        self.group, self.axis = group, AXIS[group]
        self.grid = [r[self.axis] for r in rows[0]]
        get = lambda key: np.array([[s[key] for s in r] for r in rows])  # noqa: E731
        self.val_acc, self.val_nll, self.test_acc, self.test_nll = (get(k) for k in ("val_acc", "val_nll",
                                                                                     "test_acc", "test_nll"))
        self.j = choose(self.val_acc, self.val_nll)
        self.value = self.grid[self.j]
        self.acc, self.nll = self.test_acc[:, self.j], self.test_nll[:, self.j]
        self.edge = self.j in (0, len(self.grid) - 1)

    @property
    def label(self) -> str:
        return f"{self.axis} {self.value:g}" + (" (grid edge)" if self.edge else "")

    def curve(self) -> dict[str, dict[str, float]]:
        return {f"{v:g}": {"mean": float(self.val_acc[:, i].mean()), "sd": float(self.val_acc[:, i].std(ddof=1))
                           if self.val_acc.shape[0] > 1 else 0.0} for i, v in enumerate(self.grid)}  # fmt: skip


def _cells(ctx: Context) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The main cells per dataset (seed order) and the control cells; a cell both need is computed once."""
    prof, cds = ctx.profile.name, P["control"]["dataset"]
    wanted = {(ds, s): cell_params(prof, ds, s, ds == cds) for ds in ctx.datasets for s in ctx.seeds}
    wanted |= {(cds, s): cell_params(prof, cds, s, True) for s in range(int(P["control"]["seeds"]))}
    keys = list(wanted)
    got = dict(zip(keys, ctx.map(distil, [wanted[k] for k in keys]), strict=True))
    main = {ds: [got[(ds, s)] for s in ctx.seeds] for ds in ctx.datasets}
    return main, [got[(cds, s)] for s in range(int(P["control"]["seeds"]))]


def _controls(cells: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Claim 12's planted controls, through the same students, choice and rule as part c12.kl_vs_hard.

    False by construction: a teacher equal to the one-hot labels (logit 1e4 on the given class), so its
    soft targets carry nothing the labels do not; KL at T = 1 on it is the hard-label loss itself.
    True by construction: the trained teacher with only 30 transfer examples (about 3 per class on
    digits), where its soft targets carry what the few labels cannot.
    """
    ds = P["control"]["dataset"]
    hard = Tuned(cells, "hard")
    cases = [(Tuned(cells, "onehot_kl"), hard, f"{ds}: KL on a teacher equal to the one-hot labels vs hard labels "
              f"({cells[0]['n_transfer']} transfer examples)", "refuted"),
             (Tuned(cells, "small_kl"), Tuned(cells, "small_hard"), f"{ds}: KL on the trained teacher vs hard "
              f"labels with only {cells[0]['n_small']} transfer examples", "supported")]  # fmt: skip
    controls, numbers = [], {}
    for a, b, what, expected in cases:
        part = decide(KL_HARD, a.acc - b.acc, name="control")
        controls.append({"rule": KL_HARD.id, "planted": what, "expected": expected, "got": part.verdict})
        numbers[what] = {"estimate": part.estimate, "ci": part.ci, "got": part.verdict, "chosen": [a.label, b.label]}
    return controls, numbers


def _published(ctx: Context, results: dict[str, dict[str, Any]]) -> list[Published]:
    h = P["hinton"]
    src = "Hinton, Vinyals & Dean (2015), MNIST: 2x800 student, 146 test errors on hard labels, 74 distilled (T=20)"
    value = round(100 * (1 - h["distilled_errors"] / h["hard_errors"]), 1)
    setting = "errors removed by distillation, % of the hard-label student's errors (MNIST)"
    if h["dataset"] in results:
        r = results[h["dataset"]]
        iv = t_ci(100 * (1 - (1 - r["kl"].acc) / np.maximum(1 - r["hard"].acc, 1e-12)))
        why = (f"ours: a {P['student_hidden']}-unit student on {P['n_transfer']} transfer examples, so both of our "
               "students make far more errors than Hinton et al.'s, trained on all 60000 images with dropout; the "
               f"published share lies {'inside' if iv.low <= value <= iv.high else 'outside'} our interval, and "
               "only the direction is comparable.")  # fmt: skip
        out = [Published(src, setting, value, iv.estimate, (iv.low, iv.high), "%", why)]
    else:
        out = [Published(src, setting, value, None, None, "%", f"not run: needs the MNIST IDX files via --data-dir "
                         f"and '{h['dataset']}' among the datasets (this run: {', '.join(ctx.datasets)}); the "
                         "direction on the datasets run is part c12.kl_vs_hard.")]  # fmt: skip
    for ds, r in results.items():
        e = paired_effect(r["kl"].acc, r["mse"].acc)
        lo, hi = 100 * e.low, 100 * e.high
        found = ("KL ahead of MSE on logits here, against their finding" if lo > 0 else
                 "MSE on logits ahead here, as they found" if hi < 0 else
                 "no difference decided here")  # fmt: skip
        out.append(Published("Kim et al. (IJCAI 2021): MSE on logits outperformed KL in their experiments",
                             f"KL minus MSE on logits, student test accuracy, {ds}", None, 100 * e.estimate,
                             (lo, hi), "accuracy points",
                             f"a direction (MSE at least as good), not a number; {found}. Their students are deep "
                             "image networks trained on whole datasets; ours are small MLPs on "
                             f"{P['n_transfer']} transfer examples."))  # fmt: skip
    return out


def run(ctx: Context) -> Finding:
    main, control_cells = _cells(ctx)
    parts, rows, tune_rows, summary = [], [], [], []
    results: dict[str, dict[str, Any]] = {}
    numbers: dict[str, Any] = {"setup": {k: v for k, v in P.items() if k not in ("hinton", "control")},
                               "datasets": {}}  # fmt: skip
    for ds, cells in main.items():
        t = {g: Tuned(cells, g) for g in ("hard", "kl", "mse")}
        results[ds] = t
        chosen = ", ".join(f"{g} {t[g].label}" for g in t)
        a = decide(KL_HARD, t["kl"].acc - t["hard"].acc, name=ds, detail=f"chosen on validation: {chosen}")
        b = decide(KL_MSE, t["kl"].acc - t["mse"].acc, name=ds, detail=f"chosen on validation: {chosen}")
        parts += [a, b]
        n_test = cells[0]["n_test"]
        teacher = np.array([c["teacher"]["test_acc"] for c in cells])
        rows.append((ds, "teacher", "-", "-", t_ci(teacher).format(".2f", 100),
                     f"{((1 - teacher) * n_test).mean():.1f}",
                     t_ci([c["teacher"]["test_nll"] for c in cells]).format(".3f")))  # fmt: skip
        for g, tu in t.items():
            rows.append((ds, LABELS[g], tu.label, f"{100 * tu.val_acc[:, tu.j].mean():.2f}",
                         t_ci(tu.acc).format(".2f", 100), f"{((1 - tu.acc) * n_test).mean():.1f}",
                         t_ci(tu.nll).format(".3f")))  # fmt: skip
            tune_rows.append((ds, LABELS[g], *(f"{tu.axis} {v:g}: {100 * tu.val_acc[:, i].mean():.1f} ± "
                                               f"{100 * tu.val_acc[:, i].std(ddof=1) if len(cells) > 1 else 0:.1f}"
                                               for i, v in enumerate(tu.grid)), tu.label))  # fmt: skip
        summary.append(f"{ds}: KL-hard {100 * a.value:+.1f}, KL-MSE {100 * b.value:+.1f} pts")
        numbers["datasets"][ds] = {
            "n_test": n_test, "n_transfer": cells[0]["n_transfer"], "n_fit": cells[0]["n_fit"],
            "teacher_test_acc": teacher.tolist(),
            "teacher_p_given_label": float(np.mean([c["teacher"]["transfer_p_given_label"] for c in cells])),
            "chosen": {g: tu.value for g, tu in t.items()}, "chosen_at_grid_edge": {g: tu.edge for g, tu in t.items()},
            "tuning_curve": {g: tu.curve() for g, tu in t.items()},
            "test_acc_per_seed": {g: tu.acc.tolist() for g, tu in t.items()},
            "kl_minus_hard": a.effect, "kl_minus_mse": b.effect,
            "mse_minus_hard": paired_effect(t["mse"].acc, t["hard"].acc).to_dict(),
            "kl_test_acc_by_T": dict(zip([f"{v:g}" for v in t["kl"].grid], t["kl"].test_acc.mean(0).tolist(),
                                         strict=True)),
        }  # fmt: skip
    controls, numbers["controls"] = _controls(control_cells)

    fig, axes = new_figure(2, len(main), width=4.4, height=3.3)
    axes = np.asarray(axes).reshape(len(main), 2)
    for row, (ds, t) in zip(axes, results.items(), strict=True):
        for i, g in enumerate(("hard", "mse")):
            tu = t[g]
            m, s = 100 * tu.val_acc.mean(0), 100 * _sd(tu.val_acc)
            row[0].errorbar(tu.grid, m, yerr=s, color=color(i), marker="os"[i], capsize=3, label=LABELS[g])
            row[0].plot([tu.value], [m[tu.j]], marker="*", markersize=13, color=color(i))
        kl = t["kl"]
        row[0].axhline(100 * kl.val_acc[:, kl.j].mean(), color=color(2), linestyle=":", label=f"KL, chosen {kl.label}")
        row[1].errorbar(kl.grid, 100 * kl.val_acc.mean(0), yerr=100 * _sd(kl.val_acc), color=color(2), marker="^",
                        capsize=3, label=f"KL (lr {P['kl_lr']:g})")  # fmt: skip
        row[1].plot([kl.value], [100 * kl.val_acc[:, kl.j].mean()], marker="*", markersize=13, color=color(2))
        for ax, xl, grid in ((row[0], "learning rate", t["hard"].grid), (row[1], "temperature T", kl.grid)):
            ax.set_xscale("log")
            ax.set_xticks(grid, [f"{v:g}" for v in grid])
            ax.minorticks_off()
            ax.set(xlabel=xl, ylabel="student validation accuracy (%)")
            ax.legend(fontsize=7, loc="lower right")
        row[0].set_title(f"{ds}: hard labels and MSE on logits", fontsize=10)
        row[1].set_title(f"{ds}: KL over the temperature", fontsize=10)

    reason = "; ".join(f"{p.rule} on {p.name}: {p.note} ({p.verdict})" for p in parts) + "."
    edges = [f"{LABELS[g]} on {ds} ({tu.axis} {tu.value:g})" for ds, t in results.items() for g, tu in t.items()
             if tu.edge]  # fmt: skip
    edge_note = (f" Choices at the edge of their grid: {'; '.join(edges)}." if edges else
                 " No choice fell at the edge of its grid.")  # fmt: skip
    kl_by_t = "; ".join(f"{ds}: " + ", ".join(f"T={k} {100 * v:.1f}%" for k, v in
                                              numbers["datasets"][ds]["kl_test_acc_by_T"].items())
                        for ds in results)  # fmt: skip
    discussion = (
        "Every student had five configurations chosen on the validation split: hard labels and MSE on logits five "
        f"learning rates, KL five temperatures at learning rate {P['kl_lr']:g}.{edge_note} KL's mean test accuracy "
        f"by temperature: {kl_by_t}. At large T the T^2-scaled KL tends to MSE on mean-centred logits divided by "
        "the number of classes (Hinton et al., sec. 2.1), so KL's own grid reaches into MSE's territory, and the "
        "two are close wherever the chosen T is large. Hinton et al. (2015) cut a 2x800 MNIST student's test "
        "errors from 146 (hard labels) to 74 by distillation at T=20; the direction is what part c12.kl_vs_hard "
        "tests, on students that see only a small transfer set, where soft targets should matter most. Kim et al. "
        "(2021) found MSE on logits better than KL; the seed says the opposite, and part c12.kl_vs_mse lets the "
        "margin decide: equivalence within 1 point refutes the seed. Mueller, Kornblith and Hinton (2019) add a "
        "caveat we do not test: a teacher trained with label smoothing distils worse; our teacher uses plain "
        "cross-entropy."
    )
    return Finding(
        parts=parts,
        reason=reason,
        summary="; ".join(summary),
        numbers=numbers,
        tables=[
            LabTable(f"Per dataset: the teacher and each student at its chosen configuration, over {len(ctx.seeds)} "
                     "seeds: validation accuracy (%), test accuracy (%, mean [95% t-interval]), mean test errors "
                     "and test NLL (nats)", ("dataset", "model", "chosen", "val acc (%)", "test acc (%)", "errors",
                                             "test NLL"), tuple(rows)),
            LabTable("Tuning curves: student validation accuracy (%) per configuration, mean ± sd over seeds",
                     ("dataset", "student", *(f"setting {i + 1}" for i in range(len(P["lrs"]))), "chosen"),
                     tuple(tune_rows)),
        ],  # fmt: skip
        figures=[
            LabFigure("Tuning curves of the students (mean ± sd of the validation accuracy over seeds; star = "
                      "chosen): hard labels and MSE on logits over the learning rate (left, with KL's chosen value "
                      "dotted), KL over the temperature (right).", fig),
        ],  # fmt: skip
        discussion=discussion,
        published=_published(ctx, results),
        controls=controls,
    )


CLAIM = Claim(
    number=12,
    slug="distillation",
    title="Distillation: KL on softened teacher outputs is the right loss; MSE on logits only approximates it",
    statement="'When training a student network to match a teacher's soft probability distribution, cross-entropy "
    "(or KL divergence, which differs only by a constant) is the correct loss. MSE on logits is sometimes used as "
    "an approximation, but it does not properly weight the tails of the distribution.'",
    method=f"Per seed: split a validation set ({P['val_fraction']:.0%}) off the training split; train a teacher "
    f"(MLP, {P['teacher']['hidden']} hidden units, cross-entropy, Adam, rolled back to its best validation epoch) on "
    f"the rest; draw a transfer set of {P['n_transfer']} examples from the teacher's training data. Students (MLP, "
    f"{P['student_hidden']} hidden units, full-batch Adam, the same initial weights per seed) see only the transfer "
    "set: cross-entropy on its true labels, T^2 KL between the teacher's and the student's softmax at temperature "
    "T (losslab.distillation_loss, no labels), or losslab.mse between the student's and the teacher's logits (no "
    f"labels). Each gets five configurations: learning rates {', '.join(f'{v:g}' for v in P['lrs'])} for hard "
    f"labels and MSE, temperatures {', '.join(f'{v:g}' for v in P['temperatures'])} for KL (learning rate "
    f"{P['kl_lr']:g}); each student stops early on validation accuracy; each contender's configuration is chosen "
    "by mean validation accuracy, and the test split is read once, at the chosen ones.",
    source="seed 002, 'Cross-entropy wins: knowledge distillation'",
    datasets=("*", P["control"]["dataset"]),
    references=(
        "Hinton, G., Vinyals, O., and Dean, J. (2015). Distilling the Knowledge in a Neural Network. "
        "arXiv:1503.02531 (MNIST 146 -> 74 errors; matching logits is the high-temperature limit).",
        "Contrary: Kim, T., Oh, J., Kim, N., Cho, S., and Yun, S.-Y. (2021). Comparing Kullback-Leibler Divergence "
        "and Mean Squared Error Loss in Knowledge Distillation. IJCAI 2021 (MSE on logits outperformed KL).",
        "Mueller, R., Kornblith, S., and Hinton, G. (2019). When Does Label Smoothing Help? NeurIPS 2019 "
        "(label-smoothed teachers distil worse).",
    ),
    run=run,
)
