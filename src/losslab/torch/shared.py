"""Drop-in replacements for ``torch.nn``'s losses: torch's arguments, inputs, defaults and buffer names."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import torch
from torch import Tensor

from .. import losses as L
from .._types import Reduction
from .._validation import check_closed_unit, check_positive
from ..kernels import torch_fused
from ..losses._hard import check_at_least
from ..losses.smooth_regression import _check_beta
from ._base import _Classes, _Loss, _number, _per_element, _Plain, _rescaled

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
]

KLReduction: TypeAlias = Literal["mean", "batchmean", "sum"]


class MSELoss(_Plain):
    r"""Mean squared error, :math:`l = (x - y)^2`: ``torch.nn.MSELoss`` on :func:`losslab.mse`.

    ``target`` must have ``input``'s shape (torch broadcasts it, with a warning).
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.mse)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        # Straight to the fused kernel (what L.mse does first on tensors), one call layer less per step.
        out = torch_fused.mse(input, target, self.reduction, sample_weight)
        return self.fn(input, target, reduction=self.reduction, weight=sample_weight) if out is None else out


class L1Loss(_Plain):
    r"""Mean absolute error, :math:`l = |x - y|`: ``torch.nn.L1Loss`` on :func:`losslab.mae`.

    ``target`` must have ``input``'s shape. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.mae)


class HuberLoss(_Loss):
    r"""Huber loss, ``torch.nn.HuberLoss`` on :func:`losslab.huber` (the same values).

    .. math:: l = \tfrac12 r^2 \text{ if } |r| \le \delta \text{ else } \delta(|r| - \tfrac12\delta), \quad r = x - y

    ``delta`` must be positive. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.huber)

    def __init__(self, reduction: Reduction = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = _number(check_positive, "delta", delta)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, delta=self.delta, reduction=self.reduction, weight=sample_weight)


class SmoothL1Loss(_Loss):
    r"""Smooth L1 loss, ``torch.nn.SmoothL1Loss`` on :func:`losslab.smooth_l1` (the same values).

    .. math:: l = \tfrac12 r^2 / \beta \text{ if } |r| < \beta \text{ else } |r| - \tfrac12\beta, \quad r = x - y

    ``beta >= 0``; ``beta = 0`` is the absolute error (:class:`L1Loss`), as in torch. Differences:
    ``target`` must have ``input``'s shape (torch broadcasts it, with a warning); a negative ``beta``
    is refused at construction (torch refuses it at the call). ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.smooth_l1)

    def __init__(self, *, reduction: Reduction = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = _check_beta(beta)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, beta=self.beta, reduction=self.reduction, weight=sample_weight)


class GaussianNLLLoss(_Loss):
    r"""Gaussian NLL with predicted variance, ``torch.nn.GaussianNLLLoss`` on :func:`losslab.gaussian_nll`.

    .. math:: l = \tfrac12\big(\log v + (x - y)^2 / v\big)\ [+\ \tfrac12\log 2\pi \text{ if full}],
              \quad v = \max(\mathrm{var}, \mathrm{eps})

    ``forward(input, target, var, *, sample_weight=None)`` with torch's shapes: ``var`` of
    ``input``'s shape, or with one dimension 1, or without the last dimension, or a number; ``target``
    broadcast to ``input``'s shape. As in torch the clamp at ``eps`` passes the gradient through
    unchanged. A negative ``var`` is an error (from losslab; torch's says "var has negative entry").
    """

    fn = staticmethod(L.gaussian_nll)

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.full, self.eps = bool(full), float(eps)

    def forward(
        self, input: Tensor, target: Tensor, var: Tensor | float, *, sample_weight: Tensor | None = None
    ) -> Tensor:
        if not isinstance(var, Tensor):
            if var < 0:
                raise ValueError(f"`var` must be non-negative; got {var!r}")
            var = max(float(var), self.eps)
        else:
            if var.shape != input.shape:
                if var.shape == input.shape[:-1]:
                    var = var.unsqueeze(-1)
                elif (
                    var.ndim != input.ndim or sum(b for a, b in zip(input.shape, var.shape, strict=True) if a != b) != 1
                ):
                    raise ValueError(
                        f"`var` must have the input's shape {tuple(input.shape)}, or it with one dimension 1 "
                        f"or without the last; got {tuple(var.shape)}"
                    )
                var = var.expand_as(input)
            v = var.detach()  # clamp the value, pass the gradient straight through (torch's no_grad clamp_)
            var = var + (torch.where(v < 0, v, v.clamp(min=self.eps)) - v)
        if target.shape != input.shape:
            target = target.expand_as(input)
        return self.fn(input, target, var=var, full=self.full, reduction=self.reduction, weight=sample_weight)


class PoissonNLLLoss(_Loss):
    r"""Poisson NLL of counts, ``torch.nn.PoissonNLLLoss`` on :func:`losslab.poisson_nll`.

    .. math:: l = e^x - y x \ \text{(log\_input)}, \qquad l = x - y \log(x + \mathrm{eps}) \ \text{(rates)}
              \qquad [+ \log y! \text{ if full}]

    ``log_input=False`` calls the function on ``log(x + eps)`` and takes off the ``eps`` that adds:
    torch's value, and its gradient :math:`1 - y/(x + \mathrm{eps})`. Differences: ``full=True`` adds
    the exact :math:`\log\Gamma(y + 1)`, where torch adds Stirling's approximation for ``y > 1`` (0
    otherwise; 0.041 apart at ``y = 2``, about ``1/(12 y)`` above); the gradient is the same.
    Negative targets are an error (torch computes with them).
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.poisson_nll)

    def __init__(
        self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(reduction)
        self.log_input, self.full, self.eps = bool(log_input), bool(full), float(eps)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        if self.log_input:
            return self.fn(input, target, full=self.full, reduction=self.reduction, weight=sample_weight)
        eps, reduction = self.eps, self.reduction
        out = self.fn(torch.log(input + eps), target, full=self.full, reduction=reduction, weight=sample_weight)
        if reduction == "mean":
            return out - eps
        s = None if sample_weight is None else _per_element(sample_weight, input)
        if reduction == "sum":
            return out - eps * (input.numel() if s is None else s.sum())
        return out - (eps if s is None else eps * s)


class BCELoss(_Loss):
    r"""Binary cross-entropy on probabilities, ``torch.nn.BCELoss`` on :func:`losslab.binary_cross_entropy`.

    .. math:: l = -w\,\big(y \log x + (1 - y)\log(1 - x)\big)

    ``weight`` rescales each element and is broadcast against ``input`` (torch's semantics;
    ``"mean"`` divides by the number of elements). Differences: each log is floored at
    ``log(machine eps)`` (-36.04 in float64, -15.94 in float32) where torch clamps it at -100, so a
    certain miss costs 36.04 (float64) rather than 100 and its gradient is 0; ``weight`` must be
    non-negative. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.binary_cross_entropy)

    def __init__(self, weight: Tensor | None = None, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return _rescaled(self.fn, input, target, self.weight, sample_weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Binary cross-entropy on logits, ``torch.nn.BCEWithLogitsLoss`` on
    :func:`losslab.binary_cross_entropy_with_logits`.

    .. math:: l = -w\,\big(p\, y \log\sigma(x) + (1 - y)\log\sigma(-x)\big)

    ``weight`` rescales each element, broadcast against ``input``; ``pos_weight`` (:math:`p`) weighs
    the positive term and is broadcast as in torch (``(C,)`` along the last axis, ``(C, 1, 1)`` ...).
    losslab-only: ``label_smoothing`` (targets become ``(1 - a) y + a / 2``). Differences: ``weight``
    must be non-negative and ``pos_weight`` positive (torch takes any); infinite logits are an error.
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.binary_cross_entropy_with_logits)

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        reduction: Reduction = "mean",
        pos_weight: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.label_smoothing = _number(check_closed_unit, "label_smoothing", label_smoothing)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        pw = self.pos_weight
        if pw is not None and pw.ndim and pw.shape != input.shape and pw.shape != input.shape[-1:]:
            pw = pw.expand_as(input)
        if self.weight is None:  # straight to the fused kernel (what the function does first on tensors)
            out = torch_fused.binary_cross_entropy_with_logits(
                input, target, pw, self.label_smoothing, self.reduction, sample_weight
            )
            if out is not None:
                return out
        return _rescaled(
            self.fn, input, target, self.weight, sample_weight, self.reduction,
            pos_weight=pw, label_smoothing=self.label_smoothing,
        )  # fmt: skip


class CrossEntropyLoss(_Classes):
    r"""Softmax cross-entropy, ``torch.nn.CrossEntropyLoss`` on :func:`losslab.cross_entropy`.

    .. math:: l_i = w_{y_i}\big(\log\textstyle\sum_c e^{x_{ic}} - x_{i y_i}\big)

    torch's conventions: ``input`` ``(N, C)``, ``(C,)`` unbatched, or ``(N, C, d1, ...)`` (classes on
    axis 1); ``target`` class indices (the input's shape without the class axis) or class
    probabilities (the input's shape). ``weight`` holds class weights (``(C,)``): with indices
    ``"mean"`` divides by the summed weights of the targets' classes. ``ignore_index`` targets cost 0
    and leave the mean (with probability targets a negative one is not used, another is an error,
    as in torch); ``label_smoothing`` mixes the targets with the uniform distribution. Differences:
    when every target is ignored ``"mean"`` is an error (torch returns NaN); class indices need not
    be int64; class weights must be non-negative; half-precision logits give a float32 mean or sum
    (torch's is float16). ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.cross_entropy)

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = _number(check_closed_unit, "label_smoothing", label_smoothing)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        # Class indices go straight to the fused kernel (what the function does first on tensors).
        out = torch_fused.cross_entropy(
            input, target, 1 if input.ndim > 1 else 0, self.weight, self.ignore_index, self.label_smoothing,
            self.reduction, sample_weight,
        )  # fmt: skip
        if out is not None:
            return out
        return self.fn(
            input, target, label_smoothing=self.label_smoothing, weight=sample_weight,
            **self._class_options(input, target),
        )  # fmt: skip


class NLLLoss(_Classes):
    r"""Negative log-likelihood of class indices, ``torch.nn.NLLLoss`` on :func:`losslab.nll_loss`.

    .. math:: l_i = -w_{y_i}\, x_{i y_i}

    torch's conventions: ``input`` log-probabilities (a log-softmax's output) ``(N, C)``, ``(C,)``
    unbatched, or ``(N, C, d1, ...)`` (classes on axis 1); ``target`` class indices of the input's
    shape without the class axis. ``weight`` holds class weights (``(C,)``), and ``"mean"`` divides by
    the summed weights of the targets' classes; ``ignore_index`` targets cost 0 and leave the mean.
    Differences: ``input`` must hold log-probabilities (entries <= 0, ``exp`` of each row summing to 1,
    checked where losslab checks values), so raw logits, which torch turns into a meaningless (even
    negative) loss, are an error naming the row; a target class at ``-inf`` is an error (torch: inf);
    when every target is ignored ``"mean"`` is an error (torch: NaN); class weights must be
    non-negative. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.nll_loss)

    def __init__(
        self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(weight, ignore_index, reduction)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, weight=sample_weight, **self._class_options(input, target))


class MultiMarginLoss(_Loss):
    r"""Multiclass hinge loss, ``torch.nn.MultiMarginLoss`` on :func:`losslab.multiclass_hinge` (Weston-Watkins).

    .. math:: l_i = \frac{w_{y_i}}{C} \sum_{k \ne y_i} \max(0,\ m - x_{i y_i} + x_{ik})

    torch's conventions: ``input`` ``(N, C)`` or ``(C,)`` unbatched, ``target`` class indices ``(N,)``
    or ``()``; the sum over the wrong classes is divided by the number of classes C (as torch); ``weight``
    (``(C,)``, a buffer) rescales each sample by its target's class weight, and ``"mean"`` divides by N,
    not by the weights' sum (as torch; losslab's functions divide by the sum). Only ``p=1``: torch's
    ``p=2`` (squared violations) has no losslab counterpart, so it is refused; keep
    ``torch.nn.MultiMarginLoss`` for it. Differences: ``margin`` and the class weights must be
    non-negative; a target class at ``-inf``, NaN and ``+inf`` scores are errors (torch: inf or NaN);
    ``-inf`` at the other classes masks them (never a violation), as in torch.
    ``forward(input, target, *, sample_weight=None)``: with ``sample_weight``, ``"mean"`` divides by its sum.
    """

    fn = staticmethod(L.multiclass_hinge)

    def __init__(
        self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None, *, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(reduction)
        if p != 1:
            detail = (
                "p=2 (the squared violations) has no losslab counterpart (losslab.multiclass_hinge has none); "
                "use torch.nn.MultiMarginLoss for it"
                if p == 2
                else "torch takes p=1 or p=2 only"
            )
            raise ValueError(f"`p` must be 1 (the sum of margin violations); got {p!r}: {detail}")
        self.p = 1
        self.margin = check_at_least("margin", margin, 0.0, fix="margin = 0 is the multiclass perceptron loss")
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        w, reduction, s = self.weight, self.reduction, sample_weight
        kw: dict[str, Any] = {
            "margin": self.margin,
            "form": "weston_watkins",
            "axis": -1,
            "class_weight": w,
            "weight": s,
        }
        if w is None or reduction != "mean":
            return self.fn(input, target, reduction=reduction, **kw) / input.shape[-1]
        n = target.numel() if s is None else s.sum()  # torch's mean of rescaled samples: by N, not by sum(w_y)
        return self.fn(input, target, reduction="sum", **kw) / (input.shape[-1] * n)


class KLDivLoss(_Loss):
    r"""KL divergence on torch's inputs, ``torch.nn.KLDivLoss`` on :func:`losslab.kl_divergence_log`.

    .. math:: \textstyle\sum_c p_c\,(\log p_c - \log q_c) = \mathrm{KL}(p \,\|\, q)

    ``forward(input, target, *, sample_weight=None)`` as torch's: ``input`` the model's
    log-probabilities :math:`\log q`, ``target`` the reference :math:`p` (:math:`\log p` with
    ``log_target=True``), of ``input``'s shape, each distribution along ``axis`` (losslab-only; -1,
    the last). torch's reductions: ``"batchmean"`` (the summed KL divided by ``input.shape[0]``: the
    mean KL per sample for ``(N, C)``), ``"sum"``, and its default ``"mean"`` (divided by the number of
    elements, ``N C``: not a mean KL; torch warns at each call, this module does not; the values are
    torch's). ``"none"`` (torch's per-element terms) is refused: losslab's KL is per distribution; use
    ``"batchmean"`` or ``"sum"``. Differences: each row of ``input`` and ``target`` must be a
    (log-)distribution (checked where losslab checks values, the errors naming ``log_q`` for ``input``
    and ``log_p`` for ``target``; torch computes with anything); a ``-inf`` in a log-target contributes
    0 (torch: NaN); each row's KL is clamped at 0; no broadcasting of ``target``. ``sample_weight``: one
    per row (``input``'s shape without ``axis``) or per sample ``(N,)``; ``"batchmean"`` and ``"mean"``
    then divide by torch's count times the weights' mean (``sum(w KL) / sum(w)`` for ``(N, C)``).
    """

    fn = staticmethod(L.kl_divergence_log)
    reduction: KLReduction  # type: ignore[assignment]  # torch's "batchmean" besides losslab's

    def __init__(self, *, reduction: KLReduction = "mean", log_target: bool = False, axis: int = -1) -> None:
        super().__init__("sum")
        if reduction not in ("mean", "batchmean", "sum"):
            raise ValueError(
                f"`reduction` must be one of 'batchmean', 'sum' or 'mean'; got {reduction!r}"
                + (
                    ": torch's 'none' gives per-element terms, which losslab does not compute (its KL is per "
                    "distribution); use 'batchmean' (the mean KL per sample) or 'sum'"
                    if reduction == "none"
                    else ""
                )
            )
        self.reduction, self.log_target, self.axis = reduction, bool(log_target), int(axis)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        log_p = target if self.log_target else torch.log(target)
        out = self.fn(log_p, input, axis=self.axis, reduction="sum", weight=sample_weight)
        if self.reduction == "sum":
            return out
        n = input.shape[0] if self.reduction == "batchmean" else input.numel()
        return out / (n if sample_weight is None else n * sample_weight.mean())
