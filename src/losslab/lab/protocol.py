"""The comparison protocol: equal tuning budgets, chosen on validation, judged once on test.

Every comparison between losses (or regularisers, students...) in the lab runs
through :func:`compare`: each contender gets the same learning-rate grid; every
run stops early on its validation split (carved from the training split,
stratified, resampled with the seed like the train/test split itself) and is
rolled back to its best validation epoch; the contender's rate is the one with
the best mean validation score over seeds; only then are the test numbers of
the chosen runs read, once. The tuning curve (mean validation score per rate
and contender) goes into results.json and the report, so a reader sees whether
a verdict hangs on the choice.

A cell is one (dataset, contender, rate, seed) run: :func:`fit_cell`. It also
records the test accuracy after every epoch, for learning-curve figures; no
choice ever reads it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import train
from .context import Context

__all__ = ["Comparison", "compare", "fit_cell", "plant_wrong", "plot_tuning", "scores", "symmetric_noise",
           "tuning_table", "wrong_side_margin"]


def symmetric_noise(y: np.ndarray, fraction: float, n_classes: int, *, seed: int) -> np.ndarray:
    """Labels with ``fraction`` of them replaced by a different class drawn uniformly (seeded).

    The flipped examples are the first of a seeded permutation and their offsets are drawn in that
    order, so for one seed the flips at a lower fraction are among those at a higher one, with the
    same new labels: noise levels differ only in how many labels are wrong.

    >>> y = np.zeros(1000, dtype=np.int64)
    >>> z = symmetric_noise(y, 0.4, 5, seed=0)
    >>> round(float(np.mean(z != y)), 2), int(z.max()) <= 4
    (0.4, True)
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`fraction` must be in [0, 1); got {fraction}")
    if int(n_classes) < 2:
        raise ValueError(f"`n_classes` must be at least 2 to move a label to another class; got {n_classes}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y).copy()
    flip = rng.permutation(y.size)[: int(round(fraction * y.size))]
    y[flip] = (y[flip] + rng.integers(1, n_classes, size=flip.size)) % n_classes
    return y


#: Bins of the test ECE every cell reports (top label, equal width: Guo et al. 2017's 15).
ECE_BINS = 15


def scores(logits: Any, y: Any, *, ece: bool = False) -> dict[str, float]:
    """Accuracy and NLL of logits (tensors) against labels; with ``ece``, the top-label ECE of their softmax.

    Every protocol cell scores its runs with this, so claims that rescore kept logits use it too.

    >>> import torch
    >>> s = scores(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]), ece=True)
    >>> s["acc"], round(s["nll"], 4), round(s["ece"], 4)
    (0.5, 0.7201, 0.4251)
    """
    import losslab

    acc = train.accuracy(logits, y)
    nll = float(losslab.cross_entropy(logits.double(), y))
    out = {"acc": acc, "nll": nll}
    if ece:  # test scores only: a per-epoch ECE on validation would cost every claim and no choice reads it
        import torch

        from losslab.calibration import ece as _ece

        probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
        out["ece"] = float(_ece(probs, y.cpu().numpy(), n_bins=ECE_BINS, kind="top-label"))
    return out


def wrong_side_margin(logits: Any, y: Any) -> Any:
    """Per example, the largest wrong logit minus the true one: > 0 is a mistake, >= 5 a confident one.

    With two classes this is the sigmoid's logit (z_1 - z_0) taken on the wrong side.

    >>> import torch
    >>> wrong_side_margin(torch.tensor([[0.0, 6.0, 1.0], [2.0, 0.0, 0.0]]), torch.tensor([0, 0])).tolist()
    [6.0, -2.0]
    """
    import torch

    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -torch.inf)
    return others.max(1).values - true


def plant_wrong(model: Any, plant: Mapping[str, Any]) -> None:
    """Add ``plant["bias"]`` to the output bias of class ``plant["class"]``, in place: a confidently-wrong start.

    Every example of another class then starts with its wrong-side margin raised by about that
    much (the initial logits are small), so with a bias of 6 most of them sit beyond 5, where the
    softmax of the true class is below 0.7% and the softmax Jacobian (the factor MSE's gradient
    carries) is as small. ``plant["margin"]`` is read by :func:`fit_cell`: the wrong-side margin
    from which an example counts as planted.
    """
    import torch

    last = model if isinstance(model, torch.nn.Linear) else model[-1]
    c = int(plant["class"])
    if not 0 <= c < last.bias.shape[0]:
        raise ValueError(f"`plant['class']` must be a class index in [0, {last.bias.shape[0]}); got {c}")
    with torch.no_grad():
        last.bias[c] += float(plant["bias"])


def _fit_given(model: Any, X: Any, y_given: Any, y_clean: Any) -> dict[str, float | None]:
    """How well ``model`` fits the training labels it was given, and how much of their noise it reproduces.

    ``train_acc``: accuracy against the given labels (noisy ones included); ``memorised``: the share of
    the flipped examples (given label != clean label) predicted as their given, wrong, label (None
    without noise). Memorised noise is what "overfitting to noise" means, measured directly.
    """
    import torch

    model.eval()
    with torch.no_grad():
        pred = torch.nan_to_num(model(X)).argmax(1)
    flipped = y_given != y_clean
    memorised = float((pred[flipped] == y_given[flipped]).double().mean()) if bool(flipped.any()) else None
    return {"train_acc": float((pred == y_given).double().mean()), "memorised": memorised}


def fit_cell(params: dict[str, Any]) -> dict[str, Any]:
    """One run: train with early stopping on validation; the scores per epoch and the test scores at the best epoch.

    ``params``: dataset, data_dir, device, seed, loss, loss_options, lr, epochs (the most),
    patience, select ("acc" or "nll"), model, hidden, batch_size, momentum, optimizer,
    weight_decay, val_fraction, noise (symmetric label noise on train and validation; the
    test split stays clean), keep_test_logits (bool), plant (optional, see :func:`plant_wrong`:
    a confidently-wrong start; the cell then also returns ``planted_share``, the share of training
    examples it put on the wrong side, and ``planted_wrong``, the share of those still misclassified
    after each epoch, epoch 0 included). The test scores are accuracy ("acc"), NLL ("nll") and
    top-label ECE with :data:`ECE_BINS` equal-width bins ("ece"); validation scores per epoch are
    "acc" and "nll". ``fit_given`` (see :func:`_fit_given`) says how well the run fits its own, possibly
    noisy, training labels at its last epoch and at the best one.
    """
    import torch

    seed = int(params["seed"])
    d = train.tensors(params["dataset"], params["data_dir"], params["device"], seed=seed,
                      val_fraction=params["val_fraction"])  # fmt: skip
    y_train, y_val = d.y_train, d.y_val
    k = d.classes()
    if params.get("noise", 0.0) > 0:
        noisy = [symmetric_noise(t.cpu().numpy(), params["noise"], k, seed=10_000 + seed + i)
                 for i, t in enumerate((y_train, y_val))]  # fmt: skip
        y_train, y_val = (torch.from_numpy(a).to(d.y_train.device) for a in noisy)
    model = train.make_model(params["model"], d.n_features, k, seed=seed, hidden=params["hidden"],
                             device=params["device"])  # fmt: skip
    base = train.classification_loss(params["loss"], k, **params.get("loss_options", {}))
    select = params.get("select", "acc")
    plant = params.get("plant")
    planted: dict[str, Any] = {"mask": None, "wrong": []}
    if plant:
        plant_wrong(model, plant)

    def loss_fn(z: Any, y: Any) -> Any:
        value = base(z, y)
        if not torch.isfinite(value):
            raise FloatingPointError("non-finite loss")
        return value

    val: list[dict[str, float]] = []
    test_acc: list[float] = []
    best: dict[str, Any] = {"epoch": 0, "score": -np.inf, "state": None}
    patience = int(params["patience"])

    class Stop(Exception):
        pass

    def on_epoch(epoch: int, m: Any) -> None:
        if plant:
            z_tr = torch.nan_to_num(m(d.X_train))
            if planted["mask"] is None:  # epoch 0: the examples the plant put confidently on the wrong side
                planted["mask"] = wrong_side_margin(z_tr, y_train) >= float(plant["margin"])
            mask = planted["mask"]
            if bool(mask.any()):
                planted["wrong"].append(float((z_tr[mask].argmax(1) != y_train[mask]).double().mean()))
        z_val = torch.nan_to_num(m(d.X_val))
        v = scores(z_val, y_val)
        val.append(v)
        test_acc.append(train.accuracy(torch.nan_to_num(m(d.X_test)), d.y_test))
        score = v["acc"] if select == "acc" else -v["nll"]
        if not np.isfinite(score):
            score = -np.inf
        if score > best["score"]:
            best.update(epoch=epoch, score=score, state=copy.deepcopy(m.state_dict()))
        elif epoch - best["epoch"] >= patience:
            raise Stop

    diverged = None
    try:
        train.train(model, loss_fn, d.X_train, y_train, epochs=params["epochs"], seed=seed,
                    batch_size=params["batch_size"], lr=params["lr"], momentum=params["momentum"],
                    optimizer=params.get("optimizer", "sgd"), weight_decay=params.get("weight_decay", 0.0),
                    on_epoch=on_epoch)  # fmt: skip
    except Stop:
        pass
    except (ValueError, FloatingPointError):  # the loss overflowed: the run ends at its best epoch so far
        diverged = len(val)
    fit_last = _fit_given(model, d.X_train, y_train, d.y_train)  # before the rollback: the last epoch's fit
    model.load_state_dict(best["state"])
    model.eval()
    with torch.no_grad():
        z_test = model(d.X_test)
    out = {
        "val": val,
        "test_acc_curve": test_acc,
        "best_epoch": best["epoch"],
        "epochs_run": len(val) - 1,
        "diverged_epoch": diverged,
        "test": scores(torch.nan_to_num(z_test), d.y_test, ece=True),
        "n_train": int(d.y_train.shape[0]),
        "n_val": int(d.y_val.shape[0]),
        "n_test": int(d.y_test.shape[0]),
    }
    out["fit_given"] = {"last": fit_last, "best": _fit_given(model, d.X_train, y_train, d.y_train)}
    if plant:
        out["planted_share"] = float(planted["mask"].double().mean())
        out["planted_wrong"] = planted["wrong"]
    if params.get("keep_test_logits"):
        out["test_logits"] = z_test.detach().cpu().double().numpy().tolist()
        out["test_labels"] = d.y_test.cpu().numpy().tolist()
        z_val = model(d.X_val).detach()
        out["val_logits"] = z_val.cpu().double().numpy().tolist()
        out["val_labels"] = y_val.cpu().numpy().tolist()
    return out


@dataclass
class Comparison:
    """The outcome of :func:`compare` on one dataset.

    ``chosen[c]``: contender c's chosen rate; ``runs[c]``: its per-seed cells at that rate
    (seed order); ``curve[c][lr]``: mean and sd over seeds of the best validation score;
    ``select``: the score ("acc": validation accuracy, higher is better; "nll": validation NLL,
    lower is better).
    """

    dataset: str
    lrs: tuple[float, ...]
    select: str
    chosen: dict[str, float]
    runs: dict[str, list[dict[str, Any]]]
    curve: dict[str, dict[float, tuple[float, float]]]
    all_runs: dict[tuple[str, float], list[dict[str, Any]]]

    def test(self, contender: str, metric: str = "acc") -> np.ndarray:
        """Per-seed test ``metric`` of the contender's chosen runs (read once, after the choice)."""
        return np.array([r["test"][metric] for r in self.runs[contender]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "lr_grid": list(self.lrs), "select": self.select, "chosen_lr": self.chosen,
            "tuning_curve": {c: {str(lr): {"mean": m, "sd": s} for lr, (m, s) in cur.items()}
                             for c, cur in self.curve.items()},
            "best_epoch": {c: [r["best_epoch"] for r in rs] for c, rs in self.runs.items()},
            "diverged_runs": {c: sum(r["diverged_epoch"] is not None for r in rs) for c, rs in self.runs.items()},
        }  # fmt: skip


def _best_val(run: dict[str, Any], select: str) -> float:
    v = run["val"][run["best_epoch"]]
    return float(v["acc"] if select == "acc" else v["nll"])


def compare(
    ctx: Context,
    dataset: str,
    contenders: Mapping[str, Mapping[str, Any]],
    *,
    lrs: Sequence[float],
    base: Mapping[str, Any],
    select: str = "acc",
) -> Comparison:
    """Tune and run every contender on ``dataset`` with the same budget; see the module docstring.

    ``contenders`` maps a name to the parameters that differ (loss, loss_options, ...);
    ``base`` holds the shared ones (model, epochs, patience, ...). Cells are cached.
    """
    if select not in ("acc", "nll"):
        raise ValueError(f"`select` must be 'acc' or 'nll'; got {select!r}")
    keys = [(c, lr, s) for c in contenders for lr in lrs for s in ctx.seeds]
    params = [{**base, **contenders[c], "dataset": dataset, "lr": lr, "seed": s, "select": select}
              for c, lr, s in keys]  # fmt: skip
    cells = ctx.map(fit_cell, params)
    all_runs: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for (c, lr, _), cell in zip(keys, cells, strict=True):
        all_runs.setdefault((c, lr), []).append(cell)
    curve: dict[str, dict[float, tuple[float, float]]] = {}
    chosen: dict[str, float] = {}
    for c in contenders:
        curve[c] = {}
        for lr in lrs:
            v = np.array([_best_val(r, select) for r in all_runs[(c, lr)]])
            v = np.where(np.isfinite(v), v, -np.inf if select == "acc" else np.inf)
            curve[c][lr] = (float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0)
        means = np.array([curve[c][lr][0] for lr in lrs])
        chosen[c] = float(lrs[int(np.argmax(means) if select == "acc" else np.argmin(means))])
    runs = {c: all_runs[(c, chosen[c])] for c in contenders}
    return Comparison(dataset, tuple(lrs), select, chosen, runs, curve, all_runs)


def tuning_table(comparisons: Sequence[Comparison], labels: Mapping[str, str]) -> tuple[tuple[str, ...], list]:
    """Columns and rows of the tuning-curve table: one row per dataset and contender, one column per rate."""
    lrs = comparisons[0].lrs
    cols = ("dataset", "contender", *(f"lr {lr:g}" for lr in lrs), "chosen")
    scale = 100.0 if comparisons[0].select == "acc" else 1.0
    rows = []
    for comp in comparisons:
        for c, cur in comp.curve.items():
            rows.append((comp.dataset, labels.get(c, c),
                         *(f"{scale * cur[lr][0]:.2f} ± {scale * cur[lr][1]:.2f}" for lr in comp.lrs),
                         f"{comp.chosen[c]:g}"))  # fmt: skip
    return cols, rows


def plot_tuning(ax: Any, comp: Comparison, labels: Mapping[str, str]) -> None:
    """Mean validation score against the learning rate, one line per contender, the chosen rate marked."""
    from .style import color

    scale = 100.0 if comp.select == "acc" else 1.0
    for i, (c, cur) in enumerate(comp.curve.items()):
        m = np.array([cur[lr][0] for lr in comp.lrs]) * scale
        s = np.array([cur[lr][1] for lr in comp.lrs]) * scale
        ax.errorbar(comp.lrs, m, yerr=s, color=color(i), marker="o", capsize=3, label=labels.get(c, c))
        ax.plot([comp.chosen[c]], [cur[comp.chosen[c]][0] * scale], marker="*", markersize=13, color=color(i))
    ax.set_xscale("log")
    # Ticks at the grid's rates only: log-scale minor ticks between three or four rates overprint each other.
    ax.set_xticks(list(comp.lrs), [f"{lr:g}" for lr in comp.lrs])
    ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy (%)" if comp.select == "acc" else "validation NLL")
    ax.set_title(f"{comp.dataset}: tuning curve (star = chosen)", fontsize=10)
    ax.legend(fontsize=7)
