"""Entropy, KL divergence, the decomposition CE = H + KL, and distillation.

All take distributions along ``axis`` and reduce over the remaining (batch)
axes with the usual ``reduction``/``weight``. For a single distribution the
batch is empty and ``"mean"`` returns its value.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .._array import as_arrays, compute_dtype, is_concrete, log_softmax, logsumexp, moveaxis, softmax, to_float
from .._checks import wants_traced
from .._options import closed_unit, in_namespace, positive
from .._reduction import coefficients, prepare_weight, reduce, scale_grad
from .._types import Array, Reduction
from .._validation import (
    check_axis,
    check_range,
    check_row_sums,
    check_same_shape,
    finalize,
    first_error,
    fmt,
    nonfinite_error,
    overflow_error,
    position,
    row_sum_tolerance,
)
from ._classes import _row
from ._common import quiet
from .categorical import Classes

__all__ = [
    "Decomposition",
    "cross_entropy_decomposition",
    "distillation_loss",
    "distillation_loss_grad",
    "entropy",
    "entropy_grad",
    "kl_divergence",
    "kl_divergence_grad",
]


def _distributions(arrays, names, axis, weight):
    """Check probability arrays (same shape, entries in [0, 1], rows summing to 1).

    Returns the namespace, the arrays with the class axis moved last, the
    weight (in the namespace) and the output dtype.
    """
    xp, *arrays, weight = as_arrays(*arrays, weight, names=(*names, "weight"), required=len(arrays))
    first = to_float(xp, arrays[0], names[0])
    out_dtype = first.dtype
    cdt = compute_dtype(xp, out_dtype)
    if first.ndim == 0:
        raise ValueError(f"`{names[0]}` must have a class axis; got a 0-d array")
    axis = check_axis(axis, first.ndim, names[0])
    out = []
    for a, name in zip(arrays, names, strict=True):
        a = to_float(xp, a, name)
        check_same_shape(names[0], first, name, a)
        a = moveaxis(xp, a, axis, -1)
        a = xp.astype(a, cdt) if a.dtype != cdt else a
        check_range(xp, name, a, 0.0, 1.0)
        check_row_sums(xp, name, xp.sum(a, axis=-1), row_sum_tolerance(xp, out_dtype, a.shape[-1]))
        out.append(a)
    return xp, out, weight, out_dtype


def _coef(xp, batch, reduction, weight, dtype):
    return coefficients(xp, batch, reduction, prepare_weight(xp, weight, batch, dtype))


def _nonnegative(xp, kl):
    """KL >= 0 (Gibbs); a sum of cancelling p (log p - log q) terms can round to -1e-17.

    Clamped per sample, so "KL(p || p) = 0" and "KL >= 0" hold exactly; NaN passes.
    """
    return xp.where(kl < 0, xp.zeros_like(kl), kl)


def _xlogx(xp, x):
    """x log x with 0 log 0 = 0, for x in [0, 1] (checked by the caller).

    Written with the "double where" so that autograd (PyTorch, JAX) sees no NaN
    from the branch that is not taken: its gradient is log x + 1 for x > 0, 0 at 0.
    """
    pos = x > 0
    return xp.where(pos, x * xp.log(xp.where(pos, x, xp.ones_like(x))), xp.zeros_like(x))


def _log0(xp, x):
    """log(x) with log(0) = -inf, without evaluating log(0) (no divide-by-zero warning)."""
    pos = x > 0
    return xp.where(pos, xp.log(xp.where(pos, x, xp.ones_like(x))), xp.full_like(x, -math.inf))


# ------------------------------------------------------------------ entropy
#   H(p) = -sum_c p_c log p_c   (0 log 0 = 0)          dH/dp_c = -(log p_c + 1)
def entropy(p: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Shannon entropy in nats, :math:`H(p) = -\sum_c p_c \log p_c`, with :math:`0 \log 0 = 0`.

    ``p`` holds distributions along ``axis`` (entries in [0, 1], summing to 1).
    Matches ``scipy.stats.entropy`` (which renormalises instead of checking).

    References: Cover & Thomas (2006), Elements of Information Theory, ch. 2.

    >>> import numpy as np
    >>> round(float(entropy(np.array([0.5, 0.5, 0.0]))), 6)  # log 2
    0.693147
    """
    xp, (q,), w, out_dtype = _distributions((p,), ("p",), axis, weight)
    values = -xp.sum(_xlogx(xp, q), axis=-1)
    return reduce(xp, values, _coef(xp, tuple(q.shape[:-1]), reduction, w, q.dtype), reduction, out_dtype)


def entropy_grad(p: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`entropy` w.r.t. ``p`` (unconstrained): :math:`-(\log p + 1)`.

    It is :math:`+\infty` where :math:`p_c = 0` (the entropy's slope at the
    simplex boundary), returned as such.

    >>> import numpy as np
    >>> entropy_grad(np.array([1.0, 0.0])).tolist()
    [-1.0, inf]
    """
    xp, (q,), w, out_dtype = _distributions((p,), ("p",), axis, weight)
    safe = xp.where(q > 0, q, xp.ones_like(q))
    g = xp.where(q > 0, -(xp.log(safe) + 1.0), xp.full_like(q, math.inf))
    c = _coef(xp, tuple(q.shape[:-1]), reduction, w, q.dtype)
    g = scale_grad(xp, g, c, out_dtype, axis=-1)
    return moveaxis(xp, g, -1, axis)


# ------------------------------------------------------------------------ KL
#   KL(p || q) = sum_c p_c (log p_c - log q_c)         dKL/dp_c = log p_c - log q_c + 1
def kl_divergence(p: Any, q: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q) = \sum_c p_c \log(p_c / q_c)`.

    The mathematical argument order: ``p`` is the reference ("true")
    distribution, ``q`` the model. (``torch.nn.functional.kl_div(input,
    target)`` takes log q first and computes KL(target || input).)
    :math:`0 \log(0/q) = 0`; where :math:`p_c > 0 = q_c` the divergence is
    :math:`+\infty` and is returned as ``inf``, which is its value.

    >>> import numpy as np
    >>> round(float(kl_divergence(np.array([0.5, 0.5]), np.array([0.9, 0.1]))), 6)
    0.510826
    """
    xp, (a, b), w, out_dtype = _distributions((p, q), ("p", "q"), axis, weight)
    # 0 log(0/q) = 0 for every q; p log(p/0) = +inf for p > 0 (log(0) is never evaluated).
    pos = a > 0
    log_ratio = xp.where(pos, xp.log(xp.where(pos, a, xp.ones_like(a))) - _log0(xp, b), xp.zeros_like(a))
    values = _nonnegative(xp, xp.sum(a * log_ratio, axis=-1))
    return reduce(xp, values, _coef(xp, tuple(a.shape[:-1]), reduction, w, a.dtype), reduction, out_dtype)


def kl_divergence_grad(p: Any, q: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`kl_divergence` w.r.t. ``p``: :math:`\log p - \log q + 1`.

    :math:`-\infty` where :math:`p_c = 0 < q_c`, :math:`+\infty` where :math:`q_c = 0`.

    >>> import numpy as np
    >>> kl_divergence_grad(np.array([0.5, 0.5]), np.array([0.5, 0.5])).tolist()
    [1.0, 1.0]
    """
    xp, (a, b), w, out_dtype = _distributions((p, q), ("p", "q"), axis, weight)
    # q_c = 0 gives +inf whatever p_c is (-inf - -inf would be NaN where p_c = 0 too).
    qpos = b > 0
    g = xp.where(qpos, _log0(xp, a) - xp.where(qpos, _log0(xp, b), xp.zeros_like(b)) + 1.0, xp.full_like(a, math.inf))
    c = _coef(xp, tuple(a.shape[:-1]), reduction, w, a.dtype)
    return moveaxis(xp, scale_grad(xp, g, c, out_dtype, axis=-1), -1, axis)


# ------------------------------------------------------------- decomposition
class Decomposition(NamedTuple):
    """Cross-entropy split into the target's entropy and the KL divergence (nats).

    >>> Decomposition(entropy=0.5, kl=0.25, cross_entropy=0.75).kl
    0.25
    """

    entropy: Any
    kl: Any
    cross_entropy: Any


@quiet
def cross_entropy_decomposition(
    target_probs: Any, logits: Any, *, axis: int = -1, reduction: Reduction = "mean", weight: Any = None
) -> Decomposition:
    r"""Split :math:`H(p, q) = H(p) + \mathrm{KL}(p\,\|\,q)` with :math:`q = \mathrm{softmax}(z)`.

    The one function whose target comes first: the arguments follow the
    mathematics, :math:`H(p, q)`, as :func:`kl_divergence` does (``p`` the
    target distribution, then the model's logits).

    The three terms are computed independently (none by subtracting the
    others), so ``cross_entropy == entropy + kl`` holds to rounding and is a
    real check. Because :math:`H(p)` does not depend on the model, minimising
    cross-entropy over the model is minimising the KL divergence.

    >>> import numpy as np
    >>> d = cross_entropy_decomposition(np.array([0.7, 0.2, 0.1]), np.array([1.0, 0.0, -1.0]))
    >>> round(float(d.cross_entropy), 6), round(float(d.entropy + d.kl), 6)
    (0.807606, 0.807606)
    """
    xp, z0, t0 = as_arrays(logits, target_probs, names=("logits", "target_probs"), required=2)
    if t0 is not None and xp.isdtype(t0.dtype, ("integral", "bool")) and tuple(t0.shape) == tuple(z0.shape):
        target_probs = xp.astype(t0, compute_dtype(xp, to_float(xp, z0, "logits").dtype))  # integer one-hot rows
    K = Classes(logits, target_probs, weight, axis=axis, names=("logits", "target_probs"))
    xp, p = K.xp, K.target
    if K.hard:
        raise TypeError(
            "`target_probs` must hold class probabilities of the logits' shape, not class indices; "
            "convert indices with losslab.smooth_labels(target, num_classes, 0.0)"
        )
    check_row_sums(xp, "target_probs", xp.sum(p, axis=-1), row_sum_tolerance(xp, K.out_dtype, K.C))
    logq = log_softmax(xp, K.z, axis=-1)
    pos = p > 0
    safe_logq = xp.where(pos, logq, xp.zeros_like(logq))
    ce = -xp.sum(xp.where(pos, p * safe_logq, xp.zeros_like(p)), axis=-1)
    h = -xp.sum(_xlogx(xp, p), axis=-1)
    safe_p = xp.where(pos, p, xp.ones_like(p))
    kl = _nonnegative(xp, xp.sum(xp.where(pos, p * (xp.log(safe_p) - safe_logq), xp.zeros_like(p)), axis=-1))
    c = _coef(xp, tuple(K.z.shape[:-1]), reduction, K.weight, K.z.dtype)
    terms = [reduce(xp, v, c, reduction, K.out_dtype) for v in (h, kl, ce)]
    terms = [finalize(xp, t, lambda: K.diagnose()) for t in terms]
    return Decomposition(*terms)


# ---------------------------------------------------------------- distillation
#   p = softmax(teacher / T), q = softmax(student / T)
#   l = a T^2 KL(p || q) + (1 - a) CE(student, y)
#   dl/dstudent = a T (q - p) + (1 - a)(softmax(student) - onehot(y))
@quiet
def _distill(student, teacher, temperature, target, alpha, axis, reduction, weight, grad):
    T = positive("temperature", temperature)
    alpha = closed_unit("alpha", alpha)
    # An array alpha keeps the hard term (weighed by 1 - alpha, so 0 at alpha = 1): no branch on its value.
    hard = target is not None and (not isinstance(alpha, float) or alpha < 1.0)
    if target is None:
        alpha = 1.0  # only the soft term
    K = Classes(
        student, target if hard else None, weight, axis=axis, names=("student_logits", "target"), target_optional=True
    )
    xp, s = K.xp, K.z
    if hard and not K.hard:
        raise TypeError(
            f"`target` must hold integer class indices of shape {tuple(s.shape[:-1])}; got dtype "
            f"{K.target.dtype}; the soft targets are the teacher's, from `teacher_logits`"
        )
    _, _, t = as_arrays(s, teacher, names=("student_logits", "teacher_logits"), required=2)
    t = to_float(xp, t, "teacher_logits")
    check_same_shape("student_logits", moveaxis(xp, s, -1, K.axis), "teacher_logits", t)
    t = xp.astype(moveaxis(xp, t, K.axis, -1), s.dtype)
    T, alpha = in_namespace(xp, T, s, "temperature"), in_namespace(xp, alpha, s, "alpha")
    log_q = log_softmax(xp, s / T, axis=-1)
    log_p = log_softmax(xp, t / T, axis=-1)
    p = xp.exp(log_p)
    c = _coef(xp, tuple(s.shape[:-1]), reduction, K.weight, s.dtype)

    def masked():
        """-inf logits mask classes; the loss is infinite where the student masks a class that is needed."""
        for name, x in (("teacher_logits", t), ("student_logits", s)):
            all_neg = xp.all(x == -math.inf, axis=-1)
            if bool(xp.any(all_neg)):
                pos = position(xp, all_neg)
                return ValueError(f"{_row(pos)} of `{name}` is -inf for every class; no distribution remains")
        hit = (s == -math.inf) & (p > 0)
        if bool(xp.any(hit)):
            pos = position(xp, K.caller_layout(hit))
            return ValueError(
                f"`student_logits` is -inf at index {fmt(pos)} where the teacher's probability is positive, so "
                f"the KL term is infinite; mask the same classes in `teacher_logits` (-inf there too)"
            )
        if hard:
            hit = K.picked(s) == -math.inf
            if bool(xp.any(hit)):
                pos = position(xp, hit)
                return ValueError(
                    f"the target class {int(K.target[pos])} of {_row(pos, 'sample')} has student logit -inf "
                    f"(probability 0), so its cross-entropy is infinite; unmask the target class"
                )
        return None

    def diagnose():
        return first_error(
            lambda: nonfinite_error(xp, "student_logits", K.caller_layout(s), allow_neg_inf=True),
            lambda: nonfinite_error(xp, "teacher_logits", K.caller_layout(t), allow_neg_inf=True),
            masked,
            lambda: overflow_error("distillation loss", K.out_dtype),
        )

    # The loss itself, on both paths: the gradient is only returned where the loss is finite, so
    # that it raises exactly where the loss does (a student logit of -inf where the teacher puts
    # probability has a finite ``q - p`` but an infinite loss; T**2 can overflow where T (q - p) does not).
    if not grad or is_concrete(s, t) or wants_traced(s):
        # p == 0 (not p > 0) selects the 0 log 0 terms, so a NaN from a non-finite teacher propagates
        kl = _nonnegative(xp, xp.sum(xp.where(p == 0, xp.zeros_like(p), p * (log_p - log_q)), axis=-1))
        values = alpha * T * T * kl
        if hard:
            values = values + (1.0 - alpha) * (logsumexp(xp, s, axis=-1) - K.picked(s))
        loss = finalize(xp, reduce(xp, values, c, reduction, K.out_dtype), diagnose)
        if not grad:
            return loss
    g = alpha * T * (xp.exp(log_q) - p)
    if hard:
        g = g + (1.0 - alpha) * (softmax(xp, s, axis=-1) - K.onehot())
    g = scale_grad(xp, g, c, K.out_dtype, axis=-1)
    return finalize(xp, moveaxis(xp, g, -1, K.axis), diagnose, traced="gradient")


def distillation_loss(
    student_logits: Any,
    teacher_logits: Any,
    *,
    temperature: float | Array = 2.0,
    target: Any = None,
    alpha: float | Array = 0.5,
    axis: int = -1,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Knowledge distillation (Hinton, Vinyals & Dean 2015).

    .. math:: l = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T)\big)
              + (1 - \alpha)\,\mathrm{CE}(s, y)

    ``temperature`` (positive) and ``alpha`` (in [0, 1]) are numbers or 0-d
    arrays of the logits' library: a learned temperature (``jax.grad``, torch
    autograd) or a jitted schedule; an array is checked when its value is
    readable, and an array ``alpha`` always keeps the hard term, weighed by
    ``1 - alpha`` (at ``alpha = 1`` that is 0 times a finite cross-entropy).

    The :math:`T^2` keeps the soft term's gradient on the scale of the hard
    term's as ``T`` grows. Without ``target`` the loss is the soft term alone
    (``alpha`` is then not applied). With ``target`` (integer class indices)
    ``alpha`` weighs the soft term and ``1 - alpha`` the hard-label
    cross-entropy at temperature 1. As :math:`T \to \infty` the soft term's
    gradient tends to that of ``mse`` on mean-centred logits divided by the
    number of classes (Hinton et al., sec. 2.1): MSE on logits is that limit,
    not the same loss.

    >>> import numpy as np
    >>> s, t = np.array([[1.0, 0.0, -1.0]]), np.array([[2.0, 0.0, -2.0]])
    >>> round(float(distillation_loss(s, t, temperature=1.0)), 6)
    0.115611
    """
    return _distill(student_logits, teacher_logits, temperature, target, alpha, axis, reduction, weight, False)


def distillation_loss_grad(
    student_logits: Any,
    teacher_logits: Any,
    *,
    temperature: float | Array = 2.0,
    target: Any = None,
    alpha: float | Array = 0.5,
    axis: int = -1,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`distillation_loss` w.r.t. the student's logits.

    :math:`\alpha T\,(q_T - p_T) + (1 - \alpha)(\mathrm{softmax}(s) - \mathrm{onehot}(y))`.

    >>> import numpy as np
    >>> distillation_loss_grad(np.array([[0.0, 0.0]]), np.array([[0.0, 0.0]])).tolist()
    [[0.0, 0.0]]
    """
    return _distill(student_logits, teacher_logits, temperature, target, alpha, axis, reduction, weight, True)
