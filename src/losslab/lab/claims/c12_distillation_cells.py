"""Claim 12's cell: one teacher, then every student of one seed trained side by side on the same transfer set.

A student is one configuration of one contender: hard labels at a learning
rate, KL on the teacher's softened outputs at a temperature, MSE on the
teacher's logits at a learning rate. All of a seed's students start from the
same initial weights (one model initialised from the seed, copied) and see the
same full batch at every step, so the comparisons are paired. They are
trained as one batched model: their parameters are stacked along a leading
student axis, the summed loss has, for each student, exactly the gradient of
its own loss (no parameter is shared), and Adam runs per student with its own
learning rate. One pass for all of them, instead of one per student, saves
the per-step Python overhead that dominates models this small, which is what
keeps an equal tuning budget affordable.

Early stopping is per student: every ``eval_every`` steps each student's
validation accuracy is measured, its best weights are kept, and training ends
when no student has improved for ``patience`` steps (or at ``max_steps``);
every student is then read at its own best step.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

import losslab

from .. import train

__all__ = ["ONE_HOT_LOGIT", "distil", "student_specs", "transfer_indices"]

#: The planted "teacher equal to the labels" puts this logit on the given class and 0 elsewhere: at the largest
#: temperature of any grid here (100) softmax(t / T) still gives the other classes less than 1e-40, a one-hot.
ONE_HOT_LOGIT = 1e4


def student_specs(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The students of a cell, in a fixed order: ``group``, ``kind`` (hard, kl, mse), ``lr``, ``T``, targets, data.

    Main groups: ``hard``, ``kl``, ``mse`` on the full transfer set with the trained teacher. With
    ``controls``: ``onehot_kl`` (KL on a teacher equal to the labels), ``small_hard`` and ``small_kl``
    (the first ``n_small`` transfer examples only).

    >>> p = {"lrs": [0.01, 0.1], "temperatures": [1.0, 4.0], "kl_lr": 0.01, "controls": False}
    >>> [(s["group"], s["lr"], s["T"]) for s in student_specs(p)][:3]
    [('hard', 0.01, 1.0), ('hard', 0.1, 1.0), ('kl', 0.01, 1.0)]
    """
    lrs, temps, kl_lr = [float(v) for v in params["lrs"]], [float(t) for t in params["temperatures"]], \
        float(params["kl_lr"])  # fmt: skip
    if len(lrs) != len(temps):
        raise ValueError(f"every student gets the same number of configurations: `lrs` has {len(lrs)} values and "
                         f"`temperatures` {len(temps)}; give both the same length")  # fmt: skip

    def group(name: str, kind: str, target: str, subset: str) -> list[dict[str, Any]]:
        if kind == "kl":
            return [{"group": name, "kind": kind, "lr": kl_lr, "T": T, "target": target, "subset": subset}
                    for T in temps]  # fmt: skip
        return [{"group": name, "kind": kind, "lr": lr, "T": 1.0, "target": target, "subset": subset} for lr in lrs]

    specs = group("hard", "hard", "labels", "all") + group("kl", "kl", "teacher", "all") + \
        group("mse", "mse", "teacher", "all")  # fmt: skip
    if params.get("controls"):
        specs += group("onehot_kl", "kl", "onehot", "all") + group("small_hard", "hard", "labels", "small") + \
            group("small_kl", "kl", "teacher", "small")  # fmt: skip
    # One kind after another, so that each kind's students are one contiguous slice of the batched model.
    order = {"hard": 0, "kl": 1, "mse": 2}
    return sorted(specs, key=lambda s: order[s["kind"]])  # stable: the groups keep their order within a kind


def transfer_indices(n_fit: int, n_transfer: int, seed: int) -> np.ndarray:
    """Rows of the teacher's training split that form the transfer set (Hinton et al.'s is part of it too).

    Seeded per seed; the small-data control's examples are the first ones, so they are part of it.

    >>> transfer_indices(10, 4, seed=0).size, len(set(transfer_indices(10, 4, seed=0)))
    (4, 4)
    """
    return np.random.default_rng(20_000 + seed).permutation(n_fit)[:n_transfer]


def _teacher(d: Any, params: dict[str, Any], seed: int) -> Any:
    """A cross-entropy MLP on the fit split, rolled back to its best validation epoch."""
    t = params["teacher"]
    model = train.make_model("mlp", d.n_features, d.n_classes, seed=10_000 + seed, hidden=t["hidden"],
                             device=params["device"])  # fmt: skip
    best: dict[str, Any] = {"acc": -1.0, "state": None}

    def on_epoch(epoch: int, m: Any) -> None:
        acc = train.accuracy(m(d.X_val), d.y_val)
        if acc > best["acc"]:
            best.update(acc=acc, state=copy.deepcopy(m.state_dict()))

    train.train(model, train.classification_loss("cross_entropy", d.n_classes), d.X_train, d.y_train,
                epochs=t["epochs"], seed=seed, batch_size=t["batch_size"], lr=t["lr"], optimizer="adam",
                on_epoch=on_epoch)  # fmt: skip
    model.load_state_dict(best["state"])
    model.eval()
    return model


def _scores(z: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-student accuracy and mean NLL (nats) of stacked logits ``z`` (students, n, K)."""
    import torch

    s, n, k = z.shape
    acc = (z.argmax(-1) == y).double().mean(1)
    nll = losslab.cross_entropy(z.reshape(-1, k).double(), y.repeat(s), reduction="none").reshape(s, n).mean(1)
    return acc.cpu().numpy(), torch.as_tensor(nll).cpu().numpy()


def distil(params: dict[str, Any]) -> dict[str, Any]:
    """One seed: the teacher, then every student of :func:`student_specs`, each read at its best validation step.

    ``params``: dataset, data_dir, device, seed, val_fraction, teacher (hidden, epochs, lr,
    batch_size), student_hidden, n_transfer, n_small, lrs, temperatures, kl_lr, max_steps,
    patience, eval_every, controls.
    """
    import torch

    seed = int(params["seed"])
    d = train.tensors(params["dataset"], params["data_dir"], params["device"], seed=seed,
                      val_fraction=params["val_fraction"])  # fmt: skip
    k = d.classes()
    teacher = _teacher(d, params, seed)
    n_fit = int(d.X_train.shape[0])
    n_tr = min(int(params["n_transfer"]), n_fit)
    n_small = min(int(params.get("n_small", n_tr)), n_tr)
    order = torch.from_numpy(transfer_indices(n_fit, n_tr, seed)).to(d.X_train.device)
    X, y = d.X_train[order], d.y_train[order]
    with torch.no_grad():
        t_logits = teacher(X).float()
        t_test = teacher(d.X_test)
    onehot = ONE_HOT_LOGIT * torch.nn.functional.one_hot(y, k).float()

    specs = student_specs(params)
    S = len(specs)
    init = train.make_model("mlp", d.n_features, k, seed=seed, hidden=params["student_hidden"],
                            device=params["device"])  # fmt: skip
    P = [layer.detach().unsqueeze(0).expand(S, *layer.shape).clone().requires_grad_()
         for layer in (init[0].weight, init[0].bias, init[2].weight, init[2].bias)]  # fmt: skip

    def forward(inp: Any) -> Any:
        w1, b1, w2, b2 = P
        h = torch.relu(torch.matmul(inp, w1.transpose(1, 2)) + b1[:, None, :])
        return torch.matmul(h, w2.transpose(1, 2)) + b2[:, None, :]

    mask = torch.ones(S, n_tr, device=X.device)
    for i, s in enumerate(specs):
        if s["subset"] == "small":
            mask[i, n_small:] = 0.0
    mask = mask / mask.sum(1, keepdim=True)  # each student's loss is the mean over its own examples
    bounds, start = {}, 0
    for kind in ("hard", "kl", "mse"):
        n_kind = sum(s["kind"] == kind for s in specs)
        bounds[kind] = slice(start, start + n_kind)
        start += n_kind
    weights = {kind: mask[sl] for kind, sl in bounds.items()}
    kl_specs = specs[bounds["kl"]]
    temps = torch.tensor([s["T"] for s in kl_specs], device=X.device).view(-1, 1, 1)
    soft_targets = torch.stack([onehot if s["target"] == "onehot" else t_logits for s in kl_specs]) \
        if kl_specs else None  # fmt: skip

    def loss_fn(z: Any) -> Any:
        total = z.new_zeros(())
        zh, zk, zm = (z[bounds[kind]] for kind in ("hard", "kl", "mse"))
        if zh.shape[0]:
            ce = losslab.cross_entropy(zh.reshape(-1, k), y.repeat(zh.shape[0]), reduction="none")
            total = total + (ce.reshape(zh.shape[:2]) * weights["hard"]).sum()
        if zk.shape[0] and soft_targets is not None:  # soft_targets is None only when no student is KL
            # T^2 KL(softmax(t/T) || softmax(s/T)) per student: the logits pre-divided by each student's T, the
            # T^2 put back; the same value as distillation_loss(s, t, temperature=T) (a test checks it).
            soft = losslab.distillation_loss((zk / temps).reshape(-1, k), (soft_targets / temps).reshape(-1, k),
                                             temperature=1.0, reduction="none")  # fmt: skip
            total = total + (soft.reshape(zk.shape[:2]) * temps.view(-1, 1) ** 2 * weights["kl"]).sum()
        if zm.shape[0]:
            sq = losslab.mse(zm, t_logits.expand_as(zm), reduction="none").mean(-1)
            total = total + (sq * weights["mse"]).sum()
        return total

    lr = torch.tensor([s["lr"] for s in specs], device=X.device)
    m1 = [torch.zeros_like(p) for p in P]
    m2 = [torch.zeros_like(p) for p in P]
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as the teacher uses
    best_acc = torch.full((S,), -1.0, dtype=torch.float64)
    best_step = torch.zeros(S, dtype=torch.long)
    best = [p.detach().clone() for p in P]

    def validate(step: int) -> None:
        with torch.no_grad():
            acc = (forward(d.X_val).argmax(-1) == d.y_val).double().mean(1).cpu()
            better = acc > best_acc
            best_acc[better] = acc[better]
            best_step[better] = step
            for b, p in zip(best, P, strict=True):
                b[better.to(p.device)] = p.detach()[better.to(p.device)]

    validate(0)
    patience, every, step = int(params["patience"]), int(params["eval_every"]), 0
    for step in range(1, int(params["max_steps"]) + 1):
        loss = loss_fn(forward(X))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"a student's loss is not finite at step {step}: lower `lrs` or `kl_lr`")
        for p in P:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p, a, b in zip(P, m1, m2, strict=True):
                a.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                b.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                rate = lr.view(S, *([1] * (p.dim() - 1))) / (1 - beta1**step)
                p.sub_(rate * a / ((b / (1 - beta2**step)).sqrt() + eps))
        if step % every == 0:
            validate(step)
            if int((step - best_step).min()) >= patience:
                break
    with torch.no_grad():
        for b, p in zip(best, P, strict=True):
            p.copy_(b)
        val_acc, val_nll = _scores(forward(d.X_val), d.y_val)
        test_acc, test_nll = _scores(forward(d.X_test), d.y_test)
        teacher_val = teacher(d.X_val)
    students: dict[str, list[dict[str, Any]]] = {}
    for i, s in enumerate(specs):
        students.setdefault(s["group"], []).append({
            "lr": s["lr"], "T": s["T"], "val_acc": float(val_acc[i]), "val_nll": float(val_nll[i]),
            "test_acc": float(test_acc[i]), "test_nll": float(test_nll[i]), "best_step": int(best_step[i]),
        })  # fmt: skip
    t_acc, t_nll = _scores(t_test[None], d.y_test)
    tv_acc, _ = _scores(teacher_val[None], d.y_val)
    p_true = torch.softmax(t_logits.double(), -1).gather(1, y[:, None]).mean()
    return {
        "teacher": {"test_acc": float(t_acc[0]), "test_nll": float(t_nll[0]), "val_acc": float(tv_acc[0]),
                    "transfer_p_given_label": float(p_true)},  # fmt: skip
        "students": students,
        "steps_run": step,
        "n_transfer": n_tr,
        "n_small": n_small,
        "n_fit": n_fit,
        "n_val": int(d.X_val.shape[0]),
        "n_test": int(d.X_test.shape[0]),
        "n_classes": k,
    }
