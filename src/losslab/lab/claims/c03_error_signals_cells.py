"""The cells of claim 3 (error signals): closed forms against losslab.grad and autograd, and the seeds' arguments.

Top-level functions, so worker processes can run them. Every gradient is
computed twice besides its closed form: by ``losslab.grad`` (analytic) and by
torch autograd through losslab's loss, in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import losslab

from ..._types import Reduction
from ..data import load_dataset
from ..rules import claim_rules

_REDUCED: tuple[Reduction, ...] = ("mean", "sum")

RULES = claim_rules("error-signals")
#: Tolerance on per-example error signals: max |difference| <= RTOL * max(1, max |closed form|). CE and BCE
#: signals lie in [-1, 1], so this is an absolute 1e-12 there (float64 rounding of p - t is ~1e-16); MSE
#: residuals on diabetes are ~100, so there it is relative.
RTOL = RULES.rule("c03.mse").tolerance
ALPHA = RULES.params["label_smoothing"]
HIST_EDGES = list(np.arange(-20.0, 1.0, 1.0))  # log10 |difference| bins; exact zeros are counted apart
SAMPLE = 1500  # entries per check kept for the scatter plot


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def _autograd(loss_fn: Any, x: np.ndarray, target: Any) -> np.ndarray:
    """d loss_fn(x, target) / d x by torch autograd in float64."""
    import torch

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tt = torch.as_tensor(target)
    if tt.is_floating_point():
        tt = tt.to(torch.float64)
    (g,) = torch.autograd.grad(loss_fn(xt, tt), xt)
    return g.numpy()


def compare(
    closed: np.ndarray,
    analytic: np.ndarray,
    autograd: np.ndarray,
    rng: np.random.Generator,
    *,
    per_example: float = 1.0,
) -> dict:
    """Max differences between the closed form, losslab.grad and autograd, with a histogram and a sample.

    ``per_example`` turns the gradient into per-example error signals (n for reduction "mean", 1 for "sum");
    ``max_rel`` is the largest difference of those signals over ``max(1, max |closed-form signal|)``.

    >>> c = np.array([0.5, -0.5]); r = compare(c, c, c + np.array([0.0, 1e-13]), np.random.default_rng(0))
    >>> r["max_rel"] < 1e-12, r["zeros"]
    (True, 1)
    """
    closed, analytic, autograd = (np.asarray(a, dtype=np.float64).ravel() for a in (closed, analytic, autograd))
    d_an = np.abs(analytic - closed)
    d_ag = np.abs(autograd - closed)
    d_both = np.abs(analytic - autograd)
    scale = max(1.0, float(np.max(np.abs(closed))) * per_example)
    worst = float(max(d_an.max(), d_ag.max(), d_both.max())) * per_example
    nz = d_ag[d_ag > 0]
    hist = np.histogram(np.log10(nz), bins=HIST_EDGES)[0] if nz.size else np.zeros(len(HIST_EDGES) - 1, int)
    idx = rng.choice(closed.size, size=min(SAMPLE, closed.size), replace=False)
    return {
        "n": int(closed.size),
        "max_abs_analytic_vs_closed": float(d_an.max()),
        "max_abs_autograd_vs_closed": float(d_ag.max()),
        "max_abs_analytic_vs_autograd": float(d_both.max()),
        "max_abs_closed": float(np.max(np.abs(closed))),
        "max_rel": worst / scale,
        "hist": [int(h) for h in hist],
        "zeros": int(np.sum(d_ag == 0)),
        "sample_closed": closed[idx].tolist(),
        "sample_autograd": autograd[idx].tolist(),
    }


def fitted_outputs(params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Training-set outputs of three fitted models, one split per seed: the data every gradient check runs on.

    ``pred``/``t``: linear regression on diabetes; ``z``/``y``: softmax regression (trained with CE) on
    ``params["dataset"]``; ``zb``/``yb``: logistic regression on breast_cancer.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from .. import train as tr

    seed = int(params["seed"])
    reg = load_dataset("diabetes", seed=seed)
    pred = LinearRegression().fit(reg.X_train, reg.y_train).predict(reg.X_train).astype(np.float64)
    data = tr.tensors(params["dataset"], params["data_dir"], params["device"], seed=seed)
    k = data.classes()
    model = tr.make_model("linear", data.n_features, k, seed=seed, device=params["device"])
    tr.train(model, tr.classification_loss("cross_entropy", k), data.X_train, data.y_train,
             epochs=params["epochs"], seed=seed, lr=0.05)  # fmt: skip
    bc = load_dataset("breast_cancer", seed=seed)
    zb = LogisticRegression(max_iter=2000).fit(bc.X_train, bc.y_train).decision_function(bc.X_train)
    return {"pred": pred, "t": reg.y_train.astype(np.float64), "z": tr.predict_logits(model, data.X_train),
            "y": data.y_train.cpu().numpy(), "zb": zb.astype(np.float64),
            "yb": bc.y_train.astype(np.float64)}  # fmt: skip


def checks_on(o: dict[str, np.ndarray], rng: np.random.Generator, *, mse_factor: float = 2.0) -> dict[str, Any]:
    """MSE, CE (hard and smoothed targets) and BCE: closed form vs losslab.grad vs autograd, "mean" and "sum".

    ``mse_factor`` is the closed form's factor (2 for losslab's MSE; the planted control passes 1, the
    textbook (y - t)^2 / 2 convention, which must then fail against losslab's MSE).
    """
    import torch

    out: dict[str, Any] = {}
    pred, t = o["pred"], o["t"]
    for red in _REDUCED:
        scale = mse_factor / t.size if red == "mean" else mse_factor
        out[f"mse/{red}"] = compare(scale * (pred - t), losslab.grad.mse(pred, t, reduction=red),
                                    _autograd(lambda a, b, r=red: losslab.mse(a, b, reduction=r), pred, t), rng,
                                    per_example=t.size / 2.0 if red == "mean" else 0.5)  # fmt: skip
    z, y = o["z"], o["y"]
    k = z.shape[1]
    for name, smooth in (("ce", 0.0), ("ce_smoothed", ALPHA)):
        target = np.asarray(losslab.smooth_labels(y, k, smooth), dtype=np.float64)
        for red in _REDUCED:
            scale = 1.0 / y.size if red == "mean" else 1.0
            out[f"{name}/{red}"] = compare(
                scale * (_softmax(z) - target),
                losslab.grad.cross_entropy(z, y, label_smoothing=smooth, reduction=red),
                _autograd(lambda a, b, s=smooth, r=red: losslab.cross_entropy(a, b, label_smoothing=s, reduction=r),
                          z, torch.as_tensor(y)),
                rng,
                per_example=y.size if red == "mean" else 1.0,
            )  # fmt: skip
    zb, yb = o["zb"], o["yb"]
    for red in _REDUCED:
        scale = 1.0 / yb.size if red == "mean" else 1.0
        out[f"bce/{red}"] = compare(
            scale * (_sigmoid(zb) - yb),
            losslab.grad.binary_cross_entropy_with_logits(zb, yb, reduction=red),
            _autograd(lambda a, b, r=red: losslab.binary_cross_entropy_with_logits(a, b, reduction=r), zb, yb),
            rng,
            per_example=yb.size if red == "mean" else 1.0,
        )
    return out


def gradient_checks(params: dict[str, Any]) -> dict[str, Any]:
    """MSE (diabetes, linear regression), CE (softmax regression, hard and smoothed targets), BCE (breast_cancer).

    Each check is done with reduction "mean" (losslab's convention, 1/n) and "sum" (the per-example error signal).
    """
    return checks_on(fitted_outputs(params), np.random.default_rng(int(params["seed"])))


def _naive_ce(z: Any, y: Any) -> Any:
    import torch

    return -torch.log(torch.softmax(z, dim=-1))[torch.arange(z.shape[0]), y].sum()


def _naive_bce(z: Any, y: Any) -> Any:
    import torch

    s = torch.sigmoid(z)
    return -(y * torch.log(s) + (1 - y) * torch.log(1 - s)).sum()


def extreme_checks() -> dict[str, Any]:
    """Confident right and wrong predictions at logits +-30 and +-500: closed form vs losslab vs naive autograd."""
    import torch

    rows = []
    for m in (30.0, 500.0):
        for label in (0, 1):  # class 0 gets +m: label 0 is confidently right, label 1 confidently wrong
            z = np.array([[m, -m, 0.0]])
            y = np.array([label])
            closed = _softmax(z) - np.eye(3)[y]
            an = losslab.grad.cross_entropy(z, y, reduction="sum")
            ag = _autograd(lambda a, b: losslab.cross_entropy(a, b, reduction="sum"), z, torch.as_tensor(y))
            zt = torch.tensor(z, requires_grad=True)
            naive_loss = _naive_ce(zt, torch.as_tensor(y))
            (naive_grad,) = torch.autograd.grad(naive_loss, zt)
            rows.append({"loss": "CE", "logits": z.ravel().tolist(), "target": label, "closed": closed.ravel().tolist(),
                         "analytic": np.asarray(an).ravel().tolist(), "autograd": ag.ravel().tolist(),
                         "losslab_loss": float(losslab.cross_entropy(z, y, reduction="sum")),
                         "naive_loss": float(naive_loss.detach()),
                         "naive_grad": naive_grad.numpy().ravel().tolist()})  # fmt: skip
    for m in (-500.0, -30.0, 30.0, 500.0):
        for bce_label in (0.0, 1.0):
            z, y = np.array([m]), np.array([bce_label])
            closed = _sigmoid(z) - y
            an = losslab.grad.binary_cross_entropy_with_logits(z, y, reduction="sum")
            ag = _autograd(lambda a, b: losslab.binary_cross_entropy_with_logits(a, b, reduction="sum"), z, y)
            zt = torch.tensor(z, requires_grad=True)
            naive_loss = _naive_bce(zt, torch.tensor(y))
            (naive_grad,) = torch.autograd.grad(naive_loss, zt)
            rows.append({"loss": "BCE", "logits": z.tolist(), "target": bce_label, "closed": closed.tolist(),
                         "analytic": np.asarray(an).ravel().tolist(), "autograd": ag.ravel().tolist(),
                         "losslab_loss": float(losslab.binary_cross_entropy_with_logits(z, y, reduction="sum")),
                         "naive_loss": float(naive_loss.detach()),
                         "naive_grad": naive_grad.numpy().ravel().tolist()})  # fmt: skip
    for r in rows:
        c, a, g = (np.asarray(r[k]) for k in ("closed", "analytic", "autograd"))
        r["max_abs_diff"] = float(max(np.max(np.abs(a - c)), np.max(np.abs(g - c)), np.max(np.abs(a - g))))
        r["max_abs_closed"] = float(np.max(np.abs(c)))
        ng = np.asarray(r["naive_grad"])
        r["naive_ok"] = bool(np.all(np.isfinite(ng)) and np.max(np.abs(ng - c)) <= RTOL * max(1.0, np.max(np.abs(c))))
    return {"rows": rows}


def cancel_check(z: np.ndarray, y: np.ndarray, z_max: float) -> dict[str, Any]:
    """Seed 002's cancellation: dBCE/dp (losslab.grad, on probabilities) times dsigmoid/dz (autograd) = sigmoid(z) - y.

    Only logits with |z| <= ``z_max`` count: beyond, 1 - sigmoid(z) has lost its digits in float64 and the
    product is inexact, which is why losslab trains on logits.

    >>> r = cancel_check(np.array([-2.0, 0.0, 3.0]), np.array([1.0, 0.0, 1.0]), 8.0)
    >>> r["max_abs_diff"] < 1e-14, r["n"]
    (True, 3)
    """
    import torch

    keep = np.abs(z) <= z_max
    z, y = np.asarray(z, dtype=np.float64)[keep], np.asarray(y, dtype=np.float64)[keep]
    zt = torch.tensor(z, requires_grad=True)
    s = torch.sigmoid(zt)
    (ds,) = torch.autograd.grad(s.sum(), zt)  # examples are independent: the Jacobian is diagonal
    p = s.detach().numpy()
    dl_dp = np.asarray(losslab.grad.binary_cross_entropy(p, y, reduction="sum"), dtype=np.float64)
    product = dl_dp * ds.numpy()
    return {"n": int(z.size), "max_abs_diff": float(np.max(np.abs(product - (p - y)))) if z.size else float("nan"),
            "max_abs_dl_dp": float(np.max(np.abs(dl_dp))) if z.size else float("nan")}  # fmt: skip


def _log_cosh(r: Any) -> Any:
    import torch

    return torch.abs(r) + torch.nn.functional.softplus(-2.0 * torch.abs(r)) - np.log(2.0)  # no overflow of cosh


def alternatives(delta: float) -> dict[str, Callable[[Any, Any], Any]]:
    """The rivals of the squared error (per element, torch in, torch out): the seed's and two robust ones."""
    return {
        "|y - t| (MAE)": lambda y, t: losslab.mae(y, t, reduction="none"),
        "(y - t)^4": lambda y, t: (y - t) ** 4,
        "log cosh(y - t)": lambda y, t: _log_cosh(y - t),
        f"Huber (delta={delta:g})": lambda y, t: losslab.huber(y, t, delta=delta, reduction="none"),
    }


def uniqueness_check(
    r_max: float, n_grid: int, delta: float, rivals: dict[str, Callable[[Any, Any], Any]] | None = None
) -> dict[str, Any]:
    """Seed 003's argument, by autograd on a residual grid: is y - t the signal of (y - t)^2 / 2, and of no rival?

    ``squared_error``: max |d/dy (losslab.mse / 2) - r|; ``integral_error``: the signal y - t integrated from t
    (trapezoid, exact for a linear integrand) against (y - t)^2 / 2; per rival, max |dL/dy - r| and the
    fraction of the grid where it equals r. ``rivals`` replaces :func:`alternatives` (the control plants one
    with the same signal).
    """
    import torch
    from scipy.integrate import cumulative_trapezoid

    r = np.linspace(-r_max, r_max, n_grid)
    t = np.full_like(r, 0.7)  # a target that is not 0, so y and r differ

    def signal(f: Callable[[Any, Any], Any]) -> np.ndarray:
        yt = torch.tensor(t + r, requires_grad=True)
        (g,) = torch.autograd.grad(f(yt, torch.tensor(t)).sum(), yt)
        return g.numpy()

    resid = (t + r) - t  # the residual as float64 computes it
    half = np.asarray(losslab.mse(t + r, t, reduction="none")) / 2.0
    sq = signal(lambda y, tt: losslab.mse(y, tt, reduction="none") / 2.0)
    i0 = int(np.argmin(np.abs(r)))
    integral = cumulative_trapezoid(resid, t + r, initial=0.0)
    integral -= integral[i0]  # the constant c(t): the loss is 0 at y = t
    out: dict[str, Any] = {"squared_error": float(np.max(np.abs(sq - resid))),
                           "integral_error": float(np.max(np.abs(integral - half))), "rivals": {}}  # fmt: skip
    for name, f in (alternatives(delta) if rivals is None else rivals).items():
        d = np.abs(signal(f) - resid)
        out["rivals"][name] = {"max_abs_diff": float(d.max()), "agree_fraction": float(np.mean(d <= 1e-12))}
    return out


def link_check(o: dict[str, np.ndarray], temperature: float, binary_link: str = "probit") -> dict[str, Any]:
    """The gradient of CE in the pre-activation when the link is not the canonical one, against p - y.

    Binary: p = Phi(z) (probit; ``"logit"`` for the canonical sigmoid) with losslab's BCE on probabilities;
    multiclass: p = softmax(z / T) with losslab's CE on z / T. Both by autograd on the fitted models' outputs
    ``zb``/``yb`` and ``z``/``y``; also checked against their closed forms (p - y) phi(z) / (p (1 - p)) and
    (p - y) / T where those are well conditioned.
    """
    import torch

    zb, yb = torch.tensor(o["zb"], requires_grad=True), torch.tensor(o["yb"])
    pb = torch.special.ndtr(zb) if binary_link == "probit" else torch.sigmoid(zb)
    (gb,) = torch.autograd.grad(losslab.binary_cross_entropy(pb, yb, reduction="sum"), zb)
    pb_np, yb_np = pb.detach().numpy(), o["yb"]
    ok = (pb_np > 1e-6) & (pb_np < 1 - 1e-6)  # where the closed form is well conditioned and the log floor idle
    dens = np.exp(-0.5 * o["zb"] ** 2) / np.sqrt(2 * np.pi) if binary_link == "probit" else pb_np * (1 - pb_np)
    closed_b = np.where(ok, (pb_np - yb_np) * dens / np.where(ok, pb_np * (1 - pb_np), 1.0), 0.0)
    z, y = torch.tensor(o["z"], requires_grad=True), torch.as_tensor(o["y"])
    (gm,) = torch.autograd.grad(losslab.cross_entropy(z / temperature, y, reduction="sum"), z)
    pm = _softmax(o["z"] / temperature)
    err_m = pm - np.eye(o["z"].shape[1])[o["y"]]
    gap_b = np.abs(gb.numpy() - (pb_np - yb_np))
    i = int(np.argmax(gap_b))
    return {
        "binary_link": binary_link, "temperature": temperature,
        "binary_max_abs_vs_p_minus_y": float(gap_b.max()),
        "binary_closed_form_gap": float(np.max(np.abs(gb.numpy() - closed_b)[ok])) if ok.any() else 0.0,
        "softmax_max_abs_vs_p_minus_y": float(np.max(np.abs(gm.numpy() - err_m))),
        "softmax_closed_form_gap": float(np.max(np.abs(gm.numpy() - err_m / temperature))),
        "binary_example": {"z": float(o["zb"][i]), "y": float(yb_np[i]), "grad": float(gb.numpy()[i]),
                           "p_minus_y": float(pb_np[i] - yb_np[i])},
    }  # fmt: skip


def signals_cell(params: dict[str, Any]) -> dict[str, Any]:
    """One seed's real-data checks (closed forms, cancellation, links); seed 0 adds the extreme-logit checks."""
    o = fitted_outputs(params)
    out = {"real": checks_on(o, np.random.default_rng(int(params["seed"]))),
           "cancel": cancel_check(o["zb"], o["yb"], float(params["z_max"])),
           "link": link_check(o, float(params["temperature"]))}  # fmt: skip
    if params["seed"] == 0:
        out["extreme"] = extreme_checks()
    return out


def worst_relative(checks: list[dict[str, Any]], rows: list[dict[str, Any]]) -> float:
    """The rule's quantity: the largest normalised difference over all checks and extreme rows.

    Per-example signals; a difference counts relative to ``max(1, max |closed form|)``.

    >>> worst_relative([{"max_rel": 1e-16}], [{"max_abs_diff": 2e-13, "max_abs_closed": 1e-13}])
    2e-13
    """
    vals = [c["max_rel"] for c in checks]
    vals += [r["max_abs_diff"] / max(1.0, r["max_abs_closed"]) for r in rows]
    return float(max(vals))
