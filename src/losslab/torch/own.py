"""Modules for losslab's own losses (no ``torch.nn`` counterpart): options keep losslab's names."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .. import losses as L
from .._types import Reduction
from .._validation import check_closed_unit, check_int, check_positive
from ..losses._hard import check_at_least
from ..losses.focal import _check_alpha, _check_gamma
from ..losses.linear import _check_chunk_rows
from ..losses.margin import Form, _check_form
from ..losses.poly import _check_epsilon
from ._base import _Classes, _Loss, _number, _Plain

__all__ = [
    "BrierScore",
    "DistillationLoss",
    "FocalLoss",
    "GeneralizedCrossEntropyLoss",
    "HingeLoss",
    "KLDivergence",
    "LaplaceNLLLoss",
    "LogCoshLoss",
    "LogLoss",
    "MulticlassHingeLoss",
    "PinballLoss",
    "Poly1CrossEntropyLoss",
    "SigmoidFocalLoss",
    "SquaredHingeLoss",
]


class PinballLoss(_Loss):
    r"""Pinball (quantile) loss, :func:`losslab.pinball`: :math:`l = \max(q(y - x), (q - 1)(y - x))`.

    ``quantile`` in (0, 1), or a sequence of K of them (then ``input`` has a trailing axis of K).
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.pinball)

    def __init__(self, *, quantile: Any = 0.5, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.quantile = quantile

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, quantile=self.quantile, reduction=self.reduction, weight=sample_weight)


class LaplaceNLLLoss(_Loss):
    r"""Laplace NLL, :func:`losslab.laplace_nll`: :math:`l = \log b + |y - x| / b\ [+ \log 2 \text{ if full}]`.

    ``scale`` (b): a positive number, or a tensor of ``input``'s shape (a buffer). ``forward(input,
    target, scale=None, *, sample_weight=None)``: a ``scale`` given there (a learned one) replaces it.
    """

    fn = staticmethod(L.laplace_nll)

    def __init__(self, *, scale: float | Tensor = 1.0, full: bool = False, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        if isinstance(scale, Tensor):
            self.register_buffer("scale", scale)
        else:
            self.scale = check_positive("scale", scale)
        self.full = bool(full)

    def forward(
        self, input: Tensor, target: Tensor, scale: Tensor | float | None = None, *, sample_weight: Tensor | None = None
    ) -> Tensor:
        scale = self.scale if scale is None else scale
        return self.fn(input, target, scale=scale, full=self.full, reduction=self.reduction, weight=sample_weight)


class GeneralizedCrossEntropyLoss(_Loss):
    r"""Generalized cross-entropy (Zhang & Sabuncu 2018), :func:`losslab.generalized_cross_entropy`.

    .. math:: l_i = \big(1 - \mathrm{softmax}(x_i)_{y_i}^{\,q}\big) / q

    robust to noisy labels; ``q -> 0`` is cross-entropy, ``q = 1`` is :math:`1 - p_y`. Its options
    keep losslab's names and defaults: ``class_weight`` (a buffer), ``ignore_index=None``, and
    ``axis=-1`` (pass ``axis=1`` for ``(N, C, d1, ...)``). ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.generalized_cross_entropy)

    def __init__(
        self,
        *,
        q: float = 0.7,
        axis: int = -1,
        class_weight: Tensor | None = None,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.q, self.axis, self.ignore_index = q, int(axis), ignore_index
        self.register_buffer("class_weight", class_weight)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(
            input, target, q=self.q, axis=self.axis, class_weight=self.class_weight,
            ignore_index=self.ignore_index, reduction=self.reduction, weight=sample_weight,
        )  # fmt: skip


class _Scored(_Loss):
    """A scoring rule on probabilities, with scikit-learn's ``labels``."""

    def __init__(self, *, labels: Any = None, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.labels = labels

    def forward(self, probs: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(probs, target, labels=self.labels, reduction=self.reduction, weight=sample_weight)


class LogLoss(_Scored):
    r"""Log loss on probabilities, :func:`losslab.log_loss`: :math:`l_i = -\log \max(p_{i y_i}, \mathrm{eps})`.

    ``labels``: the label value of each column (scikit-learn's). ``forward(probs, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.log_loss)


class BrierScore(_Scored):
    r"""Brier score, :func:`losslab.brier_score`: :math:`l_i = \sum_c (p_{ic} - [y_i = c])^2`.

    ``labels`` as in :class:`LogLoss`. ``forward(probs, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.brier_score)


class KLDivergence(_Loss):
    r"""KL divergence of two distributions, :func:`losslab.kl_divergence`: :math:`\sum_c p_c \log(p_c / q_c)`.

    Probabilities in, ``p`` first (``torch.nn.KLDivLoss`` takes ``log q`` first: not this).
    ``forward(p, q, *, sample_weight=None)``.
    """

    fn = staticmethod(L.kl_divergence)

    def __init__(self, *, axis: int = -1, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.axis = int(axis)

    def forward(self, p: Tensor, q: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(p, q, axis=self.axis, reduction=self.reduction, weight=sample_weight)


class DistillationLoss(_Loss):
    r"""Knowledge distillation (Hinton et al. 2015), :func:`losslab.distillation_loss`.

    .. math:: l = \alpha T^2\,\mathrm{KL}(\mathrm{softmax}(t/T) \,\|\, \mathrm{softmax}(s/T))
              + (1 - \alpha)\,\mathrm{CE}(s, y)

    ``forward(student_logits, teacher_logits, target=None, *, sample_weight=None)``: without hard
    labels ``target`` the loss is the soft term alone (``alpha`` unused).
    """

    fn = staticmethod(L.distillation_loss)

    def __init__(
        self, *, temperature: float = 2.0, alpha: float = 0.5, axis: int = -1, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(reduction)
        self.temperature = _number(check_positive, "temperature", temperature)
        self.alpha = _number(check_closed_unit, "alpha", alpha)
        self.axis = int(axis)

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        target: Tensor | None = None,
        *,
        sample_weight: Tensor | None = None,
    ) -> Tensor:
        return self.fn(
            student_logits, teacher_logits, temperature=self.temperature, target=target, alpha=self.alpha,
            axis=self.axis, reduction=self.reduction, weight=sample_weight,
        )  # fmt: skip


class LogCoshLoss(_Plain):
    r"""Log-cosh loss, :func:`losslab.log_cosh`: :math:`l = \log\cosh(x - y)`.

    Quadratic near the target (:math:`r^2/2`), linear far from it (:math:`|r| - \log 2`): a smooth
    Huber. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.log_cosh)


class HingeLoss(_Plain):
    r"""Hinge loss of real-valued scores, :func:`losslab.hinge`: :math:`l = \max(0,\ 1 - y x)`.

    ``target``: labels in {-1, 1} or {0, 1} (0 is the negative class). ``torch.nn`` has no binary
    hinge (``HingeEmbeddingLoss`` is another loss, on distances). ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.hinge)


class SquaredHingeLoss(_Plain):
    r"""Squared hinge loss, :func:`losslab.squared_hinge`: :math:`l = \max(0,\ 1 - y x)^2`.

    Labels as in :class:`HingeLoss`. ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.squared_hinge)


class SigmoidFocalLoss(_Loss):
    r"""Sigmoid focal loss (Lin et al. 2017) on logits, per element, :func:`losslab.sigmoid_focal_loss`.

    .. math:: l = -\alpha_t\,(1 - p_t)^\gamma \log p_t, \quad p = \sigma(x),\ p_t = y p + (1 - y)(1 - p),
              \ \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    ``target``: labels 0/1 or label probabilities, of ``input``'s shape. ``alpha`` in [0, 1] or None
    (no weighting; torchvision's ``alpha=-1``), ``gamma >= 0``. The defaults are the paper's and
    ``torchvision.ops.sigmoid_focal_loss``'s, except the reduction: torchvision's default is ``"none"``.
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.sigmoid_focal_loss)

    def __init__(self, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.alpha, self.gamma = _check_alpha(alpha), _check_gamma(gamma)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(
            input, target, alpha=self.alpha, gamma=self.gamma, reduction=self.reduction, weight=sample_weight
        )


class FocalLoss(_Classes):
    r"""Categorical focal loss (Lin et al. 2017) on logits, :func:`losslab.focal_loss`.

    .. math:: l_i = -w_{y_i} (1 - p_{i y_i})^\gamma \log p_{i y_i}, \qquad p_i = \mathrm{softmax}(x_i)

    :class:`CrossEntropyLoss`'s conventions and option names: ``input`` ``(N, C)``, ``(C,)`` or
    ``(N, C, d1, ...)`` (classes on axis 1), ``target`` class indices (probabilities are refused);
    ``weight`` class weights (a buffer; ``"mean"`` divides by the targets' summed weights);
    ``ignore_index`` targets cost 0 and leave the mean. ``gamma = 0`` is :class:`CrossEntropyLoss`.
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.focal_loss)

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        gamma: float = 2.0,
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.gamma = _check_gamma(gamma)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, gamma=self.gamma, weight=sample_weight, **self._class_options(input, target))


class Poly1CrossEntropyLoss(_Classes):
    r"""Poly-1 cross-entropy (Leng et al. 2022) on logits, :func:`losslab.poly1_cross_entropy`.

    .. math:: l_i = w_{y_i}\big(-\log p_{i y_i} + \epsilon\,(1 - p_{i y_i})\big), \qquad p_i = \mathrm{softmax}(x_i)

    :class:`CrossEntropyLoss`'s conventions and option names (class indices or class probabilities,
    ``weight``, ``ignore_index``, classes on axis 1). ``epsilon >= -1``; 0 is :class:`CrossEntropyLoss`.
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.poly1_cross_entropy)

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        epsilon: float = 1.0,
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.epsilon = _check_epsilon(epsilon)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, epsilon=self.epsilon, weight=sample_weight, **self._class_options(input, target))


class MulticlassHingeLoss(_Classes):
    r"""Multiclass hinge loss of real-valued scores, :func:`losslab.multiclass_hinge`.

    .. math:: \text{crammer\_singer:}\ l_i = w_{y_i}\max\big(0, \max_{k \ne y_i}(m + x_{ik} - x_{i y_i})\big),
              \quad \text{weston\_watkins:}\ l_i = w_{y_i}\textstyle\sum_{k \ne y_i}\max(0,\ m + x_{ik} - x_{i y_i})

    :class:`CrossEntropyLoss`'s conventions (class indices, classes on axis 1, ``weight`` class
    weights with ``"mean"`` dividing by the targets' summed weights, ``ignore_index``). For torch's
    ``MultiMarginLoss`` (Weston-Watkins divided by C, its own weighted mean) use :class:`MultiMarginLoss`.
    ``forward(input, target, *, sample_weight=None)``.
    """

    fn = staticmethod(L.multiclass_hinge)

    def __init__(
        self,
        *,
        margin: float = 1.0,
        form: Form = "crammer_singer",
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.margin = check_at_least("margin", margin, 0.0, fix="margin = 0 is the multiclass perceptron loss")
        _check_form(form)
        self.form = form

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(
            input, target, margin=self.margin, form=self.form, weight=sample_weight,
            **self._class_options(input, target),
        )  # fmt: skip


class LinearCrossEntropyLoss(_Loss):
    r"""Cross-entropy of a linear layer's logits, never formed, :func:`losslab.linear_cross_entropy`.

    .. math:: l_i = \log\sum_c e^{z_{ic}} - \sum_c t_{ic} z_{ic}, \qquad z_i = W h_i + b

    ``forward(hidden, weight, target, bias=None, *, sample_weight=None)`` with ``weight`` (V, H) and
    ``bias`` (V,) as ``torch.nn.Linear`` stores them: ``loss(h, head.weight, y, head.bias)``. The
    rows are swept in chunks of ``chunk_rows`` (None: ~64 MiB of logits), so memory is O(chunk x V),
    not O(N x V). Options: ``class_weight`` (a buffer; not ``weight``, which is the layer's),
    ``ignore_index=-100`` as ``CrossEntropyLoss`` (with probability targets a negative one is not
    used), ``label_smoothing`` (a number), ``reduction``.
    """

    fn = staticmethod(L.linear_cross_entropy)

    def __init__(
        self,
        *,
        class_weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
        chunk_rows: int | None = None,
    ) -> None:
        super().__init__(reduction)
        self.register_buffer("class_weight", class_weight)
        self.ignore_index = check_int("ignore_index", ignore_index)
        self.label_smoothing = check_closed_unit("label_smoothing", label_smoothing)
        self.chunk_rows = _check_chunk_rows(chunk_rows)

    def forward(
        self,
        hidden: Tensor,
        weight: Tensor,
        target: Tensor,
        bias: Tensor | None = None,
        *,
        sample_weight: Tensor | None = None,
    ) -> Tensor:
        ii = self.ignore_index
        return self.fn(
            hidden, weight, target, bias=bias, class_weight=self.class_weight,
            ignore_index=None if ii < 0 and target.is_floating_point() else ii,
            label_smoothing=self.label_smoothing, reduction=self.reduction, sample_weight=sample_weight,
            chunk_rows=self.chunk_rows,
        )  # fmt: skip
