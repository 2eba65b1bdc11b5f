"""Claim 16: dropping the precision beta from the Gaussian NLL keeps the minimiser, not the convergence.

Seed 000 derives the squared error from the Gaussian log-likelihood
``beta/2 sum (t - y)^2 - N/2 log beta + const`` and says that "for training the
model omitting the constant beta doesn't affect the convergence". For the
minimiser that is exact: beta > 0 multiplies the objective. For gradient
descent it is not: the gradient of ``beta f`` is ``beta`` times that of
``f``, so a fixed learning rate ``lr`` on ``beta f`` is the rate ``lr beta`` on
``f``; on a quadratic, GD diverges once ``lr beta`` exceeds ``2/L`` (``L`` the
largest eigenvalue of the Hessian). The test counts full-batch GD iterations on
diabetes (raw target, so beta = 1/sigma^2 is about 3.5e-4) with and without
beta, at a fixed rate and at each objective's own best rate on one grid, and
finds the divergence threshold by bisection beside its closed form.

Full-batch GD on least squares is deterministic given the data, so each seed
(a resampled training split) is one replication; SGD would add batch noise
to the same lr beta rescaling and is not run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..data import load_dataset
from ..registry import Claim, Finding, LabFigure, LabTable
from ..rules import claim_rules
from ..style import color, new_figure
from ..verdicts import decide

RULES = claim_rules("beta-convergence")
P = RULES.params
NOT_CONVERGED = -1


def grid() -> np.ndarray:
    """The learning-rate grid shared by both objectives: 10^(k/4), k from the rules' exponents."""
    lo, hi = P["grid_exponents"]
    return 10.0 ** (np.arange(lo, hi + 1) / P["grid_per_decade"])


def quadratic(X: np.ndarray, y: np.ndarray, weight: float = 1.0) -> dict[str, Any]:
    """``weight * f`` for f(w) = mean((Xw - y)^2) / 2 as (H, b, c, f*): weight (H w'w/2 - b'w + c)."""
    n = y.size
    H, b, c = X.T @ X / n, X.T @ y / n, 0.5 * float(y @ y) / n
    w_star = np.linalg.solve(H, b)
    f_star = 0.5 * float(w_star @ H @ w_star) - float(b @ w_star) + c
    return {"H": weight * H, "b": weight * b, "c": weight * c, "f_star": weight * f_star}


def gd_iterations(objectives: list[dict[str, Any]], lrs: np.ndarray, *, max_iter: int, rtol: float) -> np.ndarray:
    """Iterations of full-batch GD from w = 0 until f(w) - f* <= rtol f*, per objective and rate.

    All objectives and rates run together (batched matrix products). ``NOT_CONVERGED`` (-1):
    not within ``max_iter``, or diverged (the loss non-finite or 1e12 times its start).
    """
    H = np.stack([o["H"] for o in objectives])
    b = np.stack([o["b"] for o in objectives])[:, None, :]
    c = np.array([o["c"] for o in objectives])[:, None]
    fs = np.array([o["f_star"] for o in objectives])[:, None]
    W = np.zeros((len(objectives), lrs.size, H.shape[-1]))
    out = np.full((len(objectives), lrs.size), NOT_CONVERGED)
    active = np.ones(out.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(max_iter + 1):
            G = W @ H - b
            f = 0.5 * np.einsum("olp,olp->ol", W, G - b) + c  # f(w) = w'(Hw - b)/2 - w'b/2 + c
            done = active & (f - fs <= rtol * fs)
            out[done] = k
            active &= ~done & np.isfinite(f) & (f < 1e12 * c)
            if not active.any():
                break
            W = W - lrs[None, :, None] * G * active[..., None]
    return out


def diverges(obj: dict[str, Any], lr: float, steps: int) -> bool:
    """Whether ``steps`` GD steps at ``lr`` from w = 0 end with a higher (or non-finite) loss than at the start."""
    H, b, c = obj["H"], obj["b"], obj["c"]
    w = np.zeros(b.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            w = w - lr * (H @ w - b)
        f = 0.5 * float(w @ H @ w) - float(b @ w) + c
    return not (np.isfinite(f) and f <= c)


def threshold(obj: dict[str, Any]) -> float:
    """The learning rate where GD starts to diverge, by bisection on a log scale (the rules' bracket)."""
    bis = P["bisection"]
    lo, hi = np.log(bis["low"]), np.log(bis["high"])
    for _ in range(int(bis["iterations"])):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if diverges(obj, float(np.exp(mid)), int(bis["steps"])) else (mid, hi)
    return float(np.exp(0.5 * (lo + hi)))


def best(iters: np.ndarray, lrs: np.ndarray, cap: int) -> tuple[int, float]:
    """The fewest iterations over the grid (non-converged count as ``cap``) and its rate."""
    counted = np.where(iters == NOT_CONVERGED, cap, iters)
    i = int(np.argmin(counted))
    return int(counted[i]), float(lrs[i])


def cell(params: dict[str, Any]) -> dict[str, Any]:
    """One seed: minimisers, GD iteration counts on the grid, divergence thresholds, and the planted controls."""
    d = load_dataset("diabetes", seed=int(params["seed"]))
    X = np.c_[np.ones(len(d.y_train)), d.X_train.astype(np.float64)]
    y = d.y_train.astype(np.float64)
    f = quadratic(X, y)
    beta = 1.0 / (2.0 * f["f_star"])  # 1/sigma^2, sigma^2 = the training MSE of the least-squares fit
    g = quadratic(X, y, beta)
    ctl = P["controls"]
    w_f = np.linalg.lstsq(X, y, rcond=None)[0]
    w_g = np.linalg.lstsq(np.sqrt(beta) * X, np.sqrt(beta) * y, rcond=None)[0]
    # A "beta" that differs between examples (weighted least squares) moves the minimiser: the false control.
    sw = np.sqrt(1.0 + X[:, 1 + int(ctl["rescaled_feature"])] ** 2)
    w_w = np.linalg.lstsq(sw[:, None] * X, sw * y, rcond=None)[0]
    X_r = X.copy()
    X_r[:, 1 + int(ctl["rescaled_feature"])] *= ctl["rescale"]
    objectives = [f, g, quadratic(X, y, ctl["fixed_lr_beta_true"]), quadratic(X, y, ctl["fixed_lr_beta_false"]),
                  quadratic(X, y, ctl["tuned_beta"]), quadratic(X_r, y)]  # fmt: skip
    lrs, cap = grid(), int(P["max_iter"])
    iters = gd_iterations(objectives, lrs, max_iter=cap, rtol=float(P["rtol"]))
    L = float(np.linalg.eigvalsh(f["H"])[-1])
    shifted = quadratic(X, y + ctl["threshold_shift"])
    thr = {"f": threshold(f), "g": threshold(g), "shifted": threshold(shifted),
           "scaled": threshold(quadratic(X, y, ctl["threshold_beta"]))}  # fmt: skip
    return {
        "beta": beta, "sigma2": 1.0 / beta, "L": L, "mu": float(np.linalg.eigvalsh(f["H"])[0]),
        "w_f": w_f.tolist(), "w_g": w_g.tolist(), "w_weighted": w_w.tolist(),
        "iters": {k: v.tolist() for k, v in zip(("f", "g", "true", "false", "tuned_true", "tuned_false"), iters,
                                                 strict=True)},
        "threshold": thr, "predicted": {"f": 2.0 / L, "g": 2.0 / (beta * L)},
    }  # fmt: skip


def rel_diff(a: Any, b: Any) -> float:
    """The largest relative difference between two coefficient vectors."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def fixed_ratio(c: dict[str, Any], other: str) -> float:
    """log2(iterations of ``other`` / iterations of f) at the rate tuned for f (non-converged: the cap)."""
    lrs, cap = grid(), int(P["max_iter"])
    n_f, lr_f = best(np.asarray(c["iters"]["f"]), lrs, cap)
    i = int(np.flatnonzero(lrs == lr_f)[0])
    n_o = c["iters"][other][i]
    return float(np.log2((cap if n_o == NOT_CONVERGED else n_o) / n_f))


def tuned_ratio(c: dict[str, Any], other: str) -> float:
    """log2 of the ratio of the fewest iterations over the grid, ``other`` over f."""
    lrs, cap = grid(), int(P["max_iter"])
    return float(np.log2(best(np.asarray(c["iters"][other]), lrs, cap)[0] / best(np.asarray(c["iters"]["f"]), lrs,
                                                                               cap)[0]))  # fmt: skip


def threshold_error(cells: list[dict[str, Any]], other: str) -> float:
    """The largest |log10(threshold of ``other`` / threshold of f)| over seeds."""
    return float(max(abs(np.log10(c["threshold"][other] / c["threshold"]["f"])) for c in cells))


def own_controls(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Planted objectives through the same GD, bisection and minimiser code as the parts.

    True by construction: beta f with beta = 1.05 at f's rate (5% faster); beta = 10^-3, an exact
    power of the grid step, over the grid (the grid shifts onto itself); a shifted target (the
    threshold depends on the Hessian only); beta * SSE (the same minimiser). False: beta = 0.1 at
    f's rate (10 times slower), one feature rescaled by 30 (another conditioning, not a rescaled
    rate), beta = 10 (a threshold 10 times lower), weights that differ between examples.
    """
    ctl = P["controls"]
    cases = [
        ("c16.fixed_lr", [fixed_ratio(c, "true") for c in cells], f"beta = {ctl['fixed_lr_beta_true']:g} at f's rate",
         "supported"),
        ("c16.fixed_lr", [fixed_ratio(c, "false") for c in cells],
         f"beta = {ctl['fixed_lr_beta_false']:g} at f's rate", "refuted"),
        ("c16.tuned", [tuned_ratio(c, "tuned_true") for c in cells],
         f"beta = {ctl['tuned_beta']:g} (a power of the grid step), each tuned", "supported"),
        ("c16.tuned", [tuned_ratio(c, "tuned_false") for c in cells],
         f"feature {ctl['rescaled_feature']} rescaled by {ctl['rescale']:g} (not a rescaled rate), each tuned",
         "refuted"),
        ("c16.threshold", threshold_error(cells, "shifted"), f"target shifted by {ctl['threshold_shift']:g}",
         "supported"),
        ("c16.threshold", threshold_error(cells, "scaled"), f"beta = {ctl['threshold_beta']:g}", "refuted"),
        ("c16.minimiser", max(rel_diff(c["w_g"], c["w_f"]) for c in cells), "beta * SSE", "supported"),
        ("c16.minimiser", max(rel_diff(c["w_weighted"], c["w_f"]) for c in cells),
         "per-example weights 1 + x^2 (a beta that varies)", "refuted"),
    ]  # fmt: skip
    out = []
    for rule_id, value, what, expected in cases:
        part = decide(RULES.rule(rule_id), value, name="control")
        out.append({"rule": rule_id, "planted": f"{what}: {part.note or part.verdict}", "expected": expected,
                    "got": part.verdict})  # fmt: skip
    return out


def _figure(cells: list[dict[str, Any]]) -> Any:
    fig, axes = new_figure(2, width=4.6, height=3.5)
    lrs, c = grid(), cells[0]
    for i, (key, label) in enumerate((("f", "f = MSE/2 (beta omitted)"), ("g", "beta f (Gaussian NLL)"))):
        it = np.asarray(c["iters"][key], dtype=float)
        ok = it != NOT_CONVERGED
        axes[0].plot(lrs[ok], it[ok], marker="os"[i], color=color(i), label=label)
        axes[0].axvline(c["predicted"][key], color=color(i), linestyle=":", linewidth=1.0)
    axes[0].set(xscale="log", yscale="log", xlabel="learning rate", ylabel="GD iterations to converge",
                title="Seed 0: dotted = predicted divergence 2/(beta L)")  # fmt: skip
    axes[0].legend(fontsize=7)
    pred = np.array([[x["predicted"]["f"], x["predicted"]["g"]] for x in cells])
    meas = np.array([[x["threshold"]["f"], x["threshold"]["g"]] for x in cells])
    for i, label in enumerate(("f", "beta f")):
        axes[1].plot(pred[:, i], meas[:, i], linestyle="none", marker="os"[i], color=color(i), label=label)
    lim = [pred.min() / 2, pred.max() * 2]
    axes[1].plot(lim, lim, color="black", linestyle="--", linewidth=0.8, label="y = x")
    axes[1].set(xscale="log", yscale="log", xlabel="predicted threshold 2/(beta L)",
                ylabel="measured threshold (bisection)", title="Divergence thresholds, every seed")  # fmt: skip
    axes[1].legend(fontsize=7)
    return fig


def run(ctx: Context) -> Finding:
    cells = ctx.map(cell, [{"seed": s} for s in ctx.seeds])
    lrs, cap = grid(), int(P["max_iter"])
    r = {k: RULES.rule(f"c16.{k}") for k in ("minimiser", "threshold", "fixed_lr", "tuned")}
    minim = max(rel_diff(c["w_g"], c["w_f"]) for c in cells)
    thr = threshold_error(cells, "g")
    fixed = [fixed_ratio(c, "g") for c in cells]
    tuned = [tuned_ratio(c, "g") for c in cells]
    pred_err = max(abs(c["threshold"][k] / c["predicted"][k] - 1) for c in cells for k in ("f", "g"))
    parts = [
        decide(r["minimiser"], minim, name="diabetes", detail="least squares on sqrt(beta)-scaled rows vs unscaled"),
        decide(r["threshold"], thr, name="diabetes",
               detail=f"measured thresholds within {pred_err:.2%} of the closed form 2/(beta L)"),
        decide(r["fixed_lr"], fixed, name="diabetes", detail=f"at the rate tuned for f; not converged = {cap}"),
        decide(r["tuned"], tuned, name="diabetes", detail=f"grid {lrs[0]:g} .. {lrs[-1]:g}, {lrs.size} rates"),
    ]  # fmt: skip
    rows, per_seed = [], []
    for s, c in zip(ctx.seeds, cells, strict=True):
        n_f, lr_f = best(np.asarray(c["iters"]["f"]), lrs, cap)
        n_g, lr_g = best(np.asarray(c["iters"]["g"]), lrs, cap)
        at_f = c["iters"]["g"][int(np.flatnonzero(lrs == lr_f)[0])]
        at_g = c["iters"]["f"][int(np.flatnonzero(lrs == lr_g)[0])]
        rows.append((f"seed {s}", f"{c['beta']:.3g}", f"{c['L']:.3f}", f"{c['predicted']['f']:.4g} / "
                     f"{c['threshold']['f']:.4g}", f"{c['predicted']['g']:.4g} / {c['threshold']['g']:.4g}",
                     f"{lr_f:.3g}: {n_f}", f"{lr_g:.3g}: {n_g}",
                     f">= {cap}" if at_f == NOT_CONVERGED else str(at_f),
                     "diverges" if at_g == NOT_CONVERGED else str(at_g)))  # fmt: skip
        per_seed.append({"beta": c["beta"], "L": c["L"], "mu": c["mu"], "best_f": [lr_f, n_f], "best_g": [lr_g, n_g],
                         "g_at_lr_f": at_f, "f_at_lr_g": at_g, "threshold": c["threshold"],
                         "predicted": c["predicted"]})  # fmt: skip
    by = {p.rule: p for p in parts}
    beta = float(np.mean([c["beta"] for c in cells]))
    ratio = float(np.mean([c["threshold"]["g"] / c["threshold"]["f"] for c in cells]))
    reason = (f"the minimisers agree to {minim:.1e} (relative; {by['c16.minimiser'].verdict}), but gradient descent "
              f"sees beta = {beta:.3g}: its divergence threshold moves by a factor {ratio:.4g} = 1/beta "
              f"(closed form 2/(beta L) within {pred_err:.2%}; {by['c16.threshold'].verdict}); at the rate tuned for "
              f"f, beta f needs 2^{np.mean(fixed):.2f} times the iterations or more ({by['c16.fixed_lr'].note}: "
              f"{by['c16.fixed_lr'].verdict}); with each objective's own best rate on the same grid the log2 ratio "
              f"is {by['c16.tuned'].note} ({by['c16.tuned'].verdict}).")  # fmt: skip
    if by["c16.minimiser"].verdict == "supported" and by["c16.fixed_lr"].verdict == "refuted":
        reason += (" Omitting beta leaves the solution" + (" and, after retuning, the speed" if
                   by["c16.tuned"].verdict == "supported" else "") + "; it changes which learning rates work by the "
                   "factor beta.")  # fmt: skip
    reason += " (Verdicts in parentheses are before the run's Holm correction; the parts' list gives the final ones.)"
    return Finding(
        parts=parts,
        reason=reason,
        summary=f"threshold x{ratio:.3g} (1/beta); fixed lr: >= {2 ** np.mean(fixed):.1f}x iterations; tuned: "
        f"{2 ** np.mean(tuned):.2f}x",
        numbers={"per_seed": per_seed, "lr_grid": lrs.tolist(), "max_iter": cap, "rtol": P["rtol"],
                 "minimiser_rel_diff": minim, "threshold_log10_error": thr, "prediction_rel_error": pred_err,
                 "fixed_lr_log2_ratio": fixed, "tuned_log2_ratio": tuned},  # fmt: skip
        tables=[
            LabTable(f"Per seed (diabetes training split): beta = 1/sigma^2, L = the Hessian's largest eigenvalue, "
                     f"the divergence threshold predicted 2/(beta L) / measured by bisection, each objective's best "
                     f"rate on the grid and its iterations to f - f* <= {P['rtol']:g} f*, and each objective at the "
                     f"other's best rate (cap {cap})",
                     ("split", "beta", "L", "threshold f", "threshold beta f", "best f (lr: iters)",
                      "best beta f (lr: iters)", "beta f at f's rate", "f at beta f's rate"), tuple(rows)),
        ],  # fmt: skip
        figures=[
            LabFigure("Left: GD iterations to convergence against the learning rate on f (beta omitted) and beta f; "
                      "the curves are the same curve shifted by 1/beta, and each stops where its predicted threshold "
                      "2/(beta L) lies (dotted). Right: measured against predicted thresholds for every seed.",
                      _figure(cells)),
        ],  # fmt: skip
        discussion="Gradient descent on beta f with rate lr is gradient descent on f with rate lr beta (Bishop "
        "2006, 3.1.3: the precision factors out of the gradient), and on a quadratic it converges exactly when "
        "lr beta < 2/L (Nocedal & Wright 2006, 3.3; Goh 2017). So the seed is right about the minimiser and about "
        "the best attainable speed, and wrong about any fixed learning rate: with the raw diabetes target beta is "
        "about 3.5e-4, so the rate tuned for the squared error stalls on the likelihood, and the likelihood's rate "
        "makes the squared error diverge. Adaptive optimisers (Adam) normalise the gradient's scale and would "
        "mostly hide beta, and beta fitted jointly with w (as in the full NLL) changes the problem further; neither "
        "is tested here.",
        controls=own_controls(cells),
    )


CLAIM = Claim(
    number=16,
    slug="beta-convergence",
    title="Omitting the precision beta does not affect convergence",
    statement="'For training the model omitting the constant beta doesn't affect the convergence' (beta, the "
    "precision 1/sigma^2, multiplies the squared error in the Gaussian negative log-likelihood).",
    method="On diabetes (10 standardised features plus an intercept, raw target, each seed a resampled training "
    "split) beta = 1/sigma^2 from the least-squares fit. The minimisers of beta * SSE and SSE by least squares; "
    "full-batch gradient descent from zero on f = MSE/2 and on beta f over the grid 10^(k/4), 0.01 .. 1e4, counting "
    "iterations to f - f* <= 1e-4 f* (at most 10000); the divergence threshold of each by bisection, beside the "
    "closed form 2/(beta L) with L the largest eigenvalue of X'X/n.",
    source="seed 000, 'MSE (Mean squared error)': 'For training the model omitting the constant beta doesn't affect "
    "the convergence'",
    datasets=("diabetes",),
    references=(
        "Bishop, C. M. (2006). Pattern Recognition and Machine Learning, section 3.1.1-3.1.3 (beta and the "
        "sum-of-squares error; sequential learning).",
        "Nocedal, J. & Wright, S. J. (2006). Numerical Optimization, 2nd ed., section 3.3 (steepest descent on "
        "quadratics, the rate and the step length).",
        "Goh, G. (2017). Why Momentum Really Works. Distill (gradient descent on a quadratic diverges for step > "
        "2/lambda_max).",
    ),
    run=run,
)
