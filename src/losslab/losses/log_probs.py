"""Losses on log-probabilities: the negative log-likelihood of class indices, and KL divergence.

``nll_loss`` is ``torch.nn.functional.nll_loss``: the model's log-probabilities in (from a
log-softmax), ``-log p_y`` out, so ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``.
``kl_divergence_log`` is :func:`losslab.kl_divergence` with both distributions given as
log-probabilities (``torch.nn.functional.kl_div(..., log_target=True)``,
``optax.kl_divergence_with_log_targets``), which keeps probabilities far below the smallest
float. Both check that each row is a log-distribution (entries <= 0 and ``exp`` summing to 1) where
value checks run (see :mod:`losslab._checks`; a ``checkify`` check in "always" mode under a JAX
trace): raw logits passed by mistake are the commonest bug with these losses.
"""

from __future__ import annotations

import math
from typing import Any

from .._array import as_arrays, compute_dtype, is_concrete, moveaxis, numel, to_float
from .._checks import traced_check, wants_traced
from .._reduction import reduce, scale_grad
from .._types import Reduction
from .._validation import (
    check_axis,
    check_same_shape,
    finalize,
    nonfinite_error,
    position,
    row_sum_tolerance,
    value_at,
)
from ..kernels import subtract_at
from ._common import quiet
from ._hard import class_diagnosis, drop_ignored, hard_classes, target_weight
from .categorical import _coefficients, _row
from .information import _coef, _nonnegative

__all__ = ["kl_divergence_log", "kl_divergence_log_grad", "nll_loss", "nll_loss_grad"]

_NLL_FIX = "pass raw logits to losslab.cross_entropy instead, or normalise them with a log-softmax"
_KL_FIX = "normalise with a log-softmax (losslab.distillation_loss takes logits)"


def log_row_tolerance(xp, dtype, num_classes: int) -> float:
    """How far ``sum(exp(row))`` may be from 1: the probability rows' tolerance, or the rounding of
    log-probabilities once stored in bfloat16, ``log(C) 2^-8`` (rounding each entry by 2^-9 relative
    moves the sum by up to ``H(p) 2^-9 <= log(C) 2^-9``), whichever is larger. Wherever the values went
    since (a bfloat16 log-softmax cast to float64), they pass; unnormalised logits do not."""
    return max(row_sum_tolerance(xp, dtype, num_classes), math.log(max(num_classes, 2)) * 2.0**-8)


def check_log_probs(xp, name: str, lp, keep, out_dtype, layout, fix: str) -> None:
    """Rows (class axis last) of log-probabilities: entries <= 0 (-inf allowed) whose ``exp`` sums to 1.

    Within :func:`log_row_tolerance`; rows where ``keep`` is False (ignored targets) may hold
    anything. Skipped where value checks are (see :mod:`losslab._checks`).
    """
    readable = is_concrete(lp)
    if numel(lp) == 0 or not (readable or wants_traced(lp)):
        return
    tol = log_row_tolerance(xp, out_dtype, lp.shape[-1])
    sums, top = xp.sum(xp.exp(lp), axis=-1), xp.max(lp, axis=-1)
    ok = (xp.abs(sums - 1.0) <= tol) & (top <= tol)  # NaN fails both
    if keep is not None:
        ok = ok | ~keep
    if not readable:  # "always" mode inside a JAX trace
        traced_check(xp, ok, f"`{name}` must hold log-probabilities: <= 0, exp summing to 1 (within {tol:.1g})")
        return
    all_ok = xp.all(ok)
    if not is_concrete(all_ok) or bool(all_ok):  # a concrete array closed over by a jitted function
        return
    bad = xp.isnan(lp) | (lp == math.inf)
    if keep is not None:
        bad = bad & xp.expand_dims(keep, axis=-1)
    err = nonfinite_error(xp, name, layout(xp.where(bad, lp, xp.zeros_like(lp)))) if bool(xp.any(bad)) else None
    if err is not None:
        raise err
    pos = position(xp, ~ok)
    if value_at(top, pos) > tol:
        raise ValueError(f"`{name}` must hold log-probabilities (<= 0); {_row(pos)} has {value_at(top, pos)!r}: {fix}")
    raise ValueError(
        f"`{name}` must hold log-probabilities: exp({name}) of {_row(pos)} sums to {value_at(sums, pos)!r}, "
        f"not 1 (within {tol:.1g}); {fix}"
    )


# ---------------------------------------------------------------------- NLL
#   l = -w_y lp_y                   dl/dlp = -w_y onehot(y)
@quiet
def _nll(log_probs, target, axis, class_weight, ignore_index, reduction, weight, grad):
    K = hard_classes(log_probs, target, weight, class_weight, ignore_index, axis, loss="negative log-likelihood",
                     fix="use losslab.kl_divergence_log for log-probability targets",
                     names=("log_probs", "target"))  # fmt: skip
    xp = K.xp
    keep = None if K.mask is None else K.mask > 0
    check_log_probs(xp, "log_probs", K.z, keep, K.out_dtype, K.caller_layout, _NLL_FIX)
    c = _coefficients(K, reduction, K.weight)
    wy = target_weight(K)
    lpy = K.picked(K.z)

    def diagnose():
        return class_diagnosis(K, "negative log-likelihood", what="log-probability", arg="log_probs")

    if grad:
        finalize(xp, drop_ignored(K, lpy), diagnose)  # a target at -inf: infinite loss, so no gradient either
        g = subtract_at(xp, xp.zeros_like(K.z), K.target, 1.0 if wy is None else wy)
        g = scale_grad(xp, drop_ignored(K, g, expand=True), c, K.out_dtype, axis=-1, inplace=True)
        return moveaxis(xp, g, -1, K.axis)
    l = 0.0 - lpy  # +0.0 (not -0.0) for a certain target
    if wy is not None:
        l = wy * l
    return finalize(xp, reduce(xp, drop_ignored(K, l), c, reduction, K.out_dtype), diagnose)


def nll_loss(
    log_probs: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Negative log-likelihood of class indices from log-probabilities, :math:`l_i = -w_{y_i} \log p_{i y_i}`.

    ``torch.nn.functional.nll_loss`` with losslab's conventions: the input is log-probabilities (a
    log-softmax's output; ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``), checked where value
    checks run (entries <= 0, ``exp`` of each row summing to 1), so raw logits, which torch accepts and
    silently turns into a meaningless (even negative) loss, are an error naming the row.

    Parameters
    ----------
    log_probs : array (..., C, ...), classes along ``axis`` (``axis=1`` for torch's (N, C, d1, ...))
    target : integer class indices of the input's shape without ``axis``
    class_weight : array (C,), optional
        torch's ``weight``: sample ``i`` counts ``class_weight[y_i]``, and ``"mean"`` divides by the
        summed weights of the targets' classes, as torch.
    ignore_index : int, optional
        Targets equal to it contribute exactly 0 (whatever their rows hold) and leave the mean's
        denominator. The default is None, torch's is -100.
    reduction, weight
        See :func:`losslab.mse`; ``weight`` is per sample, losslab's own.

    A target class at ``-inf`` (probability 0) has an infinite loss and is an error, for the
    gradient too. Half precision accumulates in float32.

    References: Bishop (2006), PRML, sec. 4.3.4.

    >>> import numpy as np
    >>> lp = np.array([[np.log(0.5), np.log(0.25), np.log(0.25)], [np.log(0.1), np.log(0.9), -np.inf]])
    >>> nll_loss(lp, np.array([0, 1]), reduction="none").round(4).tolist()
    [0.6931, 0.1054]
    """
    return _nll(log_probs, target, axis, class_weight, ignore_index, reduction, weight, False)


def nll_loss_grad(
    log_probs: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`nll_loss` w.r.t. the log-probabilities: :math:`-w_y\,e_y` per sample, times the
    reduction's coefficient (the unconstrained partial derivatives, as autograd's; ignored samples get 0).

    >>> import numpy as np
    >>> nll_loss_grad(np.log(np.full((2, 2), 0.5)), np.array([0, 1])).tolist()
    [[-0.5, 0.0], [0.0, -0.5]]
    """
    return _nll(log_probs, target, axis, class_weight, ignore_index, reduction, weight, True)


# ----------------------------------------------------------------------- KL
#   KL(p || q) = sum_c p_c (lp_c - lq_c),  p = exp(lp)         dKL/dlp_c = p_c (lp_c - lq_c + 1)
#   p_c = 0 (lp_c = -inf) contributes 0; p_c > 0 = q_c (lq_c = -inf) makes it +inf
def _log_distributions(log_p, log_q, axis, weight):
    xp, a, b, weight = as_arrays(log_p, log_q, weight, names=("log_p", "log_q", "weight"), required=2)
    a = to_float(xp, a, "log_p")
    out_dtype = a.dtype
    cdt = compute_dtype(xp, out_dtype)
    if a.ndim == 0:
        raise ValueError("`log_p` must have a class axis; got a 0-d array")
    axis = check_axis(axis, a.ndim, "log_p")
    out = []
    for x, name in ((a, "log_p"), (to_float(xp, b, "log_q"), "log_q")):
        check_same_shape("log_p", a, name, x)
        x = moveaxis(xp, x, axis, -1)
        x = xp.astype(x, cdt) if x.dtype != cdt else x
        check_log_probs(xp, name, x, None, out_dtype, lambda v: moveaxis(xp, v, -1, axis), _KL_FIX)
        out.append(x)
    return xp, out[0], out[1], weight, out_dtype


@quiet
def _kl_log(log_p, log_q, axis, reduction, weight, grad):
    xp, a, b, w, out_dtype = _log_distributions(log_p, log_q, axis, weight)
    # Double `where`s: the -inf entries never reach exp, a subtraction or autograd.
    pos, qzero = a > -math.inf, b == -math.inf
    a0 = xp.where(pos, a, xp.zeros_like(a))
    b0 = xp.where(qzero, xp.zeros_like(b), b)
    p, inf = xp.exp(a0), xp.full_like(a, math.inf)
    c = _coef(xp, tuple(a.shape[:-1]), reduction, w, a.dtype)
    if grad:
        g = xp.where(pos, xp.where(qzero, inf, p * ((a0 - b0) + 1.0)), xp.zeros_like(a))
        return moveaxis(xp, scale_grad(xp, g, c, out_dtype, axis=-1), -1, axis)
    terms = xp.where(pos, xp.where(qzero, inf, p * (a0 - b0)), xp.zeros_like(a))
    return reduce(xp, _nonnegative(xp, xp.sum(terms, axis=-1)), c, reduction, out_dtype)


def kl_divergence_log(
    log_p: Any, log_q: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""KL divergence :math:`\mathrm{KL}(p\,\|\,q) = \sum_c p_c(\log p_c - \log q_c)` from log-probabilities.

    :func:`losslab.kl_divergence` with both distributions in log space:
    ``kl_divergence_log(log(p), log(q)) == kl_divergence(p, q)``, in the same (mathematical) order,
    ``p`` the reference, ``q`` the model. Probabilities below the smallest float keep their digits.
    The peers take the model first: ``torch.nn.functional.kl_div(log_q, log_p, log_target=True,
    reduction="batchmean")`` is this with ``reduction="mean"`` over samples (torch's ``"mean"``
    divides by samples x classes), and ``optax.kl_divergence_with_log_targets(log_q, log_p)`` is
    ``reduction="none"``.

    :math:`0 \log(0/q) = 0`: a ``-inf`` in ``log_p`` contributes 0 (torch and optax give NaN there,
    from ``0 * -inf``); where :math:`p_c > 0` and ``log_q`` is ``-inf`` the divergence is ``inf``,
    returned as such. Each row must be a log-distribution (entries <= 0, ``exp`` summing to 1),
    checked where value checks run. The result is clamped at 0 per sample (rounding can give -1e-17).

    >>> import numpy as np
    >>> round(float(kl_divergence_log(np.log([0.5, 0.5]), np.log([0.9, 0.1]))), 6)
    0.510826
    """
    return _kl_log(log_p, log_q, axis, reduction, weight, False)


def kl_divergence_log_grad(
    log_p: Any, log_q: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`kl_divergence_log` w.r.t. ``log_p``: :math:`p\,(\log p - \log q + 1)`.

    0 where ``log_p`` is ``-inf``; ``+inf`` where :math:`p_c > 0` and ``log_q`` is ``-inf``. (The
    gradient w.r.t. ``log_q``, the model's, is :math:`-p`.)

    >>> import numpy as np
    >>> kl_divergence_log_grad(np.log([0.5, 0.5]), np.log([0.5, 0.5])).tolist()
    [0.5, 0.5]
    """
    return _kl_log(log_p, log_q, axis, reduction, weight, True)
